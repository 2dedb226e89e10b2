"""`crmctl completion bash|zsh|fish`, and what the completion scripts ask crmctl for.

The script calls crmctl back with `_CRMCTL_COMPLETE` set (Typer's protocol); the root command
answers before parsing anything else, so an ordinary run pays one environment lookup.
"""

from enum import StrEnum
from typing import Annotated

import typer

FLOW_SUFFIXES = (".yaml", ".yml")


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completion(
    shell: Annotated[Shell, typer.Argument(metavar="SHELL", help="bash, zsh or fish.")],
) -> None:
    """Print the shell completion script for SHELL.

    It completes commands, options, tag names from the catalog (after tag add, remove,
    rename and delete) and flow files (*.yaml, after flow validate, run and show).

    \b
    Examples:
      crmctl completion bash > ~/.local/share/bash-completion/completions/crmctl
      crmctl completion zsh > "${fpath[1]}/_crmctl"
      crmctl completion fish > ~/.config/fish/completions/crmctl.fish
    """
    from typer._completion_shared import get_completion_script

    from crmctl.cli.app import COMPLETE_VAR

    print(get_completion_script(prog_name="crmctl", complete_var=COMPLETE_VAR, shell=shell.value).strip())


def complete_tag(incomplete: str) -> list[str]:
    """Catalog names starting with what was typed (ignoring case), from a read-only look at
    the database; nothing when there is none."""
    from crmctl.cli.state import database_path
    from crmctl.store.connection import open_read_only
    from crmctl.store.tags import names

    try:
        db = open_read_only(database_path())
    except Exception:  # completion must never print an error into the command line
        return []
    if db is None:
        return []
    try:
        wanted = incomplete.casefold()
        return [name for name in names(db) if name.casefold().startswith(wanted)]
    except Exception:
        return []
    finally:
        db.close()


def complete_flow_file(incomplete: str) -> list[str]:
    """Flow files (*.yaml, *.yml) and directories that may hold them."""
    import glob
    import os

    found = []
    for path in sorted(glob.glob(glob.escape(os.path.expanduser(incomplete)) + "*")):
        if os.path.isdir(path):
            found.append(path + "/")
        elif path.endswith(FLOW_SUFFIXES):
            found.append(path)
    return found
