"""What reaches a terminal (#12 output rules, #13 item 6): the installed `crmctl` on a real
pseudo-terminal, with a corpus of hostile strings in every kind of text the database holds.

No raw control character from the data may reach the terminal: C0 (ESC, BEL, BS, CR…),
DEL, C1 (single-byte CSI and OSC), bidirectional overrides and isolates, line separators.
The data itself is unchanged, and JSON, NDJSON and CSV keep every character."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import pty
import re
import struct
import subprocess
import termios

import pytest
from conftest import add_contacts, crmctl_executable

HOSTILE = [
    "\x1b]0;PWNED\x07\x1b[2J",  # retitle the window, clear the screen
    "\x1b[31mred\x1b[0m",  # colour
    "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\",  # OSC 8 hyperlink
    "\x1bP+q\x1b\\",  # DCS query
    "\x9b2J\x9d0;c1-title\x9c",  # C1 CSI / OSC / ST as single characters
    "bell\x07back\x08\x08space\x7fdel",
    "over\rwrite",
    "two\nlines",
    "\u202eevil.exe\u202c",  # right-to-left override
    "\u2066isolate\u2069 \u200fmark",
    "zero\u200bwidth\u200d\ufeffjoin",
    "line\u2028separator\u2029end",
    "vertical\x0btab\x0cform",
    "L" + "o" * 20000 + "ng",
]
# Everything visible() escapes: nothing of this may be in terminal output.
UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff]"
)
ESCAPED = [r"\x1b]0;PWNED\x07\x1b[2J", r"\u202eevil.exe\u202c", r"\x9b2J"]


def run_on_terminal(*args, env=None, columns=100, stdin=subprocess.DEVNULL) -> tuple[int, str]:
    """Run crmctl with stdout and stderr on a pseudo-terminal; return (exit code, output)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    full_env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "PAGER", "CRMCTL_PAGER")}
    full_env.update({"TERM": "xterm-256color", **(env or {})})
    process = subprocess.Popen(
        [crmctl_executable(), *map(str, args)], stdin=stdin, stdout=slave, stderr=slave, env=full_env
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    code = process.wait(timeout=60)
    return code, b"".join(chunks).decode("utf-8", errors="replace").replace("\r\n", "\n")


@pytest.fixture
def hostile(db):
    rows = []
    for i, text in enumerate(HOSTILE):
        rows.append(
            {
                "email": f"h{i}@example.com",
                "name": text,
                "phone": text[:50],
                "tags": [f"t{i} {text[:90]}"],
                "attributes": {f"k{i} {text[:60]}": text, "plan": text},
                "notes": [text],
                "conversations": [{"subject": text, "messages": [{"body": text, "sender": text}]}],
            }
        )
    add_contacts(db, rows)
    return db


def without_our_styles(output: str) -> str:
    """Our own SGR sequences (bold header, rich's styles) are allowed; nothing else."""
    return re.sub(r"\x1b\[[0-9;]*m", "", output)


def assert_safe(output: str) -> None:
    found = UNSAFE.findall(without_our_styles(output).replace("\n", ""))
    assert not found, f"raw control characters reached the terminal: {sorted(set(found))!r}"


NO_STYLES = {"NO_COLOR": "1", "TERM": "dumb", "CRMCTL_PAGER": ""}
TERMINAL_COMMANDS = [
    ["contact", "list"],
    ["contact", "list", "--no-pager", "-w", 'name startswith "two"'],
    ["contact", "show", "1"],
    ["contact", "show", "9"],
    ["contact", "show", "14"],
    ["tag", "list"],
    ["log"],
    ["log", "show", "1"],
    ["tag", "add", "t0 \x1b]0;PWNED\x07\x1b[2J", "-c", "2", "--dry-run"],
    ["tag", "add", "\x1b]0;x\x07nope", "-c", "1"],  # unknown tag: quoted in the error
    ["block", "-c", "1", "-c", "\x1b[2Jghost\u202e@example.com"],  # missing: quoted in the error
    ["contact", "show", "\x9b2J\u202e"],
    ["contact", "count", "-w", 'name == "\x1b[2J"'],
    ["contact", "count", "-w", "\x1b[2J == 1"],  # a filter error quotes the expression
]


@pytest.mark.parametrize("args", TERMINAL_COMMANDS, ids=[" ".join(a)[:40] for a in TERMINAL_COMMANDS])
def test_no_raw_control_characters_reach_the_terminal(hostile, args):
    code, output = run_on_terminal(*args, env=NO_STYLES)
    assert code in (0, 1, 2), output
    assert "Traceback" not in output
    assert_safe(output)
    assert "\x1b" not in output  # NO_COLOR and a dumb terminal: no styles at all


def test_hostile_text_is_shown_escaped_and_styles_are_only_ours(hostile):
    code, output = run_on_terminal("contact", "show", "1", env={"CRMCTL_PAGER": ""})
    assert code == 0
    assert_safe(output)
    assert r"\x1b]0;PWNED\x07\x1b[2J" in output
    code, output = run_on_terminal("contact", "list", "--no-pager", columns=400)
    assert code == 0
    assert_safe(output)
    for text in ESCAPED:
        assert text in output, text
    assert output.count("\x1b[1m") == 1  # the bold header is the only style


def test_escaped_on_pipes_too_and_errors_quote_at_most_64_characters(run, hostile):
    listed = run("contact", "list")
    assert_safe(listed.stdout)
    assert r"\u202eevil.exe\u202c" in listed.stdout
    result = run("contact", "show", "\x1b[2J" + "x" * 200 + "@example.com")
    assert result.returncode == 1
    assert_safe(result.stderr)
    assert result.stderr == "Error: no contact '\\x1b[2J" + "x" * 59 + "…'\n"


def test_machine_formats_keep_every_character(run, hostile):
    lines = run("contact", "list", "-f", "ndjson").stdout.split("\n")  # (str.splitlines also splits at U+2028)
    records = [json.loads(line) for line in lines if line]
    assert [r["name"] for r in records] == HOSTILE
    assert [r["properties"]["plan"] for r in records] == HOSTILE
    as_json = json.loads(run("contact", "list", "-f", "json").stdout)
    assert [r["name"] for r in as_json] == HOSTILE
    raw = subprocess.run([crmctl_executable(), "contact", "list", "-f", "csv"], capture_output=True, check=True).stdout
    as_csv = list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))  # bytes: keep every \r
    assert [r["name"] for r in as_csv] == HOSTILE
    shown = json.loads(run("contact", "show", "1", "-f", "json").stdout)
    assert shown["notes"][0]["body"] == HOSTILE[0]
    stored = [row[0] for row in hostile.execute("SELECT name FROM contacts ORDER BY id")]
    assert stored == HOSTILE
    tags = {t["name"] for t in json.loads(run("tag", "list", "-f", "json").stdout)}
    assert f"t0 {HOSTILE[0]}" in tags


def test_an_error_quotes_text_escaped_in_both_forms(run, hostile):
    result = run("tag", "add", "\x1b]0;x\x07", "-c", "1", "-f", "json")
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "not_found" and error["exit_code"] == 1
    assert result.stderr == f"Error: {error['message']}\n"
    assert error["message"].startswith("unknown tag '\\x1b]0;x\\x07': create with `crmctl tag create")
    assert "\x1b" not in result.stderr


# Tables and the pager ----------------------------------------------------------------------


def test_tables_fit_the_terminal_and_cut_long_cells(hostile):
    code, output = run_on_terminal("contact", "list", "--no-pager", env=NO_STYLES, columns=80)
    assert code == 0
    lines = output.splitlines()
    assert lines[0] == "Contacts"
    assert lines[1].split() == ["id", "email", "name", "tags", "blocked", "last_seen_at"]
    assert all(len(line) <= 80 for line in lines), max(map(len, lines))
    assert any(line.rstrip().endswith("…") or "…" in line for line in lines[3:])


def test_long_listings_go_through_the_pager(hostile, tmp_path):
    paged = tmp_path / "paged.txt"
    for env in ({"CRMCTL_PAGER": f"cat > {paged}"}, {"PAGER": f"cat > {paged}"}):
        paged.unlink(missing_ok=True)
        code, output = run_on_terminal("tag", "list", env={**env, "NO_COLOR": "1"})
        assert code == 0
        assert output == ""
        text = paged.read_text()
        assert text.splitlines()[0] == "Tags"
        assert_safe(text)
    paged.unlink()
    code, output = run_on_terminal("tag", "list", "--no-pager", env={"CRMCTL_PAGER": f"cat > {paged}"})
    assert code == 0 and output.startswith("Tags\n") and not paged.exists()


def test_no_pager_in_a_pipe(run, hostile, tmp_path):
    paged = tmp_path / "paged.txt"
    result = run("log", env={"CRMCTL_PAGER": f"cat > {paged}"})
    assert result.returncode == 0 and result.stdout.startswith("Audit log\n")
    assert not paged.exists()


def test_a_pager_that_quits_early_ends_the_listing_quietly(hostile):
    code, output = run_on_terminal("contact", "list", env={"CRMCTL_PAGER": "head -c 10 >/dev/null", "NO_COLOR": "1"})
    assert code == 0
    assert "Error" not in output and "Traceback" not in output


def test_usage_errors_are_one_line_on_a_terminal_too(db):
    code, output = run_on_terminal("tag", "list", "--frmat", "x")
    assert code == 2
    assert output == "Error: No such option: --frmat (did you mean --format?)\nTry 'crmctl tag list -h' for help.\n"


def test_flow_run_tables_in_cron_mail_are_plain_text(run, hostile, tmp_path):
    flow = tmp_path / "f.yaml"
    flow.write_text(
        "name: f\nmatch: 'plan startswith \"bell\"'\nsteps:\n  - block\n  - if: blocked\n    then: [unblock]\n"
    )
    result = run("flow", "run", flow)
    assert result.returncode == 0, result.stderr
    assert not re.search("[\u2500-\u257f]", result.stderr), result.stderr  # no box drawing
    lines = result.stderr.splitlines()
    assert lines[0].startswith("ran flow f (run 1): 1 matched")
    assert lines[1].split() == ["step", "action", "contacts", "changed"]
    assert lines[3].split() == ["steps[0]", "block", "1", "1"]
