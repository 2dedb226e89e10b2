"""Load and validate flow files: YAML with positions, then schema, then meaning.

    flow = load_flow("flows/winback.yaml", db)      # or FlowInvalid(problems)
    problems = validate_file("flows/winback.yaml")  # [] when valid

Every problem reads `FILE:LINE:COL: message` (1-based), FILE being the path as given, and
every problem in a file is reported, not just the first:

1. Text and YAML. The file must be readable, at most 1 MiB, UTF-8. It is composed (not
   constructed) with a SafeLoader subclass, so every node keeps its position. Anchors and
   aliases are refused (no billion laughs), as are nesting deeper than 64 levels, more
   than 10,000 nodes, merge keys, tags other than YAML's plain scalar ones and multiple
   documents. A syntax error is the only problem reported, since nothing after it parses.
   Keys must be text; a duplicate key is a problem (the first value is kept for checking).
2. Schema. The top level and each step are checked by the pydantic models of
   `crmctl.flows.schema` (unknown keys forbidden, strict types). Each error's `loc` is
   mapped back to the nearest node that has a position.
3. Meaning. `match`, `exit_when` and every `if` parse as filters (with a db, their fields
   exist); note placeholders are well formed (with a db, they name a field); `set` names
   no built-in field; nothing follows a delete; step ids are unique. Durations are
   checked in stage 2.

Stage 1 is `crmctl.yamltree` (shared with import mapping files); stages 2 and 3 live in
`crmctl.flows.checker`. With a database, `load_flow` first asks
`crmctl.flows.checked` whether this exact text already passed them in a real run of this
version of crmctl; if so, only the checks that depend on the database are repeated.
"""

from __future__ import annotations

import os

from crmctl.errors import FlowInvalid
from crmctl.flows.model import Flow

MAX_BYTES = 1024 * 1024


# The public interface ---------------------------------------------------------------------


def load_flow(path: str, db=None) -> Flow:
    """Read, check and return the flow at `path`; raises FlowInvalid listing every problem."""
    problems, source, text = _read(path)
    if problems or text is None:
        raise FlowInvalid(problems)
    if db is not None:
        from crmctl.flows import checked

        flow = checked.recall(db, source, text)
        if flow is not None:
            return flow
    return _from_text(source, text, db)


def validate_file(path: str, db=None) -> list[str]:
    """Every problem in the flow file at `path`, as `FILE:LINE:COL: message` lines (never cached)."""
    problems, source, text = _read(path)
    if problems or text is None:
        return problems
    from crmctl.flows.checker import check_text

    return check_text(source, text, db)[0]


def parse_flow(text: str, source: str = "<flow>", db=None) -> Flow:
    """As load_flow, from text already in hand (e.g. a definition kept in the database)."""
    return _from_text(source, text, db)


def _from_text(source: str, text: str, db) -> Flow:
    from crmctl.flows.checker import check_text

    problems, flow = check_text(source, text, db)
    if problems or flow is None:
        raise FlowInvalid(problems)
    return flow


# Stage 0: the file ------------------------------------------------------------------------


def _read(path: str) -> tuple[list[str], str, str | None]:
    """([], source, text) for a readable UTF-8 file of at most 1 MiB, else ([problem], source, None)."""
    source = os.fspath(path)
    try:
        with open(source, "rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        return [f"{source}: cannot read: {exc.strerror or exc}"], source, None
    except ValueError as exc:  # e.g. a NUL in the path
        return [f"{source}: cannot read: {exc}"], source, None
    if len(raw) > MAX_BYTES:
        return [f"{source}:1:1: file is larger than {MAX_BYTES // (1024 * 1024)} MiB: not a flow file"], source, None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        column = len(raw[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        byte = raw[exc.start]
        return [f"{source}:{line}:{column}: not UTF-8 text (byte 0x{byte:02x}): save the file as UTF-8"], source, None
    return [], source, text.removeprefix("\ufeff")
