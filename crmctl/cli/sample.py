"""`crmctl sample …`: the bundled sample data, written out for a new user to try."""

from pathlib import Path
from typing import Annotated

import typer

from crmctl.cli import options as opt
from crmctl.cli.guard import guarded
from crmctl.cli.render import note_on_stderr

app = typer.Typer(
    help="The bundled sample data (the contacts are loaded by `crmctl init --sample`).\n\n"
    "\b\nExamples:\n  crmctl sample flows ./flows",
    no_args_is_help=True,
)


@app.command("flows")
@guarded
def flows(
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="Where to write them (made if missing).", show_default=False)
    ],
    force: Annotated[bool, typer.Option("--force", help="Overwrite sample flow files already there.")] = False,
    quiet: opt.Quiet = False,
) -> None:
    """Write the sample flow files into DIR.

    The README's main job flows are numbered (10-winback-trials.yaml, …) so DIR/*.yaml runs them in order.

    The other sample flows (some delete contacts, one is deliberately invalid) go into DIR/examples/.

    Existing files are never overwritten without --force: then nothing is written (exit 1).

    \b
    Examples:
      crmctl sample flows ./flows && crmctl flow run ./flows/*.yaml --yes
      crmctl sample flows ./flows --force
    """
    from crmctl.sample import write_flows

    written = write_flows(directory, force=force)
    if not quiet:
        note_on_stderr(f"wrote {len(written)} sample flows into {directory}:")
        for path in written:
            note_on_stderr(f"  {path}")
