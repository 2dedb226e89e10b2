"""Property: for random expressions over random small datasets, the compiled SQL selects
exactly the contacts a plain-Python reading of the language's rules selects.

The contacts hold typed properties (text, number, boolean, date), a declared property no
contact holds, and the expressions name an undeclared one too."""

from __future__ import annotations

import operator
import unicodedata
from datetime import timedelta

from conftest import ON_POSTGRES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmctl import clock
from crmctl.errors import FilterError
from crmctl.query import compile_filter

NOW = "2026-11-01T12:00:00Z"  # conftest's CRMCTL_NOW

# Data ------------------------------------------------------------------------------------------

NAMES = [None, "", "Ada", "ada", "ADA", "Ädam", "straße", "STRASSE", "a%b", "a_b", "Jose\u0301", "Zoë"]
EMAILS = ["ada", "ADA", "jörg", "JÖRG", "b%", "Zed"]
PHONES = [None, "123", "0123", "+49 30"]
TIMES = [None, "2025-06-15T08:30:00Z", "2026-01-31T00:00:00Z", "2026-10-31T12:00:00Z", NOW, "2026-11-01T12:30:00Z"]
TAGS = ["vip", "Straße", "Ärger", "trial", "%"]  # distinct under the case rule, as the catalog keeps them
PROPERTY_TEXT = ["a", "A", "1", "2", "true", "Straße", "strasse", "b%", "%", "z", " padded "]
# name: (type, the values a contact may hold)
PROPERTIES = {
    "plan": ("text", PROPERTY_TEXT),
    "score": ("number", [0, 1, 2, -1, 1.5, 2.5, -3.25]),
    "first name": ("text", PROPERTY_TEXT),
    "vip": ("boolean", [0, 1]),
    "renewal": ("date", [t for t in TIMES if t]),
    "declared_empty": ("number", []),
}

contact = st.fixed_dictionaries(
    {
        "email": st.sampled_from(EMAILS),
        "name": st.sampled_from(NAMES),
        "phone": st.sampled_from(PHONES),
        "user_id": st.sampled_from([None, "42", "x"]),
        "created_at": st.sampled_from(TIMES),
        "last_seen_at": st.sampled_from(TIMES),
        "blocked_at": st.sampled_from([None, NOW]),
        "tags": st.sets(st.sampled_from(TAGS), max_size=3),
        "attributes": st.fixed_dictionaries(
            {name: st.sampled_from([None, *values]) for name, (_, values) in PROPERTIES.items()}
        ).map(lambda d: {k: v for k, v in d.items() if v is not None}),
        "conversations": st.integers(0, 3),
    }
)
datasets = st.lists(contact, max_size=8)


def load(db, rows) -> None:
    db.execute("DELETE FROM contacts")  # cascades to property values, tag links and conversations
    db.execute("DELETE FROM tags")
    db.execute("DELETE FROM properties")
    for name, (kind, _) in PROPERTIES.items():
        db.execute(
            "INSERT INTO properties(name, folded, type, created_at) VALUES (?, ?, ?, ?)", [name, fold(name), kind, NOW]
        )
    ids = dict(db.execute("SELECT name, id FROM properties").fetchall())
    contacts, attributes, tags, links, conversations = [], [], set(), [], []
    for number, row in enumerate(rows, start=1):
        row["id"] = number
        row["email"] = f"{row['email']}{number}@x"
        contacts.append(
            [
                number,
                row["email"],
                row["name"],
                row["phone"],
                row["user_id"],
                row["created_at"],
                row["last_seen_at"],
                row["blocked_at"],
            ]
        )
        attributes.extend([number, ids[key], value] for key, value in row["attributes"].items())
        tags.update(row["tags"])
        links.extend([number, NOW, tag] for tag in row["tags"])
        conversations.extend([number] for _ in range(row["conversations"]))
    if ON_POSTGRES:  # property values are jsonb there; db.executemany translates the SQL
        from crmctl.store.pg.values import to_jsonb_text

        attributes = [[contact, prop, to_jsonb_text(value)] for contact, prop, value in attributes]
    conn = db if ON_POSTGRES else db.conn
    conn.executemany(
        "INSERT INTO contacts(id, email, name, phone, user_id, created_at, last_seen_at, blocked_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        contacts,
    )
    conn.executemany("INSERT INTO property_values(contact_id, property_id, value) VALUES (?, ?, ?)", attributes)
    conn.executemany("INSERT INTO tags(name, created_at) VALUES (?, ?)", [[tag, NOW] for tag in sorted(tags)])
    conn.executemany(
        "INSERT INTO contact_tags(tag_id, contact_id, added_at) SELECT id, ?, ? FROM tags WHERE name = ?", links
    )
    conn.executemany("INSERT INTO conversations(contact_id, subject) VALUES (?, 's')", conversations)


# Expressions: (text, meaning) where meaning is a tree the reference evaluator reads -------------


def keyword(word: str):
    return st.sampled_from([word, word.upper(), word.capitalize()])


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# A literal: (kind, python value, source text)
def strings(pool):
    return st.sampled_from(pool).map(lambda s: ("string", s, quoted(s)))


def numbers(pool):
    return st.sampled_from(pool).map(lambda n: ("number", n, repr(n)))


booleans = st.sampled_from([True, False]).flatmap(
    lambda b: keyword("true" if b else "false").map(lambda word: ("bool", b, word))
)
DURATIONS = [
    ("", timedelta(0)),
    (" - 1d", -timedelta(days=1)),
    (" + 30m", timedelta(minutes=30)),
    (" - 1w", -timedelta(weeks=1)),
    ("-24h", -timedelta(hours=24)),
]
times = st.one_of(
    strings(["2026-01-31", "2026-10-31T12:00:00Z", "2026-10-31T14:00:00+02:00", "2026-11-01 12:00", "2025-06-15"]),
    st.tuples(keyword("now"), st.sampled_from(DURATIONS)).map(lambda pair: ("now", pair[1][1], pair[0] + pair[1][0])),
)
TEXT_VALUES = ["", "a", "A", "ada", "ADA", "Ada", "straße", "STRASSE", "ss", "%", "_", "a%", "é", "e", "Zoë", "ZOË"]

# field source text, field kind, strategies for (op, values)
FIELDS = {
    "name": ("text", strings(TEXT_VALUES)),
    "phone": ("text", strings(["123", "0123", "1", "+", ""])),
    "user_id": ("text", strings(["42", "x", "X"])),
    "email": ("email", strings(["ada1@x", "ADA1@X", "jörg3@x", "JÖRG3@X", "b", "A", "%", "@X"])),
    "created_at": ("time", times),
    "last_seen_at": ("time", times),
    "id": ("number", numbers([0, 1, 2, 3, 2.5, -1, 7])),
    "conversations": ("count", numbers([0, 1, 2, 1.5, -1, 4])),
    "blocked": ("bool", booleans),
    "tags": ("tags", strings(["vip", "VIP", "strasse", "straße", "ärger", "ÄRGER", "trial", "%", "x"])),
    "plan": ("text property", strings([*PROPERTY_TEXT, "", "s", "STRASSE"])),
    "Plan": ("text property", strings(["a", "A", "z"])),  # names match properties ignoring case
    "score": ("number property", numbers([0, 1, 2, -1, 2.5, 1.0, -3.25, 1.5])),
    'attr("first name")': ("text property", strings(PROPERTY_TEXT)),
    "vip": ("boolean property", booleans),
    "renewal": ("date property", times),
    "declared_empty": ("number property", numbers([0, 1])),
    "missing_key": ("undeclared", numbers([1])),
}
COMPARE = ["==", "!=", "<", "<=", ">", ">="]
MATCH = ["contains", "startswith", "endswith"]


def operators(kind: str) -> list[str]:
    return {
        "text": COMPARE + MATCH + ["in", "not in", "exists"],
        "email": COMPARE + MATCH + ["in", "not in", "exists"],
        "time": COMPARE + ["in", "not in", "exists"],
        "number": COMPARE + ["in", "not in", "exists"],
        "count": COMPARE + ["in", "not in"],
        "bool": ["==", "!=", "in", "not in", "alone"],
        "tags": ["contains", "in", "not in", "exists"],
        "text property": COMPARE + MATCH + ["in", "not in", "exists"],
        "number property": COMPARE + ["in", "not in", "exists"],
        "boolean property": ["==", "!=", "exists", "alone"],
        "date property": COMPARE + ["exists"],
        "undeclared": ["==", "exists"],
    }[kind]


@st.composite
def leaf_tests(draw):
    field = draw(st.sampled_from(sorted(FIELDS)))
    kind, values = FIELDS[field]
    op = draw(st.sampled_from(operators(kind)))
    if op == "alone":
        return field, ("test", field, kind, "==", [("bool", True, "true")])
    if op == "exists":
        return f"{field} {draw(keyword('exists'))}", ("test", field, kind, op, [])
    if op in ("in", "not in"):
        chosen = draw(st.lists(values, min_size=1, max_size=3))
        words = draw(keyword("in")) if op == "in" else f"{draw(keyword('not'))} {draw(keyword('in'))}"
        return f"{field} {words} [{', '.join(v[2] for v in chosen)}]", ("test", field, kind, op, chosen)
    value = draw(values)
    if op in MATCH and value[0] != "string":
        value = ("string", "a", '"a"')
    if op in COMPARE[2:] and value[0] == "bool":
        value = ("number", 1, "1")
    shown_op = draw(keyword(op)) if op in MATCH else op
    return f"{field} {shown_op} {value[2]}", ("test", field, kind, op, [value])


def combine(children):
    def node(kind):
        return st.tuples(children, children, keyword(kind)).map(
            lambda t: (f"{wrap(t[0], kind)} {t[2]} {wrap(t[1], kind)}", (kind, t[0][1], t[1][1]))
        )

    negation = st.tuples(children, keyword("not")).map(lambda t: (f"{t[1]} {wrap(t[0], 'not')}", ("not", t[0][1])))
    extra_parens = children.map(lambda t: (f"({t[0]})", t[1]))
    return st.one_of(node("and"), node("or"), negation, extra_parens)


BINDING = {"or": 1, "and": 2, "not": 3, "test": 4}


def wrap(child, parent: str) -> str:
    """Parenthesise a child only where precedence requires it."""
    text, meaning = child
    needs = BINDING[meaning[0]] < BINDING[parent] or (parent == "and" and meaning[0] == "or")
    return f"({text})" if needs else text


expressions = st.recursive(leaf_tests(), combine, max_leaves=5)


# The reference evaluator, written from the rules ----------------------------------------------


def fold(text: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())


OPS = {"==": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def evaluate(meaning, row) -> bool:
    head = meaning[0]
    if head == "and":
        return evaluate(meaning[1], row) and evaluate(meaning[2], row)
    if head == "or":
        return evaluate(meaning[1], row) or evaluate(meaning[2], row)
    if head == "not":
        return not evaluate(meaning[1], row)
    _, field, kind, op, values = meaning
    if op == "!=":
        return not evaluate(("test", field, kind, "==", values), row)
    if op == "not in":
        return not evaluate(("test", field, kind, "in", values), row)
    if op == "in":
        return any(evaluate(("test", field, kind, "==", [value]), row) for value in values)
    value = current(field, kind, row)
    if kind == "tags":
        if op == "exists":
            return bool(value)
        return any(fold(tag) == fold(values[0][1]) for tag in value)
    if op == "exists":
        return value is not None
    if kind.endswith("property"):
        return value is not None and typed_compare(kind, op, value, values[0])
    if op in MATCH:
        needle = fold(values[0][1])
        method = {
            "contains": lambda s: needle in s,
            "startswith": lambda s: s.startswith(needle),
            "endswith": lambda s: s.endswith(needle),
        }[op]
        return isinstance(value, str) and method(fold(value))
    literal_kind, literal, _ = values[0]
    compare = OPS[op]
    if kind == "bool":
        return compare(value, literal)
    if kind == "time":
        if literal_kind == "now":
            literal = clock.format_time(clock.parse_time(NOW) + literal)
        else:
            literal = clock.normalise_time(literal)
        return value is not None and compare(value, literal)
    if kind == "email":  # by the one case rule, like every email lookup
        return compare(fold(value), fold(literal))
    if literal_kind == "string":
        return isinstance(value, str) and compare(value, literal)
    number = int(literal) if literal_kind == "bool" else literal  # true is the number 1
    return is_number(value) and compare(value, number)


def typed_compare(kind: str, op: str, value, literal) -> bool:
    """A property's value (present) against a literal of its own type."""
    literal_kind, literal, _ = literal
    if op in MATCH:
        return isinstance(value, str) and {
            "contains": lambda s, n: n in s,
            "startswith": lambda s, n: s.startswith(n),
            "endswith": lambda s, n: s.endswith(n),
        }[op](fold(value), fold(literal))
    if kind == "boolean property":
        return OPS[op](bool(value), literal)
    if kind == "date property":
        if literal_kind == "now":
            literal = clock.format_time(clock.parse_time(NOW) + literal)
        else:
            literal = clock.normalise_time(literal)
    return OPS[op](value, literal)


def property_name(field: str) -> str:
    return "first name" if field.startswith("attr(") else field.lower()


def current(field: str, kind: str, row):
    if kind.endswith("property") or kind == "undeclared":
        return row["attributes"].get(property_name(field))
    if kind == "bool":
        return row["blocked_at"] is not None
    if kind == "tags":
        return row["tags"]
    if kind == "count":
        return row["conversations"]
    return row[field]


def undeclared(meaning) -> bool:
    if meaning[0] in ("and", "or"):
        return undeclared(meaning[1]) or undeclared(meaning[2])
    if meaning[0] == "not":
        return undeclared(meaning[1])
    return meaning[2] == "undeclared"


# The property ----------------------------------------------------------------------------------


def check(db, rows, text, meaning) -> None:
    if undeclared(meaning):
        try:
            compile_filter(db, text)
        except FilterError as caught:
            assert caught.reason.startswith("unknown field")
            return
        raise AssertionError(f"{text!r} names an undeclared property, yet compiled")
    condition = compile_filter(db, text)
    got = [
        r[0]
        for r in db.execute(f"SELECT c.id FROM contacts AS c WHERE {condition.sql} ORDER BY c.id", condition.params)
    ]
    expected = [row["id"] for row in rows if evaluate(meaning, row)]
    assert got == expected, (text, condition.sql, condition.params)


# The db fixture is shared by all examples of a test: load() replaces its contents each time.
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@settings(FUZZ, max_examples=200)
@given(rows=datasets, tests=st.lists(leaf_tests(), min_size=5, max_size=25))
def test_each_test_agrees_with_the_reference(db, rows, tests):
    load(db, rows)
    for text, meaning in tests:
        check(db, rows, text, meaning)
        check(db, rows, f"not ({text})", ("not", meaning))


@settings(FUZZ, max_examples=200)
@given(rows=datasets, expression=expressions)
def test_expressions_agree_with_the_reference(db, rows, expression):
    load(db, rows)
    check(db, rows, *expression)
