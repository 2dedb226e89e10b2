"""The command line: one small Typer app per noun. Parse, call, render — nothing else."""


def main() -> None:
    from crmctl.cli.app import app

    app(prog_name="crmctl")
