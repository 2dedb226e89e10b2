"""The syntax tree of a filter expression. Every node keeps its 0-based column in the text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

ORDERINGS = ("<", "<=", ">", ">=")
MATCHES = ("contains", "startswith", "endswith")


@dataclass(frozen=True)
class Field:
    """A built-in field or a property name. `quoted` is True for the attr("…") form,
    which always names a property, even one called like a built-in or a keyword."""

    name: str
    position: int
    quoted: bool = False

    @property
    def shown(self) -> str:
        """The field as the user would write it."""
        return show_field(self.name, self.quoted)


@dataclass(frozen=True)
class Value:
    """A literal. kind is 'string' (str), 'number' (int or float), 'bool' (bool) or
    'now' (a timedelta offset from the clock's now, resolved when compiling)."""

    kind: str
    value: str | int | float | bool | timedelta
    position: int
    text: str

    # Typed views for code that runs after the field checks (fields.py) have matched each
    # literal's kind to its field; a mismatch here is a bug, not a user's mistake.

    @property
    def string(self) -> str:
        if not isinstance(self.value, str):
            raise TypeError(f"a string literal was expected, not {self.kind} {self.text}")
        return self.value

    @property
    def offset(self) -> timedelta:
        """A `now` literal's offset from the clock."""
        if not isinstance(self.value, timedelta):
            raise TypeError(f"a now literal was expected, not {self.kind} {self.text}")
        return self.value


@dataclass(frozen=True)
class Test:
    """`field OP value`, `field in [...]`, `field not in [...]` or `field exists`.

    op is one of ==, !=, ORDERINGS, MATCHES, 'in', 'not in' or 'exists'; values holds one value
    for a comparison or match, the list for (not) in, and nothing for exists.
    """

    field: Field
    op: str
    values: tuple[Value, ...]
    op_position: int

    __test__ = False  # not a pytest test class


@dataclass(frozen=True)
class Truth:
    """A field on its own, e.g. `blocked`: the same as `field == true`."""

    field: Field


@dataclass(frozen=True)
class Not:
    operand: Node
    position: int


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node = Test | Truth | Not | And | Or


def show_field(name: str, quoted: bool) -> str:
    if quoted:
        escaped = name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        return f'attr("{escaped}")'
    return name
