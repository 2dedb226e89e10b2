"""Files crmctl creates: owner-only (0600) from the first byte, whatever the umask."""

from __future__ import annotations

import os
from pathlib import Path

from crmctl.errors import DatabaseError


def create_private_file(path: Path, *, exclusive: bool) -> None:
    """Create (or with exclusive=False, truncate) `path` as 0600, never through a symlink."""
    flags = os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | (os.O_EXCL if exclusive else os.O_TRUNC)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if path.is_symlink():
            raise DatabaseError(f"{path} is a symbolic link; refusing to write through it") from None
        raise DatabaseError(f"cannot create {path}: {exc.strerror}") from None
    os.fchmod(fd, 0o600)
    os.close(fd)
