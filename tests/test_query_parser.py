"""The filter parser: every operator, keyword case, precedence, and every error's message and column."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crmctl.errors import FilterError, InvalidInput
from crmctl.query import parse_filter
from crmctl.query.nodes import And, Not, Or, Test, Truth


def show(node) -> str:
    """A compact, position-free rendering of a syntax tree."""
    if isinstance(node, Or):
        return "(or " + " ".join(show(n) for n in node.operands) + ")"
    if isinstance(node, And):
        return "(and " + " ".join(show(n) for n in node.operands) + ")"
    if isinstance(node, Not):
        return f"(not {show(node.operand)})"
    if isinstance(node, Truth):
        return node.field.shown
    values = " ".join(_value(v) for v in node.values)
    return f"({node.op} {node.field.shown}{' ' + values if values else ''})"


def _value(value) -> str:
    if value.kind == "string":
        return repr(value.value)
    if value.kind == "now":
        return f"now{value.value.total_seconds():+.0f}s"
    return str(value.value).lower() if value.kind == "bool" else repr(value.value)


@pytest.mark.parametrize(
    "text, tree",
    [
        ('plan == "trial"', "(== plan 'trial')"),
        ("plan == 'trial'", "(== plan 'trial')"),
        ('plan != "trial"', "(!= plan 'trial')"),
        ("score < 5", "(< score 5)"),
        ("score <= 5", "(<= score 5)"),
        ("score > 5", "(> score 5)"),
        ("score >= 5", "(>= score 5)"),
        ("score == -5", "(== score -5)"),
        ("score == 2.5", "(== score 2.5)"),
        ('name contains "ad"', "(contains name 'ad')"),
        ('name startswith "ad"', "(startswith name 'ad')"),
        ('name endswith "ad"', "(endswith name 'ad')"),
        ("plan in [\"a\", 'b', 3, true]", "(in plan 'a' 'b' 3 true)"),
        ('plan not in ["a"]', "(not in plan 'a')"),
        ("plan exists", "(exists plan)"),
        ("blocked", "blocked"),
        ("blocked == false", "(== blocked false)"),
        ("last_seen_at < now", "(< last_seen_at now+0s)"),
        ("last_seen_at < now - 30d", "(< last_seen_at now-2592000s)"),
        ("last_seen_at < now-30d", "(< last_seen_at now-2592000s)"),
        ("last_seen_at > now + 2h", "(> last_seen_at now+7200s)"),
        ("last_seen_at > now - 15m", "(> last_seen_at now-900s)"),
        ("last_seen_at > now - 1w", "(> last_seen_at now-604800s)"),
        ('created_at >= "2026-01-31"', "(>= created_at '2026-01-31')"),
        ('attr("first name") == "Ada"', "(== attr(\"first name\") 'Ada')"),
        ('attr("in") exists', '(exists attr("in"))'),
        ('attr("email") == "x"', "(== attr(\"email\") 'x')"),
        ("address.city == 'Berlin'", "(== address.city 'Berlin')"),
        ("größe > 3", "(> größe 3)"),
        ("attr == 1", "(== attr 1)"),
        (r'name == "a\"b\\c\'d\n\t"', "(== name 'a\"b\\\\c\\'d\\n\\t')"),
        (r"name == 'it\'s'", '(== name "it\'s")'),
    ],
)
def test_parses_each_form(text, tree):
    assert show(parse_filter(text)) == tree


def test_keywords_are_case_insensitive():
    upper = parse_filter('NOT plan IN ["a"] AND name CONTAINS "x" OR plan NOT IN [TRUE, FALSE] Or x EXISTS')
    lower = parse_filter('not plan in ["a"] and name contains "x" or plan not in [true, false] or x exists')
    assert show(upper) == show(lower)
    assert show(parse_filter("last_seen_at < NOW - 3d")) == "(< last_seen_at now-259200s)"
    assert (
        show(parse_filter('name StartsWith "a" and name ENDSWITH "b"'))
        == "(and (startswith name 'a') (endswith name 'b'))"
    )
    assert show(parse_filter('ATTR("k") == 1')) == '(== attr("k") 1)'


def test_field_names_are_case_sensitive():
    # `Email` is not the built-in: it is an attribute key (which compile_filter would check).
    assert parse_filter("Email == 1").field.quoted is False
    assert show(parse_filter("Email == 1")) == "(== Email 1)"


@pytest.mark.parametrize(
    "text, tree",
    [
        ("a == 1 or b == 2 and c == 3", "(or (== a 1) (and (== b 2) (== c 3)))"),
        ("a == 1 and b == 2 or c == 3", "(or (and (== a 1) (== b 2)) (== c 3))"),
        ("not a == 1 and b == 2", "(and (not (== a 1)) (== b 2))"),
        ("not a == 1 or b == 2", "(or (not (== a 1)) (== b 2))"),
        ("not (a == 1 or b == 2)", "(not (or (== a 1) (== b 2)))"),
        ("not not blocked", "(not (not blocked))"),
        ('not tags contains "vip"', "(not (contains tags 'vip'))"),
        ("(a == 1 or b == 2) and c == 3", "(and (or (== a 1) (== b 2)) (== c 3))"),
        ("a == 1 and b == 2 and c == 3", "(and (== a 1) (== b 2) (== c 3))"),
        ("a == 1 or b == 2 or c == 3", "(or (== a 1) (== b 2) (== c 3))"),
        ("((blocked))", "blocked"),
        ("blocked and not x", "(and blocked (not x))"),
        ("x or blocked", "(or x blocked)"),
    ],
)
def test_precedence(text, tree):
    assert show(parse_filter(text)) == tree


def test_positions_are_kept():
    node = parse_filter('  plan == "x" and not attr("k") exists')
    first, second = node.operands
    assert first.field.position == 2 and first.op_position == 7 and first.values[0].position == 10
    assert second.position == 18 and second.operand.field.position == 22 and second.operand.op_position == 32


def test_durations():
    value = parse_filter("last_seen_at > now - 2w").values[0]
    assert value.value == -timedelta(weeks=2) and value.text == "now - 2w"


# Errors: message and caret column ---------------------------------------------------------


def error(text: str) -> FilterError:
    with pytest.raises(FilterError) as caught:
        parse_filter(text)
    return caught.value


@pytest.mark.parametrize(
    "text, message, column",
    [
        ("", "empty filter expression", 0),
        ("   ", "empty filter expression", 0),
        ("plan =", "'=' is not an operator: use '==' to compare", 5),
        ('plan = "trial"', "'=' is not an operator: use '==' to compare", 5),
        ("plan <> 1", "'<>' is not an operator: use '!='", 5),
        ("a == 1 && b == 2", "'&&' is not an operator: use 'and'", 7),
        ("a == 1 || b == 2", "'||' is not an operator: use 'or'", 7),
        ("a == 1 & b == 2", "'&' is not an operator: use 'and'", 7),
        ("!blocked", "'!' is not an operator: use 'not' or '!='", 0),
        ("plan == ", "expected a value after '==' but found the end of the expression", 8),
        ("plan ==", "expected a value after '==' but found the end of the expression", 7),
        ("plan == and", "expected a value after '==' but found 'and'", 8),
        ("plan == trial", "expected a value after '==' but found 'trial' (write text in quotes: \"trial\")", 8),
        (
            'plan "trial"',
            "expected an operator such as ==, contains or in after 'plan' but found the string \"trial\"",
            5,
        ),
        (
            "plan contain 'x'",
            "expected an operator such as ==, contains or in after 'plan' but found 'contain' (did you mean 'contains'?)",
            5,
        ),
        (
            'attr("a b") 3',
            "expected an operator such as ==, contains or in after 'attr(\"a b\")' but found the number 3",
            12,
        ),
        ("plan not == 'x'", "expected 'in' after 'not' but found '=='", 9),
        ("plan in 'x'", "expected '[' after 'in' but found the string 'x'", 8),
        ("plan not in 'x'", "expected '[' after 'not in' but found the string 'x'", 12),
        ("plan in []", "empty list: give at least one value", 9),
        ("plan in ['a' 'b']", "expected ',' or ']' but found the string 'b'", 13),
        ("plan in ['a',]", "expected a value after ',' but found ']'", 13),
        ("plan in ['a'", "expected ',' or ']' but found the end of the expression", 12),
        ("plan in [,", "expected a value after '[' but found ','", 9),
        ("(plan == 'x'", "'(' is never closed: add ')'", 0),
        ("a == 1 and (b == 2 or (c == 3)", "'(' is never closed: add ')'", 11),
        ("(a == 1 b == 2)", "expected 'and', 'or' or ')' but found 'b'", 8),
        ("a == 1)", "unmatched ')'", 6),
        ("a == 1 b == 2", "expected 'and' or 'or' but found 'b'", 7),
        ("a == 1 and", "expected a field, 'not' or '(' but found the end of the expression", 10),
        (
            "a == 1 or or b == 2",
            "expected a field, 'not' or '(' but found 'or' (a property called 'or' is written attr(\"or\"))",
            10,
        ),
        ("not", "expected a field, 'not' or '(' but found the end of the expression", 3),
        ("()", "expected a field, 'not' or '(' but found ')'", 1),
        ("== 1", "expected a field, 'not' or '(' but found '=='", 0),
        ('"plan" == 1', "expected a field, 'not' or '(' but found the string \"plan\"", 0),
        (
            "exists == 1",
            "expected a field, 'not' or '(' but found 'exists' (a property called 'exists' is written attr(\"exists\"))",
            0,
        ),
        (
            "Now == 1",
            "expected a field, 'not' or '(' but found 'Now' (a property called 'Now' is written attr(\"Now\"))",
            0,
        ),
        (
            "`first name` == 1",
            "unexpected '`': write a property name that is not a plain name as attr(\"first name\")",
            0,
        ),
        ("plan == 'x' ; 1", "unexpected character ';'", 12),
        ("plan == 'x' \x00", "unexpected character '\\x00'", 12),
        ("plan == 'trial", "unterminated string: add the closing '", 8),
        ('plan == "trial', 'unterminated string: add the closing "', 8),
        ('plan == "tri\\al"', "unknown escape '\\a' in a string: write '\\\\' for a backslash", 12),
        ('plan == "trial\\', 'unterminated string: add the closing "', 8),
        ("score == 99999999999999999999", "number out of range: 99999999999999999999", 9),
        ("score == -x", "expected a number after '-' but found 'x'", 10),
        ("score == 30d", "a duration needs now: write now - 30d or now + 30d", 9),
        ("last_seen_at < now - 30", "expected a duration such as 30d after 'now -' but found the number 30", 21),
        (
            "last_seen_at < now - 30y",
            "unknown duration unit 'y' in '30y': use m (minutes), h (hours), d (days) or w (weeks)",
            21,
        ),
        (
            "last_seen_at < now - 30D",
            "unknown duration unit 'D' in '30D': use m (minutes), h (hours), d (days) or w (weeks)",
            21,
        ),
        ("last_seen_at < now - 1.5d", "a duration is a whole number followed by m, h, d or w, not '1.5d'", 21),
        ("last_seen_at < now - 99999999999d", "duration out of range: 99999999999d", 21),
        ("last_seen_at < now 30d", "expected 'and' or 'or' but found '30d'", 19),
        ("attr(1) == 1", "expected the property name as a quoted string after 'attr(' but found the number 1", 5),
        ('attr("") == 1', "empty property name", 5),
        ('attr("a" == 1', "expected ')' after the property name but found '=='", 9),
        # A later problem is not reported before an earlier one.
        ("plan x = 1", "expected an operator such as ==, contains or in after 'plan' but found 'x'", 5),
    ],
)
def test_syntax_errors(text, message, column):
    caught = error(text)
    assert (caught.reason, caught.position, caught.expression) == (message, column, text)


@pytest.mark.parametrize(
    "text, message, column",
    [
        # Text built-ins take strings only.
        ("user_id == 42", "'user_id' is text: compare it with a quoted string such as \"42\"", 11),
        ("email == true", "'email' is text: compare it with a quoted string", 9),
        ("name in ['a', 1]", "'name' is text: compare it with a quoted string such as \"1\"", 14),
        ("name == now", "now can only be compared with dates: created_at, last_seen_at and date properties", 8),
        ("plan > now - 1d", "now can only be compared with dates: created_at, last_seen_at and date properties", 7),
        # Numbers and counts.
        ("id == '5'", "'id' is a number: compare it with a number", 6),
        ("id contains '5'", "'contains' works on text, but 'id' is a number", 3),
        ("conversations > '1'", "'conversations' is a count: compare it with a number", 16),
        ("conversations exists", "'conversations' is a count, always present: write conversations > 0", 14),
        ("conversations startswith '1'", "'startswith' works on text, but 'conversations' is a count", 14),
        # Times.
        (
            "created_at > 'yesterday'",
            'not a date or time: \'yesterday\' (write ISO-8601 such as "2026-01-31" or "2026-01-31T09:30:00Z", or now - 30d)',
            13,
        ),
        (
            "created_at > '2026-02-30'",
            'not a date or time: \'2026-02-30\' (write ISO-8601 such as "2026-01-31" or "2026-01-31T09:30:00Z", or now - 30d)',
            13,
        ),
        (
            "created_at in ['2026-01-01', 'x']",
            'not a date or time: \'x\' (write ISO-8601 such as "2026-01-31" or "2026-01-31T09:30:00Z", or now - 30d)',
            29,
        ),
        (
            "created_at > 2026",
            "'created_at' is a time: compare it with a date such as \"2026-01-31\" or with now - 30d",
            13,
        ),
        (
            "last_seen_at == false",
            "'last_seen_at' is a time: compare it with a date such as \"2026-01-31\" or with now - 30d",
            16,
        ),
        ("created_at startswith '2026'", "'startswith' works on text, but 'created_at' is a time", 11),
        ("created_at > '0999-01-01'", "date out of range: '0999-01-01'", 13),
        (
            "created_at > '2026-01-01T10:00:00.5Z'",
            "times are stored to the second: drop the fraction in '2026-01-01T10:00:00.5Z'",
            13,
        ),
        # blocked.
        ("blocked == 'yes'", "'blocked' is true or false: compare it with true or false", 11),
        ("blocked > false", "'>' does not apply to 'blocked', which is true or false: write blocked or not blocked", 8),
        ("blocked exists", "'blocked' is always true or false: write blocked or not blocked", 8),
        ("blocked contains 'x'", "'contains' works on text, but 'blocked' is true or false", 8),
        # tags.
        (
            "tags == 'vip'",
            '\'==\' does not apply to \'tags\', a set of tag names: use tags contains "vip", tags in ["vip", "trial"] or tags exists',
            5,
        ),
        (
            "tags != 'vip'",
            '\'!=\' does not apply to \'tags\', a set of tag names: use tags contains "vip", tags in ["vip", "trial"] or tags exists',
            5,
        ),
        (
            "tags startswith 'v'",
            '\'startswith\' does not apply to \'tags\', a set of tag names: use tags contains "vip", tags in ["vip", "trial"] or tags exists',
            5,
        ),
        ("tags contains 1", "'contains' needs a quoted string", 14),
        ("tags in ['a', 2]", "'tags' is text: compare it with a quoted string such as \"2\"", 14),
        # Fields alone.
        ("email", "'email' alone is not a test: compare it, e.g. email == \"ada@example.com\"", 0),
        ("x == 1 and name", "'name' alone is not a test: compare it, e.g. name == \"...\"", 11),
        ("tags", "'tags' alone is not a test: compare it, e.g. tags contains \"vip\"", 0),
        ("conversations", "'conversations' alone is not a test: compare it, e.g. conversations > 0", 0),
        ("not created_at", "'created_at' alone is not a test: compare it, e.g. created_at > now - 30d", 4),
        ("id", "'id' alone is not a test: compare it, e.g. id == 1", 0),
        # Attributes.
        ("plan contains 5", "'contains' needs a quoted string", 14),
        ("plan endswith true", "'endswith' needs a quoted string", 14),
        ("plan < true", "true and false can only be compared with ==, != or in, not '<'", 7),
    ],
)
def test_errors_that_need_no_database(text, message, column):
    caught = error(text)
    assert (caught.reason, caught.position) == (message, column)


def test_error_renders_expression_and_caret():
    caught = error("plan == 'trial' and last_seen_at < now - 30")
    assert str(caught) == (
        "expected a duration such as 30d after 'now -' but found the number 30\n"
        "  plan == 'trial' and last_seen_at < now - 30\n"
        "                                           ^"
    )
    assert isinstance(caught, InvalidInput) and caught.exit_code == 2


def test_attribute_quoted_form_allows_any_key():
    for key in ["first name", "and", "email", 'a"b', "a\\b", "'; DROP TABLE contacts; --", "größe ✓", "%_"]:
        literal = '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
        node = parse_filter(f"attr({literal}) exists")
        assert isinstance(node, Test) and node.field.name == key and node.field.quoted
