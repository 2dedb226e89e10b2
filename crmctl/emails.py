"""What crmctl accepts as an email address (imports and `contact add` alike)."""

from __future__ import annotations

import re

_CONTROL = r"\x00-\x1f\x7f"
EMAIL = re.compile(rf"[^@\s{_CONTROL}]+@[^@\s{_CONTROL}.]+(?:\.[^@\s{_CONTROL}.]+)+")
MAX_LENGTH = 254


def clean_email(value: str) -> str:
    """The address trimmed; ValueError("no email" / "invalid email '…'") when it is not one."""
    email = value.strip()
    if not email:
        raise ValueError("no email")
    if len(email) > MAX_LENGTH or not EMAIL.fullmatch(email):
        shown = email if len(email) <= 60 else email[:57] + "..."
        raise ValueError(f"invalid email {shown!r}")
    return email
