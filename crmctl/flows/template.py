"""Note templates: literal text with `{{ contact.FIELD }}` placeholders, and nothing else.

A template only inserts values. It is parsed with one strict regular expression (no Jinja,
no expressions, no filters) and compiled to a single SQL expression over contact alias `c`:
literal parts travel as parameters, each placeholder becomes the filter language's
`value_expression` for that field, wrapped in coalesce(…, '') so a missing value renders
as empty text. Nothing in a template is ever evaluated.

FIELD is a built-in field (email, name, last_seen_at, tags, …) or a data point key written
as a plain name (letters, digits and `_`, not starting with a digit). Anything else that
looks like template syntax — `{{ x }}`, `{{ contact.a.b }}`, `{% … %}`, `{# … #}`, a stray
`}}` — is an error rather than literal text, so a typo never reaches a contact's notes.
Single braces are ordinary text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from crmctl.actions import NoteBody
from crmctl.errors import FilterError, InvalidInput

PLACEHOLDER = re.compile(r"\{\{\s*contact\.([^\W\d]\w*)\s*\}\}")
# Template syntax that is not a valid placeholder: refused, never passed through.
_SUSPECT = re.compile(r"\{\{|\{%|\{#|\}\}")
_CLOSERS = {"{{": "}}", "{%": "%}", "{#": "#}"}
_SNIPPET_MAX = 40
FORM = "{{ contact.FIELD }}"


@dataclass(frozen=True)
class Placeholder:
    name: str
    offset: int  # 0-based, in the template text


def parse_template(text: str) -> tuple[list[str | Placeholder], list[tuple[int, str]]]:
    """Split text into literal strings and placeholders; problems are (offset, message)."""
    parts: list[str | Placeholder] = []
    problems: list[tuple[int, str]] = []
    position = 0
    for found in PLACEHOLDER.finditer(text):
        _literal(text, position, found.start(), parts, problems)
        parts.append(Placeholder(found.group(1), found.start()))
        position = found.end()
    _literal(text, position, len(text), parts, problems)
    return parts, problems


def _literal(text: str, start: int, end: int, parts: list, problems: list) -> None:
    if start >= end:
        return
    chunk = text[start:end]
    parts.append(chunk)
    index = 0
    while found := _SUSPECT.search(chunk, index):
        mark = found.group()
        closer = _CLOSERS.get(mark, "")
        stop = chunk.find(closer, found.end()) if closer else -1
        snippet_end = stop + len(closer) if stop >= 0 else found.end()
        snippet = chunk[found.start() : snippet_end]
        if len(snippet) > _SNIPPET_MAX:
            snippet = snippet[:_SNIPPET_MAX] + "…"
        if mark == "}}":
            message = f"stray '}}}}' in a note: placeholders are written {FORM}"
        elif mark == "{{":
            message = f"malformed placeholder {snippet!r}: write {FORM}"
        else:
            message = f"template code {snippet!r} is not supported: a note can only insert values with {FORM}"
        problems.append((start + found.start(), message))
        index = max(snippet_end, found.end())


def template_problems(text: str, db=None, declared_keys=()) -> list[tuple[int, str]]:
    """Everything wrong with a template, as (offset, message). With a db, placeholders must
    name a built-in field or a data point key some contact has."""
    parts, problems = parse_template(text)
    if db is not None:
        from crmctl.query import value_expression

        for part in parts:
            if isinstance(part, Placeholder):
                try:
                    value_expression(db, part.name, declared_keys)
                except FilterError as exc:
                    problems.append((part.offset, _unknown(part.name, exc.reason)))
    return sorted(problems, key=lambda p: p[0])


def _unknown(name: str, reason: str) -> str:
    hint = ""
    if "(did you mean" in reason:
        hint = " " + reason[reason.index("(did you mean") :]
    return f"unknown placeholder {{{{ contact.{name} }}}}: no field or data point '{name}'{hint}"


def compile_template(db, text: str, declared_keys=()) -> NoteBody:
    """One SQL expression over contact alias `c` giving the note text for each contact."""
    from crmctl.query import value_expression

    parts, problems = parse_template(text)
    if problems:
        raise InvalidInput(f"note template: {problems[0][1]}")
    sql: list[str] = []
    params: list[Any] = []
    for part in parts:
        if isinstance(part, Placeholder):
            try:
                expression, values = value_expression(db, part.name, declared_keys)
            except FilterError as exc:
                raise InvalidInput(f"note template: {_unknown(part.name, exc.reason)}") from None
            sql.append(f"coalesce(({expression}), '')")
            params.extend(values)
        else:
            sql.append("?")
            params.append(part)
    if not sql:
        return NoteBody("?", [""])
    if len(sql) == 1 and sql[0] == "?":
        return NoteBody("?", params)
    return NoteBody("(" + " || ".join(sql) + ")", params)
