"""What a flow is once loaded: `Flow` and its `Step`s, plain frozen dataclasses, and the
rules for names and durations that the schema (`crmctl.flows.schema`) applies.

Nothing here imports pydantic or YAML: a flow already checked comes back from the
database as a `Flow` (`crmctl.flows.checked`) without either.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

STEP_KINDS = (
    "tag_add",
    "tag_remove",
    "note",
    "set",
    "unset",
    "block",
    "unblock",
    "delete",
    "if",
    "wait",
    "switch",
    "split",
    "emit",
)
BARE_WORDS = ("block", "unblock", "delete")
# Steps that hold other step lists.
BRANCHING = ("if", "switch", "split")
# What `on_exit:` may do for contacts leaving through exit_when: act on them, never park or
# delete them. Kinds this version does not have yet (`unset`) are left out until it does.
ON_EXIT_KINDS = tuple(
    kind for kind in ("tag_add", "tag_remove", "note", "set", "unset", "block", "unblock", "emit") if kind in STEP_KINDS
)

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*")
NAME_MAX = 100
NAME_RULE = "lowercase letters, digits, '-' and '_', starting with a letter or digit"

DURATION_PATTERN = re.compile(r"([0-9]+)([mhdw])")
DURATION_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
DURATION_MAX_SECONDS = 3650 * 86400  # ten years: later than that is a mistake, and overflows dates
DURATION_RULE = "a duration like 30m, 12h, 3d or 2w"


def parse_duration(text: str) -> int:
    """'3d' → 259200 seconds. Raises ValueError with a readable reason."""
    found = DURATION_PATTERN.fullmatch(text.strip()) if isinstance(text, str) else None
    if not found:
        raise ValueError(f"expected {DURATION_RULE}, not {text!r}")
    if len(found.group(1)) > 12:
        raise ValueError(f"duration {text!r} is too long (at most 3650d)")
    seconds = int(found.group(1)) * DURATION_UNITS[found.group(2)]
    if seconds <= 0:
        raise ValueError(f"a duration must be more than zero, not {text!r}")
    if seconds > DURATION_MAX_SECONDS:
        raise ValueError(f"duration {text!r} is too long (at most 3650d)")
    return seconds


def check_name(value: Any, what: str) -> Any:
    if isinstance(value, str) and not (len(value) <= NAME_MAX and NAME_PATTERN.fullmatch(value)):
        if len(value) > NAME_MAX:
            raise ValueError(f"{what} longer than {NAME_MAX} characters")
        raise ValueError(f"{what} {value!r} must use {NAME_RULE}")
    return value


# The loaded flow ---------------------------------------------------------------------------


def raw_children(step: dict) -> list[Any]:
    """The step lists inside a step of the raw YAML data (then/else, cases/default, split branches)."""
    lists = [step.get("then"), step.get("else"), step.get("default")]
    cases = step.get("cases")
    if isinstance(cases, dict):
        lists.extend(cases.values())
    split = step.get("split")
    if isinstance(split, dict):
        lists.extend(branch.get("steps") for branch in split.values() if isinstance(branch, dict))
    return [inner for inner in lists if isinstance(inner, list)]


@dataclass(frozen=True)
class Branch:
    """One way through a `switch` (a case: `label` as written, `value` typed by the field) or a
    `split` (`label` is the branch name, `percent` its share)."""

    label: str
    steps: list[Step]
    value: Any = None
    percent: int = 0
    written_as: str = "str"  # a case label: what YAML reads it as (it is typed again from the text)

    def to_dict(self, kind: str) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "steps": [s.to_dict() for s in self.steps]}
        if kind == "switch":
            out["value"] = self.value
        else:
            out["percent"] = self.percent
        return out


@dataclass(frozen=True)
class Step:
    """One step of a flow. `key` names its position stably: the id if given, else the path."""

    kind: str
    path: str
    line: int
    column: int
    id: str | None = None
    tags: list[str] = field(default_factory=list)
    template: str = ""
    values: dict[str, Any] = field(default_factory=dict)  # set: in each target's stored form
    keys: list[str] = field(default_factory=list)  # unset
    condition: str = ""
    then: list[Step] = field(default_factory=list)
    otherwise: list[Step] = field(default_factory=list)
    seconds: int = 0
    duration: str = ""  # the wait as written, e.g. "3d"
    switch_field: str = ""  # switch: the field, as the filter language writes it
    branches: list[Branch] = field(default_factory=list)  # switch cases (default: otherwise), split
    outbox: str = ""  # emit
    fields: list[str] = field(default_factory=list)  # emit: fields copied into each record

    @property
    def key(self) -> str:
        """How reports name the step: its id when it has one, else its path."""
        return self.id or self.path

    def __hash__(self) -> int:
        return hash((self.kind, self.path, self.id))

    def children(self) -> list[list[Step]]:
        """The step lists inside this step, in file order: then, each case or split branch, else/default."""
        return [self.then, *(branch.steps for branch in self.branches), self.otherwise]

    def walk(self) -> Iterator[Step]:
        """This step, then the steps inside it, depth-first in file order."""
        yield self
        for inner in self.children():
            for step in inner:
                yield from step.walk()

    def to_dict(self) -> dict[str, Any]:
        """The definition of the step in canonical form (what the digest covers)."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.id is not None:
            out["id"] = self.id
        if self.kind in ("tag_add", "tag_remove"):
            out["tags"] = list(self.tags)
        elif self.kind == "note":
            out["template"] = self.template
        elif self.kind == "set":
            out["values"] = dict(self.values)
        elif self.kind == "unset":
            out["keys"] = list(self.keys)
        elif self.kind == "wait":
            out["seconds"] = self.seconds
        elif self.kind == "if":
            out["condition"] = self.condition
            out["then"] = [s.to_dict() for s in self.then]
            out["else"] = [s.to_dict() for s in self.otherwise]
        elif self.kind == "switch":
            out["field"] = self.switch_field
            out["cases"] = [b.to_dict(self.kind) for b in self.branches]
            out["default"] = [s.to_dict() for s in self.otherwise]
        elif self.kind == "split":
            out["branches"] = [b.to_dict(self.kind) for b in self.branches]
        elif self.kind == "emit":
            out["outbox"] = self.outbox
            out["fields"] = list(self.fields)
        return out

    def describe(self) -> str:
        """A one-line human summary, e.g. `tag_add: vip, beta`."""
        if self.kind in ("tag_add", "tag_remove"):
            return f"{self.kind}: {', '.join(self.tags)}"
        if self.kind == "note":
            return f"note: {self.template}"
        if self.kind == "set":
            return "set: " + ", ".join(f"{k}={_shown(v)}" for k, v in self.values.items())
        if self.kind == "unset":
            return "unset: " + ", ".join(self.keys)
        if self.kind == "wait":
            return f"wait: {self.duration}"
        if self.kind == "if":
            return f"if: {self.condition}"
        if self.kind == "switch":
            return f"switch: {self.switch_field}"
        if self.kind == "split":
            return "split: " + ", ".join(f"{b.label} {b.percent}%" for b in self.branches)
        if self.kind == "emit":
            return f"emit: {self.outbox}" + (f" ({', '.join(self.fields)})" if self.fields else "")
        return self.kind


@dataclass(frozen=True)
class Flow:
    name: str
    match: str
    steps: list[Step]
    description: str | None = None
    include_blocked: bool = False
    reentry: bool | int = False  # False, True, or seconds
    max_deletes: int | None = None
    exit_when: str | None = None
    on_exit: list[Step] = field(default_factory=list)
    source: str = ""
    text: str = ""
    digest: str = ""

    def __hash__(self) -> int:
        return hash((self.name, self.digest))

    def all_steps(self) -> list[Step]:
        """Every step, depth-first in file order, then the on_exit steps."""
        return [inner for step in (*self.steps, *self.on_exit) for inner in step.walk()]

    def wait_steps(self) -> list[Step]:
        return [step for step in self.all_steps() if step.kind == "wait"]

    def conditions(self) -> list[str]:
        """Every filter the flow evaluates: match, exit_when, then each `if` in file order."""
        own = [self.match] + ([self.exit_when] if self.exit_when else [])
        return own + [step.condition for step in self.all_steps() if step.kind == "if"]

    def definition(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "description": self.description,
            "match": self.match,
            "include_blocked": self.include_blocked,
            "reentry": self.reentry,
            "max_deletes": self.max_deletes,
            "exit_when": self.exit_when,
            "steps": [s.to_dict() for s in self.steps],
        }
        if self.on_exit:  # only when used: flows without it keep the digest they always had
            out["on_exit"] = [s.to_dict() for s in self.on_exit]
        return out


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def digest_of(definition: dict[str, Any]) -> str:
    """sha256 of canonical JSON: the same for any file that parses to the same definition."""
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
