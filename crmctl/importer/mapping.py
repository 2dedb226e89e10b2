"""Where each CSV column or JSON key goes: a built-in field, a property, tags, part of a
joined field, or nowhere.

Rules come from `--map SOURCE=TARGET`, a mapping file or a preset (`crmctl.importer.mapfile`);
every other column is matched automatically. Matching a name ignores case, spaces and
punctuation (`E-mail`, `Email Address` and `email` are all the email), except that a column
written exactly like a rule's source wins over one that only matches loosely. Two columns
going to the same place is an error that names both.

A TARGET is a built-in field, a declared property (checked against the catalog, with "did
you mean"), or `-`. Other columns go to the declared property of the same name (ignoring
case, as the catalog does; failing that, ignoring spaces and punctuation too, when only one
property matches), or are undeclared names that the catalog rules refuse unless
--create-properties. A column that could be a built-in field and a declared property alike
(`Email Address` with such a property declared) is an error naming both.

A column named `property:NAME` is always the property NAME: that is how `contact list -f csv`
writes a property whose name would otherwise read as a built-in column (`E-mail`, `Phone Number`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from crmctl.errors import InvalidInput
from crmctl.importer.dates import DateReader
from crmctl.properties import Catalog, clean_name
from crmctl.query.folding import fold

IGNORE = "-"
PROPERTY_PREFIX = "property:"
FIELDS = ("email", "name", "phone", "user_id", "created_at", "last_seen_at", "blocked", "blocked_at", "tags", "id")
DATE_FIELDS = frozenset({"created_at", "last_seen_at", "blocked_at"})
STRUCTURED = frozenset({"conversations", "notes", "attributes", "properties"})  # JSON only
ALIASES = {
    "email": ("email", "e-mail", "email address", "e-mail address", "mail address"),
    "name": ("name", "full name"),
    "phone": ("phone", "phone number", "telephone", "telephone number"),
    "user_id": ("user_id", "user id"),
    "created_at": ("created_at", "created", "create date", "created date", "date created", "creation date"),
    "last_seen_at": ("last_seen_at", "last seen"),
    "blocked": ("blocked",),
    "blocked_at": ("blocked_at",),
    "tags": ("tags",),
    "id": ("id",),
}


@lru_cache(maxsize=8192)
def normal(text: str) -> str:
    """A name as matching sees it: folded case, letters and digits only."""
    return "".join(char for char in fold(text) if char.isalnum())


_BY_NORMAL = {normal(alias): target for target, aliases in ALIASES.items() for alias in aliases}


def property_header(name: str) -> str:
    """The CSV column for property NAME: the name itself, unless reading it back would give
    something else (a built-in, or a name with outer spaces), then `property:NAME`."""
    if automatic(name) == ("property", name):
        return name
    return PROPERTY_PREFIX + name


def automatic(header: str) -> tuple[str, str]:
    """(kind, name) for a column no rule mentions, before the catalog is asked:
    ("field", f) or ("property", p). Outer spaces are not part of a name in a header."""
    if header.lstrip()[: len(PROPERTY_PREFIX)].lower() == PROPERTY_PREFIX:
        return "property", header.lstrip()[len(PROPERTY_PREFIX) :]
    name = header.strip()
    target = _BY_NORMAL.get(normal(name))
    if target is not None:
        return "field", target
    return "property", name


class Matcher:
    """Columns no rule mentions, matched against the built-in fields and the catalog."""

    def __init__(self, catalog: Catalog | None = None):
        self.catalog = catalog or Catalog()
        self.loose: dict[str, list[str]] = {}
        for name in self.catalog.names():
            self.loose.setdefault(normal(name), []).append(name)

    def match(self, header: str) -> tuple[str, str]:
        """("field", f) or ("property", name); the name is the catalog's spelling when declared.
        Raises InvalidInput when the column could be more than one thing."""
        if header.lstrip()[: len(PROPERTY_PREFIX)].lower() == PROPERTY_PREFIX:
            name = header.lstrip()[len(PROPERTY_PREFIX) :]
            declared = self.catalog.get(name)
            return "property", declared.name if declared else name
        kind, name = automatic(header)
        declared = self.catalog.get(header.strip())
        if kind == "field":
            if declared is not None:
                raise InvalidInput(
                    f"line 1: column {header!r} could be the built-in field {name} or the property "
                    f"{declared.name!r}: say which, e.g. --map {_shell(header.strip() + '=' + name)} "
                    f"or --map {_shell(header.strip() + '=property:' + declared.name)}"
                )
            return kind, name
        if declared is not None:
            return "property", declared.name
        close = self.loose.get(normal(name), [])
        if len(close) > 1:
            listed = ", ".join(repr(c) for c in close)
            raise InvalidInput(
                f"line 1: column {header!r} matches the properties {listed}: map it to one, "
                f"e.g. --map {_shell(header.strip() + '=' + close[0])}"
            )
        return "property", close[0] if close else name


def check_targets(mapping: Mapping, catalog: Catalog, *, create: bool) -> None:
    """Every property a rule names is declared (with "did you mean"), or, with
    `create`, a name a property may have. Rules take the catalog's spelling."""
    problems: list[str] = []
    unknown: list[str] = []

    def checked(target: str, origin: str) -> str:
        declared = catalog.get(target)
        if declared is not None:
            return declared.name
        if create:
            try:
                return clean_name(target)
            except InvalidInput as exc:
                problems.append(f"{origin}: {exc}")
                return target
        close = catalog.closest(target, FIELDS)
        unknown.append(f"{origin}: unknown property '{target}'" + (f" (did you mean '{close}'?)" if close else ""))
        return target

    for rule in mapping.rules.values():
        if rule.is_property:
            rule.target = checked(rule.target, rule.origin)
    for combine in mapping.combines:
        if combine.target not in FIELDS:
            combine.target = checked(combine.target, combine.origin)
    if unknown:
        # One explanation for all of them: a preset names several properties a new database lacks.
        problems += [f"{unknown[0]}; {_TARGETS_ARE}"] if len(unknown) == 1 else [*unknown, _TARGETS_ARE]
    if problems:
        raise InvalidInput("\n".join(problems))


_TARGETS_ARE = (
    f"a target is a built-in field ({', '.join(FIELDS)}), a declared property or -: declare properties "
    "with `crmctl property create NAME --type TYPE`, or pass --create-properties (it declares those "
    "whose columns the file has)"
)


# What the user asked for ------------------------------------------------------------------


@dataclass
class Rule:
    """Where one source column goes."""

    target: str  # a built-in field, "tags", a property name, or IGNORE
    is_property: bool = False
    formats: tuple[str, ...] = ()  # per-column date formats
    separator: str | None = None  # tags: how the names are separated
    quoted: bool = False  # tags: each name may be in double quotes, CSV-style
    origin: str = ""  # for messages: "--map 'A=b'" or "FILE:LINE:COL"


@dataclass
class Combine:
    """A field made of several columns: joined with a separator, or the first non-empty one."""

    target: str
    columns: list[str]
    how: str  # "join" or "first_of"
    separator: str = " "
    formats: tuple[str, ...] = ()
    origin: str = ""


@dataclass
class Mapping:
    rules: dict[str, Rule] = field(default_factory=dict)  # source column as written → rule
    combines: list[Combine] = field(default_factory=list)
    formats: tuple[str, ...] = ()  # date formats for every date column without its own
    timezone: str | None = None
    delimiter: str | None = None
    encoding: str | None = None
    required: set[str] = field(default_factory=set)  # sources that must be in the file (--map)
    name: str = ""  # "preset hubspot", a file name, or "" for none

    def overlay(self, sources: list[str]) -> None:
        """Add --map SOURCE=TARGET rules; they replace the file's rule for the same source."""
        for text in sources:
            source, rule = parse_map_option(text)
            for known in [s for s in self.rules if normal(s) == normal(source)]:
                del self.rules[known]
            self.rules[source] = rule
            self.required.add(source)


def parse_map_option(text: str) -> tuple[str, Rule]:
    """`SOURCE=TARGET` (split at the last `=`, since column names may contain one)."""
    source, sep, target = text.rpartition("=")
    if not sep or not source.strip() or not target.strip():
        raise InvalidInput(f"--map {text!r}: write SOURCE=TARGET, e.g. --map 'E-mail=email' or --map 'Fax=-'")
    return source.strip(), parse_target(target.strip(), f"--map {text!r}")


def parse_target(text: str, origin: str) -> Rule:
    if text == IGNORE:
        return Rule(IGNORE, origin=origin)
    if text[: len(PROPERTY_PREFIX)].lower() == PROPERTY_PREFIX:
        name = text[len(PROPERTY_PREFIX) :].strip()
        if not name:
            raise InvalidInput(f"{origin}: a property needs a name after {PROPERTY_PREFIX!r}")
        return Rule(name, is_property=True, origin=origin)
    lowered = text.lower()
    if lowered in FIELDS:
        return Rule(lowered, origin=origin)
    if lowered in STRUCTURED:
        raise InvalidInput(f"{origin}: {lowered} cannot come from a column (only from JSON records)")
    return Rule(text, is_property=True, origin=origin)


# Plans: the rules applied to one file -----------------------------------------------------

Step = Callable[[dict[str, Any]], None]  # edits a record's fields in place; may raise ValueError


@dataclass
class Plan:
    """For each column, the key its value takes in a record's fields ("" = dropped), the
    steps that finish a record (joins, per-column dates, tag lists), and the report's list
    of every column and where it went."""

    keys: list[str]
    steps: list[Step]
    columns: list[dict[str, str]]
    missing: list[str]
    properties: list[str] = field(default_factory=list)  # the property names columns go to


def plan_csv(header: list[str], mapping: Mapping, matcher: Matcher | None = None) -> Plan:
    """Resolve the header once. Raises InvalidInput for ambiguous or missing columns."""
    matcher = matcher or Matcher()
    stripped = [h.strip() for h in header]
    normals = [normal(h) for h in stripped]
    keys: list[Any] = [None] * len(header)
    where: list[str] = [""] * len(header)
    steps: list[Step] = []
    missing: list[str] = []
    combined: list[str] = []  # targets of joins with at least one column in the file

    def find(source: str, origin: str) -> int | None:
        exact = [i for i, h in enumerate(stripped) if h == source.strip()]
        found = exact or [i for i, n in enumerate(normals) if n and n == normal(source)]
        if len(found) > 1:
            names = ", ".join(repr(header[i]) for i in found)
            raise InvalidInput(f"{origin}: {source!r} matches several columns ({names}): name one exactly")
        return found[0] if found else None

    for index, combine in enumerate(mapping.combines):
        parts: list[str] = []
        for position, source in enumerate(combine.columns):
            i = find(source, combine.origin)
            if i is None:
                missing.append(source)
                continue
            part = keys[i] = f"\x00{index}:{position}"
            where[i] = f"{combine.target} ({'joined' if combine.how == 'join' else 'first non-empty'})"
            parts.append(part)
        if parts:
            steps.append(_combine_step(combine, parts))
            combined.append(combine.target)

    for source, rule in mapping.rules.items():
        i = find(source, rule.origin)
        if i is None:
            if source in mapping.required:
                raise InvalidInput(f"{rule.origin}: no column {source!r} in the file (columns: {_listed(header)})")
            missing.append(source)
            continue
        if keys[i] is not None:
            raise InvalidInput(f"{rule.origin}: column {header[i]!r} is already mapped")
        key, where[i] = _rule_key(rule)
        keys[i] = key
        steps.extend(_rule_steps(key, rule))

    for i, cell in enumerate(header):
        if keys[i] is None:
            kind, name = matcher.match(cell)
            keys[i] = name
            where[i] = name if kind == "field" else f"property {name!r}"
            if not name:
                where[i] = "nowhere (no name)"

    final = [_marked(key) if where[i].startswith("property") else key or "" for i, key in enumerate(keys)]
    _refuse_repeats(header, final)
    columns = [{"column": header[i], "to": where[i]} for i in range(len(header)) if header[i] or final[i]]
    properties = [unmarked(key) for i, key in enumerate(final) if key and where[i].startswith("property")]
    properties += [target for target in combined if target not in FIELDS]
    return Plan(final, steps, columns, missing, properties)


class Marked(tuple):
    """A property's key in a record's fields when the name is spelled exactly like a built-in
    field (`id`, `tags`): a tuple, so it can never be taken for the field itself."""

    @property
    def name(self) -> str:
        return self[0]


def _marked(key: str | None) -> Any:
    if key and (key in FIELDS or key in STRUCTURED):
        return Marked((key,))
    return key or ""


def unmarked(key: Any) -> str:
    return key if type(key) is str else key[0]


def _rule_key(rule: Rule) -> tuple[str, str]:
    if rule.target == IGNORE:
        return "", "ignored"
    if rule.is_property:
        return _marked(rule.target), f"property {rule.target!r}"
    return rule.target, rule.target


def _rule_steps(key: str, rule: Rule) -> list[Step]:
    steps: list[Step] = []
    if rule.formats and key:
        steps.append(_date_step(key, DateReader(rule.formats, option=f"the date format of {rule.origin}")))
    if rule.target == "tags" and (rule.separator is not None or rule.quoted):
        steps.append(_tags_step(rule.separator or ";", rule.quoted))
    return steps


def _refuse_repeats(header: list[str], keys: list[str]) -> None:
    by_key: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        if key:
            by_key.setdefault(key, []).append(i)
    for key, found in by_key.items():
        if len(found) < 2:
            continue
        if len({header[i] for i in found}) == 1:
            raise InvalidInput(f"line 1: column {header[found[0]]!r} appears twice")
        names = " and ".join(repr(header[i]) for i in found[:2])
        raise InvalidInput(
            f"line 1: columns {names} both go to {key}: keep one, e.g. --map {_shell(header[found[1]] + '=-')}"
        )


def _listed(header: list[str], limit: int = 12) -> str:
    shown = ", ".join(repr(h) for h in header[:limit])
    return shown + (f" and {len(header) - limit} more" if len(header) > limit else "")


def _shell(text: str) -> str:
    import shlex

    return shlex.quote(text)


# Steps ------------------------------------------------------------------------------------


def _combine_step(combine: Combine, parts: list[str]) -> Step:
    reader = DateReader(combine.formats, option=f"the date format of {combine.origin}") if combine.formats else None

    def step(fields: dict[str, Any]) -> None:
        values = [v for v in (fields.pop(p, None) for p in parts) if v is not None and v != ""]
        if not values:
            return
        if any(not isinstance(v, str) for v in values):
            raise ValueError(f"{combine.target}: the columns joined into it must hold text")
        value = combine.separator.join(values) if combine.how == "join" else values[0]
        if combine.target in fields:
            raise ValueError(f"{combine.target!r} is given twice")
        fields[combine.target] = reader.stored(value) if reader else value

    return step


def _date_step(key: str, reader: DateReader) -> Step:
    def step(fields: dict[str, Any]) -> None:
        value = fields.get(key)
        if isinstance(value, str):
            try:
                fields[key] = reader.stored(value)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None

    return step


def _tags_step(separator: str, quoted: bool) -> Step:
    def step(fields: dict[str, Any]) -> None:
        value = fields.get("tags")
        if not isinstance(value, str):
            return
        if quoted:
            import csv

            names = next(csv.reader([value], delimiter=separator, skipinitialspace=True), [])
        else:
            names = value.split(separator)
        fields["tags"] = [name for name in names if name.strip()]

    return step


# JSON keys --------------------------------------------------------------------------------


class KeyPlan:
    """The same rules for JSON records, resolved key by key (and remembered)."""

    def __init__(self, mapping: Mapping, matcher: Matcher | None = None):
        self.mapping = mapping
        self.matcher = matcher or Matcher()
        self.by_key: dict[str, str] = {}
        self.where: dict[str, str] = {}
        self.steps: list[Step] = []
        self.parts: dict[str, str] = {}
        for index, combine in enumerate(mapping.combines):
            names = []
            for position, source in enumerate(combine.columns):
                self.parts[normal(source)] = f"\x00{index}:{position}"
                names.append(f"\x00{index}:{position}")
            self.steps.append(_combine_step(combine, names))
        self.rules = {normal(source): rule for source, rule in mapping.rules.items()}
        for rule in mapping.rules.values():
            key, _ = _rule_key(rule)
            self.steps.extend(_rule_steps(key, rule))

    def key(self, name: str) -> str:
        found = self.by_key.get(name)
        if found is None:
            found = self.by_key[name] = self._resolve(name)
        return found

    def _resolve(self, name: str) -> str:
        if name in STRUCTURED:
            self.where[name] = name
            return name
        n = normal(name)
        if n in self.parts:
            self.where[name] = "joined"
            return self.parts[n]
        rule = self.rules.get(n)
        if rule is not None:
            key, self.where[name] = _rule_key(rule)
            return key
        try:
            kind, target = self.matcher.match(name)
        except InvalidInput as exc:
            raise ValueError(str(exc).removeprefix("line 1: ")) from None
        if kind == "field":
            self.where[name] = target
            return target
        self.where[name] = f"property {target!r}"
        return _marked(target)

    def columns(self) -> list[dict[str, str]]:
        return [{"column": key, "to": where} for key, where in self.where.items()]
