"""Note templates: literal text with placeholders, and nothing else.

    {{ contact.FIELD }}                     a built-in field or a property with a plain name
    {{ contact["First Name"] }}             any property (or built-in) by its name
    {{ contact.name | default("there") }}   a fallback when the contact has no value

A template only inserts values. It is parsed with one strict regular expression (no Jinja,
no expressions, no other filters) and compiled to a single SQL expression over contact
alias `c`: literal parts and fallbacks travel as parameters, each placeholder becomes the
filter language's `value_expression` for that field, wrapped in coalesce(…) so a missing
value renders as its fallback, or as empty text. Empty text counts as missing for
`default`. Nothing in a template is ever evaluated.

A plain FIELD is letters, digits and `_`, not starting with a digit. A quoted name or
fallback is written in double or single quotes with the filter language's escapes (`\\`,
`\"`, `\'`). Anything else that looks like template syntax — `{{ x }}`, `{{ contact.a.b }}`,
`{{ contact.name | upper }}`, `{% … %}`, `{# … #}`, a stray `}}` — is an error rather than
literal text, so a typo never reaches a contact's notes. Single braces are ordinary text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from crmctl.actions import NoteBody
from crmctl.errors import FilterError, InvalidInput

_QUOTED = r"""(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
PLAIN_NAME = re.compile(r"[^\W\d]\w*")
PLACEHOLDER = re.compile(
    rf"\{{\{{\s*contact(?:\.(?P<plain>[^\W\d]\w*)|\[\s*(?P<quoted>{_QUOTED})\s*\])"
    rf"(?:\s*\|\s*default\(\s*(?P<fallback>{_QUOTED})\s*\))?\s*\}}\}}"
)
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t"}
# Template syntax that is not a valid placeholder: refused, never passed through.
_SUSPECT = re.compile(r"\{\{|\{%|\{#|\}\}")
_CLOSERS = {"{{": "}}", "{%": "%}", "{#": "#}"}
_SNIPPET_MAX = 40
FORM = "{{ contact.FIELD }}"
FORMS = '{{ contact.FIELD }} or {{ contact["NAME"] }}, optionally with | default("…")'


@dataclass(frozen=True)
class Placeholder:
    name: str
    offset: int  # 0-based, in the template text
    fallback: str | None = None  # from | default("…")
    written: str = ""  # the placeholder as written, for messages


def _unquote(text: str) -> str | None:
    """A quoted name or fallback's value; None for an escape the filter language does not know."""
    out, i, body = [], 0, text[1:-1]
    while i < len(body):
        if body[i] == "\\":
            if i + 1 >= len(body) or body[i + 1] not in _ESCAPES:
                return None
            out.append(_ESCAPES[body[i + 1]])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def parse_template(text: str) -> tuple[list[str | Placeholder], list[tuple[int, str]]]:
    """Split text into literal strings and placeholders; problems are (offset, message)."""
    parts: list[str | Placeholder] = []
    problems: list[tuple[int, str]] = []
    position = 0
    for found in PLACEHOLDER.finditer(text):
        _literal(text, position, found.start(), parts, problems)
        name = found.group("plain") or _unquote(found.group("quoted"))
        fallback = _unquote(found.group("fallback")) if found.group("fallback") else None
        if not name or (found.group("fallback") and fallback is None):
            problems.append((found.start(), f"malformed placeholder {found.group()!r}: unknown escape or empty name"))
        else:
            parts.append(Placeholder(name, found.start(), fallback, found.group()))
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
            message = f"malformed placeholder {snippet!r}: write {FORMS}"
        else:
            message = f"template code {snippet!r} is not supported: a note can only insert values with {FORM}"
        problems.append((start + found.start(), message))
        index = max(snippet_end, found.end())


def template_problems(text: str, db=None) -> list[tuple[int, str]]:
    """Everything wrong with a template, as (offset, message). With a db, placeholders must
    name a built-in field or a declared property."""
    parts, problems = parse_template(text)
    if db is not None:
        from crmctl.query import value_expression

        for part in parts:
            if isinstance(part, Placeholder):
                try:
                    value_expression(db, _reference(part.name))
                except FilterError as exc:
                    problems.append((part.offset, _unknown(part, exc.reason)))
    return sorted(problems, key=lambda p: p[0])


def _reference(name: str) -> str:
    """The placeholder's name as the filter language's field reference."""
    return name if PLAIN_NAME.fullmatch(name) else 'attr("' + name.replace("\\", "\\\\").replace('"', '\\"') + '")'


def _unknown(part: Placeholder, reason: str) -> str:
    hint = ""
    if "(did you mean" in reason:
        hint = " " + reason[reason.index("(did you mean") :]
    return f"unknown placeholder {part.written}: no field or property '{part.name}'{hint}"


def compile_template(db, text: str) -> NoteBody:
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
                expression, values = value_expression(db, _reference(part.name))
            except FilterError as exc:
                raise InvalidInput(f"note template: {_unknown(part, exc.reason)}") from None
            if part.fallback is None:
                sql.append(f"coalesce(({expression}), '')")
                params.extend(values)
            else:
                sql.append(f"coalesce(nullif(({expression}), ''), ?)")
                params.extend([*values, part.fallback])
        else:
            sql.append("?")
            params.append(part)
    if not sql:
        return NoteBody("?", [""])
    if len(sql) == 1 and sql[0] == "?":
        return NoteBody("?", params)
    return NoteBody("(" + " || ".join(sql) + ")", params)
