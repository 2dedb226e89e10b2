"""Hostile and broken input through the CLI: never a traceback, never a partial change.

Rejected input exits 2 with a message that locates the problem (a caret under the filter,
FILE:LINE:COL in a flow, `line N` / `record N` in an import) and leaves the database as it
was. Text that is valid is plain data everywhere: stored, shown and matched exactly.
(The library-level fuzzing is in test_query_property, test_flow_loader and test_import.)"""

from __future__ import annotations

import json
import re

import pytest
from conftest import ON_POSTGRES
from flowkit import dump
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_flow_loader import mutated_flows
from test_import import _csv_texts, _ndjson_texts, _records
from test_query_literals import literal
from test_query_property import expressions

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

HOSTILE = [
    "'; DROP TABLE contacts; --",
    'Robert"); DELETE FROM notes; --',
    "SELECT * FROM meta",
    "%",
    "_",
    "a%b_c",
    "100%_off",
    "semi;colon;",
    "\\",
    "it's",
    'say "hi"',
    "?",
    ":name",
    "$1",
    "NULL",
    "tab\there",
    "new\nline",
    "cr\r\nlf",
    "nul\x00byte",
    "\u202eevil\u202c",
    "مرحبا بالعالم",
    "שלום",
    "Ümlaut Ω 漢字 🙂",
    "👩‍👩‍👧‍👦",
    "e\u0301",
    "\ufeffbom",
    "x" * 5000,
]


def _invoke(cli, *args):
    """A CliRunner call that must end in an exit code, never an exception."""
    result = cli(*args)  # the fixture re-raises any exception other than SystemExit
    assert "Traceback" not in result.stderr
    return result


# Fuzzing through the CLI ------------------------------------------------------------------

_FILTER_PIECES = [
    "(",
    ")",
    "[",
    "]",
    ",",
    '"',
    "'",
    "\\",
    "==",
    "!=",
    "<=",
    "and",
    "or",
    "not",
    "in",
    "exists",
    "contains",
    "now",
    "- 30d",
    "attr(",
    "tags",
    "plan",
    "score",
    "%",
    "_",
    ";",
    "--",
    "/*",
    "\x00",
    "\n",
    "\u202e",
    "é",
    "9" * 25,
    "1e999",
    "DROP TABLE contacts",
]


@st.composite
def filter_texts(draw) -> str:
    text = draw(expressions)[0]
    for _ in range(draw(st.integers(0, 3))):
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(_FILTER_PIECES) | st.text(max_size=3)) + text[cut:]
    return text


@settings(FUZZ, max_examples=40)
@given(text=st.one_of(filter_texts(), st.text(min_size=1, max_size=40)))
def test_filter_text_through_the_cli(cli, people, text):
    before = dump(people)
    result = _invoke(cli, "note", "fuzz", "-w", text, "-q")
    assert result.exit_code in (0, 2), result.stderr
    if result.exit_code == 2:
        assert dump(people) == before
        lines = result.stderr.splitlines()
        assert lines[0].startswith("Error: ")
        if text.strip():  # the caret points into the expression
            assert re.fullmatch(r"  *\^", lines[-1]), result.stderr


@settings(FUZZ, max_examples=30)
@given(text=st.one_of(mutated_flows(), st.text(max_size=120)))
def test_flow_files_through_the_cli(cli, people, tmp_path_factory, text):
    path = tmp_path_factory.mktemp("flow") / "f.yaml"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    before = dump(people)
    result = _invoke(cli, "flow", "run", path, "--yes", "-q")
    assert result.exit_code in (0, 1, 2), result.stderr
    if result.exit_code:
        assert dump(people) == before
    if result.exit_code == 2:
        problems = [line for line in result.stderr.splitlines() if not line.startswith(" ")]
        assert problems and all(re.match(rf"{re.escape(str(path))}:\d+:\d+: ", p) for p in problems), result.stderr


_WHOLE_FILE = re.compile(r"is empty|file is UTF-16|cannot tell the format")
_LOCATED = re.compile(r"\b(line|record) \d+\b")


@settings(FUZZ, max_examples=40)
@given(
    fmt=st.sampled_from(["csv", "ndjson", "json"]),
    data=st.one_of(
        st.binary(max_size=200),
        _csv_texts.map(str.encode),
        _ndjson_texts.map(str.encode),
        st.lists(_records, max_size=4).map(lambda rs: json.dumps(rs).encode()),
    ),
)
def test_import_files_through_the_cli(cli, people, tmp_path_factory, fmt, data):
    path = tmp_path_factory.mktemp("import") / f"in.{fmt}"
    path.write_bytes(data)
    before = dump(people)
    result = _invoke(cli, "contact", "import", path, "--create-properties", "-q")
    assert result.exit_code in (0, 2), result.stderr
    if result.exit_code == 2:
        assert dump(people) == before
        message = result.stderr.splitlines()
        assert message[0].startswith("Error: ")
        located = message[1:] if message[0].endswith("the valid ones):") else message[:1]
        assert all(
            _LOCATED.search(line) or _WHOLE_FILE.search(line) for line in located if not line.startswith("  and ")
        ), result.stderr


# Specific hostile files -------------------------------------------------------------------

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(9)
)


@pytest.mark.parametrize(
    "command, name, content, message",
    [
        ("flow", "bomb.yaml", BOMB.encode(), r"bomb\.yaml:1:\d+: .*anchor"),
        ("flow", "huge.yaml", b"# padding\n" * 120_000, r"huge\.yaml:1:1: .*1 MiB"),
        ("flow", "latin1.yaml", "name: caf\xe9\n".encode("latin-1"), r"latin1\.yaml:1:\d+: .*UTF-8"),
        (
            "import",
            "latin1.csv",
            "email,name\na@example.com,Jos\xe9\n".encode("latin-1"),
            r"^Error: line 2: not valid UTF-8 text",
        ),
        ("import", "wide.csv", b"email,bio\na@example.com," + b"x" * 200_000 + b"\n", r"^Error: line 2: .*field limit"),
        ("import", "binary.json", bytes(range(256)) * 4, r"^Error: line 2: not valid UTF-8 text"),
        ("import", "deep.json", b"[" * 50_000, r"^Error: line 1, column \d+: invalid JSON: nested too deeply"),
    ],
)
def test_hostile_files_are_refused_clearly(cli, people, tmp_path, command, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    before = dump(people)
    args = ["flow", "run", path, "--yes"] if command == "flow" else ["contact", "import", path, "--create-properties"]
    result = _invoke(cli, *args)
    assert result.exit_code == 2, result.stderr
    assert re.search(message, result.stderr, flags=re.M), result.stderr
    assert dump(people) == before


# Plain data everywhere --------------------------------------------------------------------


def test_hostile_text_is_stored_shown_and_matched_as_given(cli, db, tmp_path):
    # Property names, like tag names, refuse NUL; values keep it (PostgreSQL text cannot hold
    # NUL: there it is refused, exit 2, see test_nul_is_refused_on_postgresql).
    hostile = [t for t in HOSTILE if not (ON_POSTGRES and "\x00" in t)]
    keys = [f"k{i} {text}".replace("\x00", "").strip() for i, text in enumerate(hostile)]
    records = [{"email": f"h{i}@example.com", "name": text, keys[i]: text} for i, text in enumerate(hostile)]
    (tmp_path / "hostile.ndjson").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert _invoke(cli, "contact", "import", tmp_path / "hostile.ndjson", "--create-properties", "-q").exit_code == 0
    listed = json.loads(_invoke(cli, "contact", "list", "--format", "json").stdout)
    for i, (text, shown) in enumerate(zip(hostile, listed, strict=True)):
        kept = text.strip()  # built-in fields and names are trimmed; property values are kept as given
        assert (shown["name"], shown["properties"]) == (kept, {keys[i]: text})
        assert _invoke(cli, "note", text, "-c", f"h{i}@example.com", "-q").exit_code == 0
        key = keys[i]
        expression = (
            f"name == {literal(kept)} and attr({literal(key)}) == {literal(text)} "
            f"and name startswith {literal(kept[:3])}"
        )
        counted = _invoke(cli, "contact", "count", "-w", expression)
        assert (counted.exit_code, counted.stdout) == (0, "1\n"), (expression, counted.stderr)
    notes = db.execute("SELECT body FROM notes ORDER BY contact_id").fetchall()
    assert [n[0] for n in notes] == hostile


@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite stores NUL")
def test_nul_is_refused_on_postgresql(cli, people):
    result = _invoke(cli, "note", "nul\x00byte", "-c", "ada@example.com")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: text with a NUL character (\\0) in an argument or on standard input: PostgreSQL cannot store it\n",
    )


def test_hostile_tag_names(cli, people):
    names = [t for t in HOSTILE if "\x00" not in t and len(t.strip()) <= 100]
    assert _invoke(cli, "tag", "add", *names, "-c", "2", "--create", "-q").exit_code == 0
    listed = json.loads(_invoke(cli, "tag", "list", "--format", "json").stdout)
    assert {(t["name"], t["contacts"]) for t in listed} >= {(name.strip(), 1) for name in names}
    every = " and ".join(f"tags contains {literal(name.strip())}" for name in names)
    assert _invoke(cli, "contact", "count", "-w", every).stdout == "1\n"
    assert _invoke(cli, "contact", "count", "-w", f"tags in [{literal('%')}, {literal('_')}]").stdout == "1\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["tag", "create", "nul\x00tag"], "Error: a tag name must not contain NUL\n"),
        (["tag", "create", "x" * 101], "Error: tag name longer than 100 characters: 'xxxxxxxxxxxxxxxxxxxx'…\n"),
        (["note", " \n\t ", "--all"], "Error: a note must not be empty\n"),
    ],
)
def test_hostile_text_that_cannot_be_stored_is_refused(cli, people, args, message):
    before = dump(people)
    result = _invoke(cli, *args)
    assert (result.exit_code, result.stderr) == (2, message)
    assert dump(people) == before


def test_emails_with_wildcards_and_quotes_match_only_themselves(cli, db, tmp_path):
    emails = [
        "a%b@example.com",
        "axxb@example.com",
        "a_b@example.com",
        "acb@example.com",
        "o'brien;--@example.com",
        '"quoted"@example.com',
        "\u202eevil@example.com",
    ]
    (tmp_path / "e.ndjson").write_text("".join(json.dumps({"email": e}) + "\n" for e in emails))
    assert _invoke(cli, "contact", "import", tmp_path / "e.ndjson", "-q").exit_code == 0
    result = _invoke(cli, "delete", "a%b@example.com", "a_b@example.com", "o'brien;--@example.com", "--yes", "-q")
    assert result.exit_code == 0, result.stderr
    left = [r[0] for r in db.execute("SELECT email FROM contacts ORDER BY id")]
    assert left == ["axxb@example.com", "acb@example.com", '"quoted"@example.com', "\u202eevil@example.com"]
    bad = tmp_path / "bad.csv"
    bad.write_text('email\n"nul\x00@example.com"\n"two@@example.com"\n')
    refused = _invoke(cli, "contact", "import", bad)
    assert refused.exit_code == 2
    assert refused.stderr.splitlines()[1:] == [
        "  line 2: invalid email 'nul\\x00@example.com'",
        "  line 3: invalid email 'two@@example.com'",
    ]


@settings(FUZZ, max_examples=15)
@given(
    texts=st.lists(
        # PostgreSQL text cannot hold NUL: refused there (test_nul_is_refused_on_postgresql).
        st.text(
            st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00" if ON_POSTGRES else ""),
            min_size=1,
            max_size=60,
        ).filter(str.strip),
        min_size=1,
        max_size=5,
    )
)
def test_any_text_round_trips(cli, people, tmp_path_factory, texts):
    path = tmp_path_factory.mktemp("round") / "in.ndjson"
    path.write_text(
        "".join(
            json.dumps({"email": f"r{i}@example.com", "name": text, "bio": text}) + "\n" for i, text in enumerate(texts)
        )
    )
    result = _invoke(cli, "contact", "import", path, "--create-properties", "-q")
    assert result.exit_code == 0, result.stderr
    listed = json.loads(
        _invoke(cli, "contact", "list", "-w", 'email endswith "@example.com" and bio exists', "--format", "json").stdout
    )
    shown = {r["email"]: (r["name"], r["properties"]["bio"]) for r in listed}
    assert [shown[f"r{i}@example.com"] for i in range(len(texts))] == [(t.strip(), t) for t in texts]


# Special files as backup targets ---------------------------------------------------------


@pytest.mark.sqlite_only(reason="db backup copies a SQLite file")
@pytest.mark.parametrize("force", [[], ["--force"]])
def test_backup_never_replaces_anything_but_a_regular_file(run, people, tmp_path, force):
    import os
    import socket
    import stat

    fifo = tmp_path / "x.fifo"
    os.mkfifo(fifo)
    directory = tmp_path / "dir"
    directory.mkdir()
    (directory / "keep.txt").write_text("kept")
    link = tmp_path / "link.db"
    link.symlink_to(tmp_path / "elsewhere.db")
    sock_path = tmp_path / "s.sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    try:
        cases = {
            fifo: "is a FIFO, not a regular file: crmctl never replaces it, whatever the flags",
            sock_path: "is a socket, not a regular file: crmctl never replaces it, whatever the flags",
            link: "is a symbolic link; refusing to write through it",
            "/dev/null": "is a character device, not a regular file: crmctl never replaces it, whatever the flags",
        }
        if force:
            cases[directory] = "is a directory: --force only ever replaces a regular file"
        for target, message in cases.items():
            result = run("db", "backup", target, *force)
            assert result.returncode == 1, (target, result.stderr)
            assert result.stderr.startswith(f"Error: {target} {message}"), result.stderr
            assert "Traceback" not in result.stderr
        assert stat.S_ISFIFO(fifo.lstat().st_mode)
        assert stat.S_ISSOCK(sock_path.lstat().st_mode)
        assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)
        assert not (tmp_path / "elsewhere.db").exists()
        assert sorted(p.name for p in directory.iterdir()) == ["keep.txt"]
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    finally:
        sock.close()


@pytest.mark.sqlite_only(reason="db backup copies a SQLite file")
def test_backup_into_a_directory_writes_a_file_named_after_the_time(run, people, tmp_path):
    directory = tmp_path / "backups"
    directory.mkdir()
    result = run("db", "backup", f"{directory}/")
    assert result.returncode == 0, result.stderr
    expected = directory / "crmctl-20261101T120000Z.db"  # CRMCTL_NOW, in UTC
    assert result.stderr == f"backup written to {expected} ({expected.stat().st_size:,} bytes)\n"
    again = run("db", "backup", directory)  # an existing directory without --force; same second
    assert again.returncode == 1
    assert again.stderr == f"Error: {expected} already exists (pass --force to replace it)\n"
    missing = run("db", "backup", f"{tmp_path}/nowhere/")
    assert missing.returncode == 1 and "no directory" in missing.stderr


@pytest.mark.sqlite_only(reason="db backup copies a SQLite file")
def test_backup_force_replaces_a_regular_file(run, people, tmp_path):
    target = tmp_path / "old.db"
    target.write_text("old")
    assert run("db", "backup", target).returncode == 1
    assert run("db", "backup", target, "--force").returncode == 0
    assert target.read_bytes().startswith(b"SQLite format 3\x00")


# Integers beyond 64 bits ------------------------------------------------------------------

BIG = "9223372036854775808"  # 2**63: one past SQLite's largest integer
HUGE = "9" * 5000  # past int()'s 4300-digit limit too


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["contact", "show", BIG], None, f"contact show: contact id {BIG} is out of range"),
        (["tag", "add", "vip", "-c", BIG], None, f"--contact: contact id {BIG} is out of range"),
        (["block", BIG], None, f"--contact: contact id {BIG} is out of range"),
        (["delete", HUGE, "--yes"], None, "--contact: contact id 9999"),
        (["log", "--contact", BIG], None, f"--contact: contact id {BIG} is out of range"),
        (["block", "-c", "-"], '{"id": 1e30}\n', "stdin line 1: 'id' must be a whole number, not 1e+30"),
        (["block", "-c", "-"], '{"id": 99999999999999999999999}\n', "stdin line 1: contact id 9999"),
        (["block", "-c", "-"], '{"id": ' + HUGE + "}\n", "stdin line 1: a number out of range"),
        (["contact", "count", "-w", f"id == {BIG}"], None, f"number out of range: {BIG}"),
        (["contact", "count", "-w", f"id == {HUGE}"], None, "number out of range: 9999"),
        (["contact", "count", "-w", f"last_seen_at > now - {HUGE}d"], None, "duration out of range"),
    ],
)
def test_integers_beyond_64_bits_are_refused_as_input(run, people, args, stdin, message):
    before = dump(people)
    result = run(*args, input=stdin)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"Error: {message}"), result.stderr[:300]
    assert "Traceback" not in result.stderr
    assert dump(people) == before


@pytest.mark.parametrize("command", [["contact", "list"], ["log"]])
def test_a_limit_beyond_64_bits_is_a_usage_error(run, people, command):
    result = run(*command, "--limit", BIG)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "--limit" in result.stderr


def test_a_set_value_beyond_64_bits_is_located_in_the_flow(run, people, tmp_path):
    flow = tmp_path / "big.yaml"
    flow.write_text(f"name: big\nmatch: 'id == 1'\nsteps:\n  - set: {{score: {BIG}}}\n")
    for command in ("validate", "run"):
        result = run("flow", command, flow, "--yes" if command == "run" else "-q")
        assert result.returncode == 2
        assert result.stderr.startswith(f"{flow}:4:18: steps[0].set.score: integer out of range"), result.stderr


def test_a_lone_surrogate_escape_in_a_flow_is_located(run, people, tmp_path):
    flow = tmp_path / "s.yaml"
    flow.write_text('name: s\nmatch: "id == 1"\nsteps:\n  - note: "a\\ud800b"\n')
    result = run("flow", "validate", flow)
    assert result.returncode == 2
    assert result.stderr.startswith(f"{flow}:4:11: steps[0].note: an escape such as \\ud800 stands for half"), (
        result.stderr
    )


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "-inf", "86401", "1e400"])
def test_lock_timeout_must_be_a_number_of_seconds_in_range(run, people, tmp_path, value):
    flow = tmp_path / "f.yaml"
    flow.write_text("name: f\nmatch: 'id == 1'\nsteps: [block]\n")
    result = run("flow", "run", flow, f"--lock-timeout={value}")
    assert result.returncode == 2, result.stderr
    assert "--lock-timeout" in result.stderr and "Traceback" not in result.stderr


# Dates out of range -----------------------------------------------------------------------


def test_a_wait_past_the_year_9999_is_a_clear_refusal(run, people, tmp_path):
    flow = tmp_path / "w.yaml"
    flow.write_text("name: w\nmatch: 'id == 1'\nsteps:\n  - wait: 1d\n  - note: later\n")
    before = dump(people)
    result = run("flow", "run", flow, "--yes", env={"CRMCTL_NOW": "9999-12-31T00:00:00Z"})
    assert (result.returncode, result.stderr) == (
        1,
        "Error: w: the end of the wait at steps[0] falls after the year 9999 (now is 9999-12-31T00:00:00Z)\n",
    )
    recorded = ("flow_runs:", "sqlite_sequence:('flow_runs'")  # a refused run is recorded, nothing else
    assert [r for r in dump(people) if not r.startswith(recorded)] == [r for r in before if not r.startswith(recorded)]
    late = run("contact", "count", "-w", "last_seen_at < now + 1d", env={"CRMCTL_NOW": "9999-12-31T12:00:00Z"})
    assert late.returncode == 2 and late.stderr.startswith("Error: date out of range: now + 1d")


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["note", "x", "-c", "1"], {"CRMCTL_NOW": "0999-12-31T00:00:00Z"}, "CRMCTL_NOW: year out of range"),
        (["contact", "count", "-w", 'created_at > "0999-12-31"'], {}, "date out of range"),
        (["contact", "count", "-w", "created_at > now - 2d"], {"CRMCTL_NOW": "1000-01-01T00:00:00Z"}, "date out"),
    ],
)
def test_years_before_1000_are_refused_everywhere(run, people, args, env, message):
    result = run(*args, env=env)
    assert result.returncode == 2 and result.stderr.startswith(f"Error: {message}"), result.stderr


@pytest.mark.parametrize("when", ["0999-01-01T00:00:00Z", "0999-12-31", "1000-01-01T00:30:00+01:00"])
def test_import_refuses_years_before_1000_in_every_form(run, people, tmp_path, when):
    file = tmp_path / "old.csv"
    file.write_text(f"email,created_at\nold@example.com,{when}\n")
    result = run("contact", "import", file)
    assert result.returncode == 2 and "created_at: year out of range" in result.stderr, result.stderr


def test_a_reentry_cut_off_near_the_year_1000_compares_as_a_time(run, people, tmp_path):
    flow = tmp_path / "r.yaml"
    flow.write_text("name: r\nmatch: 'id <= 3'\nreentry: 30d\nsteps:\n  - note: hello\n")

    def matched(now: str) -> int:
        result = run("flow", "run", flow, "--yes", "--format", "json", env={"CRMCTL_NOW": now})
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["matched"]

    assert matched("1000-01-15T00:00:00Z") == 3
    assert matched("1000-01-16T00:00:00Z") == 0  # within 30 days: not again
    assert matched("1000-02-20T00:00:00Z") == 3
    stored = people.execute("SELECT DISTINCT length(entered_at) FROM flow_enrolments").fetchall()
    assert stored == [(20,)]


# The last line of defence -----------------------------------------------------------------

# Runs the real entry point with one function made to fail in a way nothing maps.
BROKEN = (
    "import sys, crmctl.store.reads as reads\n"
    "def broken(*args, **kwargs):\n"
    "    raise OverflowError('Python int too large to convert to SQLite INTEGER')\n"
    "reads.count = broken\n"
    "from crmctl.cli import main\n"
    "sys.argv = ['crmctl', 'contact', 'count']\n"
    "main()\n"
)


@pytest.mark.parametrize("debug", [False, True])
def test_an_unmapped_exception_is_one_line_and_exit_70(people, debug):
    import os
    import subprocess
    import sys

    env = {**os.environ, "CRMCTL_DEBUG": "1" if debug else "0"}
    result = subprocess.run([sys.executable, "-c", BROKEN], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 70
    last = (
        "Error: internal error (OverflowError: Python int too large to convert to SQLite INTEGER); "
        "rerun with CRMCTL_DEBUG=1 for details\n"
    )
    assert result.stderr.endswith(last)
    if debug:
        assert result.stderr.startswith("Traceback (most recent call last):") and "in broken" in result.stderr
    else:
        assert result.stderr == last
