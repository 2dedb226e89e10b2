"""Flow texts already checked, so that a cron re-run of an unchanged file is cheap.

Checking a flow file needs YAML and pydantic, which together cost more start-up than the
run itself when nothing is due. A real run therefore remembers the sha256 of the file's
text with the `Flow` it became (`flow_checked`, one text per flow), for this version of
the checker. `recall` gives that Flow back when the same text is loaded again, after
repeating the checks that depend on the database: the fields that filters, note
placeholders, `set` and `unset` name must still be declared, and each `set` value must
still have its property's type. On any difference it returns None and the file is
checked in full, so problems are always reported exactly as without the cache.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, fields, replace
from typing import Any

from crmctl import __version__
from crmctl.flows.model import Branch, Flow, Step, digest_of
from crmctl.folding import fold
from crmctl.store import flows as flow_sql

# Bump when the checker's rules change without a new version of crmctl.
# 2: on_exit, switch, split and emit; tags checked against the catalog.
# 3: filter nesting and test limits; 64-bit set values; lone surrogates; tag names by fold.
# 4: the property catalog (typed `set` values, `unset`, placeholders by name and with default).
RULES = 4
CHECKER = f"{__version__}/{RULES}"

_STEP_FIELDS = {f.name for f in fields(Step)}
_BRANCH_FIELDS = {f.name for f in fields(Branch)}
_FLOW_FIELDS = {f.name for f in fields(Flow)} - {"steps", "on_exit", "source", "text", "digest"}


def recall(db, source: str, text: str) -> Flow | None:
    """The flow this exact text was checked into before, or None to check it in full."""
    found = flow_sql.checked_flow(db, text_sha256(text), CHECKER)
    if found is None:
        return None
    digest, structure = found
    try:
        flow = _flow_from(json.loads(structure), source, text)
    except (ValueError, TypeError, KeyError):
        return None
    if digest_of(flow.definition()) != digest or not _database_checks_pass(db, flow):
        return None
    return replace(flow, digest=digest)


def remember(db, flow: Flow, now: str) -> None:
    """Record that `flow.text` checks into `flow` (called inside a real run's transaction)."""
    structure = json.dumps(_structure_of(flow), ensure_ascii=False, separators=(",", ":"))
    flow_sql.remember_checked(db, text_sha256(flow.text), CHECKER, flow.name, flow.digest, structure, now)


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _database_checks_pass(db, flow: Flow) -> bool:
    """The checks that depend on the database, which may have changed since the text was checked:
    fields named by filters, placeholders, switches and emits exist; tags are in the catalog;
    `set` and `unset` name declared properties or editable built-ins, and each `set` value and
    switch case still fits its field's type (a property may have been retyped)."""
    from crmctl.editing import resolve_key
    from crmctl.errors import FilterError, InvalidInput
    from crmctl.flows import cases
    from crmctl.flows.template import template_problems
    from crmctl.properties import Catalog
    from crmctl.query import compile_filter, value_expression
    from crmctl.store import tags as tag_sql

    steps = flow.all_steps()
    catalog = Catalog.load(db)
    try:
        for condition in flow.conditions():
            compile_filter(db, condition)
        for step in steps:
            if step.kind == "switch":
                kind = cases.field_type(db, step.switch_field)
                if any(cases.case_value(kind, b.label, b.written_as) != b.value for b in step.branches):
                    return False
            elif step.kind == "emit":
                for name in step.fields:
                    value_expression(db, name)
            elif step.kind == "set":
                if not all(_still_fits(catalog, key, value) for key, value in step.values.items()):
                    return False
            elif step.kind == "unset":
                for key in step.keys:
                    resolve_key(catalog, key, clearing=True)
    except (FilterError, InvalidInput, ValueError):
        return False
    tags = {tag for step in steps for tag in step.tags}
    if tags and len(tag_sql.find(db, sorted(tags))) < len({fold(t) for t in tags}):
        return False
    notes = (step.template for step in steps if step.kind == "note")
    return not any(template_problems(template, db) for template in notes)


_STORED = {"text": (str,), "number": (int, float), "boolean": (bool,), "date": (str,)}


def _still_fits(catalog, key: str, value: Any) -> bool:
    """A remembered `set` value still has its target's type."""
    from crmctl.editing import resolve_key

    target = resolve_key(catalog, key, clearing=value is None)
    if value is None:
        return True
    if target.type == "number" and isinstance(value, bool):
        return False
    return isinstance(value, _STORED[target.type])


def _structure_of(flow: Flow) -> dict[str, Any]:
    whole = asdict(flow)
    return {key: whole[key] for key in (*sorted(_FLOW_FIELDS), "steps", "on_exit")}


def _flow_from(structure: dict[str, Any], source: str, text: str) -> Flow:
    if set(structure) != _FLOW_FIELDS | {"steps", "on_exit"}:
        raise KeyError("flow fields differ")
    head = {key: structure[key] for key in _FLOW_FIELDS}
    return Flow(
        **head,
        steps=[_step_from(item) for item in structure["steps"]],
        on_exit=[_step_from(item) for item in structure["on_exit"]],
        source=source,
        text=text,
    )


def _step_from(item: dict[str, Any]) -> Step:
    if set(item) != _STEP_FIELDS:
        raise KeyError("step fields differ")
    nested = {key: [_step_from(inner) for inner in item[key]] for key in ("then", "otherwise")}
    return Step(**{**item, **nested, "branches": [_branch_from(branch) for branch in item["branches"]]})


def _branch_from(item: dict[str, Any]) -> Branch:
    if set(item) != _BRANCH_FIELDS:
        raise KeyError("branch fields differ")
    return Branch(**{**item, "steps": [_step_from(inner) for inner in item["steps"]]})
