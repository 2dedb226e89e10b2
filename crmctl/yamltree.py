"""YAML with positions, shared by flow files and import mapping files.

The text is composed (never constructed) by a SafeLoader subclass, so every node keeps its
line and column. Anchors and aliases, nesting deeper than 64 levels, more than 10,000
nodes, merge keys, tags other than YAML's plain scalar ones and multiple documents are
refused. `Tree` then builds plain Python values and remembers the node behind every path,
so that later checks can report `FILE:LINE:COL`. Duplicate keys are problems.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_DEPTH = 64
MAX_NODES = 10_000

TAG = "tag:yaml.org,2002:"
_TAG = TAG
_PLAIN_TAGS = {_TAG + t for t in ("null", "bool", "int", "float", "str", "timestamp")}
_MERGE = _TAG + "merge"

Loc = tuple  # a path into the document: ("steps", 2, "then", 0, "tag_add")


class _Refused(yaml.YAMLError):
    def __init__(self, message: str, mark):
        self.message = message
        self.mark = mark


class _Composer(yaml.SafeLoader):
    """Composes nodes (never Python objects) and refuses what could blow up."""

    def __init__(self, text: str, kind: str):
        super().__init__(text)
        self._kind = kind
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(f"aliases (*{event.anchor}) are not allowed in {self._kind}s", event.start_mark)
        if getattr(event, "anchor", None) is not None:
            raise _Refused(f"anchors (&{event.anchor}) are not allowed in {self._kind}s", event.start_mark)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _Refused(f"more than {MAX_NODES} YAML nodes: not a {self._kind}", event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def compose(text: str, kind: str) -> tuple[Node | None, tuple[int, int, str] | None]:
    """The root node, or a problem (line, column, message). `kind` names the file in messages."""
    loader = None
    try:
        loader = _Composer(text, kind)  # the reader checks for unprintable characters here
        return loader.get_single_node(), None
    except _Refused as exc:
        return None, (exc.mark.line + 1, exc.mark.column + 1, exc.message)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        return None, (line, column, f"character U+{ord(char):04X} is not allowed in a YAML file")
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = (exc.problem or "").strip()
        context = (exc.context or "").strip()
        message = f"{context}: {problem}" if context and problem else problem or context or "invalid"
        if "expected a single document" in message:
            message = f"a {kind} holds one YAML document, not several"
        elif "'\\t'" in message:
            message += " (indent with spaces: YAML does not allow tabs there)"
        return None, (line, column, f"YAML syntax error: {message}")
    except yaml.YAMLError as exc:  # pragma: no cover - every YAML error above is marked
        return None, (1, 1, f"YAML syntax error: {exc}")
    finally:
        if loader is not None:
            loader.dispose()


_scalars = SafeConstructor()


class Tree:
    """Plain Python values built from nodes, with the node behind every path."""

    def __init__(self, problem: Callable[[Node, str], None], typed_keys_under: frozenset[str] = frozenset()) -> None:
        self.problem = problem
        self.nodes: dict[Loc, Node] = {}
        self.keys: dict[Loc, Node] = {}
        self.bad: set[Loc] = set()  # values already reported: no schema error on top
        # Mappings under these keys (a flow switch's `cases`) may have keys of any plain
        # scalar type, read later from their text as written; key_kinds says what YAML saw.
        self.typed_keys_under = typed_keys_under
        self.key_kinds: dict[Loc, str] = {}

    def refuse(self, node: Node, path: Loc, message: str) -> None:
        self.bad.add(path)
        self.problem(node, message)

    def build(self, node: Node, path: Loc) -> Any:
        self.nodes[path] = node
        if isinstance(node, MappingNode):
            if node.tag != _TAG + "map":
                self.refuse(node, path, f"{prefix(path)}YAML tag {_short(node.tag)} is not supported")
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            if node.tag != _TAG + "seq":
                self.refuse(node, path, f"{prefix(path)}YAML tag {_short(node.tag)} is not supported")
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        if not isinstance(node, ScalarNode):  # YAML composes only these three kinds of node
            raise TypeError(f"unexpected YAML node {type(node).__name__}")
        return self._scalar(node, path)

    def _mapping(self, node: MappingNode, path: Loc) -> dict:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self.refuse(key_node, path, f"{prefix(path)}merge keys (<<) are not supported")
                continue
            if not isinstance(key_node, ScalarNode):
                self.refuse(key_node, path, f"{prefix(path)}a key must be text, not a {_kind_of_node(key_node)}")
                continue
            typed_label = bool(path) and path[-1] in self.typed_keys_under and key_node.tag in _PLAIN_TAGS
            if key_node.tag != _TAG + "str" and not typed_label:
                self.refuse(key_node, path, f"{prefix(path)}key {key_node.value!r} is not text: quote it")
                continue
            key = key_node.value
            if _has_surrogate(key):
                self.refuse(key_node, path, f"{prefix(path)}{_SURROGATE}")
                continue
            if typed_label:
                self.key_kinds[path + (key,)] = key_node.tag[len(_TAG) :]
            if key in out or path + (key,) in self.keys:
                first = self.keys[path + (key,)]
                self.problem(
                    key_node,
                    f"{prefix(path)}duplicate key '{key}' (first at line {first.start_mark.line + 1})",
                )
                continue
            self.keys[path + (key,)] = key_node
            out[key] = self.build(value_node, path + (key,))
        return out

    def _scalar(self, node: ScalarNode, path: Loc) -> Any:
        tag = node.tag
        if tag not in _PLAIN_TAGS:
            self.refuse(node, path, f"{prefix(path)}YAML tag {_short(tag)} is not supported")
            return node.value
        try:
            if tag == _TAG + "null":
                return None
            if tag == _TAG + "bool":
                return _scalars.construct_yaml_bool(node)
            if tag == _TAG + "int":
                return _scalars.construct_yaml_int(node)
            if tag == _TAG + "float":
                return _scalars.construct_yaml_float(node)
        except (ValueError, TypeError, ArithmeticError, yaml.YAMLError):
            kind = {"int": "integer", "float": "number"}.get(tag[len(_TAG) :], tag[len(_TAG) :])
            self.refuse(node, path, f"{prefix(path)}{node.value[:40]!r} is not a valid {kind}")
            return node.value
        if _has_surrogate(node.value):  # e.g. "\ud800" in a double-quoted string
            self.refuse(node, path, f"{prefix(path)}{_SURROGATE}")
        return node.value  # text, and timestamps kept as the text written


_SURROGATE = "an escape such as \\ud800 stands for half a character (a lone surrogate), which is not text"


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _short(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


def _kind_of_node(node: Node) -> str:
    return "mapping" if isinstance(node, MappingNode) else "list" if isinstance(node, SequenceNode) else "value"


def loc(path: Loc, top: str = "flow") -> str:
    """("steps", 2, "then", 0) → "steps[2].then[0]"; the top level is named `top`. A key that is
    not a plain word (a switch's case label, a column name with spaces) is quoted: `cases["a b"]`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _PLAIN_KEY.fullmatch(str(part)):
            text += "[" + json.dumps(str(part), ensure_ascii=False) + "]"
        else:
            text += f".{part}" if text else str(part)
    return text or top


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


def prefix(path: Loc) -> str:
    return f"{loc(path)}: " if path else ""
