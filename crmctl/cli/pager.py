"""Long tables on a terminal go through a pager, as git does.

The pager is $CRMCTL_PAGER, else $PAGER, else `less -FRX` (quit at once when the table fits on
one screen, keep our bold header, leave the table on the screen afterwards). An empty value or
`cat` means no pager, as does --no-pager. Rows are written to the pager as they are made, so
the first screen shows while the rest is still being read from the database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import IO

DEFAULT = "less -FRX"


@dataclass
class Target:
    stream: IO[str]
    width: int | None
    colour: bool


def pager_command() -> str | None:
    for variable in ("CRMCTL_PAGER", "PAGER"):
        if variable in os.environ:
            chosen = os.environ[variable].strip()
            return None if chosen in ("", "cat") else chosen
    return DEFAULT if shutil.which("less") else None


class paged:
    """`with paged(enabled=…) as target:` write to target.stream; waits for the pager to end."""

    def __init__(self, *, enabled: bool = True):
        self.enabled = enabled
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Target:
        width = shutil.get_terminal_size((100, 24)).columns
        colour = not os.environ.get("NO_COLOR")
        command = pager_command() if self.enabled else None
        if command is None:
            return Target(sys.stdout, width, colour)
        env = dict(os.environ)
        env.setdefault("LESS", "FRX")
        env.setdefault("LV", "-c")
        try:
            self.process = subprocess.Popen(
                command, shell=True, stdin=subprocess.PIPE, env=env, text=True, encoding="utf-8", errors="replace"
            )
        except OSError:
            return Target(sys.stdout, width, colour)
        sys.stdout.flush()
        assert self.process.stdin is not None
        return Target(self.process.stdin, width, colour)

    def __exit__(self, kind, exc, traceback) -> bool:
        if self.process is None:
            return False
        try:
            if self.process.stdin is not None:  # always a pipe: Popen(stdin=PIPE)
                self.process.stdin.close()
        except BrokenPipeError:
            pass
        self.process.wait()
        # The reader quit the pager before the end (q in less): stop quietly, as git does.
        return kind is BrokenPipeError
