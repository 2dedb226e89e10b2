"""Filters of any shape the parser accepts run: deep nesting, long and/or chains, long lists.

The parser refuses, with a caret, more than 64 levels of parentheses and `not` together, or
more than 1000 tests; below those limits every filter compiles to SQL that SQLite accepts
(whose own limits are far lower: a ~100-entry parser stack, expression depth 1000, 500 terms
in a compound SELECT, 32766 parameters). A filter that `flow validate` accepts never fails
for its size when the flow runs."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

LEAVES = [
    'tags contains "vip"',
    'tags in ["vip", "churned"]',
    "tags exists",
    'plan == "pro"',
    "score > 10",
    'plan in ["pro", "trial", "x"]',
    "conversations == 0",
    "conversations >= 1",
    'email == "ada@example.com"',
    'name contains "a"',
    "blocked",
    "last_seen_at < now - 3d",
    "id in [1, 3, 5]",
    'attr("plan") exists',
]


def flow_text(match: str, condition: str | None = None) -> str:
    steps = "[{tag_add: vip}]"
    if condition is not None:
        steps = f"[{{if: {json.dumps(condition)}, then: [{{tag_add: churned}}], else: [{{note: other}}]}}]"
    return f"name: deep\nmatch: {json.dumps(match)}\nsteps: {steps}\n"


# The limits, with a caret, in -w and in flow validate ------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("(" * 65 + "id == 1" + ")" * 65, "nested too deeply: at most 64 levels of parentheses and 'not' together", 64),
        ("not " * 1000 + "id == 1", "nested too deeply: at most 64 levels of parentheses and 'not' together", 256),
        ("not (" * 33 + "id == 1" + ")" * 33, "nested too deeply", 160),
        (" or ".join(f"id == {i}" for i in range(1001)), "too many tests: at most 1000 in one filter", 12_890),
    ],
)
def test_the_limits_are_refused_with_a_caret(run, people, tmp_path, text, message, column):
    result = run("contact", "count", "-w", text)
    assert result.returncode == 2, result.stderr
    first, shown, caret = result.stderr.splitlines()
    assert first.startswith(f"Error: {message}")
    assert "Traceback" not in result.stderr
    assert caret == " " * (2 + column) + "^"
    flow = tmp_path / "deep.yaml"
    flow.write_text(flow_text(text))
    validated = run("flow", "validate", flow)
    assert validated.returncode == 2
    assert validated.stderr.startswith(f"{flow}:2:"), validated.stderr
    assert message in validated.stderr


@pytest.mark.parametrize(
    "text",
    [
        "(" * 64 + "id == 1" + ")" * 64,
        "not " * 64 + "id == 1",
        "not (" * 32 + "id == 1" + ")" * 32,
        "".join(f'(plan == "x{i}" or not (tags contains "t{i}" and ' for i in range(21)) + "id == 1" + "))" * 21,
        " or ".join(f'tags contains "t{i}"' for i in range(1000)),
        " or ".join(f"id == {i}" for i in range(1000)),
        " and ".join(f"not id == {i}" for i in range(1000)),
        " or ".join(f'plan == "p{i}"' for i in range(1000)),
        "id in [" + ", ".join(str(i) for i in range(10_000)) + "]",
        "tags in [" + ", ".join(f'"t{i}"' for i in range(5_000)) + "]",
        "plan in [" + ", ".join(f'"p{i}"' for i in range(5_000)) + "]",
    ],
)
def test_filters_below_the_limits_run(cli, people, tmp_path, text):
    result = cli("contact", "count", "-w", text)
    assert result.exit_code == 0, result.stderr[:500]
    flow = tmp_path / "deep.yaml"
    flow.write_text(flow_text("plan exists or not plan exists", text))
    ran = cli("flow", "run", flow, "--yes", "--format", "json")  # validates, then runs
    assert ran.exit_code == 0, ran.stderr[:500]


def test_the_shapes_that_failed_at_run_time_run_in_the_installed_crmctl(run, people, tmp_path):
    """The reported cases: 60 nested `not`, 600 `or` over tags, 1000 over a built-in field."""
    for text in (
        "not " * 60 + "id == 1",
        " or ".join(f'tags contains "t{i}"' for i in range(600)),
        " or ".join(f"id == {i}" for i in range(1000)),
    ):
        flow = tmp_path / "deep.yaml"
        flow.write_text(flow_text(text))
        assert run("flow", "validate", flow).returncode == 0
        ran = run("flow", "run", flow, "--yes", "-q")
        assert ran.returncode == 0, ran.stderr[:500]


def test_a_long_in_list_matches_exactly_what_a_short_one_does(cli, people):
    wide = [1, 3, *range(1000, 2000)]
    long_list = cli("contact", "list", "-f", "ndjson", "-w", f"id in {wide}")
    short = cli("contact", "list", "-f", "ndjson", "-w", "id in [1, 3]")
    assert long_list.stdout == short.stdout and long_list.stdout.count("\n") == 2
    names = cli(
        "contact", "count", "-w", "name in [" + ", ".join(['"Ada"', '"Cy"'] + [f'"x{i}"' for i in range(50)]) + "]"
    )
    assert names.stdout == "2\n"
    scores = cli(
        "contact", "count", "-w", "score in [" + ", ".join(["80", "20.0"] + [str(i) for i in range(100, 150)]) + "]"
    )
    assert scores.stdout == "2\n"  # 20.0 == 20: numbers compare as numbers, through JSON too
    texts = cli("contact", "count", "-w", "score in [" + ", ".join(f'"{i}"' for i in range(0, 100)) + "]")
    assert texts.exit_code == 2  # text "80" is not the number 80: a number property takes numbers
    assert texts.stderr.startswith('Error: score is a number property: write 0, not "0"')


# Every filter that validates, runs --------------------------------------------------------------

leaves = st.sampled_from(LEAVES)


@st.composite
def shaped_filters(draw) -> str:
    """Nesting up to a little past the limit, mixing not, and, or and parentheses, sometimes
    inside a long chain."""
    text = draw(leaves)
    for _ in range(draw(st.integers(0, 70))):
        shape = draw(st.sampled_from(["not", "not ()", "and", "or"]))
        if shape == "not":
            text = f"not {text}"
        elif shape == "not ()":
            text = f"not ({text})"
        else:
            others = draw(st.lists(leaves, min_size=1, max_size=3))
            text = f" {shape} ".join([f"({text})", *others])
            if draw(st.booleans()):
                text = f"({text})"
    width = draw(st.sampled_from([0, 0, 0, 40, 600, 999]))
    if width:
        text = " or ".join([f"({text})", *draw(st.lists(leaves, min_size=width, max_size=width))])
    return text


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(match=shaped_filters(), condition=shaped_filters())
def test_every_filter_flow_validate_accepts_runs(cli, people, tmp_path_factory, match, condition):
    flow = tmp_path_factory.mktemp("deep") / "deep.yaml"
    flow.write_text(flow_text(match, condition))
    validated = cli("flow", "validate", flow)
    if validated.exit_code:
        assert validated.exit_code == 2
        assert "nested too deeply" in validated.stderr or "too many tests" in validated.stderr, validated.stderr
        return
    ran = cli("flow", "run", flow, "--yes", "--dry-run", "-q")
    assert ran.exit_code == 0, ran.stderr[:2000]
    selected = cli("contact", "count", "-w", match)
    assert selected.exit_code == 0, selected.stderr[:2000]
