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


_PLAIN = re.compile(r"[A-Za-z0-9_.,:/=+-]{1,80}")


def command_line(argv: list[str]) -> str:
    """The command, without personal data: an argument that is not a plain word (an email,
    a note, a filter) is shown as `…`. The file outlives a killed process."""
    words = [word if _PLAIN.fullmatch(word) else "…" for word in argv]
    return " ".join(["crmctl", *words])[:200]


def announce(db_file: str) -> None:
    record = {"pid": os.getpid(), "command": command_line(sys.argv[1:]),
              "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
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
