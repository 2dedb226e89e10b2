"""Property values as PostgreSQL stores them: `property_values.value` is `jsonb`, a JSON
number or a JSON string, and psycopg reads it back with json.loads.

Integers are JSON integers. A float is written in fixed-point notation that always has a '.'
(3.0 → "3.0", 1e300 → "1000…0.0", 5e-324 → "0.000…05"): jsonb keeps a number's digits and
scale as written, so json.loads gives back a float, the same float (the digits are Python's
repr, expanded). The one float that does not survive is -0.0: a jsonb number has no negative
zero, so it reads back as 0.0. Booleans are stored as 1 and 0, as on SQLite. Text holding
the character U+0000 is refused: PostgreSQL's text and jsonb cannot hold it.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from crmctl.errors import InvalidInput

NUL_REFUSED = "PostgreSQL cannot store the character U+0000 (NUL) in text"


def float_text(value: float) -> str:
    """A finite float as fixed-point text with a '.', reading back as the same float."""
    if not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number")
    text = format(Decimal(repr(value)), "f")
    return text if "." in text else text + ".0"


def to_jsonb_text(value: Any) -> str:
    """The jsonb text of a stored value (int, float, bool as 1/0, or str)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return float_text(value)
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(NUL_REFUSED)
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"a property value is a number or text, not {type(value).__name__}")
