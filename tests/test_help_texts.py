"""Help and completion (#12): every command documented, with examples; the references agree
with the README; completion scripts and their answers."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import typer

from crmctl.cli.app import app

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_section(heading: str, until: str | None = None) -> str:
    """The README from `heading` to the next heading of its level or above (or to `until`)."""
    text = README.read_text()
    start = text.index(heading + "\n") + len(heading) + 1
    if until is not None:
        return text[start : text.index(until + "\n", start)].strip() + "\n"
    level = heading.split(" ")[0]
    following = re.compile(rf"^#{{1,{len(level)}}} ", re.M)
    match = following.search(text, start)
    return text[start : match.start() if match else len(text)].strip() + "\n"


def all_commands():
    """(path, click command) for the root, every group and every command."""
    root = typer.main.get_command(app)
    found = [("crmctl", root)]
    for name, command in root.commands.items():
        found.append((f"crmctl {name}", command))
        for sub, leaf in getattr(command, "commands", {}).items():
            found.append((f"crmctl {name} {sub}", leaf))
    return found


COMMANDS = all_commands()


@pytest.mark.parametrize("path, command", COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_and_option_has_help_and_examples(path, command):
    assert (command.help or "").strip(), f"{path} has no help"
    last = command.help.strip().split("\n\n")[-1].strip()
    assert last.startswith("\b\nExamples:") or last.startswith("Examples:"), f"{path}: help does not end with Examples"
    examples = [line.strip() for line in last.splitlines()[2 if last.startswith("\b") else 1 :]]
    assert examples and all(line.startswith(("crmctl ", "echo ", "printf ")) or "| crmctl" in line for line in examples)
    for param in command.params:
        if param.name in ("help",):
            continue
        assert getattr(param, "help", None), f"{path}: {param.name} has no help"
        if param.param_type_name == "argument" or not getattr(param, "is_flag", False):
            metavar = param.make_metavar(_context(command))
            assert metavar.strip("[]{}.").upper() == metavar.strip("[]{}."), f"{path}: {param.name} metavar {metavar}"


def _context(command):
    from typer.core import _click

    return _click.Context(command)


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS])
def test_dash_h_works_wherever_help_does(cli, path):
    words = path.split()[1:]
    short, long = cli(*words, "-h"), cli(*words, "--help")
    assert (short.exit_code, short.stderr) == (0, "")
    assert short.stdout == long.stdout
    usage = short.stdout.splitlines()[0]
    assert usage.startswith(f"Usage: {path}")
    assert "{" not in usage and "<" not in usage, usage


@pytest.mark.parametrize("words", [[], ["tag", "add"]])
def test_dash_h_through_the_installed_crmctl(run, words):
    short = run(*words, "-h")
    assert (short.returncode, short.stderr) == (0, "")
    assert short.stdout == run(*words, "--help").stdout
    assert short.stdout.startswith(" ".join(["Usage: crmctl", *words]))


def test_help_filters_is_the_readme_section(run):
    result = run("help", "filters")
    assert result.returncode == 0
    assert result.stdout == readme_section("## The filter language")
    for part in ("expr     := or", "Built-in fields", "**Dates**", "crmctl contact count -w"):
        assert part in result.stdout


def test_help_flows_is_the_readme_section(run):
    result = run("help", "flows")
    assert result.returncode == 0
    assert result.stdout == readme_section("### Flow files", until="### Running flows")
    for part in ("match:", "steps:", "wait: 3d", "reentry", "switch", "split"):
        assert part in result.stdout


@pytest.mark.parametrize(
    "shell, marker", [("bash", "complete -o default -F"), ("zsh", "compdef"), ("fish", "complete --command crmctl")]
)
def test_completion_scripts(run, shell, marker):
    result = run("completion", shell)
    assert result.returncode == 0
    assert marker in result.stdout
    assert "_CRMCTL_COMPLETE=complete_" in result.stdout


def test_completion_rejects_other_shells(run):
    result = run("completion", "tcsh")
    assert result.returncode == 2
    assert result.stderr.startswith("Error: Invalid value for 'SHELL'")


def complete(run, words: str, cword: int, **env) -> list[str]:
    result = run(env={"COMP_WORDS": words, "COMP_CWORD": str(cword), "_CRMCTL_COMPLETE": "complete_bash", **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_completion_of_commands_and_options(run, people):
    assert complete(run, "crmctl ta", 1) == ["tag"]
    assert {"add", "remove", "create", "list", "rename", "delete"} <= set(complete(run, "crmctl tag ", 2))
    options = complete(run, "crmctl delete --", 2)
    assert {"--where", "--yes", "--dry-run", "--format", "--db"} <= set(options)


def test_completion_of_tag_names_from_the_catalog(run, people):
    people.execute("INSERT INTO tags(name, created_at) VALUES ('VIP-gold', '2026-01-01T00:00:00Z')")
    people.conn.commit()
    assert set(complete(run, "crmctl tag add vip ", 4)) == {"vip", "churned", "VIP-gold"}
    assert complete(run, "crmctl tag add v", 3) == ["vip"]
    for command in ("remove", "rename", "delete"):
        assert complete(run, f"crmctl tag {command} V", 3) == ["VIP-gold"]


def test_completion_of_flow_files(run, tmp_path):
    for name in ("a.yaml", "b.yml", "notes.txt"):
        (tmp_path / name).write_text("")
    (tmp_path / "sub").mkdir()
    for command in ("validate", "run", "show"):
        found = complete(run, f"crmctl flow {command} {tmp_path}/", 3)
        assert found == [f"{tmp_path}/a.yaml", f"{tmp_path}/b.yml", f"{tmp_path}/sub/"]
    assert complete(run, f"crmctl flow run x.yaml {tmp_path}/a", 4) == [f"{tmp_path}/a.yaml"]  # the next file


def test_completion_without_a_database_offers_no_tags(run, tmp_path):
    assert complete(run, "crmctl tag add ", 3, CRMCTL_DB=str(tmp_path / "none.db")) == []
    assert not (tmp_path / "none.db").exists()


def test_version_does_not_load_commands_or_completion():
    import subprocess
    import sys

    code = (
        "import sys; sys.argv = ['crmctl', '--version']\n"
        "from crmctl.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "loaded = [m for m in sys.modules if m.startswith(('crmctl.cli.', 'rich', 'yaml', 'pydantic', 'crmctl.query'))]\n"
        "print(sorted(loaded))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    loaded = eval(result.stdout.strip().splitlines()[-1])
    assert set(loaded) <= {
        "crmctl.cli.app",
        "crmctl.cli.guard",
        "crmctl.cli.render",
        "crmctl.cli.state",
        "crmctl.cli.options",
    }
