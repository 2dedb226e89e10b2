"""Command lines drawn from the real option space (#12): every command, its options and
arguments, filled with valid values and hostile ones (huge numbers, empty strings, NaN, inf,
non-ASCII digits, control characters, unknown options). Whatever the line:

- the exit code is 0, 1, 2 or 75;
- no traceback, on stderr or anywhere;
- a command that exits non-zero changed nothing.

The space is read from the commands themselves, so a new command or option is fuzzed as soon
as it exists. Most examples run in-process (fast); a few run the installed `crmctl`."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
import typer
from conftest import NOW, add_contacts, crmctl_executable
from flowkit import dump
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from crmctl.cli.app import app
from crmctl.store import open_db

EXIT_CODES = {0, 1, 2, 75}
HOSTILE_VALUES = [
    "",
    " ",
    "0",
    "1",
    "-1",
    "9" * 25,
    "9223372036854775808",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e400",
    "١٢٣",  # Arabic-Indic digits
    "²",
    "٣",
    "0x10",
    "1_000",
    "-",
    "--",
    "json",
    "ndjson",
    "csv",
    "table",
    "text",
    "bash",
    "end",
    "vip",
    "churned",
    "ada@example.com",
    "nobody@example.com",
    "score > 10",
    'plan == "trial"',
    "plan ==",
    "now - 7d",
    "2026-01-01",
    "\x1b[2J",
    "\u202e",
    "é",
    "x" * 300,
]
UNKNOWN_OPTIONS = ["--bogus", "-Z", "--format=xml", "--limit=-5", "--db"]
STDIN = ["", "1\n2\n", "[1, 2]\n", '{"id": "3"}\n', "nobody@example.com\n", "\xff\n", '{\n "id": 1\n}\n']


def command_space():
    """(words, click command) for every command that runs something."""
    root = typer.main.get_command(app)
    found = []
    for name in list(root.commands):
        command = root.commands[name]
        subcommands = getattr(command, "commands", None)
        if subcommands is None or getattr(command, "invoke_without_command", False):
            found.append(([name], command))
        for sub, leaf in (subcommands or {}).items():
            found.append(([name, sub], leaf))
    return found


SPACE = command_space()


PLAUSIBLE = ["1", "2", "3", "vip", "churned", "ada@example.com", "score > 10", 'not tags contains "vip"', "5"]


def value_for(param, files: list[str]):
    """Half the time a value the option takes (a choice, an id, a tag, a filter, a file), else
    anything: hostile values and short random text."""
    choices = [str(c.value if hasattr(c, "value") else c) for c in getattr(param.type, "choices", None) or ()]
    valid = st.sampled_from(choices or PLAUSIBLE + files)
    anything = st.sampled_from(HOSTILE_VALUES + files) | st.text(
        st.characters(blacklist_characters="\x00", codec="utf-8"), max_size=6
    )
    return valid | anything


@st.composite
def command_lines(draw, files: list[str]) -> list[str]:
    words, command = draw(st.sampled_from(SPACE))
    tokens: list[str] = []
    for param in command.params:
        if param.name in ("help",) or not draw(st.booleans()):
            continue
        if param.param_type_name == "argument":
            count = draw(st.integers(1, 3)) if param.nargs != 1 else 1
            tokens.extend(draw(value_for(param, files)) for _ in range(count))
            continue
        flag = draw(st.sampled_from(param.opts))
        if getattr(param, "is_flag", False):
            tokens.append(flag)
        else:
            for _ in range(draw(st.integers(1, 2)) if param.multiple else 1):
                tokens.extend([flag, draw(value_for(param, files))])
    if draw(st.integers(0, 9)) == 0:
        tokens.insert(draw(st.integers(0, len(tokens))), draw(st.sampled_from(UNKNOWN_OPTIONS)))
    return [*words, *tokens]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    directory = tmp_path_factory.mktemp("lines")
    path = directory / "template.db"
    db = open_db(path, create=True)
    add_contacts(
        db,
        [
            {"email": "ada@example.com", "name": "Ada", "tags": ["vip"], "attributes": {"plan": "pro", "score": 80}},
            {"email": "bob@example.com", "name": "Bob", "attributes": {"plan": "trial", "score": 20}},
            {"email": "cy@example.org", "name": "Cy", "tags": ["churned"], "notes": ["hi"]},
        ],
    )
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    (directory / "flow.yaml").write_text("name: f\nmatch: 'score > 10'\nsteps:\n  - tag_add: [vip]\n  - block\n")
    (directory / "contacts.ndjson").write_text('{"email": "new@example.com", "plan": "trial"}\n')
    return path


def snapshot(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return dump(_Rows(conn))
    finally:
        conn.close()


class _Rows:
    def __init__(self, conn):
        self.conn = conn

    def execute(self, sql, *args):
        return self.conn.execute(sql, *args)


def fresh_copy(template: Path, target: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    shutil.copyfile(template, target)
    return target


LINES = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@LINES
@given(data=st.data())
def test_any_command_line_in_process(template, tmp_path, monkeypatch, data):
    monkeypatch.chdir(tmp_path)  # a drawn `db backup json` writes here, nowhere else
    files = [str(template.parent / "flow.yaml"), str(template.parent / "contacts.ndjson"), str(tmp_path / "out.db")]
    target = fresh_copy(template, tmp_path / "crm.db")
    before = snapshot(target)
    args = ["--db", str(target), *data.draw(command_lines(files))]
    stdin = data.draw(st.sampled_from(STDIN))
    result = CliRunner().invoke(app, args, input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{args!r} raised {result.exception!r}") from result.exception
    assert result.exit_code in EXIT_CODES, (args, result.exit_code, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr, args
    if result.exit_code != 0:
        assert snapshot(target) == before, (args, result.exit_code, result.stderr)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_command_line_through_the_installed_crmctl(template, tmp_path, data):
    files = [str(template.parent / "flow.yaml"), str(tmp_path / "out.db")]
    target = fresh_copy(template, tmp_path / "crm.db")
    before = snapshot(target)
    args = ["--db", str(target), *data.draw(command_lines(files))]
    result = subprocess.run(
        [crmctl_executable(), *args],
        input=data.draw(st.sampled_from(STDIN)).encode("utf-8", errors="surrogateescape"),
        capture_output=True,
        cwd=tmp_path,
        env={"CRMCTL_NOW": NOW, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=120,
    )
    stderr = result.stderr.decode("utf-8", errors="replace")
    assert result.returncode in EXIT_CODES, (args, result.returncode, stderr)
    assert "Traceback" not in stderr, (args, stderr)
    if result.returncode != 0:
        assert snapshot(target) == before, (args, stderr)
