"""The mechanical rewrites that let the store's SQLite statements run on PostgreSQL.

Applied by PgDatabase.execute to every statement, cached per SQL text. A small tokenizer skips
string literals, quoted identifiers, dollar-quoted bodies and comments, and only these rewrites
are made (anything else differs by dialect and is written explicitly in the store):

- `?` and `?NNN` placeholders → `%s` (numbered ones reorder the parameters: `order`), and
  `:name` → `%(name)s`;
- a literal `%` → `%%` (psycopg reads `%` anywhere in a statement that has parameters);
- `temp.` → `pg_temp.`;
- `INSERT OR IGNORE INTO t …` → `INSERT INTO t … ON CONFLICT DO NOTHING`, placed before a
  trailing RETURNING;
- `COLLATE NOCASE` and `WITHOUT ROWID` dropped;
- in `CREATE [TEMP|TEMPORARY] TABLE` statements, the type `INTEGER` → `BIGINT`.

A statement without parameters is also kept in a form without the `%` doubling (`plain`), for
psycopg's simple query protocol, which runs several statements at once and reads no `%`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<string>[Ee]'(?:[^'\\]|\\.|'')*(?:'|\Z)|[XxBb]?'(?:[^']|'')*(?:'|\Z))
    | (?P<ident>"(?:[^"]|"")*(?:"|\Z)|`[^`]*(?:`|\Z)|\[[^\]]*(?:\]|\Z))
    | (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z_0-9]*)?\$.*?(?:\$(?P=tag)\$|\Z))
    | (?P<param>\?[0-9]*|(?<!:):[A-Za-z_][A-Za-z_0-9]*)
    | (?P<word>[A-Za-z_][A-Za-z_0-9$]*)
    | (?P<number>[0-9][0-9.]*(?:[eE][-+]?[0-9]+)?)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)

_CACHE_SIZE = 4096


@dataclass(frozen=True)
class Translated:
    text: str  # for psycopg with parameters (`%s` placeholders, `%` doubled)
    plain: str | None  # for psycopg without parameters; None when the statement has placeholders
    order: tuple[int, ...] | None  # for `?NNN`: the 0-based parameter index of each %s, in order

    def arguments(self, params):
        """The parameters in the order the %s placeholders want them."""
        if self.order is None or params is None:
            return params
        if isinstance(params, dict):
            raise TypeError("numbered placeholders (?1) take a sequence of parameters")
        values = list(params)
        return [values[i] for i in self.order]


@dataclass
class _Token:
    kind: str
    text: str

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


def tokenize(sql: str) -> list[_Token]:
    tokens = []
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup
        if kind == "tag":  # the named group inside `dollar`
            kind = "dollar"
        tokens.append(_Token(kind or "other", match.group(0)))
    return tokens


@functools.lru_cache(maxsize=_CACHE_SIZE)
def translate(sql: str) -> Translated:
    tokens = tokenize(sql)
    statements = _split(tokens)
    out: list[_Token] = []
    for statement in statements:
        out.extend(_rewrite(statement))
    params = [t for t in out if t.kind == "param"]
    order: tuple[int, ...] | None = None
    styles = {"?" if t.text == "?" else t.text[0] + ("9" if t.text[1:].isdigit() else "a") for t in params}
    if len(styles) > 1:
        raise ValueError(f"a statement mixes placeholder styles: {sql[:60]}")
    if styles == {"?9"}:
        order = tuple(int(t.text[1:]) - 1 for t in params)
    text = "".join(_for_params(t) for t in out)
    plain = None if params else "".join(t.text for t in out)
    return Translated(text, plain, order)


def _for_params(token: _Token) -> str:
    if token.kind == "param":
        return f"%({token.text[1:]})s" if token.text[0] == ":" else "%s"
    return token.text.replace("%", "%%")


def _split(tokens: list[_Token]) -> list[list[_Token]]:
    """Statements, each with its own `;` (the last may have none)."""
    statements: list[list[_Token]] = [[]]
    for token in tokens:
        statements[-1].append(token)
        if token.kind == "other" and token.text == ";":
            statements.append([])
    return [s for s in statements if s]


def _significant(statement: list[_Token]) -> list[int]:
    return [i for i, t in enumerate(statement) if t.kind not in ("ws", "comment")]


def _rewrite(statement: list[_Token]) -> list[_Token]:
    at = _significant(statement)
    if not at:
        return statement
    words = [statement[i].upper for i in at]
    drop: set[int] = set()
    replace: dict[int, str] = {}
    insert_before: dict[int, str] = {}

    creates_table = words[:1] == ["CREATE"] and (
        words[1:2] == ["TABLE"] or (words[1:2] in (["TEMP"], ["TEMPORARY"]) and words[2:3] == ["TABLE"])
    )
    for n, i in enumerate(at):
        token = statement[i]
        word = words[n]
        following = statement[at[n + 1]] if n + 1 < len(at) else None
        previous = statement[at[n - 1]] if n > 0 else None
        if word == "TEMP" and following is not None and following.text == "." and not _is_dot(previous):
            replace[i] = "pg_temp"
        elif word == "COLLATE" and n + 1 < len(at) and words[n + 1] == "NOCASE":
            _drop_with_space(statement, at[n], at[n + 1], drop)
        elif word == "WITHOUT" and n + 1 < len(at) and words[n + 1] == "ROWID":
            _drop_with_space(statement, at[n], at[n + 1], drop)
        elif word == "INTEGER" and creates_table and token.kind == "word" and not _is_dot(previous):
            replace[i] = "BIGINT"

    if words[:3] == ["INSERT", "OR", "IGNORE"]:
        _drop_with_space(statement, at[1], at[2], drop)
        # ON CONFLICT goes before a RETURNING at the top level, else at the end (before `;`).
        depth = 0
        position = None
        for n, i in enumerate(at):
            text = statement[i].text
            if text == "(":
                depth += 1
            elif text == ")":
                depth -= 1
            elif depth == 0 and words[n] == "RETURNING":
                position = i
                break
        if position is not None:
            insert_before[position] = "ON CONFLICT DO NOTHING "
        else:
            # before a closing `;`, else after the last significant token
            last = at[-1]
            insert_before[last if statement[last].text == ";" else last + 1] = " ON CONFLICT DO NOTHING"

    result: list[_Token] = []
    for i, token in enumerate(statement):
        if i in insert_before:
            result.append(_Token("other", insert_before[i]))
        if i in drop:
            continue
        result.append(_Token(token.kind, replace[i]) if i in replace else token)
    if len(statement) in insert_before:
        result.append(_Token("other", insert_before[len(statement)]))
    return result


def _is_dot(token: _Token | None) -> bool:
    return token is not None and token.text == "."


def _drop_with_space(statement: list[_Token], first: int, last: int, drop: set[int]) -> None:
    """Drop tokens first..last and the whitespace just before them."""
    start = first
    if start > 0 and statement[start - 1].kind == "ws":
        start -= 1
    drop.update(range(start, last + 1))
