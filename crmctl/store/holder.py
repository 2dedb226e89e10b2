"""Who holds the write lock: a small owner-only file beside the database, so a process
that gives up waiting can name the holder. Informational only; SQLite does the locking."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path


def holder_file(db_file: str) -> Path:
    return Path(db_file + "-holder")


_FLAG = re.compile(r"--?[a-z][a-z-]*")
_FILE = re.compile(r"[\w./-]{1,120}\.(ya?ml|csv|json|ndjson|jsonl|db)")
_GROUPS = {"contact", "tag", "flow", "db"}


def command_line(argv: list[str]) -> str:
    """The command without personal data: the command words, flags, file names and ids are
    kept; anything else (an email, a note, a filter, a tag) is shown as `…`. The file
    outlives a killed process, so it must not keep what a delete erases."""
    words: list[str] = []
    command: list[str] = []
    for word in argv:
        wanted = 2 if command[:1] and command[0] in _GROUPS else 1
        if _FLAG.fullmatch(word) or _FILE.fullmatch(word) or word.isdigit():
            words.append(word)
        elif len(command) < wanted and word.isalpha() and word.islower():
            command.append(word)
            words.append(word)
        else:
            words.append("…")
    return " ".join(["crmctl", *words])[:200]


def command_words(argv: list[str]) -> list[str]:
    """Only the command's words (`flow run`, `tag add`): no flags, files, ids or values."""
    command: list[str] = []
    for word in argv:
        wanted = 2 if command[:1] and command[0] in _GROUPS else 1
        if len(command) >= wanted:
            break
        if _FLAG.fullmatch(word) or _FILE.fullmatch(word) or word.isdigit():
            continue
        if word.isalpha() and word.islower():
            command.append(word)
    return command


def announce(db_file: str) -> None:
    record = {
        "pid": os.getpid(),
        "command": command_line(sys.argv[1:]),
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path = holder_file(db_file)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(record))
    except OSError:
        pass


def withdraw(db_file: str) -> None:
    path = holder_file(db_file)
    try:
        record = json.loads(path.read_text())
        if record.get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def describe(db_file: str) -> str:
    """Who holds the write lock, always in words:

    - 'pid 123 (crmctl flow run x.yaml, since …)' from a live crmctl holder record;
    - 'pid 456 (sqlite3, with no crmctl holder record)' from the kernel's lock table when another
      program holds it (only the program's name: its arguments may hold personal data);
    - otherwise a sentence saying that the holder could not be identified, and why.
    """
    owner = lock_owner(db_file)
    record = _record(db_file)
    if record is not None and (owner is None or owner == record["pid"]):
        return f"pid {record['pid']} ({record.get('command', '?')}, since {record.get('since', '?')})"
    if owner is not None:
        return f"pid {owner} ({_program(owner)}, with no crmctl holder record)"
    return "an unidentified process (no crmctl holds it, and the kernel's lock table does not show it)"


def _record(db_file: str) -> dict | None:
    """The holder record, when its process is still alive."""
    try:
        record = json.loads(holder_file(db_file).read_text())
        record["pid"] = int(record["pid"])
        os.kill(record["pid"], 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if isinstance(record, dict) else None


# SQLite's WAL write lock: one byte at offset 120 of the -shm file (WALINDEX_LOCK_OFFSET).
_WAL_WRITE_LOCK = 120


def lock_owner(db_file: str) -> int | None:
    """The pid holding the WAL write lock, read from /proc/locks (Linux); None when unknown."""
    try:
        shm = os.stat(db_file + "-shm")
        with open("/proc/locks") as table:
            lines = table.read().splitlines()
    except OSError:
        return None
    device = f"{os.major(shm.st_dev):02x}:{os.minor(shm.st_dev):02x}:{shm.st_ino}"
    for line in lines:
        fields = line.split()
        if "->" in fields or len(fields) < 8:  # a waiter, not a holder
            continue
        _, kind, _, access, pid, file_id, start, end = fields[:8]
        if kind != "POSIX" or access != "WRITE" or file_id != device or pid == str(os.getpid()):
            continue
        if int(start) <= _WAL_WRITE_LOCK and (end == "EOF" or _WAL_WRITE_LOCK <= int(end)):
            return int(pid) if pid.isdigit() and int(pid) > 0 else None
    return None


def _program(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() or "unknown program"
    except OSError:
        return "unknown program"
