"""The pydantic models a flow file's top level and each step are validated against.

They only check shape and types. Everything that needs positions, the filter language or
the database (conditions, note placeholders, steps after a delete, duplicate ids) lives in
`crmctl.flows.loader`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from crmctl.flows.model import DURATION_RULE, check_name, parse_duration

_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, populate_by_name=False)


class FlowHead(BaseModel):
    """The top level of a flow file. `steps` is checked step by step by the loader."""

    model_config = _STRICT

    name: str
    description: str | None = None
    match: str
    include_blocked: bool = False
    reentry: Any = False
    max_deletes: int | None = Field(default=None, ge=0)
    exit_when: str | None = None
    steps: list[Any] = Field(min_length=1)
    on_exit: list[Any] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value, "flow name")

    @field_validator("match", "exit_when")
    @classmethod
    def _expression(cls, value: str | None) -> str | None:
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

    id: str | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str | None) -> str | None:
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
    """A property value: text, a number, true/false or null (removes it). Whether it fits the
    property's type, as written in the file, is checked by the checker against the catalog."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("a number must be finite")
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise ValueError("integer out of range: whole numbers are stored in 64 bits (up to 9223372036854775807)")
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
                raise ValueError("a property name must not be empty")
            if "\x00" in key:
                raise ValueError("a property name must not contain NUL")
        return values


class UnsetStep(_StepModel):
    unset: list[str] = Field(min_length=1)

    _wrap = field_validator("unset", mode="before")(classmethod(lambda cls, v: _tag_list(v)))

    @field_validator("unset")
    @classmethod
    def _keys(cls, keys: list[str]) -> list[str]:
        for key in keys:
            if not key.strip():
                raise ValueError("a property name must not be empty")
            if "\x00" in key:
                raise ValueError("a property name must not contain NUL")
        return keys


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
    else_: list[Any] | None = Field(default=None, alias="else")

    @field_validator("if_")
    @classmethod
    def _condition(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class SwitchStep(_StepModel):
    """Cases are checked by the loader: their labels are read by the field's type."""

    switch: str
    cases: dict[str, list[Any]] = Field(min_length=1)
    default: list[Any] | None = None

    @field_validator("switch")
    @classmethod
    def _field(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a field")
        return value


class SplitBranch(BaseModel):
    model_config = _STRICT

    percent: int = Field(ge=1, le=100)
    steps: list[Any] = Field(default_factory=list)


class SplitStep(_StepModel):
    split: dict[str, SplitBranch] = Field(min_length=2)

    @field_validator("split")
    @classmethod
    def _branches(cls, branches: dict[str, SplitBranch]) -> dict[str, SplitBranch]:
        total = sum(branch.percent for branch in branches.values())
        if total != 100:
            raise ValueError(f"the branches' percentages add up to {total}, not 100")
        return branches


class EmitTarget(BaseModel):
    model_config = _STRICT

    to: str
    fields: list[str] = Field(default_factory=list)

    @field_validator("to")
    @classmethod
    def _outbox(cls, value: str) -> str:
        return check_name(value, "outbox name")

    @field_validator("fields")
    @classmethod
    def _fields(cls, names: list[str]) -> list[str]:
        seen = set()
        for name in names:
            if not name.strip():
                raise ValueError("a field name must not be empty")
            if name in seen:
                raise ValueError(f"field '{name}' is listed twice")
            seen.add(name)
        return names


class EmitStep(_StepModel):
    emit: EmitTarget

    @field_validator("emit", mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"to": value} if isinstance(value, str) else value


STEP_MODELS: dict[str, type[_StepModel]] = {
    "tag_add": TagAddStep,
    "tag_remove": TagRemoveStep,
    "note": NoteStep,
    "set": SetStep,
    "unset": UnsetStep,
    "block": BlockStep,
    "unblock": UnblockStep,
    "delete": DeleteStep,
    "if": IfStep,
    "wait": WaitStep,
    "switch": SwitchStep,
    "split": SplitStep,
    "emit": EmitStep,
}
