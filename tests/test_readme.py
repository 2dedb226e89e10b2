"""The README documents every command, and documents no command that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from crmctl.cli.app import app

README = Path(__file__).resolve().parent.parent / "README.md"
# `crmctl`, then any global options (--db PATH), then up to two command words.
INVOCATION = re.compile(r"\bcrmctl(?:\s+--db[ =]\S+)?\s+([a-z][a-z-]*)(?:\s+([a-z][a-z-]*))?")


def command_paths() -> set[str]:
    root = typer.main.get_command(app)
    paths = set()
    for name, command in root.commands.items():
        subcommands = getattr(command, "commands", None)
        paths.update(f"{name} {sub}" for sub in subcommands) if subcommands else paths.add(name)
    return paths


def code_in(text: str) -> list[str]:
    """Fenced blocks and inline code spans: where commands are shown, not prose."""
    fenced = re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    return fenced + inline


def documented_paths(text: str) -> set[str]:
    groups = {p.split()[0] for p in command_paths() if " " in p}
    found = set()
    for code in code_in(text):
        for first, second in INVOCATION.findall(code):
            found.add(f"{first} {second}" if first in groups and second else first)
    return found


def test_every_command_is_in_the_readme():
    missing = sorted(command_paths() - documented_paths(README.read_text()))
    assert not missing, f"commands missing from README: {missing}"


def test_every_readme_command_exists():
    groups = {p.split()[0] for p in command_paths() if " " in p}
    unknown = sorted(p for p in documented_paths(README.read_text()) if p not in command_paths() and p not in groups)
    assert not unknown, f"README shows commands that do not exist: {unknown}"
