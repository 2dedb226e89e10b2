"""A filter's id form (a SELECT of ids from the indexes, used by selections and flow matching)
selects exactly the contacts its condition form selects."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from test_query_property import datasets, expressions, load

from crmctl.errors import FilterError
from crmctl.query import compile_filter
from crmctl.selection import SelectionSpec, resolve

FIXED = [
    'plan == "pro"',
    "score < 2",
    'tags contains "vip"',
    'tags in ["vip", "trial"]',
    "tags exists",
    "conversations > 1",
    "conversations in [1, 2]",
    'plan == "pro" and tags contains "vip"',
    'score < 2 or (tags contains "vip" and plan == "pro")',
    "(score < 2 or tags exists) and plan exists",
    'attr("first name") startswith "a"',
    "vip",
    "declared_empty exists",
    "renewal < now and plan exists",
]


def both_forms(db, text: str):
    condition = compile_filter(db, text)
    by_condition = [
        r[0] for r in db.execute(f"SELECT c.id FROM contacts AS c WHERE {condition.sql} ORDER BY 1", condition.params)
    ]
    if condition.ids is None:
        return by_condition, by_condition
    sql, params = condition.ids
    by_ids = [r[0] for r in db.execute(f"SELECT DISTINCT * FROM ({sql}) AS found ORDER BY 1", params)]
    return by_condition, by_ids


def test_fixed_expressions(db):
    load(
        db,
        [
            {
                "email": "a",
                "name": None,
                "phone": None,
                "user_id": None,
                "created_at": None,
                "last_seen_at": None,
                "blocked_at": None,
                "tags": {"vip"},
                "attributes": {
                    "plan": "pro",
                    "score": 1,
                    "first name": "Ann",
                    "vip": 1,
                    "renewal": "2026-01-31T00:00:00Z",
                },
                "conversations": 2,
            },
            {
                "email": "b",
                "name": None,
                "phone": None,
                "user_id": None,
                "created_at": None,
                "last_seen_at": None,
                "blocked_at": None,
                "tags": {"trial"},
                "attributes": {"plan": "1", "score": 5, "vip": 0},
                "conversations": 1,
            },
            {
                "email": "c",
                "name": None,
                "phone": None,
                "user_id": None,
                "created_at": None,
                "last_seen_at": None,
                "blocked_at": None,
                "tags": set(),
                "attributes": {},
                "conversations": 0,
            },
        ],
    )
    for text in FIXED:
        assert compile_filter(db, text).ids is not None, text
        by_condition, by_ids = both_forms(db, text)
        assert by_ids == by_condition, text
        assert [
            r[0] for r in db.execute(f"SELECT id FROM temp.{resolve(db, SelectionSpec(where=[text])).scope}")
        ] == by_condition, text
    for text in ('not plan == "pro"', 'plan != "pro"', "conversations == 0", 'name == "x" or plan == "pro"'):
        assert compile_filter(db, text).ids is None, text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=datasets, expression=expressions)
def test_random_expressions(db, rows, expression):
    load(db, rows)
    text, _ = expression
    try:
        by_condition, by_ids = both_forms(db, text)
    except FilterError:
        return
    assert by_ids == by_condition, text
