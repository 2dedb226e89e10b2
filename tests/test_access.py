"""Access: what crmctl creates is owner-only whatever the umask; it never writes through a
symlink without saying so; unusable files and places end in one clear `Error:` line."""

from __future__ import annotations

import ctypes
import hashlib
import os
import sqlite3
import stat
import subprocess
import sys

import pytest

from crmctl.store import open_db, transaction
from crmctl.store.maintenance import backup


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_error_line(result, code: int) -> str:
    """The single `Error:` line of a CliRunner result or a finished process."""
    assert getattr(result, "exit_code", getattr(result, "returncode", None)) == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("umask", [0o000, 0o077])
def test_files_and_directories_are_owner_only_whatever_the_umask(tmp_path, umask):
    path = tmp_path / "new" / "nested" / "crm.db"
    previous = os.umask(umask)
    try:
        db = open_db(path, create=True)
        with transaction(db):
            db.execute("INSERT INTO tags(name, created_at) VALUES ('x', 'y')")
            created = {
                name: mode(path.with_name(name)) for name in ("crm.db", "crm.db-wal", "crm.db-shm", "crm.db-holder")
            }
        size = backup(db, tmp_path / "copy.db")
        db.close()
    finally:
        os.umask(previous)
    assert created == dict.fromkeys(created, 0o600)
    assert (mode(tmp_path / "new"), mode(tmp_path / "new" / "nested")) == (0o700, 0o700)
    assert mode(tmp_path / "copy.db") == 0o600 and size > 0
    assert not (tmp_path / "copy.db.partial").exists()


# Symbolic links ---------------------------------------------------------------------------


@pytest.mark.sqlite_only(reason="a database file reached through a symbolic link")
def test_a_db_path_that_is_a_symlink_is_refused(cli, db, isolated_db, tmp_path):
    db.close()
    link = tmp_path / "link.db"
    link.symlink_to(isolated_db)
    before = digest(isolated_db)
    for args in (["contact", "count"], ["init"], ["tag", "create", "x"]):
        message = one_error_line(cli("--db", link, *args), 1)
        assert message == (
            f"Error: {link} is a symbolic link (to {isolated_db}); crmctl does not open a database "
            "through a link: give the real path"
        )
    assert digest(isolated_db) == before
    dangling = tmp_path / "dangling.db"
    dangling.symlink_to(tmp_path / "elsewhere.db")
    one_error_line(cli("--db", dangling, "init"), 1)
    assert not (tmp_path / "elsewhere.db").exists()


@pytest.mark.sqlite_only(reason="db backup copies a SQLite file")
def test_backup_never_writes_through_a_symlink(cli, db, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "to-link.db").symlink_to(victim)
    message = one_error_line(cli("db", "backup", tmp_path / "to-link.db", "--force"), 1)
    assert message == f"Error: {tmp_path / 'to-link.db'} is a symbolic link; refusing to write through it"
    # The partial copy has a fresh name, created exclusively: a link planted beside is never used.
    (tmp_path / "copy.db.partial").symlink_to(victim)
    (tmp_path / ".copy.db.partial").symlink_to(victim)
    assert cli("db", "backup", tmp_path / "copy.db").exit_code == 0
    assert victim.read_text() == "precious" and (tmp_path / "copy.db").read_bytes().startswith(b"SQLite format 3")


@pytest.mark.sqlite_only(reason="the -holder file beside a SQLite database")
def test_a_planted_holder_symlink_is_not_followed(cli, db, isolated_db, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "crm.db-holder").symlink_to(victim)
    assert cli("tag", "create", "vip").exit_code == 0
    assert victim.read_text() == "precious"


# Places and files crmctl cannot use -------------------------------------------------------


@pytest.mark.sqlite_only(reason="database file paths and db backup")
def test_missing_directories(cli, db, tmp_path):
    missing = tmp_path / "no" / "such" / "crm.db"
    assert one_error_line(cli("--db", missing, "contact", "count"), 1) == (
        f"Error: no database at {missing} (run `crmctl init` first)"
    )
    assert not missing.parent.exists()
    assert one_error_line(cli("db", "backup", missing), 1) == (
        f"Error: cannot write {missing}: no directory {missing.parent}"
    )


def test_files_that_are_not_crmctl_databases_are_refused_and_left_alone(cli, tmp_path):
    foreign = tmp_path / "other-app.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE things (x)")
    conn.commit()
    conn.close()
    newer = tmp_path / "newer.db"
    with open_db(newer, create=True) as future:
        future.execute(
            "INSERT INTO _sqlite_migrations(migration_set, name, applied_at) VALUES ('crmctl', 'm999_future', 'x')"
        )
    cases = {
        foreign: f"Error: {foreign} is not a crmctl database",
        tmp_path / "notes.txt": f"Error: {tmp_path / 'notes.txt'} is not a SQLite database",
        tmp_path / "random.bin": f"Error: {tmp_path / 'random.bin'} is not a SQLite database",
        tmp_path
        / "empty.db": f"Error: {tmp_path / 'empty.db'} is an empty database, not a crmctl one (run `crmctl init`)",
        newer: f"Error: {newer} has a newer schema than this crmctl (migration m999_future of set 'crmctl'); "
        "upgrade crmctl",
    }
    (tmp_path / "notes.txt").write_text("name,email\nnot a database\n" * 300)
    (tmp_path / "random.bin").write_bytes(os.urandom(8192))
    (tmp_path / "empty.db").write_bytes(b"")
    before = {path: digest(path) for path in cases}
    for path, message in cases.items():
        assert one_error_line(cli("--db", path, "tag", "create", "x"), 1) == message
    assert {path: digest(path) for path in cases} == before
    assert not (tmp_path / "other-app.db-wal").exists()
    with sqlite3.connect(foreign) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL


def test_a_directory_as_the_database(cli, tmp_path):
    (tmp_path / "dir.db").mkdir()
    message = one_error_line(cli("--db", tmp_path / "dir.db", "contact", "count"), 1)
    assert message.startswith(f"Error: cannot open {tmp_path / 'dir.db'}")


def _without_root_powers():
    """Run the child without the capability to ignore file modes (for tests run as root)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            os._exit(99)


@pytest.fixture
def as_plain_user(run):
    if os.geteuid() != 0:
        return run
    probe = subprocess.run([sys.executable, "-c", "pass"], preexec_fn=_without_root_powers)
    if probe.returncode == 99:
        pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE")

    def _run(*args):
        from conftest import crmctl_executable

        return subprocess.run(
            [crmctl_executable(), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=60,
            preexec_fn=_without_root_powers,
        )

    return _run


@pytest.mark.sqlite_only(reason="file modes of the database file and its directory")
def test_read_only_database_and_directory(as_plain_user, db, isolated_db):
    db.close()
    isolated_db.chmod(0o444)
    try:
        assert one_error_line(as_plain_user("tag", "create", "x"), 1) == (
            f"Error: {isolated_db} is read-only: crmctl needs to write to it"
        )
        assert as_plain_user("contact", "count").stdout == "0\n"  # reading needs no write access
    finally:
        isolated_db.chmod(0o600)
        for leftover in ("crm.db-wal", "crm.db-shm"):  # made by SQLite with the file's mode
            isolated_db.with_name(leftover).unlink(missing_ok=True)
    isolated_db.parent.chmod(0o555)
    try:
        assert one_error_line(as_plain_user("tag", "create", "x"), 1) == (
            f"Error: the directory {isolated_db.parent} is read-only: crmctl needs to create crm.db-wal "
            "beside the database"
        )
    finally:
        isolated_db.parent.chmod(0o700)


def test_text_that_is_not_utf8(people):
    from conftest import crmctl_executable

    exe = crmctl_executable()
    on_stdin = subprocess.run([exe, "note", "-", "--all"], input=b"fine\nbad \xff\n", capture_output=True)
    on_stdin.stderr = on_stdin.stderr.decode()
    assert one_error_line(on_stdin, 2) == "Error: standard input, line 2: not valid UTF-8 text"
    in_argument = subprocess.run([exe, "note", b"bad \xff", "--all"], capture_output=True, text=True)
    assert one_error_line(in_argument, 2) == (
        "Error: text that is not valid UTF-8 (in an argument or on standard input): crmctl reads and stores UTF-8 only"
    )
    assert people.execute("SELECT count(*) FROM notes").fetchone()[0] == 1
