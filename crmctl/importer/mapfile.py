"""Mapping files and presets: the YAML form of a Mapping.

    description: HubSpot contacts export          # shown by --preset list
    delimiter: ","                                # optional: , ; | or tab
    encoding: utf-8                               # optional: utf-8, cp1252, latin-1
    date_format: "%m/%d/%Y %H:%M"                 # optional: for every date column (or a list)
    timezone: America/New_York                    # optional: for times without an offset
    columns:                                      # SOURCE: TARGET, or SOURCE: {to: TARGET, …}
      Email: email
      Phone Number: phone
      Create Date: {to: created_at, date_format: "%Y-%m-%d %H:%M"}
      TAGS: {to: tags, separator: ",", quoted: true}
      Record ID: "-"                              # "-" ignores the column
    fields:                                       # a field made of several columns
      name: {join: [First Name, Last Name], separator: " "}
      created_at: {first_of: [OPTIN_TIME, CONFIRM_TIME]}
    ignore: [LEID, EUID]

Problems are reported as `FILE:LINE:COL: message`, every one of them, as for flow files
(the YAML stage is `crmctl.yamltree`). Columns a mapping names but a file lacks are not an
error (exports differ between accounts); the import report lists them.

Presets are mapping files shipped inside the package (`crmctl/importer/presets/`), so
`crmctl contact import --preset list` shows them and users can copy one and adapt it.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from crmctl.errors import InvalidInput, NotFound
from crmctl.importer import dates, decoding, dialect
from crmctl.importer.mapping import Combine, Mapping, Rule, parse_target
from crmctl.yamltree import Loc, Tree, compose, loc

MAX_BYTES = 256 * 1024
_TOP = ("description", "delimiter", "encoding", "date_format", "timezone", "columns", "fields", "ignore")
_COLUMN = ("to", "date_format", "separator", "quoted")
_FIELD = ("join", "first_of", "separator", "date_format")


def load_file(path: str) -> Mapping:
    try:
        with open(path, "rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise InvalidInput(f"{path}:1:1: larger than {MAX_BYTES // 1024} KiB: not a mapping file")
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InvalidInput(f"{path}:{line}:1: not UTF-8 text: save the file as UTF-8") from None
    return parse(text, path, name=path)


def preset_names() -> list[str]:
    folder = resources.files("crmctl.importer") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def preset_text(name: str) -> str:
    if name not in preset_names():
        raise NotFound(f"no preset {name!r}: choose from {', '.join(preset_names())} (see --preset list)")
    return (resources.files("crmctl.importer") / "presets" / f"{name}.yaml").read_text(encoding="utf-8")


def load_preset(name: str) -> Mapping:
    return parse(preset_text(name), f"preset {name}", name=f"preset {name}")


def describe_presets() -> list[dict[str, Any]]:
    """For --preset list: each preset's name, description, and columns with their targets."""
    out = []
    for name in preset_names():
        mapping = load_preset(name)
        columns = [{"column": s, "to": r.target if r.target != "-" else "ignored"} for s, r in mapping.rules.items()]
        for combine in mapping.combines:
            how = "joined" if combine.how == "join" else "first non-empty"
            columns += [{"column": c, "to": f"{combine.target} ({how})"} for c in combine.columns]
        description = _Reader(preset_text(name), name).data.get("description", "")
        out.append({"name": name, "description": description, "columns": columns})
    return out


def parse(text: str, source: str, *, name: str = "") -> Mapping:
    reader = _Reader(text, source)
    mapping = reader.mapping(name)
    if reader.problems:
        raise InvalidInput("\n".join(sorted(set(reader.problems), key=_order)))
    return mapping


def _order(problem: str) -> tuple:
    parts = problem.rsplit(": ", 1)[0].split(":")
    try:
        return int(parts[-2]), int(parts[-1]), problem
    except (IndexError, ValueError):
        return 0, 0, problem


class _Reader:
    def __init__(self, text: str, source: str):
        self.source = source
        self.problems: list[str] = []
        self.data: dict[str, Any] = {}
        root, problem = compose(text, "mapping file")
        if problem:
            self._at(*problem)
            return
        if root is None:
            self._at(1, 1, "the file is empty: a mapping needs `columns` or `fields`")
            return
        self.tree = Tree(self._at_node)
        data = self.tree.build(root, ())
        if not isinstance(data, dict):
            self._at_node(root, "a mapping file is a mapping with `columns`, `fields` or `ignore`")
            return
        self.data = data

    # Reporting

    def _at(self, line: int, column: int, message: str) -> None:
        self.problems.append(f"{self.source}:{line}:{column}: {message}")

    def _at_node(self, node, message: str) -> None:
        self._at(node.start_mark.line + 1, node.start_mark.column + 1, message)

    def _bad(self, path: Loc, message: str, key: bool = False) -> None:
        node = self.tree.keys.get(path) if key else None
        while node is None and path not in self.tree.nodes:
            path = path[:-1]
        self._at_node(node or self.tree.nodes[path], f"{loc(path, 'mapping')}: {message}")

    def _origin(self, path: Loc, key: bool = False) -> str:
        """FILE:LINE:COL of the value at `path` (of its key, with `key`: a `fields` entry's key is its target)."""
        node = (self.tree.keys.get(path) if key else None) or self.tree.nodes.get(path) or self.tree.keys[path]
        return f"{self.source}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"

    # The mapping

    def mapping(self, name: str) -> Mapping:
        mapping = Mapping(name=name)
        if not self.data:
            return mapping
        for key in self.data:
            if key not in _TOP:
                self._bad((key,), f"unknown key (expected one of {', '.join(_TOP)})", key=True)
        if not any(k in self.data for k in ("columns", "fields", "ignore")):
            self._at(1, 1, "a mapping needs `columns`, `fields` or `ignore`")
        mapping.formats = self._formats(("date_format",))
        mapping.timezone = self._checked(("timezone",), dates.zone) and self.data["timezone"]
        mapping.delimiter = self._checked(("delimiter",), dialect.delimiter)
        mapping.encoding = self._checked(("encoding",), decoding.encoding) and self.data["encoding"]
        self._columns(mapping)
        self._fields(mapping)
        self._ignore(mapping)
        return mapping

    def _checked(self, path: Loc, check) -> Any:
        value = self.data.get(path[0])
        if value is None:
            return None
        if not isinstance(value, str):
            self._bad(path, "must be text")
            return None
        try:
            return check(value)
        except InvalidInput as exc:
            self._bad(path, str(exc))
            return None

    def _formats(self, path: Loc, holder: dict | None = None) -> tuple[str, ...]:
        value = (self.data if holder is None else holder).get(path[-1])
        if value is None:
            return ()
        values = value if isinstance(value, list) else [value]
        out = []
        for i, fmt in enumerate(values):
            here = path + (i,) if isinstance(value, list) else path
            if not isinstance(fmt, str):
                self._bad(here, "a date format is text, e.g. '%d/%m/%Y' or unix")
                continue
            try:
                out.append(dates.check_format(fmt, "date_format"))
            except InvalidInput as exc:
                self._bad(here, str(exc))
        return tuple(out)

    def _columns(self, mapping: Mapping) -> None:
        columns = self.data.get("columns")
        if columns is None:
            return
        if not isinstance(columns, dict):
            self._bad(("columns",), "must be a mapping of SOURCE COLUMN: TARGET")
            return
        for source, spec in columns.items():
            path = ("columns", source)
            rule = self._rule(path, spec)
            if rule is not None:
                mapping.rules[source] = rule

    def _rule(self, path: Loc, spec: Any) -> Rule | None:
        origin = self._origin(path)
        if isinstance(spec, str):
            return self._target(path, spec, origin)
        if not isinstance(spec, dict):
            self._bad(path, "give a target (a field, a property or -) or {to: TARGET, …}")
            return None
        for key in spec:
            if key not in _COLUMN:
                self._bad(path + (key,), f"unknown key (expected one of {', '.join(_COLUMN)})", key=True)
        target = spec.get("to")
        if not isinstance(target, str):
            self._bad(path, "needs `to: TARGET`")
            return None
        rule = self._target(path + ("to",), target, origin)
        if rule is None:
            return None
        rule.formats = self._formats(path + ("date_format",), spec)
        separator = spec.get("separator")
        if separator is not None and (not isinstance(separator, str) or len(separator) != 1):
            self._bad(path + ("separator",), "a separator is one character")
            separator = None
        rule.separator = separator
        quoted = spec.get("quoted", False)
        if not isinstance(quoted, bool):
            self._bad(path + ("quoted",), "must be true or false")
            quoted = False
        rule.quoted = quoted
        if (rule.separator is not None or rule.quoted) and rule.target != "tags":
            self._bad(path, "separator and quoted apply to tags only")
        return rule

    def _target(self, path: Loc, text: str, origin: str) -> Rule | None:
        try:
            return parse_target(text.strip(), origin)
        except InvalidInput as exc:
            self._bad(path, str(exc).split(": ", 1)[-1])
            return None

    def _fields(self, mapping: Mapping) -> None:
        fields = self.data.get("fields")
        if fields is None:
            return
        if not isinstance(fields, dict):
            self._bad(("fields",), "must be a mapping of FIELD: {join: […]} or {first_of: […]}")
            return
        for target, spec in fields.items():
            path = ("fields", target)
            rule = self._target(path, target, self._origin(path, key=True))
            if rule is None:
                continue
            if not isinstance(spec, dict):
                self._bad(path, "give {join: [COLUMN, …], separator: ' '} or {first_of: [COLUMN, …]}")
                continue
            for key in spec:
                if key not in _FIELD:
                    self._bad(path + (key,), f"unknown key (expected one of {', '.join(_FIELD)})", key=True)
            hows = [h for h in ("join", "first_of") if h in spec]
            if len(hows) != 1:
                self._bad(path, "give exactly one of join or first_of")
                continue
            columns = spec[hows[0]]
            if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
                self._bad(path + (hows[0],), "must be a list of column names")
                continue
            separator = spec.get("separator", " ")
            if not isinstance(separator, str):
                self._bad(path + ("separator",), "must be text")
                separator = " "
            mapping.combines.append(
                Combine(
                    rule.target,
                    list(columns),
                    hows[0],
                    separator,
                    self._formats(path + ("date_format",), spec),
                    self._origin(path, key=True),
                )
            )

    def _ignore(self, mapping: Mapping) -> None:
        ignore = self.data.get("ignore")
        if ignore is None:
            return
        if not isinstance(ignore, list) or not all(isinstance(c, str) for c in ignore):
            self._bad(("ignore",), "must be a list of column names")
            return
        for i, source in enumerate(ignore):
            mapping.rules.setdefault(source, Rule("-", origin=self._origin(("ignore", i))))
