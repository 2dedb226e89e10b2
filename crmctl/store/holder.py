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
    """'pid 123 (crmctl flow run x.yaml, since …)' when a live holder is known, else ''."""
    try:
        record = json.loads(holder_file(db_file).read_text())
        pid = int(record["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    return f"pid {pid} ({record.get('command', '?')}, since {record.get('since', '?')})"
