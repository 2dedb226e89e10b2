"""A recursive-descent parser for the filter grammar (see the package docstring).

Each function below is one rule of the grammar. Errors name what was expected and what was
found, and point at the offending column; a few common slips get a targeted hint.
"""

from __future__ import annotations

import difflib
from datetime import timedelta
from typing import NoReturn

from crmctl.errors import FilterError
from crmctl.query import fields
from crmctl.query.lexer import Token, tokenize
from crmctl.query.nodes import MATCHES, And, Field, Node, Not, Or, Test, Truth, Value

_OPERATOR_WORDS = MATCHES + ("in", "exists")
_TEST_END = ("and", "or")
# The documented limits (see the package docstring): checked here, so that every filter the
# parser accepts also compiles to SQL that SQLite accepts, at any size below them.
MAX_DEPTH = 64  # nested parentheses and `not`, together
MAX_TESTS = 1000  # tests in one filter (an `in [...]` list of any length is one test)


def parse_filter(text: str) -> Node:
    """Parse a filter expression into its syntax tree.

    Raises FilterError for a syntax error and for anything else that no database could
    make valid (an operator or a value of the wrong kind for a built-in field, a bad date).
    Whether a property is declared (and its type) is only checked by compile_filter.
    """
    node = parse_syntax(text)
    fields.check(node, text)
    return node


def parse_syntax(text: str) -> Node:
    """The syntax tree, checked against the grammar only."""
    if not text.strip():
        raise FilterError("empty filter expression", text, 0)
    parser = _Parser(text)
    node = parser.expression()
    parser.finish()
    return node


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0
        self.tests = 0

    # Token access: an error token raises as soon as the parser looks at it.

    def peek(self, ahead: int = 0) -> Token:
        token = self.tokens[min(self.index + ahead, len(self.tokens) - 1)]
        if token.kind == "error":
            self.fail(token.value, token)
        return token

    def advance(self) -> Token:
        token = self.peek()
        self.index += 1
        return token

    def fail(self, message: str, at: Token | int) -> NoReturn:
        position = at if isinstance(at, int) else at.position
        raise FilterError(message, self.text, position)

    # expr := or ;  or := and ("or" and)* ;  and := unary ("and" unary)*

    def expression(self) -> Node:
        operands = [self.conjunction()]
        while self.peek().is_keyword("or"):
            self.advance()
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def conjunction(self) -> Node:
        operands = [self.unary()]
        while self.peek().is_keyword("and"):
            self.advance()
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def finish(self) -> None:
        token = self.peek()
        if token.kind == "end":
            return
        if token.is_punct(")"):
            self.fail("unmatched ')'", token)
        self.fail(f"expected 'and' or 'or' but found {token.describe()}", token)

    # unary := "not" unary | primary ;  primary := "(" expr ")" | test

    def unary(self) -> Node:
        token = self.peek()
        if token.is_keyword("not"):
            self.advance()
            with self.nested(token):
                return Not(self.unary(), token.position)
        return self.primary()

    def nested(self, token: Token) -> _Level:
        if self.depth >= MAX_DEPTH:
            self.fail(f"nested too deeply: at most {MAX_DEPTH} levels of parentheses and 'not' together", token)
        return _Level(self)

    def primary(self) -> Node:
        token = self.peek()
        if token.is_punct("("):
            self.advance()
            with self.nested(token):
                node = self.expression()
            closing = self.peek()
            if closing.kind == "end":
                self.fail("'(' is never closed: add ')'", token)
            if not closing.is_punct(")"):
                self.fail(f"expected 'and', 'or' or ')' but found {closing.describe()}", closing)
            self.advance()
            return node
        if token.kind == "name":
            return self.test(self.field())
        message = f"expected a field, 'not' or '(' but found {token.describe()}"
        if token.kind == "keyword":
            message += f" (a property called '{token.text}' is written attr(\"{token.text}\"))"
        self.fail(message, token)

    # field := NAME | "attr" "(" STRING ")"

    def field(self) -> Field:
        token = self.advance()
        if token.text.lower() != "attr" or not self.peek().is_punct("("):
            return Field(token.text, token.position)
        self.advance()
        key = self.peek()
        if key.kind != "string":
            self.fail(f"expected the property name as a quoted string after 'attr(' but found {key.describe()}", key)
        if not key.value:
            self.fail("empty property name", key)
        self.advance()
        closing = self.peek()
        if not closing.is_punct(")"):
            self.fail(f"expected ')' after the property name but found {closing.describe()}", closing)
        self.advance()
        return Field(key.value, token.position, quoted=True)

    # test := field OP value | field ["not"] "in" list | field "exists" | field

    def test(self, field: Field) -> Node:
        self.tests += 1
        if self.tests > MAX_TESTS:
            self.fail(
                f"too many tests: at most {MAX_TESTS} in one filter (a long list of values is one test: "
                "field in [...])",
                field.position,
            )
        token = self.peek()
        if token.kind == "op" or token.is_keyword(*MATCHES):
            self.advance()
            op = token.value
            return Test(field, op, (self.value(after=token.text, field=field),), token.position)
        if token.is_keyword("in"):
            self.advance()
            return Test(field, "in", self.list(after=token.text), token.position)
        if token.is_keyword("not"):
            following = self.peek(1)
            if not following.is_keyword("in"):
                self.fail(f"expected 'in' after 'not' but found {following.describe()}", following)
            self.advance()
            self.advance()
            return Test(field, "not in", self.list(after="not in"), token.position)
        if token.is_keyword("exists"):
            self.advance()
            return Test(field, "exists", (), token.position)
        if token.kind == "end" or token.is_keyword(*_TEST_END) or token.is_punct(")"):
            return Truth(field)
        message = f"expected an operator such as ==, contains or in after '{field.shown}' but found {token.describe()}"
        if token.kind == "name":
            close = difflib.get_close_matches(token.text.lower(), _OPERATOR_WORDS, n=1)
            if close:
                message += f" (did you mean '{close[0]}'?)"
        self.fail(message, token)

    # list := "[" value ("," value)* "]"

    def list(self, after: str) -> tuple[Value, ...]:
        opening = self.peek()
        if not opening.is_punct("["):
            self.fail(f"expected '[' after '{after}' but found {opening.describe()}", opening)
        self.advance()
        if self.peek().is_punct("]"):
            self.fail("empty list: give at least one value", self.peek())
        values = [self.value(after="[")]
        while True:
            token = self.peek()
            if token.is_punct("]"):
                self.advance()
                return tuple(values)
            if not token.is_punct(","):
                self.fail(f"expected ',' or ']' but found {token.describe()}", token)
            self.advance()
            values.append(self.value(after=","))

    # value := STRING | NUMBER | "-" NUMBER | true | false | now [("+" | "-") DURATION]

    def value(self, after: str, field: Field | None = None) -> Value:
        token = self.peek()
        if token.kind in ("string", "number"):
            self.advance()
            return Value(token.kind, token.value, token.position, token.text)
        if token.is_punct("-"):
            self.advance()
            number = self.peek()
            if number.kind != "number":
                self.fail(f"expected a number after '-' but found {number.describe()}", number)
            self.advance()
            return Value("number", -number.value, token.position, self._span(token, number))
        if token.is_keyword("true", "false"):
            self.advance()
            return Value("bool", token.value == "true", token.position, token.text)
        if token.is_keyword("now"):
            return self.now()
        if token.kind == "duration":
            self.fail(f"a duration needs now: write now - {token.text} or now + {token.text}", token)
        if token.kind == "date":
            before = f"{field.shown} {after} " if field is not None else ""
            self.fail(f'quote dates: {before}"{token.text}"', token)
        if token.kind == "name" and token.text.lower() in ("null", "none", "nil"):
            shown = field.shown if field is not None else "FIELD"
            negated = after == "!="
            self.fail(f"there is no {token.text}: use '{'' if negated else 'not '}{shown} exists'", token)
        message = f"expected a value after '{after}' but found {token.describe()}"
        if token.kind == "name":
            message += f' (write text in quotes: "{token.text}")'
        self.fail(message, token)

    def now(self) -> Value:
        token = self.advance()
        sign = self.peek()
        if not sign.is_punct("+", "-"):
            return Value("now", timedelta(0), token.position, token.text)
        self.advance()
        duration = self.peek()
        if duration.kind != "duration":
            self.fail(
                f"expected a duration such as 30d after 'now {sign.text}' but found {duration.describe()}", duration
            )
        self.advance()
        offset = duration.value if sign.text == "+" else -duration.value
        return Value("now", offset, token.position, self._span(token, duration))

    def _span(self, first: Token, last: Token) -> str:
        return self.text[first.position : last.position + len(last.text)]


class _Level:
    """One level of nesting while the parser is inside it."""

    def __init__(self, parser: _Parser):
        self.parser = parser

    def __enter__(self) -> None:
        self.parser.depth += 1

    def __exit__(self, *exc: object) -> None:
        self.parser.depth -= 1
