"""The command line: one small Typer app per noun. Parse, call, render — nothing else.

The modules that define commands do not use `from __future__ import annotations`: Typer
reads every command's signature each time the CLI starts, and string annotations would be
compiled and evaluated twice per parameter on every invocation (half of building the CLI).
"""


def main() -> None:
    from crmctl.cli.app import app

    app(prog_name="crmctl")
