"""What a flow is once loaded: `Flow` and its `Step`s (plain frozen dataclasses), and the
pydantic models the loader validates each part of a flow file against.

The pydantic models only check shape and types. Everything that needs positions, the
filter language or the database (conditions, note placeholders, steps after a delete,
duplicate ids) lives in `crmctl.flows.loader`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Iterator, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

STEP_KINDS = ("tag_add", "tag_remove", "note", "set", "block", "unblock", "delete", "if", "wait")
BARE_WORDS = ("block", "unblock", "delete")

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


def declared_keys_of(steps: Any) -> set[str]:
    """Keys of every `set` in a step list, loaded Steps or the raw YAML data alike."""
    keys: set[str] = set()
    for step in steps if isinstance(steps, list) else []:
        if isinstance(step, Step):
            if step.kind == "set":
                keys.update(step.values)
            keys |= declared_keys_of(step.then) | declared_keys_of(step.otherwise)
        elif isinstance(step, dict):
            if isinstance(step.get("set"), dict):
                keys.update(k for k in step["set"] if isinstance(k, str))
            keys |= declared_keys_of(step.get("then")) | declared_keys_of(step.get("else"))
    return keys


@dataclass(frozen=True)
class Step:
    """One step of a flow. `key` names its position stably: the id if given, else the path."""

    kind: str
    path: str
    line: int
    column: int
    id: Optional[str] = None
    tags: list[str] = field(default_factory=list)
    template: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    condition: str = ""
    then: list["Step"] = field(default_factory=list)
    otherwise: list["Step"] = field(default_factory=list)
    seconds: int = 0
    duration: str = ""  # the wait as written, e.g. "3d"

    @property
    def key(self) -> str:
        return self.id or self.path

    def __hash__(self) -> int:
        return hash((self.kind, self.path, self.id))

    def walk(self) -> Iterator["Step"]:
        """This step, then the steps inside it, depth-first (then before else)."""
        yield self
        for inner in (*self.then, *self.otherwise):
            yield from inner.walk()

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
        elif self.kind == "wait":
            out["seconds"] = self.seconds
        elif self.kind == "if":
            out["condition"] = self.condition
            out["then"] = [s.to_dict() for s in self.then]
            out["else"] = [s.to_dict() for s in self.otherwise]
        return out

    def describe(self) -> str:
        """A one-line human summary, e.g. `tag_add: vip, beta`."""
        if self.kind in ("tag_add", "tag_remove"):
            return f"{self.kind}: {', '.join(self.tags)}"
        if self.kind == "note":
            return f"note: {self.template}"
        if self.kind == "set":
            return "set: " + ", ".join(f"{k}={'null' if v is None else v}" for k, v in self.values.items())
        if self.kind == "wait":
            return f"wait: {self.duration}"
        if self.kind == "if":
            return f"if: {self.condition}"
        return self.kind


@dataclass(frozen=True)
class Flow:
    name: str
    match: str
    steps: list[Step]
    description: Optional[str] = None
    include_blocked: bool = False
    reentry: bool | int = False  # False, True, or seconds
    max_deletes: Optional[int] = None
    exit_when: Optional[str] = None
    source: str = ""
    text: str = ""
    digest: str = ""

    def __hash__(self) -> int:
        return hash((self.name, self.digest))

    def all_steps(self) -> list[Step]:
        """Every step, depth-first in file order."""
        return [inner for step in self.steps for inner in step.walk()]

    def wait_steps(self) -> list[Step]:
        return [step for step in self.all_steps() if step.kind == "wait"]

    def declared_keys(self) -> set[str]:
        """Data point keys the flow's own `set` steps write: valid in its filters and notes
        even before any contact has them."""
        return declared_keys_of(self.steps)

    def find_step(self, key: str) -> Optional[Step]:
        """The step whose id, or else path, is `key`."""
        for step in self.all_steps():
            if step.id == key:
                return step
        for step in self.all_steps():
            if step.path == key:
                return step
        return None

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "match": self.match,
            "include_blocked": self.include_blocked,
            "reentry": self.reentry,
            "max_deletes": self.max_deletes,
            "exit_when": self.exit_when,
            "steps": [s.to_dict() for s in self.steps],
        }


def digest_of(definition: dict[str, Any]) -> str:
    """sha256 of canonical JSON: the same for any file that parses to the same definition."""
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# Schema (shape and types only) --------------------------------------------------------------

_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, populate_by_name=False)


class FlowHead(BaseModel):
    """The top level of a flow file. `steps` is checked step by step by the loader."""

    model_config = _STRICT

    name: str
    description: Optional[str] = None
    match: str
    include_blocked: bool = False
    reentry: Any = False
    max_deletes: Optional[int] = Field(default=None, ge=0)
    exit_when: Optional[str] = None
    steps: list[Any] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value, "flow name")

    @field_validator("match", "exit_when")
    @classmethod
    def _expression(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("reentry", mode="before")
    @classmethod
    def _reentry(cls, value: Any) -> bool | int:
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            return parse_duration(value)
        raise ValueError(f"expected false, true or {DURATION_RULE}")


class _StepModel(BaseModel):
    model_config = _STRICT

    id: Optional[str] = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: Optional[str]) -> Optional[str]:
        return check_name(value, "step id")


def _tag_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


def _check_tags(names: list[str]) -> list[str]:
    """The same tag-name rule as the CLI's, raised as ValueError for pydantic."""
    from crmctl.actions import clean_tag_names
    from crmctl.errors import InvalidInput

    try:
        return clean_tag_names(names)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


class TagAddStep(_StepModel):
    tag_add: list[str] = Field(min_length=1)

    _wrap = field_validator("tag_add", mode="before")(classmethod(lambda cls, v: _tag_list(v)))
    _check = field_validator("tag_add")(classmethod(lambda cls, v: _check_tags(v)))


class TagRemoveStep(_StepModel):
    tag_remove: list[str] = Field(min_length=1)

    _wrap = field_validator("tag_remove", mode="before")(classmethod(lambda cls, v: _tag_list(v)))
    _check = field_validator("tag_remove")(classmethod(lambda cls, v: _check_tags(v)))


class NoteStep(_StepModel):
    note: str

    @field_validator("note")
    @classmethod
    def _note(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a note must not be empty")
        return value


def _scalar(value: Any) -> Any:
    """A data point value: text, a number, true/false (stored as 1/0) or null (removes it)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("a number must be finite")
    if value is None or isinstance(value, (str, int, float)):
        return value
    kind = "a list" if isinstance(value, list) else "a mapping" if isinstance(value, dict) else type(value).__name__
    raise ValueError(f"expected text, a number, true/false or null, not {kind}")


class SetStep(_StepModel):
    set: dict[str, Annotated[Any, AfterValidator(_scalar)]] = Field(min_length=1)

    @field_validator("set")
    @classmethod
    def _keys(cls, values: dict[str, Any]) -> dict[str, Any]:
        for key in values:
            if not key.strip():
                raise ValueError("a data point name must not be empty")
            if "\x00" in key:
                raise ValueError("a data point name must not contain NUL")
        return values


def _no_value(kind: str):
    def check(cls, value: Any) -> None:
        if value is not None:
            raise ValueError(f"{kind} takes no value: write `- {kind}`")
        return None

    return field_validator(kind, mode="before")(classmethod(check))


class BlockStep(_StepModel):
    block: None
    _check = _no_value("block")


class UnblockStep(_StepModel):
    unblock: None
    _check = _no_value("unblock")


class DeleteStep(_StepModel):
    delete: None
    _check = _no_value("delete")


class WaitStep(_StepModel):
    wait: int  # seconds, from the text

    @field_validator("wait", mode="before")
    @classmethod
    def _wait(cls, value: Any) -> int:
        if not isinstance(value, str):
            raise ValueError(f"expected {DURATION_RULE}")
        return parse_duration(value)


class IfStep(_StepModel):
    if_: str = Field(alias="if")
    then: list[Any] = Field(min_length=1)
    else_: Optional[list[Any]] = Field(default=None, alias="else")

    @field_validator("if_")
    @classmethod
    def _condition(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


STEP_MODELS: dict[str, type[_StepModel]] = {
    "tag_add": TagAddStep,
    "tag_remove": TagRemoveStep,
    "note": NoteStep,
    "set": SetStep,
    "block": BlockStep,
    "unblock": UnblockStep,
    "delete": DeleteStep,
    "if": IfStep,
    "wait": WaitStep,
}

TOP_KEYS = tuple(FlowHead.model_fields)
