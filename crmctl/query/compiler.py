"""Compile a parsed filter into one parameterised, two-valued SQL condition over alias `c`.

Every test compiles to an expression that is 0 or 1, never NULL, so `NOT`, `AND` and `OR`
keep their two-valued meaning. Tests on tags, properties and conversations are set-based
subqueries driven by their indexes (`c.id IN (SELECT … WHERE tag_id/key = ?)`), never a
correlated subquery per contact. User text only ever travels as a parameter.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from crmctl import clock
from crmctl.errors import FilterError
from crmctl.query import fields, folding
from crmctl.query.fields import BUILTINS, Builtin, builtin
from crmctl.query.lexer import KEYWORDS, NAME, tokenize
from crmctl.query.nodes import ORDERINGS, And, Field, Node, Not, Or, Test, Truth, Value, show_field
from crmctl.query.parser import parse_syntax
from crmctl.store.properties import NUMBER_TEXT

if TYPE_CHECKING:
    from sqlite_utils import Database

    from crmctl.properties import Catalog, Property

Fragment = tuple[str, list[Any]]

_SQL_OPERATORS = {"==": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_PY_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_GROUPED = "SELECT v.contact_id FROM conversations AS v GROUP BY v.contact_id HAVING "

# SQLite's limits, which the parser's (MAX_DEPTH, MAX_TESTS) keep every filter within once
# compiled: its parser stack is ~100 entries deep (a nested subquery costs several), an
# expression tree at most 1000 deep, a compound SELECT at most 500 terms, and a statement at
# most 32766 parameters. So: and/or chains become balanced groups of at most CHAIN operands;
# a filter nested deeper than INLINE_HEIGHT becomes a WITH of one named set per and/or, which
# SQLite parses side by side instead of inside each other; a list of more than LIST values is
# one JSON parameter, read by json_each.
CHAIN = 32
INLINE_HEIGHT = 5
IDS_HEIGHT = 3
UNION_TERMS = 100
LIST = 20


def simplify(node: Node) -> Node:
    """The same filter with `not not x` as x and nested and/or of one kind flattened (tests are
    two-valued, so both are exact)."""
    if isinstance(node, Not):
        inner = simplify(node.operand)
        return inner.operand if isinstance(inner, Not) else Not(inner, node.position)
    if isinstance(node, (And, Or)):
        operands: list[Node] = []
        for operand in map(simplify, node.operands):
            if isinstance(operand, (And, Or)) and type(operand) is type(node):
                operands.extend(operand.operands)
            else:
                operands.append(operand)
        return type(node)(tuple(operands))
    return node


def height(node: Node) -> int:
    """Levels of and/or/not above the tests."""
    if isinstance(node, Not):
        return 1 + height(node.operand)
    if isinstance(node, (And, Or)):
        return 1 + max(height(operand) for operand in node.operands)
    return 0


def _group_of(node: Node) -> tuple[And | Or | None, bool]:
    """(the and/or, negated) that node is or negates; (None, False) for a test or `not test`."""
    if isinstance(node, Not) and isinstance(node.operand, (And, Or)):
        return node.operand, True
    if isinstance(node, (And, Or)):
        return node, False
    return None, False


def _chain(parts: list[str], joiner: str) -> str:
    """`a OR b OR …` as balanced groups of at most CHAIN, so the expression tree stays shallow."""
    while len(parts) > CHAIN:
        parts = ["(" + joiner.join(parts[i : i + CHAIN]) + ")" for i in range(0, len(parts), CHAIN)]
    return "(" + joiner.join(parts) + ")"


def _values(params: list[Any], pg: bool = False, kind: str = "text") -> tuple[str, list[Any]]:
    """`?, ?, ?` for a short list; one JSON array for a long one, read by json_each on SQLite
    (which reads JSON numbers back exactly, and keeps text as text and numbers as numbers).
    PostgreSQL reads the same parameter as `kind`: text, numeric, or jsonb (property values)."""
    if len(params) <= LIST:
        return ", ".join("?" * len(params)), [_pg_number(p) for p in params] if pg and kind == "numeric" else params
    if pg:  # JSON has no infinity, and an infinite number equals nothing
        params = [p for p in params if not (isinstance(p, float) and not math.isfinite(p))]
    array = [json.dumps(params, ensure_ascii=False)]
    if not pg:
        return "SELECT value FROM json_each(?)", array
    if kind == "jsonb":
        return "SELECT jsonb_array_elements(CAST(? AS jsonb))", array
    if kind == "numeric":
        return "SELECT CAST(jsonb_array_elements_text(CAST(? AS jsonb)) AS numeric)", array
    return "SELECT jsonb_array_elements_text(CAST(? AS jsonb))", array


def dialect_of(db: Database) -> str:
    """`sqlite` or `postgresql` (crmctl.store: every handle says which)."""
    return getattr(db, "dialect", "sqlite")


# PostgreSQL: property values are jsonb (a JSON number or string, crmctl.store.pg.values), compared
# as jsonb with the literal made jsonb by to_jsonb (exact for numbers, byte for byte for text;
# through the (property_id, value) index), except text and date orderings, which compare the
# string in binary order (COLLATE "C"). Parameters are SQLite's, except that a decimal compared
# with the contacts' own columns is an exact Decimal, as SQLite compares an integer with a real.


def _pg_number(value: Any) -> Any:
    return Decimal(value) if isinstance(value, float) else value


def _pg_match(op: str, text_sql: str, needle: str) -> Fragment:
    """`contains`/`startswith`/`endswith` on PostgreSQL: crmctl_fold is the SQL function of the
    schema; endswith is a prefix of the reversed text (both sides reverse by code point)."""
    folded = f"{folding.FOLD}({text_sql})"
    if op == "contains":
        return f"strpos({folded}, ?) > 0", [needle]
    if op == "startswith":
        return f"starts_with({folded}, ?)", [needle]
    return f"starts_with(reverse({folded}), reverse(?))", [needle]


@dataclass(frozen=True)
class Condition:
    """A compiled filter: `sql` is one boolean expression over alias `c`; `params` fill its `?`s.

    `ids`, when not None, is the same filter as a SELECT of contact ids (with its params),
    for filters that only combine index-driven tests with and/or: the ids then come
    straight from the indexes, without visiting each contact's row.
    """

    sql: str
    params: list[Any] = field(default_factory=list)
    ids: Fragment | None = None


def compile_filter(db: Database, text: str) -> Condition:
    """Parse `text`, check its fields against the catalog, and compile it to SQL.

    Built-in fields and declared properties are valid whether or not any contact holds a
    value. Raises FilterError (message, expression, 0-based position) for any invalid
    expression.
    """
    node = parse_syntax(text)
    resolver = _Resolver(db, text)
    fields.check(node, text, resolver.type_of)
    folding.register(db)
    compiler = _Compiler(text, resolver, dialect_of(db) == "postgresql")
    node = simplify(node)
    if height(node) > INLINE_HEIGHT and not compiler.pg:  # PostgreSQL parses deep SQL as it is
        sql, params = compiler.hoisted(node)
        return Condition(sql, params, None)
    sql, params = compiler.node(node)
    return Condition(sql, params, compiler.ids(node) if height(node) <= IDS_HEIGHT else None)


def value_expression(db: Database, field_name: str) -> Fragment:
    """SQL giving a field's value for contact `c` as text, as a note template shows it, or
    NULL when the contact has no value.

    field_name is a built-in name, a property's name as is, or the attr("name") form.
    Built-ins render as their text; blocked as 'true'/'false'; tags as the contact's tag
    names sorted and joined with ', ' ('' for none); conversations as their count. A
    property renders as stored: text as is, numbers in their shortest exact form, booleans
    as 'true'/'false', dates as UTC ISO-8601. Raises FilterError for an unknown field.
    """
    reference = _field_reference(field_name)
    known = builtin(reference)
    pg = dialect_of(db) == "postgresql"
    if known is None:
        prop = _Resolver(db, field_name).property(reference)
        value = "(SELECT v.value FROM property_values AS v WHERE v.contact_id = c.id AND v.property_id = ?)"
        if prop.type == "boolean":
            if pg:
                return f"(CASE {value} WHEN CAST('1' AS jsonb) THEN 'true' WHEN CAST('0' AS jsonb) THEN 'false' END)", [
                    prop.id
                ]
            return f"(CASE {value} WHEN 1 THEN 'true' WHEN 0 THEN 'false' END)", [prop.id]
        if prop.type == "number":
            return f"{NUMBER_TEXT}({value})", [prop.id]
        if pg:  # the JSON string's text
            return (
                "(SELECT v.value #>> '{}' FROM property_values AS v WHERE v.contact_id = c.id AND v.property_id = ?)",
                [prop.id],
            )
        return value, [prop.id]
    if known.kind == "number":
        return f"CAST({known.column} AS TEXT)", []
    if known.kind == "bool":
        return f"(CASE WHEN {known.column} IS NULL THEN 'false' ELSE 'true' END)", []
    if known.kind == "tags":
        if pg:
            return (
                # tags.name is COLLATE NOCASE on SQLite: ASCII letters folded (lower() does only
                # those under "C"), then byte order
                "coalesce((SELECT string_agg(t.name, ', ' ORDER BY lower(t.name COLLATE \"C\")) "
                "FROM contact_tags AS ct JOIN tags AS t ON t.id = ct.tag_id WHERE ct.contact_id = c.id), '')",
                [],
            )
        return (
            "coalesce((SELECT group_concat(x.name, ', ') FROM (SELECT t.name AS name "
            "FROM contact_tags AS ct JOIN tags AS t ON t.id = ct.tag_id "
            "WHERE ct.contact_id = c.id ORDER BY t.name) AS x), '')",
            [],
        )
    if known.kind == "count":
        return "CAST((SELECT count(*) FROM conversations AS v WHERE v.contact_id = c.id) AS TEXT)", []
    return f"{known.column}", []


# Fields ----------------------------------------------------------------------------------


def _field_reference(text: str) -> Field:
    if not text.strip():
        raise FilterError("empty field name", text, 0)
    tokens = tokenize(text)
    if (
        len(tokens) == 5
        and tokens[0].kind == "name"
        and tokens[0].text.lower() == "attr"
        and tokens[1].is_punct("(")
        and tokens[2].kind == "string"
        and tokens[2].value
        and tokens[3].is_punct(")")
    ):
        return Field(tokens[2].value, tokens[0].position, quoted=True)
    return Field(text, 0)


class _Resolver:
    """The properties a filter names, looked up in the catalog (loaded once, on first use)."""

    def __init__(self, db: Database, text: str):
        self.db = db
        self.text = text
        self._catalog: Catalog | None = None

    def property(self, reference: Field) -> Property:
        if self._catalog is None:
            from crmctl.properties import Catalog

            self._catalog = Catalog.load(self.db)
        found = self._catalog.get(reference.name)
        if found is None:
            raise FilterError(self._unknown(reference), self.text, reference.position)
        return found

    def type_of(self, reference: Field) -> str:
        return self.property(reference).type

    def _unknown(self, reference: Field) -> str:
        assert self._catalog is not None
        message = f"unknown field '{reference.name}'"
        close = self._catalog.closest(reference.name, BUILTINS)
        if close is None:
            return message + " (declare it with `crmctl property create`)"
        shown = f"'{close}'" if close in BUILTINS or _is_plain_name(close) else show_field(close, quoted=True)
        return message + f" (did you mean {shown}?)"


def _is_plain_name(key: str) -> bool:
    return bool(NAME.fullmatch(key)) and key.lower() not in KEYWORDS and key not in BUILTINS


# SQL -------------------------------------------------------------------------------------


class _Compiler:
    """Emits SQLite's SQL, or PostgreSQL's when `pg`, from the same tree."""

    def __init__(self, text: str, resolver: _Resolver, pg: bool = False):
        self.text = text
        self.resolver = resolver
        self.pg = pg
        self.true = "(TRUE)" if pg else "(1)"
        self._now: datetime | None = None

    def node(self, node: Node) -> Fragment:
        if isinstance(node, (And, Or)):
            parts = [self.node(operand) for operand in node.operands]
            joiner = " AND " if isinstance(node, And) else " OR "
            return _chain([sql for sql, _ in parts], joiner), [p for _, ps in parts for p in ps]
        if isinstance(node, Not):
            sql, params = self.node(node.operand)
            return f"(NOT {sql})", params
        if isinstance(node, Truth):
            implied_true = Value("bool", True, node.field.position, "true")
            return self.test(Test(node.field, "==", (implied_true,), node.field.position))
        return self.test(node)

    def ids(self, node: Node) -> Fragment | None:
        """The filter as one SELECT of contact ids, or None when it negates or reads a contact's
        own columns. Only for tests on tags, properties and conversations, and their and/or."""
        if isinstance(node, (And, Or)):
            maybe = [self.ids(operand) for operand in node.operands]
            parts = [part for part in maybe if part is not None]
            if len(parts) != len(maybe):
                return None
            # Compound operators all bind alike, left to right: a nested and/or is a subquery,
            # and so is each group of UNION_TERMS members (a compound has at most 500 terms).
            members = [
                f"SELECT * FROM ({sql}) AS g" if isinstance(operand, (And, Or)) else sql
                for operand, (sql, _) in zip(node.operands, parts, strict=True)
            ]
            joiner = " INTERSECT " if isinstance(node, And) else " UNION "
            while len(members) > UNION_TERMS:
                members = [
                    f"SELECT * FROM ({joiner.join(members[i : i + UNION_TERMS])}) AS g"
                    for i in range(0, len(members), UNION_TERMS)
                ]
            return joiner.join(members), [p for _, ps in parts for p in ps]
        if isinstance(node, Truth):
            implied_true = Value("bool", True, node.field.position, "true")
            node = Test(node.field, "==", (implied_true,), node.field.position)
        if not isinstance(node, Test) or node.op in ("!=", "not in"):
            return None
        known = builtin(node.field)
        if known is None:
            return self.attribute_ids(node)
        if known.kind == "tags":
            return self.tag_ids(node)
        if known.kind == "count":
            return self.conversation_ids(node)
        return None

    def hoisted(self, node: Node) -> Fragment:
        """A deeply nested filter as one WITH: each and/or is a named set of contact ids whose
        condition refers to its nested sets by name, so no part of the SQL nests deeply."""
        definitions: list[Fragment] = []

        def define(group: And | Or) -> str:
            parts = [operand_sql(operand) for operand in group.operands]
            name = f"crmctl_f{len(definitions) + 1}"
            body = _chain([sql for sql, _ in parts], " AND " if isinstance(group, And) else " OR ")
            definitions.append(
                (f"{name}(id) AS (SELECT c.id FROM contacts AS c WHERE {body})", [p for _, ps in parts for p in ps])
            )
            return name

        def operand_sql(operand: Node) -> Fragment:
            group, negated = _group_of(operand)
            if group is None:
                return self.node(operand)
            return f"(c.id {'NOT ' if negated else ''}IN (SELECT id FROM {define(group)}))", []

        group, negated = _group_of(node)
        if group is None:  # not reached: a deep filter has an and/or at or just below its top
            return self.node(node)
        top = define(group)
        listed = ", ".join(sql for sql, _ in definitions)
        sql = f"(c.id {'NOT ' if negated else ''}IN (WITH {listed} SELECT id FROM {top}))"
        return sql, [p for _, ps in definitions for p in ps]

    def test(self, test: Test) -> Fragment:
        # `!=` is exactly `not ==`, and `not in` exactly `not in`: a missing value satisfies both.
        if test.op in ("!=", "not in"):
            sql, params = self.test(replace(test, op="==" if test.op == "!=" else "in"))
            return f"(NOT {sql})", params
        known = builtin(test.field)
        if known is None:
            return self.attribute(test)
        if known.kind == "bool":
            return self.blocked(known, test)
        if known.kind == "tags":
            return self.tags(test)
        if known.kind == "count":
            return self.conversations(test)
        return self.column(known, test)

    # Literals

    def literal(self, value: Value, kind: str) -> Any:
        if value.kind == "now":
            return self.now(value)
        if kind == "time":
            return clock.normalise_time(value.string)
        if value.kind == "bool":
            return 1 if value.value else 0  # true is the number 1, false the number 0
        return value.value

    def now(self, value: Value) -> str:
        if self._now is None:
            self._now = clock.now()
        try:
            moment = self._now + value.offset
        except OverflowError:
            moment = None
        if moment is None or not 1000 <= moment.year <= 9999:
            raise FilterError(f"date out of range: {value.text}", self.text, value.position)
        return clock.format_time(moment)

    # Contact columns: id, email, name, phone, user_id, created_at, last_seen_at

    def column(self, known: Builtin, test: Test) -> Fragment:
        column = known.column
        if test.op == "exists":
            return (f"({column} IS NOT NULL)" if known.nullable else self.true), []
        if test.op in folding.MATCH_FUNCTIONS:
            needle = folding.fold(test.values[0].string)
            if self.pg:
                sql, params = _pg_match(test.op, column or "", needle)
                return (f"({column} IS NOT NULL AND {sql})" if known.nullable else f"({sql})"), params
            return f"({folding.MATCH_FUNCTIONS[test.op]}({column}, ?))", [needle]
        params = [self.literal(value, known.kind) for value in test.values]
        if known.kind == "email":  # by the folded key, as every email lookup (crmctl.folding)
            column, params = "c.email_key", [folding.fold(value) for value in params]
        if test.op == "in":
            listed, params = _values(params, self.pg, "numeric" if known.kind == "number" else "text")
            sql = f"{column} IN ({listed})"
        else:
            if self.pg and known.kind == "number":
                params = [_pg_number(params[0])]
            sql = f"{column} {_SQL_OPERATORS[test.op]} ?"
        return (f"({column} IS NOT NULL AND {sql})" if known.nullable else f"({sql})"), params

    def blocked(self, known: Builtin, test: Test) -> Fragment:
        wanted = {value.value for value in test.values}
        if wanted == {True, False}:
            return self.true, []
        return f"({known.column} IS {'NOT ' if True in wanted else ''}NULL)", []

    # On SQLite a test on tags, properties or conversations is `c.id IN (set)`, the set computed
    # once. On PostgreSQL such an IN under NOT or OR is a hashed subplan only while the set fits
    # in work_mem, and beyond it is a scan of the set per contact; so there each test is an
    # EXISTS (or a count) probing the contact's rows through their index, which PostgreSQL
    # turns into a semi- or anti-join when it stands alone. The EXISTS selects a column, not a
    # constant: compiled SQL holds no literal at all (test_hostile_text_is_only_ever_a_parameter).

    def tags(self, test: Test) -> Fragment:
        if self.pg:
            where, params = self._tag_where(test)
            return f"(EXISTS (SELECT ct.contact_id FROM contact_tags AS ct WHERE ct.contact_id = c.id{where}))", params
        sql, params = self.tag_ids(test)
        return f"(c.id IN ({sql}))", params

    def tag_ids(self, test: Test) -> Fragment:
        where, params = self._tag_where(test)
        return "SELECT ct.contact_id FROM contact_tags AS ct" + where.replace(" AND ", " WHERE ", 1), params

    def _tag_where(self, test: Test) -> Fragment:
        if test.op == "exists":
            return "", []
        listed, names = _values([folding.fold(value.string) for value in test.values], self.pg)
        return f" AND ct.tag_id IN (SELECT t.id FROM tags AS t WHERE t.name_key IN ({listed}))", names

    def conversations(self, test: Test) -> Fragment:
        if self.pg:
            having, numbers, _ = self._conversation_count(test)
            counted = "(SELECT count(*) FROM conversations AS v WHERE v.contact_id = c.id)"
            return "(" + having.replace("count(*)", counted, 1) + ")", numbers
        found = self.conversation_ids(test)
        if found is not None:
            return f"(c.id IN ({found[0]}))", found[1]
        # Contacts without conversations have no group: a test true for 0 is the complement
        # of the contacts whose group fails it.
        having, numbers, _ = self._conversation_count(test)
        return f"(c.id NOT IN ({_GROUPED}NOT ({having})))", numbers

    def conversation_ids(self, test: Test) -> Fragment | None:
        """None for a test that holds at 0 conversations (contacts without any have no group)."""
        having, numbers, true_at_zero = self._conversation_count(test)
        return None if true_at_zero else (f"{_GROUPED}{having}", numbers)

    def _conversation_count(self, test: Test) -> tuple[str, list, bool]:
        numbers = [value.value for value in test.values]
        if test.op == "in":
            listed, params = _values(numbers, self.pg, "numeric")
            return f"count(*) IN ({listed})", params, 0 in numbers
        params = [_pg_number(numbers[0])] if self.pg else numbers
        return f"count(*) {_SQL_OPERATORS[test.op]} ?", params, _PY_OPERATORS[test.op](0, numbers[0])

    def attribute(self, test: Test) -> Fragment:
        if self.pg:
            where, params = self._attribute_where(test)
            sql = f"(EXISTS (SELECT v.contact_id FROM property_values AS v WHERE v.contact_id = c.id AND {where}))"
            return sql, params
        sql, params = self.attribute_ids(test)
        return f"(c.id IN ({sql}))", params

    def attribute_ids(self, test: Test) -> Fragment:
        """A property test as index ranges on property_values(property_id, value): every
        value of a property has its type, so comparisons never meet another type."""
        where, params = self._attribute_where(test)
        return f"SELECT v.contact_id FROM property_values AS v WHERE {where}", params

    def _attribute_where(self, test: Test) -> Fragment:
        prop = self.resolver.property(test.field)
        op = test.op
        params: list[Any] = []
        if op == "exists":
            condition = "true"
        elif op in folding.MATCH_FUNCTIONS:
            needle = folding.fold(test.values[0].string)
            if self.pg:
                condition, params = _pg_match(op, "v.value #>> '{}'", needle)
                condition = f"jsonb_typeof(v.value) = 'string' AND {condition}"
            else:
                condition, params = f"{folding.MATCH_FUNCTIONS[op]}(v.value, ?)", [needle]
        else:
            kind = "time" if prop.type == "date" else prop.type
            params = [self.literal(value, kind) for value in test.values]
            if self.pg:
                condition, params = self._pg_attribute(prop.type, op, params)
            elif op == "in":
                listed, params = _values(params)
                condition = f"v.value IN ({listed})"
            else:
                condition = f"v.value {_SQL_OPERATORS[op]} ?"
        return f"v.property_id = ? AND {condition}", [prop.id, *params]

    def _pg_attribute(self, ptype: str, op: str, params: list[Any]) -> Fragment:
        """A comparison of jsonb property values: text and date orderings compare the string
        in binary order; everything else compares jsonb with jsonb (numbers numerically)."""
        if ptype in ("text", "date") and op in ORDERINGS:
            return f"(v.value #>> '{{}}') COLLATE \"C\" {op} ?", params
        literal = "to_jsonb(CAST(? AS text))" if ptype in ("text", "date") else "to_jsonb(?)"
        if op == "in":
            if len(params) > LIST:
                listed, params = _values(params, True, "jsonb")
            else:
                listed = ", ".join([literal] * len(params))
            return f"v.value IN ({listed})", params
        if isinstance(params[0], float) and not math.isfinite(params[0]):
            # A decimal of 309 digits is beyond the doubles: infinite. No stored value equals
            # it, and every one is on the same side of it.
            return ("true" if _PY_OPERATORS[op](0, params[0]) else "false"), []
        if op in ORDERINGS:
            # Always true of a number property's values; it is there for the planner, whose
            # estimate for a jsonb range spans every property's values (strings sort below
            # numbers): without it, `score < 10` read all 1M scores through the primary key.
            return f"jsonb_typeof(v.value) = 'number' AND v.value {_SQL_OPERATORS[op]} {literal}", params
        return f"v.value {_SQL_OPERATORS[op]} {literal}", params
