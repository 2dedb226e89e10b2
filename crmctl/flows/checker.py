"""Check a flow file's text in three stages and build the `Flow`; see `crmctl.flows.loader`
for the stages and the problems' format. This is the only module that needs YAML and
pydantic, so a run of an already checked flow never imports it.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import Node, ScalarNode

from crmctl.errors import FilterError, InvalidInput
from crmctl.flows.model import (
    BARE_WORDS,
    ON_EXIT_KINDS,
    STEP_KINDS,
    Branch,
    Flow,
    Step,
    check_name,
    digest_of,
)
from crmctl.flows.schema import STEP_MODELS, FlowHead
from crmctl.folding import fold
from crmctl.yamltree import TAG as _TAG
from crmctl.yamltree import Loc, compose
from crmctl.yamltree import Tree as _Tree
from crmctl.yamltree import loc as _loc
from crmctl.yamltree import prefix as _prefix


def check_text(source: str, text: str, db=None) -> tuple[list[str], Flow | None]:
    """Every problem in `text` (as `SOURCE:LINE:COL: message`), and the Flow when there are none."""
    return _Checker(source, text, db).run()


# Stages 2 and 3 ---------------------------------------------------------------------------


class _Checker:
    def __init__(self, source: str, text: str, db):
        self.source = source
        self.text = text
        self.db = db
        self.found: list[tuple[int, int, int, str]] = []  # (line, column, order, message)

    def run(self) -> tuple[list[str], Flow | None]:
        flow = self._check()
        ordered = sorted(set(self.found), key=lambda p: (p[0], p[1], p[2]))
        problems, seen = [], set()
        for line, column, _, message in ordered:
            rendered = f"{self.source}:{line}:{column}: {message}"
            if rendered not in seen:
                seen.add(rendered)
                problems.append(rendered)
        return problems, (None if problems else flow)

    # Reporting ----------------------------------------------------------------------------

    def at(self, line: int, column: int, message: str) -> None:
        self.found.append((line, column, len(self.found), message))

    def at_node(self, node: Node, message: str) -> None:
        self.at(node.start_mark.line + 1, node.start_mark.column + 1, message)

    def node_for(self, path: Loc) -> Node:
        while path not in self.tree.nodes:
            path = path[:-1]
        return self.tree.nodes[path]

    # The stages ---------------------------------------------------------------------------

    def _check(self) -> Flow | None:
        root, problem = compose(self.text, "flow file")
        if problem:
            self.at(*problem)
            return None
        if root is None:
            self.at(1, 1, "the file is empty: a flow needs at least name, match and steps")
            return None
        self.tree = _Tree(self.at_node, typed_keys_under=frozenset({"cases"}))
        data = self.tree.build(root, ())
        if not isinstance(data, dict):
            self.at_node(root, f"a flow file is a mapping with name, match and steps, not {_kind(data)}")
            return None

        head = self._validate(FlowHead, data, ())
        self._expression(data, ("match",))
        self._expression(data, ("exit_when",))
        listed = data.get("steps")
        steps = self._step_list(listed, ("steps",)) if isinstance(listed, list) else None
        on_exit = self._on_exit(data)
        seen_ids: dict[str, Loc] = {}
        self._check_ids(data.get("steps"), ("steps",), seen_ids)
        self._check_ids(data.get("on_exit"), ("on_exit",), seen_ids)
        if self.found or head is None or steps is None or on_exit is None:
            return None
        flow = Flow(
            name=head.name,
            description=head.description,
            match=head.match,
            include_blocked=head.include_blocked,
            reentry=head.reentry,
            max_deletes=head.max_deletes,
            exit_when=head.exit_when,
            steps=steps,
            on_exit=on_exit,
            source=self.source,
            text=self.text,
        )
        return _with_digest(flow)

    def _on_exit(self, data: dict) -> list[Step] | None:
        """The steps for contacts leaving through exit_when: actions only, never a wait or a delete."""
        items = data.get("on_exit")
        if not isinstance(items, list):
            return []
        if items and not data.get("exit_when"):
            self.at_node(
                self.tree.keys[("on_exit",)], "on_exit: needs exit_when (on_exit runs for the contacts it lets go)"
            )
        steps = self._step_list(items, ("on_exit",))
        for index, step in enumerate(steps or []):
            if step.kind not in ON_EXIT_KINDS:
                self.at_node(
                    self.tree.nodes[("on_exit", index)],
                    f"{step.path}: {step.kind} is not allowed in on_exit (allowed: {', '.join(ON_EXIT_KINDS)})",
                )
        return steps

    def _validate(self, model, data: dict, path: Loc):
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            allowed = [f.alias or name for name, f in model.model_fields.items()]
            for error in exc.errors(include_url=False):
                self._schema_problem(error, path, allowed)
            return None

    def _schema_problem(self, error: ErrorDetails, base: Loc, allowed: list[str]) -> None:
        loc = base + tuple(error["loc"])
        kind = error["type"]
        if kind == "missing":
            parent = loc[:-1]
            self.at_node(self.node_for(parent), f"{_prefix(parent)}missing required key '{loc[-1]}'")
            return
        if kind == "extra_forbidden":
            parent, key = loc[:-1], loc[-1]
            node = self.tree.keys.get(loc) or self.node_for(parent)
            self.at_node(node, f"{_prefix(parent)}unknown key '{key}'{_suggest(str(key), allowed)}")
            return
        node_path = loc
        while node_path not in self.tree.nodes:
            node_path = node_path[:-1]
        if node_path in self.tree.bad:
            return
        self.at_node(self.tree.nodes[node_path], f"{_loc(node_path)}: {_clean(error)}")

    def _step_list(self, items: list, path: Loc) -> list[Step] | None:
        checked = [self._step(item, path + (i,)) for i, item in enumerate(items)]
        if path != ("on_exit",):  # where a delete is refused outright
            self._check_after_delete(items, path)
        steps = [step for step in checked if step is not None]
        return steps if len(steps) == len(checked) else None

    def _step(self, value: Any, path: Loc) -> Step | None:
        node = self.tree.nodes[path]
        where = _loc(path)
        position: dict[str, Any] = dict(path=where, line=node.start_mark.line + 1, column=node.start_mark.column + 1)
        if isinstance(value, str):
            if value in BARE_WORDS:
                return Step(kind=value, **position)
            if value in STEP_KINDS:
                self.at_node(node, f"{where}: {value} needs a value, e.g. `- {value}: …`")
            else:
                self.at_node(node, f"{where}: unknown step '{value}'{_suggest(value, list(STEP_KINDS))}")
            return None
        if not isinstance(value, dict):
            self.at_node(node, f"{where}: a step is a step name or a mapping like `tag_add: vip`, not {_kind(value)}")
            return None
        kinds = [k for k in value if k in STEP_KINDS]
        if len(kinds) > 1:
            self.at_node(node, f"{where}: one action per step, found {' and '.join(kinds)}")
            return None
        if not kinds:
            unknown = [k for k in value if k not in ("id", "then", "else", "cases", "default")]
            for key in unknown:
                self.at_node(
                    self.tree.keys[path + (key,)],
                    f"{where}: unknown step '{key}'{_suggest(key, list(STEP_KINDS))}",
                )
            if not unknown:
                self.at_node(node, f"{where}: a step needs one of {', '.join(STEP_KINDS)}")
            return None
        kind = kinds[0]
        model = self._validate(STEP_MODELS[kind], value, path)
        ident = value.get("id") if isinstance(value.get("id"), str) else None

        if kind == "if":
            condition = value.get("if")
            if isinstance(condition, str) and condition.strip():
                self._expression(value, path + ("if",))
            branches = {}
            for key in ("then", "else"):
                items = value.get(key)
                branches[key] = self._step_list(items, path + (key,)) if isinstance(items, list) and items else []
            if model is None or branches["then"] is None or branches["else"] is None:
                return None
            return Step(
                kind="if", id=ident, condition=model.if_, then=branches["then"], otherwise=branches["else"], **position
            )
        if kind == "switch":
            return self._switch(value, path, model, ident, position)
        if kind == "split":
            return self._split(value, path, model, ident, position)
        if kind == "note" and isinstance(value.get("note"), str):
            self._template(value, path + ("note",))
        if kind in ("tag_add", "tag_remove") and model is not None:
            self._tags_exist(getattr(model, kind), path + (kind,))
        if kind == "emit" and model is not None:
            self._emit_fields(model.emit.fields, path + ("emit",))
        typed = None
        if kind == "set" and isinstance(value.get("set"), dict):
            typed = self._set_values(value["set"], path + ("set",))
        if kind == "unset":
            self._unset_keys(value.get("unset"), path + ("unset",))
        if model is None:
            return None
        if kind in ("tag_add", "tag_remove"):
            return Step(kind=kind, id=ident, tags=list(getattr(model, kind)), **position)
        if kind == "note":
            return Step(kind=kind, id=ident, template=model.note, **position)
        if kind == "set":
            return Step(kind=kind, id=ident, values=typed if typed is not None else dict(model.set), **position)
        if kind == "unset":
            return Step(kind=kind, id=ident, keys=list(model.unset), **position)
        if kind == "wait":
            return Step(kind=kind, id=ident, seconds=model.wait, duration=value["wait"].strip(), **position)
        if kind == "emit":
            return Step(kind=kind, id=ident, outbox=model.emit.to, fields=list(model.emit.fields), **position)
        return Step(kind=kind, id=ident, **position)

    def _switch(self, value: dict, path: Loc, model, ident: str | None, position: dict) -> Step | None:
        """One branch per value of a field; the case labels are typed by the field's type."""
        from crmctl.flows import cases as typing

        kind = self._switch_type(value, path + ("switch",))
        raw_cases = value.get("cases")
        raw_cases = raw_cases if isinstance(raw_cases, dict) else {}
        branches: list[Branch] | None = []
        seen: dict[Any, str] = {}
        for label, items in raw_cases.items():
            here = path + ("cases", label)
            steps = self._step_list(items, here) if isinstance(items, list) else []
            case = None
            written_as = self.tree.key_kinds.get(here, "str")
            if kind is not None:
                try:
                    case = typing.case_value(kind, label, written_as)
                except ValueError as exc:
                    self.at_node(self.tree.keys[here], f"{_loc(here)}: {exc}")
            if case is not None and kind is not None:
                identity = typing.same_case(kind, case)
                if identity in seen:
                    first = self.tree.keys[path + ("cases", seen[identity])]
                    self.at_node(
                        self.tree.keys[here],
                        f"{_loc(here)}: duplicate case {label!r}, the same value as {seen[identity]!r} "
                        f"(line {first.start_mark.line + 1})",
                    )
                seen.setdefault(identity, label)
            if steps is None or branches is None:
                branches = None
            else:
                branches.append(Branch(label=label, value=case, written_as=written_as, steps=steps))
        default = value.get("default")
        otherwise = self._step_list(default, path + ("default",)) if isinstance(default, list) else []
        if model is None or kind is None or branches is None or otherwise is None:
            return None
        return Step(
            kind="switch", id=ident, switch_field=model.switch, branches=branches, otherwise=otherwise, **position
        )

    def _switch_type(self, holder: dict, path: Loc) -> str | None:
        """The type of the field a switch names (None after reporting why there is none)."""
        from crmctl.flows import cases as typing

        text = holder.get(path[-1])
        if not isinstance(text, str) or not text.strip():
            return None
        try:
            return typing.field_type(self.db, text.strip())
        except FilterError as exc:
            self.at_node(self.tree.nodes[path], f"{_loc(path)}: {exc.reason}")
        except ValueError as exc:
            self.at_node(self.tree.nodes[path], f"{_loc(path)}: {exc}")
        return None

    def _split(self, value: dict, path: Loc, model, ident: str | None, position: dict) -> Step | None:
        """A deterministic random split: it needs an id, which (with the flow's name) seeds its hash."""
        if ident is None and "id" not in value:
            self.at_node(
                self.tree.nodes[path],
                f"{_loc(path)}: a split needs an id (e.g. `id: subject-test`): "
                "a contact's branch is a hash of the flow's name, this id and the contact's id",
            )
        raw = value.get("split")
        raw = raw if isinstance(raw, dict) else {}
        branches: list[Branch] | None = []
        for label, branch in raw.items():
            here = path + ("split", label)
            try:
                check_name(label, "branch name")
            except ValueError as exc:
                self.at_node(self.tree.keys[here], f"{_loc(here)}: {exc}")
            items = branch.get("steps") if isinstance(branch, dict) else None
            steps = self._step_list(items, here + ("steps",)) if isinstance(items, list) else []
            if steps is None or branches is None:
                branches = None
            else:
                percent = branch.get("percent") if isinstance(branch, dict) else 0
                branches.append(Branch(label=label, percent=percent if isinstance(percent, int) else 0, steps=steps))
        if model is None or branches is None or ident is None:
            return None
        return Step(kind="split", id=ident, branches=branches, **position)

    # Meaning ------------------------------------------------------------------------------

    def _expression(self, holder: dict, path: Loc) -> None:
        """A filter in holder[path[-1]]: it parses, and with a db its fields exist."""
        text = holder.get(path[-1])
        if not isinstance(text, str) or not text.strip():
            return
        from crmctl.query import compile_filter, parse_filter

        try:
            if self.db is None:
                parse_filter(text)
            else:
                compile_filter(self.db, text)
        except FilterError as exc:
            line, column = _position_in(self.tree.nodes[path], self.text, exc.position)
            self.at(line, column, f"{_loc(path)}: {exc.reason}")
        except InvalidInput as exc:
            self.at_node(self.tree.nodes[path], f"{_loc(path)}: {exc}")

    def _template(self, holder: dict, path: Loc) -> None:
        from crmctl.flows.template import template_problems

        for offset, message in template_problems(holder[path[-1]], self.db):
            line, column = _position_in(self.tree.nodes[path], self.text, offset)
            self.at(line, column, f"{_loc(path)}: {message}")

    def _tags_exist(self, names: list[str], path: Loc) -> None:
        """With a database, tags must be in its catalog: a run never finds one missing."""
        if self.db is None:
            return
        from crmctl.store import tags as tag_sql

        found = tag_sql.find(self.db, names)
        for name in names:
            if fold(name) not in found:
                self.at_node(
                    self.tree.nodes[path],
                    f"{_loc(path)}: unknown tag '{name}': create it with `crmctl tag create {name}`",
                )

    def _emit_fields(self, names: list[str], path: Loc) -> None:
        """With a database, every field an emit copies exists (a built-in field or a declared property)."""
        if self.db is None:
            return
        from crmctl.query import value_expression

        for index, name in enumerate(names):
            try:
                value_expression(self.db, name)
            except FilterError as exc:
                self.at_node(self.node_for(path + ("fields", index)), f"{_loc(path)}.fields[{index}]: {exc.reason}")

    def _set_values(self, values: dict, path: Loc) -> dict | None:
        """Each key is an editable built-in or (with a db) a declared property, and each value
        fits its type as written (crmctl.flows.set_values). The values in their stored form,
        or None (also without a db: types are only known from the catalog)."""
        from crmctl.editing import refuse_builtin, resolve_key
        from crmctl.flows.set_values import typed_value

        typed: dict[str, Any] = {}
        for key in values:
            node = self.tree.nodes[path + (key,)]
            removing = isinstance(node, ScalarNode) and node.tag == _TAG + "null"
            try:
                refuse_builtin(key, clearing=removing)
                if self.db is None:
                    continue
                target = resolve_key(self._catalog(), key, clearing=removing)
            except InvalidInput as exc:
                self.at_node(self.tree.keys[path + (key,)], f"{_loc(path)}: {exc}")
                continue
            if removing:
                typed[key] = None
            elif isinstance(node, ScalarNode) and path + (key,) not in self.tree.bad:
                what = f"a {target.type} property" if target.prop else f"a built-in {target.type} field"
                try:
                    typed[key] = typed_value(target.key, target.type, what, node)
                except ValueError as exc:
                    self.tree.refuse(node, path + (key,), f"{_loc(path + (key,))}: {exc}")
        return typed if self.db is not None and len(typed) == len(values) else None

    def _unset_keys(self, keys: Any, path: Loc) -> None:
        from crmctl.editing import refuse_builtin, resolve_key

        items = keys if isinstance(keys, list) else [keys]
        for index, key in enumerate(items):
            if not isinstance(key, str) or not key.strip():
                continue
            try:
                refuse_builtin(key, clearing=True)
                if self.db is not None:
                    resolve_key(self._catalog(), key, clearing=True)
            except InvalidInput as exc:
                node = self.tree.nodes.get(path + (index,)) or self.node_for(path)
                self.at_node(node, f"{_loc(path)}: {exc}")

    def _catalog(self):
        if getattr(self, "_loaded_catalog", None) is None:
            from crmctl.properties import Catalog

            self._loaded_catalog = Catalog.load(self.db)
        return self._loaded_catalog

    def _check_after_delete(self, items: list, path: Loc) -> None:
        for index, item in enumerate(items[:-1]):
            ending = _ends_contacts(item)
            if ending:
                following = path + (index + 1,)
                self.at_node(self.tree.nodes[following], f"{_loc(following)}: nothing can follow {ending}")

    def _check_ids(self, items: Any, path: Loc, seen: dict[str, Loc]) -> None:
        if not isinstance(items, list):
            return
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            here = path + (index,)
            ident = item.get("id")
            if isinstance(ident, str):
                if ident in seen:
                    first = self.tree.nodes[seen[ident] + ("id",)]
                    self.at_node(
                        self.tree.nodes[here + ("id",)],
                        f"{_loc(here)}.id: duplicate id '{ident}' (first at line {first.start_mark.line + 1})",
                    )
                else:
                    seen[ident] = here
            for key in ("then", "else", "default"):
                self._check_ids(item.get(key), here + (key,), seen)
            if isinstance(item.get("cases"), dict):
                for label, inner in item["cases"].items():
                    self._check_ids(inner, here + ("cases", label), seen)
            if isinstance(item.get("split"), dict):
                for label, branch in item["split"].items():
                    if isinstance(branch, dict):
                        self._check_ids(branch.get("steps"), here + ("split", label, "steps"), seen)


def _ends_contacts(item: Any) -> str | None:
    """Why no contact gets past this step, or None when some may."""
    kind = (
        item
        if isinstance(item, str)
        else next((k for k in item if k in STEP_KINDS), None)
        if isinstance(item, dict)
        else None
    )
    if kind == "delete":
        return "a delete"
    if kind in ("if", "switch") and isinstance(item, dict):
        # Every way through must delete; without an else/default, some contacts go on.
        other = item.get("else" if kind == "if" else "default")
        cases = item.get("cases")
        ways = [item.get("then")] if kind == "if" else list(cases.values()) if isinstance(cases, dict) else []
        if all(_deletes(way) for way in [*ways, other]):
            return "an if whose branches both delete" if kind == "if" else "a switch whose branches all delete"
    if kind == "split" and isinstance(item, dict) and isinstance(item.get("split"), dict):
        branches = item["split"].values()
        if all(isinstance(b, dict) and _deletes(b.get("steps")) for b in branches):
            return "a split whose branches all delete"
    return None


def _deletes(steps: Any) -> bool:
    return isinstance(steps, list) and bool(steps) and any(_ends_contacts(s) for s in steps)


def _with_digest(flow: Flow) -> Flow:
    from dataclasses import replace

    return replace(flow, digest=digest_of(flow.definition()))


# Messages ---------------------------------------------------------------------------------


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "text"


_MESSAGES = {
    "too_short": "must not be empty",
    "dict_type": "Input should be a mapping",
    "model_type": "Input should be a mapping",
}


def _clean(error: ErrorDetails) -> str:
    kind, message = error["type"], error["msg"]
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind == "value_error" and message.startswith("Value error, "):
        return message[len("Value error, ") :]
    if kind.endswith("_type") and "input" in error:
        value = error["input"]
        hint = " (quote it to make it text)" if kind == "string_type" and isinstance(value, (bool, int, float)) else ""
        return f"{message}, not {_kind(value)}{hint}"
    return message


# Positions inside a scalar ----------------------------------------------------------------


def _position_in(node: Node, text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of character `offset` of a scalar's value, best effort: exact
    for one-line plain and quoted scalars and for literal (|) blocks, else the scalar's start."""
    start, end = node.start_mark, node.end_mark
    line, column = start.line + 1, start.column + 1
    style = getattr(node, "style", None)
    single_line = start.line == end.line
    if style is None and single_line:
        return line, column + offset
    if style in ("'", '"') and single_line:
        return line, column + 1 + _source_offset(text[start.index + 1 : end.index - 1], offset, style)
    if style == "|":
        return _in_literal_block(node, text, offset)
    return line, column


def _source_offset(source: str, offset: int, style: str) -> int:
    """Characters of quoted source text that encode the first `offset` characters of its value."""
    i = produced = 0
    while produced < offset and i < len(source):
        if style == "'" and source.startswith("''", i):
            i += 2
        elif style == '"' and source[i] == "\\" and i + 1 < len(source):
            width = {"x": 4, "u": 6, "U": 10}.get(source[i + 1], 2)
            i += width
        else:
            i += 1
        produced += 1
    return i


def _in_literal_block(node: Node, text: str, offset: int) -> tuple[int, int]:
    start = node.start_mark
    value = node.value
    row = value.count("\n", 0, offset)
    col = offset - (value.rfind("\n", 0, offset) + 1)
    lines = text[start.index : node.end_mark.index].split("\n")
    body = lines[1:]  # after the `|` header line
    indent = next((len(s) - len(s.lstrip(" ")) for s in body if s.strip()), 0)
    if row >= len(body):
        return start.line + 1, start.column + 1
    return start.line + 2 + row, indent + col + 1
