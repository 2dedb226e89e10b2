"""`crmctl help filters` and `crmctl help flows`: the reference texts, in the terminal."""

import typer

app = typer.Typer(
    help="""Reference: the filter language and the flow file format.

    \b
    Examples:
      crmctl help filters
      crmctl help flows
    """,
    no_args_is_help=True,
)


@app.command("filters")
def filters() -> None:
    """Print the filter language: grammar, fields, types, dates, examples.

    \b
    Examples:
      crmctl help filters | less
    """
    from crmctl.help import text

    print(text("filters"), end="")


@app.command("flows")
def flows() -> None:
    """Print the flow file format: keys, steps, waits, templates, an example.

    \b
    Examples:
      crmctl help flows
    """
    from crmctl.help import text

    print(text("flows"), end="")
