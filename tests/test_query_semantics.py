"""Compiled filters against a real database: each semantic rule of the filter language."""

from __future__ import annotations

import pytest
from conftest import declare, set_value

from crmctl.errors import FilterError
from crmctl.query import Condition, compile_filter, value_expression
from crmctl.selection import SelectionSpec, resolve
from crmctl.store import scopes
from crmctl.store.script import insert_returning_id

# conftest's autouse fixture sets CRMCTL_NOW to this.
NOW = "2026-11-01T12:00:00Z"
# The type of each property these tests use (names match properties ignoring case).
TYPES = {
    "plan": "text",
    "Plan": "text",
    "score": "number",
    "x": "number",
    "y": "number",
    "newsletter": "boolean",
    "country": "text",
    "first name": "text",
    "email": "text",
    "in": "boolean",
    "empty": "text",
    "ratio": "number",
    "address.city": "text",
    "größe": "number",
}


def add(db, email, *, attributes=None, tags=(), conversations=0, **columns) -> int:
    row = {"email": email, "created_at": "2025-01-01T00:00:00Z", **columns}
    contact_id = insert_returning_id(
        db, f"INSERT INTO contacts({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values())
    )
    for key, value in (attributes or {}).items():
        declare(db, key, TYPES[key])
        set_value(db, contact_id, key, value)
    for tag in tags:
        db.execute("INSERT OR IGNORE INTO tags(name, created_at) VALUES (?, ?)", [tag, NOW])
        db.execute(
            "INSERT INTO contact_tags(tag_id, contact_id, added_at) SELECT id, ?, ? FROM tags WHERE name = ?",
            [contact_id, NOW, tag],
        )
    for number in range(conversations):
        db.execute(
            "INSERT INTO conversations(contact_id, subject, created_at) VALUES (?, ?, ?)",
            [contact_id, f"c{number}", NOW],
        )
    return contact_id


def matching(db, text: str) -> list[int]:
    """The ids a filter selects, after checking the condition is 0 or 1 for every contact."""
    condition = compile_filter(db, text)
    assert isinstance(condition, Condition) and isinstance(condition.params, list)
    rows = db.execute(f"SELECT c.id, ({condition.sql}) FROM contacts AS c ORDER BY c.id", condition.params).fetchall()
    assert {value for _, value in rows} <= {0, 1}, f"{text!r} is not two-valued: {rows}"
    return [contact_id for contact_id, value in rows if value]


def everyone(db) -> list[int]:
    return [row[0] for row in db.execute("SELECT id FROM contacts ORDER BY id")]


def failure(db, text: str) -> FilterError:
    with pytest.raises(FilterError) as caught:
        compile_filter(db, text)
    return caught.value


# Two-valued logic ----------------------------------------------------------------------------


def test_missing_values_fail_every_test_except_not_equal(db):
    has = add(db, "has@x", name="Ada", attributes={"plan": "pro"})
    null_value = add(db, "null@x", attributes={"plan": None})
    missing = add(db, "missing@x")
    assert matching(db, 'plan == "pro"') == [has]
    assert matching(db, 'plan != "pro"') == [null_value, missing]
    assert matching(db, 'plan != "other"') == [has, null_value, missing]
    assert matching(db, 'plan < "zzz"') == [has]
    assert matching(db, 'plan >= ""') == [has]
    assert matching(db, 'plan contains ""') == [has]
    assert matching(db, "plan exists") == [has]
    assert matching(db, 'name == "Ada"') == [has]
    assert matching(db, 'name != "Ada"') == [null_value, missing]
    assert matching(db, 'name < "zzz"') == [has]
    assert matching(db, 'name contains "a"') == [has]
    assert matching(db, "name exists") == [has]


@pytest.mark.parametrize(
    "test",
    [
        'plan == "pro"',
        'plan < "m"',
        'plan contains "r"',
        "plan exists",
        'name > "A"',
        "score > 1",
        'tags contains "vip"',
        "conversations > 0",
        "blocked",
        "last_seen_at < now",
        'plan in ["pro", "5"]',
    ],
)
def test_not_is_exact_negation(db, test):
    add(
        db,
        "a@x",
        name="Ada",
        attributes={"plan": "pro", "score": 2},
        tags=["vip"],
        conversations=1,
        last_seen_at="2026-01-01T00:00:00Z",
        blocked_at=NOW,
    )
    add(db, "b@x", attributes={"plan": None, "score": "2"})
    add(db, "c@x", attributes={"plan": 5})
    add(db, "d@x")
    positive = matching(db, test)
    assert matching(db, f"not {test}") == [i for i in everyone(db) if i not in positive]
    assert matching(db, f"not not {test}") == positive
    assert matching(db, f"not ({test})") == matching(db, f"not {test}")


def test_in_is_an_or_of_equals_and_not_in_its_negation(db):
    pro = add(db, "a@x", attributes={"plan": "pro"})
    number = add(db, "b@x", attributes={"plan": 3})  # a number given for a text property is its text
    trial = add(db, "c@x", attributes={"plan": "trial"})
    missing = add(db, "d@x")
    assert matching(db, 'plan in ["pro", "3"]') == [pro, number]
    assert matching(db, 'plan in ["pro", "3"]') == matching(db, 'plan == "pro" or plan == "3"')
    assert matching(db, 'plan not in ["pro", "3"]') == [trial, missing]
    assert matching(db, 'name in ["x"]') == []
    assert matching(db, 'name not in ["x"]') == everyone(db)


def test_precedence_is_not_then_and_then_or(db):
    a = add(db, "a@x", attributes={"x": 1, "y": 1})
    b = add(db, "b@x", attributes={"x": 1, "y": 2})
    c = add(db, "c@x", attributes={"x": 2, "y": 1})
    assert matching(db, "x == 2 or x == 1 and y == 1") == [a, c]
    assert matching(db, "(x == 2 or x == 1) and y == 1") == [a, c]
    assert matching(db, "not x == 1 and y == 1") == [c]
    assert matching(db, "not (x == 1 and y == 1)") == [b, c]
    assert matching(db, "x == 1 AND NOT y == 1 OR x == 2") == [b, c]


# Text ----------------------------------------------------------------------------------------


def test_text_comparisons_are_exact_and_case_sensitive(db):
    ada = add(db, "a@x", name="Ada")
    lower = add(db, "b@x", name="ada")
    spaced = add(db, "c@x", name="Ada ")
    umlaut = add(db, "d@x", name="Ädam")
    assert matching(db, 'name == "Ada"') == [ada]
    assert matching(db, 'name == "ada"') == [lower]
    assert matching(db, 'name != "Ada"') == [lower, spaced, umlaut]
    # Code point order: upper case sorts before lower case, "Ä" (U+00C4) after both.
    assert matching(db, 'name < "a"') == [ada, spaced]
    assert matching(db, 'name > "b"') == [umlaut]
    assert matching(db, 'name <= "Ada"') == [ada]
    assert matching(db, 'name >= "Ada "') == [lower, spaced, umlaut]


def test_email_compares_by_the_one_case_rule(db):
    ada = add(db, "Ada@Example.com")
    bob = add(db, "bob@example.com")
    jorg = add(db, "jörg@example.com")
    assert matching(db, 'email == "ada@example.COM"') == [ada]
    assert matching(db, 'email != "ADA@EXAMPLE.COM"') == [bob, jorg]
    assert matching(db, 'email in ["BOB@EXAMPLE.COM", "x"]') == [bob]
    assert matching(db, 'email < "B"') == [ada]
    assert matching(db, 'email >= "b"') == [bob, jorg]
    # Like the unique key: full Unicode case folding (crmctl.folding), for == as for the rest.
    assert matching(db, 'email == "JöRG@example.com"') == [jorg]
    assert matching(db, 'email == "JÖRG@example.com"') == [jorg]
    assert matching(db, 'email == "jo\u0308rg@example.com"') == [jorg]  # decomposed ö
    # The text operators fold all of Unicode, on email as anywhere.
    assert matching(db, 'email startswith "JÖRG@"') == [jorg]


def test_text_operators_ignore_case_with_unicode_folding(db):
    muller = add(db, "a@x", name="MÜLLER")
    strasse = add(db, "b@x", name="Hauptstraße 1")
    ada = add(db, "c@x", name="Ada Lovelace")
    decomposed = add(db, "d@x", name="Jose\u0301")  # José, with a combining accent
    assert matching(db, 'name contains "müller"') == [muller]
    assert matching(db, 'name contains "Müll"') == [muller]
    assert matching(db, 'name contains "STRASSE"') == [strasse]
    assert matching(db, 'name startswith "ada l"') == [ada]
    assert matching(db, 'name endswith "LACE"') == [ada]
    assert matching(db, 'name endswith "é"') == [decomposed]
    assert matching(db, 'name endswith "JOSÉ"') == [decomposed]
    # Folded text is recomposed, so a plain "e" does not match the base of "é".
    assert matching(db, 'name endswith "e"') == [ada]
    assert matching(db, 'name startswith "lace"') == []
    assert matching(db, 'name contains ""') == [muller, strasse, ada, decomposed]


def test_text_operators_treat_wildcards_and_backslashes_literally(db):
    percent = add(db, "a@x", name="100% sure")
    underscore = add(db, "b@x", name="a_b")
    plain = add(db, "c@x", name="aXb 100 sure")
    backslash = add(db, "d@x", name="C:\\temp")
    assert matching(db, 'name contains "%"') == [percent]
    assert matching(db, 'name contains "0% s"') == [percent]
    assert matching(db, 'name contains "_"') == [underscore]
    assert matching(db, 'name startswith "a_"') == [underscore]
    assert matching(db, 'name endswith "_b"') == [underscore]
    assert matching(db, 'name contains "a%b"') == []
    assert matching(db, r'name contains "\\"') == [backslash]
    assert matching(db, r'name endswith ":\\TEMP"') == [backslash]
    assert plain not in matching(db, 'name contains "%"')


# Numbers and booleans --------------------------------------------------------------------------


def test_numbers_compare_numerically(db):
    integer = add(db, "a@x", attributes={"score": 80})
    real = add(db, "b@x", attributes={"score": 80.0})
    text = add(db, "c@x", attributes={"score": "80"})  # text given for a number property is parsed
    low = add(db, "e@x", attributes={"score": -2.5})
    missing = add(db, "f@x")
    assert matching(db, "score == 80") == [integer, real, text]
    assert matching(db, "score == 80.0") == [integer, real, text]
    assert matching(db, "score != 80") == [low, missing]
    assert matching(db, "score > 5") == [integer, real, text]
    assert matching(db, "score < 100") == [integer, real, text, low]
    assert matching(db, "score <= -2.5") == [low]
    assert matching(db, "score in [80, -2.5]") == [integer, real, text, low]


@pytest.mark.parametrize(
    "text, reason, position",
    [
        ('score > "50"', 'score is a number property: write 50, not "50"', 8),
        ('score == "abc"', 'score is a number property: write a number, not "abc"', 9),
        ("score == true", "score is a number property: write a number, not true", 9),
        ('score contains "8"', "'contains' does not apply to score, a number property", 6),
        ("score", "score is a number property, not true or false: compare it, e.g. score > 0", 0),
        ("plan == 42", 'plan is a text property: write "42", not 42', 8),
        ("plan > now", "now can only be compared with dates: created_at, last_seen_at and date properties", 7),
        ('newsletter == "true"', 'newsletter is a boolean property: write true, not "true"', 14),
        ("newsletter == 1", "newsletter is a boolean property: write true, not 1", 14),
        (
            "newsletter < true",
            "'<' does not apply to newsletter, a boolean property: write newsletter or not newsletter",
            11,
        ),
        (
            "newsletter in [true]",
            "'in' does not apply to newsletter, a boolean property: write newsletter or not newsletter",
            11,
        ),
    ],
)
def test_literals_must_have_the_property_type(db, text, reason, position):
    add(db, "a@x", attributes={"score": 80, "plan": "pro", "newsletter": True})
    caught = failure(db, text)
    assert (caught.reason, caught.position) == (reason, position)


def test_id_and_conversations_are_numbers(db):
    first = add(db, "a@x", conversations=2)
    second = add(db, "b@x")
    third = add(db, "c@x", conversations=1)
    assert matching(db, "id == 2") == [second]
    assert matching(db, "id > 1") == [second, third]
    assert matching(db, "id in [1, 3, 99]") == [first, third]
    assert matching(db, "id exists") == [first, second, third]
    assert matching(db, "conversations == 0") == [second]
    assert matching(db, "conversations > 0") == [first, third]
    assert matching(db, "conversations >= 2") == [first]
    assert matching(db, "conversations < 2") == [second, third]
    assert matching(db, "conversations <= 1.5") == [second, third]
    assert matching(db, "conversations != 1") == [first, second]
    assert matching(db, "conversations in [0, 2]") == [first, second]
    assert matching(db, "conversations not in [0]") == [first, third]
    assert matching(db, "conversations > -1") == [first, second, third]


def test_booleans(db):
    blocked = add(db, "a@x", blocked_at=NOW, attributes={"newsletter": 1})
    word_true = add(db, "b@x", attributes={"newsletter": "yes"})
    false = add(db, "d@x", attributes={"newsletter": False})
    missing = add(db, "e@x")
    assert matching(db, "blocked") == [blocked]
    assert matching(db, "blocked == true") == [blocked]
    assert matching(db, "blocked == TRUE") == [blocked]
    assert matching(db, "blocked == false") == [word_true, false, missing]
    assert matching(db, "blocked != true") == matching(db, "not blocked")
    assert matching(db, "blocked in [true, false]") == everyone(db)
    assert matching(db, "blocked not in [true]") == matching(db, "not blocked")
    assert matching(db, "newsletter == true") == [blocked, word_true]
    assert matching(db, "newsletter") == [blocked, word_true]
    assert matching(db, "newsletter == false") == [false]
    assert matching(db, "newsletter != true") == [false, missing]
    assert matching(db, "not newsletter") == [false, missing]
    assert matching(db, "newsletter exists") == [blocked, word_true, false]


# Times -----------------------------------------------------------------------------------------


def test_times_compare_chronologically(db):
    midnight = add(db, "a@x", created_at="2026-01-31T00:00:00Z")
    morning = add(db, "b@x", created_at="2026-01-31T09:30:00Z")
    before = add(db, "c@x", created_at="2026-01-30T23:59:59Z")
    unknown = add(db, "d@x", created_at=None)
    # A date alone is the start of that day, UTC.
    assert matching(db, 'created_at >= "2026-01-31"') == [midnight, morning]
    assert matching(db, 'created_at < "2026-01-31"') == [before]
    assert matching(db, 'created_at == "2026-01-31"') == [midnight]
    assert matching(db, 'created_at >= "2026-01-31" and created_at < "2026-02-01"') == [midnight, morning]
    assert matching(db, 'created_at != "2026-01-31"') == [morning, before, unknown]
    # Full timestamps, in any offset, are converted to UTC.
    assert matching(db, 'created_at == "2026-01-31T09:30:00Z"') == [morning]
    assert matching(db, 'created_at == "2026-01-31T11:30:00+02:00"') == [morning]
    assert matching(db, 'created_at == "2026-01-31 09:30"') == [morning]
    assert matching(db, 'created_at > "2026-01-31T09:29:59Z"') == [morning]
    assert matching(db, 'created_at in ["2026-01-31T09:30:00Z", "2026-01-30T23:59:59Z"]') == [morning, before]
    assert matching(db, "created_at exists") == [midnight, morning, before]


def test_now_honours_crmctl_now(db, monkeypatch):
    recent = add(db, "a@x", last_seen_at="2026-10-31T12:00:00Z")  # 1 day before NOW
    month = add(db, "b@x", last_seen_at="2026-10-02T12:00:00Z")  # 30 days before
    future = add(db, "c@x", last_seen_at="2026-11-01T12:30:00Z")
    never = add(db, "d@x", last_seen_at=None)
    assert matching(db, "last_seen_at < now - 30d") == []
    assert matching(db, "last_seen_at <= now - 30d") == [month]
    assert matching(db, "last_seen_at > now - 1w") == [recent, future]
    assert matching(db, "last_seen_at > now") == [future]
    assert matching(db, "last_seen_at < now + 31m") == [recent, month, future]
    assert matching(db, "last_seen_at < now + 30m") == [recent, month]
    assert matching(db, "last_seen_at >= now - 24h") == [recent, future]
    assert matching(db, "last_seen_at == now - 1d") == [recent]
    assert matching(db, "not last_seen_at > now - 30d") == [month, never]
    monkeypatch.setenv("CRMCTL_NOW", "2026-12-01T12:00:00Z")
    assert matching(db, "last_seen_at < now - 30d") == [recent, month]
    condition = compile_filter(db, "last_seen_at < now - 1h")
    assert condition.params == ["2026-12-01T11:00:00Z"]


def test_now_out_of_range_is_an_error(db, monkeypatch):
    monkeypatch.setenv("CRMCTL_NOW", "1001-01-01")
    caught = failure(db, "created_at > now - 1000000w")
    assert (caught.reason, caught.position) == ("date out of range: now - 1000000w", 13)


# Tags ------------------------------------------------------------------------------------------


def test_tags(db):
    vip = add(db, "a@x", tags=["VIP", "trial"])
    trial = add(db, "b@x", tags=["trial"])
    street = add(db, "c@x", tags=["Straße"])
    none = add(db, "d@x")
    assert matching(db, 'tags contains "vip"') == [vip]
    assert matching(db, 'tags contains "Vip"') == [vip]
    assert matching(db, 'not tags contains "vip"') == [trial, street, none]
    assert matching(db, 'tags contains "vi"') == []  # a tag, not a substring of one
    assert matching(db, 'tags contains "STRASSE"') == [street]
    assert matching(db, 'tags contains "nonexistent"') == []
    assert matching(db, 'tags in ["vip", "straße"]') == [vip, street]
    assert matching(db, 'tags not in ["trial"]') == [street, none]
    assert matching(db, "tags exists") == [vip, trial, street]
    assert matching(db, "not tags exists") == [none]
    assert matching(db, 'tags contains "trial" and not tags contains "vip"') == [trial]


# Fields ----------------------------------------------------------------------------------------


def test_unknown_field_suggests_the_closest(db):
    add(db, "a@x", attributes={"country": "DE", "first name": "Ada", "plan": None})
    declare(db, "plan", "text")
    caught = failure(db, 'contry == "DE"')
    assert (caught.reason, caught.position) == ("unknown field 'contry' (did you mean 'country'?)", 0)
    assert str(caught) == "unknown field 'contry' (did you mean 'country'?)\n  contry == \"DE\"\n  ^"
    caught = failure(db, 'plan == "x" and emial == "a@x"')
    assert (caught.reason, caught.position) == ("unknown field 'emial' (did you mean 'email'?)", 16)
    caught = failure(db, "BLOCKED")
    assert (caught.reason, caught.position) == ("unknown field 'BLOCKED' (did you mean 'blocked'?)", 0)
    caught = failure(db, "zzzzqqq exists")
    assert (caught.reason, caught.position) == (
        "unknown field 'zzzzqqq' (declare it with `crmctl property create`)",
        0,
    )
    caught = failure(db, 'not first_name == "Ada"')
    assert (caught.reason, caught.position) == ("unknown field 'first_name' (did you mean attr(\"first name\")?)", 4)
    caught = failure(db, 'attr("frist name") exists')
    assert (caught.reason, caught.position) == ("unknown field 'frist name' (did you mean attr(\"first name\")?)", 0)
    # A declared property is known though no contact holds it; attr() reaches any name.
    assert matching(db, "plan exists") == []
    assert matching(db, 'attr("first name") == "Ada"') == [1]


def test_the_leftmost_problem_is_reported(db):
    add(db, "a@x", attributes={"country": "DE"})
    caught = failure(db, "contry == 1 and name == 5")
    assert (caught.reason, caught.position) == ("unknown field 'contry' (did you mean 'country'?)", 0)
    caught = failure(db, "name == 5 and contry == 1")
    assert (caught.reason, caught.position) == ("'name' is text: compare it with a quoted string such as \"5\"", 8)
    caught = failure(db, "country == 1 and (contry == 1")
    assert (caught.reason, caught.position) == ("'(' is never closed: add ')'", 17)


def test_property_names_ignore_case_and_attr_reaches_shadowed_names(db):
    one = add(db, "a@x", name="Built-in", attributes={"Plan": "x", "email": "attribute@x", "in": True})
    two = add(db, "b@x", attributes={"plan": "y"})
    assert matching(db, 'Plan == "x"') == [one]
    assert matching(db, 'plan == "y"') == [two]
    assert matching(db, "PLAN exists") == [one, two]
    assert matching(db, 'attr("email") == "attribute@x"') == [one]
    assert matching(db, 'email == "attribute@x"') == []
    assert matching(db, 'attr("in") == true') == [one]


def test_undotted_and_dotted_names(db):
    berlin = add(db, "a@x", attributes={"address.city": "Berlin", "größe": 3})
    assert matching(db, 'address.city == "Berlin"') == [berlin]
    assert matching(db, "größe > 2") == [berlin]


# Index use -------------------------------------------------------------------------------------


def plan(db, text: str) -> str:
    condition = compile_filter(db, text)
    rows = db.execute(f"EXPLAIN QUERY PLAN SELECT c.id FROM contacts AS c WHERE {condition.sql}", condition.params)
    return "\n".join(row[3] for row in rows)


@pytest.mark.sqlite_only(reason="reads SQLite's EXPLAIN QUERY PLAN")
def test_tag_and_attribute_tests_are_index_driven(db):
    add(db, "a@x", tags=["vip"], attributes={"plan": "pro", "score": 3}, conversations=1)
    assert "SEARCH ct USING PRIMARY KEY (tag_id=?)" in plan(db, 'tags contains "vip"')
    assert "SEARCH c USING INTEGER PRIMARY KEY" in plan(db, 'tags contains "vip"')
    assert "property_values_value (property_id=? AND value=?)" in plan(db, 'plan == "pro"')
    assert "property_values_value (property_id=? AND value>?)" in plan(db, "score > 1")
    assert "property_values_value (property_id=? AND value>?)" in plan(db, 'plan >= "a"')
    assert "property_values_value (property_id=?)" in plan(db, 'plan contains "p"')
    assert "contacts_last_seen_at" in plan(db, "last_seen_at < now - 30d")
    assert "contacts_email_key (email_key=?)" in plan(db, 'email == "A@X"')
    for text in [
        'tags contains "vip"',
        'not plan == "pro"',
        "conversations == 0",
        "tags exists",
        'plan in ["a", "b"] or score < 2',
        'attr("plan") exists',
    ]:
        assert "CORRELATED" not in plan(db, text), text


def test_parameters_carry_all_user_text(db):
    add(db, "a@x", attributes={"plan": "pro"})
    condition = compile_filter(db, 'plan == "pro" and name contains "Ada" and tags contains "vip"')
    (plan_id,) = db.execute("SELECT id FROM properties WHERE name = 'plan'").fetchone()
    assert condition.params == [plan_id, "pro", "ada", "vip"]
    for word in ("pro", "Ada", "ada", "vip", "plan"):
        assert f"'{word}'" not in condition.sql


# Selection and templates -----------------------------------------------------------------------


def test_selection_uses_the_compiled_filter(db):
    add(db, "a@x", attributes={"plan": "trial"}, last_seen_at="2026-01-01T00:00:00Z")
    wanted = add(db, "b@x", attributes={"plan": "trial"}, last_seen_at="2026-09-01T00:00:00Z")
    add(db, "c@x", attributes={"plan": "pro"}, last_seen_at="2026-09-01T00:00:00Z")
    name = resolve(db, SelectionSpec(where=["plan == 'trial' and last_seen_at < now - 30d and not id == 1"])).scope
    assert scopes.ids(db, name) == [wanted]


def test_value_expression_renders_fields(db):
    first = add(
        db,
        "Ada@x",
        name="Ada",
        phone=None,
        created_at="2026-01-31T00:00:00Z",
        blocked_at=NOW,
        tags=["vip", "Alpha", "beta"],
        conversations=2,
        attributes={"plan": "pro", "score": 80, "ratio": 2.5, "first name": "Ada", "empty": None},
    )
    add(db, "b@x")

    def rendered(name, contact_id=first):
        sql, params = value_expression(db, name)
        return db.execute(f"SELECT {sql} FROM contacts AS c WHERE c.id = ?", [*params, contact_id]).fetchone()[0]

    assert rendered("id") == "1"
    assert rendered("email") == "Ada@x"
    assert rendered("name") == "Ada"
    assert rendered("phone") is None  # a note template renders a missing value as ""
    assert rendered("created_at") == "2026-01-31T00:00:00Z"
    assert rendered("blocked") == "true" and rendered("blocked", 2) == "false"
    assert rendered("tags") == "Alpha, beta, vip" and rendered("tags", 2) == ""
    assert rendered("conversations") == "2" and rendered("conversations", 2) == "0"
    assert rendered("plan") == "pro" and rendered("plan", 2) is None
    assert rendered("score") == "80" and rendered("ratio") == "2.5"
    assert rendered("empty") is None
    assert rendered("first name") == "Ada"
    assert rendered('attr("first name")') == "Ada"
    with pytest.raises(FilterError) as caught:
        value_expression(db, "plna")
    assert caught.value.reason == "unknown field 'plna' (did you mean 'plan'?)"
    with pytest.raises(FilterError) as caught:
        value_expression(db, " ")
    assert caught.value.reason == "empty field name"
