"""Flow files: loading, every stage of validation with exact FILE:LINE:COL messages, the
digest, note templates, and robustness against arbitrary input."""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import add_contacts
from flowkit import find_step
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmctl.errors import FlowInvalid, InvalidInput
from crmctl.flows.loader import MAX_BYTES, load_flow, parse_flow, validate_file
from crmctl.flows.template import compile_template, parse_template

SAMPLE_FLOWS = Path(__file__).resolve().parent.parent / "sample_data" / "flows"

NURTURE = """\
name: trial-nurture
description: Nurture trials
match: 'plan == "trial"'
exit_when: 'plan == "paid"'
reentry: 30d
max_deletes: 5
steps:
  - tag_add: nurture
  - {id: first-wait, wait: 3d}
  - id: check
    if: 'last_seen_at < now - 3d'
    then:
      - note: "No activity since {{ contact.last_seen_at }}"
      - wait: 1w
      - tag_add: [at-risk, Churned]
    else:
      - tag_remove: engaged
      - set: {lifecycle: dormant, trial: true, old: null, ratio: 0.5}
  - block
  - id: last
    unblock:
  - delete
"""


def write(tmp_path: Path, text: str | bytes, name: str = "flow.yaml") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def problems_of(tmp_path: Path, text: str, db=None) -> list[str]:
    """Problems with the directory stripped: `flow.yaml:L:C: message`."""
    path = write(tmp_path, text)
    return [p.replace(str(tmp_path) + "/", "") for p in validate_file(path, db)]


@pytest.fixture
def crm(db):
    add_contacts(
        db,
        [
            {
                "email": "ada@example.com",
                "name": "Ada",
                "last_seen_at": "2026-10-01T00:00:00Z",
                "tags": ["vip"],
                "attributes": {"plan": "trial", "country": "DE", "score": 80},
            },
            {"email": "bob@example.com", "attributes": {"plan": "paid", "ratio": 0.25}},
        ],
    )
    return db


# The loaded flow -----------------------------------------------------------------------------


def test_load_flow_builds_the_documented_interface(tmp_path):
    path = write(tmp_path, NURTURE)
    flow = load_flow(path)
    assert (flow.name, flow.description, flow.match, flow.exit_when) == (
        "trial-nurture",
        "Nurture trials",
        'plan == "trial"',
        'plan == "paid"',
    )
    assert flow.include_blocked is False
    assert flow.reentry == 30 * 86400 and flow.max_deletes == 5
    assert flow.source == path and flow.text == Path(path).read_text()
    assert len(flow.digest) == 64

    kinds = [(s.path, s.kind, s.key, s.line, s.column) for s in flow.all_steps()]
    assert kinds == [
        ("steps[0]", "tag_add", "steps[0]", 8, 5),
        ("steps[1]", "wait", "first-wait", 9, 5),
        ("steps[2]", "if", "check", 10, 5),
        ("steps[2].then[0]", "note", "steps[2].then[0]", 13, 9),
        ("steps[2].then[1]", "wait", "steps[2].then[1]", 14, 9),
        ("steps[2].then[2]", "tag_add", "steps[2].then[2]", 15, 9),
        ("steps[2].else[0]", "tag_remove", "steps[2].else[0]", 17, 9),
        ("steps[2].else[1]", "set", "steps[2].else[1]", 18, 9),
        ("steps[3]", "block", "steps[3]", 19, 5),
        ("steps[4]", "unblock", "last", 20, 5),
        ("steps[5]", "delete", "steps[5]", 22, 5),
    ]
    check = find_step(flow, "check")
    assert check is flow.steps[2] and check.condition == "last_seen_at < now - 3d"
    assert [s.kind for s in check.then] == ["note", "wait", "tag_add"]
    assert [s.kind for s in check.otherwise] == ["tag_remove", "set"]
    assert flow.steps[0].tags == ["nurture"]
    assert check.then[2].tags == ["at-risk", "Churned"]
    assert check.then[0].template == "No activity since {{ contact.last_seen_at }}"
    assert check.otherwise[1].values == {"lifecycle": "dormant", "trial": 1, "old": None, "ratio": 0.5}
    assert [(s.key, s.seconds) for s in flow.wait_steps()] == [
        ("first-wait", 3 * 86400),
        ("steps[2].then[1]", 7 * 86400),
    ]
    assert find_step(flow, "steps[2].then[1]").seconds == 604800
    assert find_step(flow, "steps[1]").id == "first-wait"  # by path too
    assert find_step(flow, "nope") is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("reentry: true", True),
        ("reentry: false", False),
        ("", False),
        ("reentry: 12h", 43200),
        ("reentry: 5m", 300),
    ],
)
def test_reentry_forms(tmp_path, text, expected):
    flow = load_flow(write(tmp_path, f"name: f\nmatch: 'plan == \"x\"'\n{text}\nsteps: [block]\n"))
    assert flow.reentry is expected if isinstance(expected, bool) else flow.reentry == expected


def test_bare_words_and_their_mapping_forms_are_the_same_step(tmp_path):
    bare = load_flow(write(tmp_path, "name: f\nmatch: blocked\nsteps: [unblock, block, delete]\n", "a.yaml"))
    mapped = load_flow(
        write(tmp_path, "name: f\nmatch: blocked\nsteps:\n  - unblock:\n  - {block: null}\n  - delete: ~\n", "b.yaml")
    )
    assert [s.kind for s in mapped.steps] == ["unblock", "block", "delete"]
    assert bare.digest == mapped.digest


# Stage 0 and 1: the file and its YAML ---------------------------------------------------------


def test_yaml_syntax_error_has_the_marked_position(tmp_path):
    text = "name: x\nmatch: plan: trial\nsteps: [block]\n"
    assert problems_of(tmp_path, text) == ["flow.yaml:2:12: YAML syntax error: mapping values are not allowed here"]
    text = "name: x\nmatch: 'a'\nsteps:\n  - tag_add: [a, b\n  - block: {\n"
    assert problems_of(tmp_path, text) == [
        "flow.yaml:5:10: YAML syntax error: while parsing a flow sequence: expected ',' or ']', but got ':'"
    ]


def test_tab_indentation_gets_a_hint(tmp_path):
    assert problems_of(tmp_path, "name: x\n\tmatch: y\n") == [
        "flow.yaml:2:1: YAML syntax error: while scanning for the next token: found character '\\t' that "
        "cannot start any token (indent with spaces: YAML does not allow tabs there)"
    ]


def test_duplicate_keys_at_any_level(tmp_path):
    text = """\
    name: x
    match: blocked
    steps:
      - tag_add: a
        tag_add: b
      - set: {k: 1, k: 2}
    name: y
    """
    assert problems_of(tmp_path, text) == [
        "flow.yaml:5:5: steps[0]: duplicate key 'tag_add' (first at line 4)",
        "flow.yaml:6:17: steps[1].set: duplicate key 'k' (first at line 6)",
        "flow.yaml:7:1: duplicate key 'name' (first at line 1)",
    ]


def test_unknown_keys_with_suggestions(tmp_path):
    text = """\
    name: x
    match: blocked
    descripton: d
    steps:
      - tga_add: a
      - {tag_add: a, tags: b}
      - {if: blocked, then: [block], otherwise: [unblock]}
      - {note: hi, then: [block]}
    """
    assert problems_of(tmp_path, text) == [
        "flow.yaml:3:1: unknown key 'descripton' (did you mean 'description'?)",
        "flow.yaml:5:5: steps[0]: unknown step 'tga_add' (did you mean 'tag_add'?)",
        "flow.yaml:6:18: steps[1]: unknown key 'tags'",
        "flow.yaml:7:34: steps[2]: unknown key 'otherwise'",
        "flow.yaml:8:16: steps[3]: unknown key 'then'",
    ]


def test_wrong_types(tmp_path):
    text = """\
    name: x
    match: blocked
    include_blocked: "yes"
    max_deletes: -1
    steps:
      - tag_add: 12
      - tag_remove: [ok, [nested]]
      - note: 3
      - set: {a: [1], b: .inf}
      - block: {}
      - if: blocked
        then: block
      - 42
      - wait
      - blok
      - {note: a, tag_add: b}
    """
    assert problems_of(tmp_path, text) == [
        "flow.yaml:3:18: include_blocked: Input should be a valid boolean, not text",
        "flow.yaml:4:14: max_deletes: Input should be greater than or equal to 0",
        "flow.yaml:6:14: steps[0].tag_add: Input should be a valid string, not a number (quote it to make it text)",
        "flow.yaml:7:22: steps[1].tag_remove[1]: Input should be a valid string, not a list",
        "flow.yaml:8:11: steps[2].note: Input should be a valid string, not a number (quote it to make it text)",
        "flow.yaml:9:14: steps[3].set.a: expected text, a number, true/false or null, not a list",
        "flow.yaml:9:22: steps[3].set.b: a number must be finite",
        "flow.yaml:10:12: steps[4].block: block takes no value: write `- block`",
        "flow.yaml:12:11: steps[5].then: Input should be a valid list, not text",
        "flow.yaml:13:5: steps[6]: a step is a step name or a mapping like `tag_add: vip`, not a number",
        "flow.yaml:14:5: steps[7]: wait needs a value, e.g. `- wait: …`",
        "flow.yaml:15:5: steps[8]: unknown step 'blok' (did you mean 'block'?)",
        "flow.yaml:16:5: steps[9]: one action per step, found note and tag_add",
    ]


def test_missing_required_keys_and_empty_lists(tmp_path):
    text = """\
    description: d
    steps:
      - if: blocked
      - if: blocked
        then: []
      - tag_add: []
      - set: {}
      - {id: x}
    """
    assert problems_of(tmp_path, text) == [
        "flow.yaml:1:1: missing required key 'name'",
        "flow.yaml:1:1: missing required key 'match'",
        "flow.yaml:3:5: steps[0]: missing required key 'then'",
        "flow.yaml:5:11: steps[1].then: must not be empty",
        "flow.yaml:6:14: steps[2].tag_add: must not be empty",
        "flow.yaml:7:10: steps[3].set: must not be empty",
        "flow.yaml:8:5: steps[4]: a step needs one of tag_add, tag_remove, note, set, unset, block, unblock, delete, if, "
        "wait, switch, split, emit",
    ]
    assert problems_of(tmp_path, "name: x\nmatch: blocked\nsteps: []\n") == ["flow.yaml:3:8: steps: must not be empty"]


def test_the_whole_file_must_be_a_flow_mapping(tmp_path):
    assert problems_of(tmp_path, "") == [
        "flow.yaml:1:1: the file is empty: a flow needs at least name, match and steps"
    ]
    assert problems_of(tmp_path, "# only a comment\n") == [
        "flow.yaml:1:1: the file is empty: a flow needs at least name, match and steps"
    ]
    assert problems_of(tmp_path, "- block\n") == [
        "flow.yaml:1:1: a flow file is a mapping with name, match and steps, not a list"
    ]
    assert problems_of(tmp_path, "a: 1\n---\nb: 2\n") == [
        "flow.yaml:2:1: YAML syntax error: a flow file holds one YAML document, not several"
    ]


@pytest.mark.parametrize(
    "name, message",
    [
        ("Trial", "flow name 'Trial' must use lowercase letters, digits, '-' and '_', starting with a letter or digit"),
        (
            "-trial",
            "flow name '-trial' must use lowercase letters, digits, '-' and '_', starting with a letter or digit",
        ),
        (
            "trial nurture",
            "flow name 'trial nurture' must use lowercase letters, digits, '-' and '_', starting with a "
            "letter or digit",
        ),
        ("a" * 101, "flow name longer than 100 characters"),
    ],
)
def test_bad_flow_name(tmp_path, name, message):
    assert problems_of(tmp_path, f"name: {name}\nmatch: blocked\nsteps: [block]\n") == [
        f"flow.yaml:1:7: name: {message}"
    ]


def test_bad_durations(tmp_path):
    text = """\
    name: x
    match: blocked
    reentry: 30
    steps:
      - wait: 3
      - wait: 0d
      - wait: 3 days
      - wait: 2y
      - wait: 9999d
      - wait: 1w
    """
    assert problems_of(tmp_path, text) == [
        "flow.yaml:3:10: reentry: expected false, true or a duration like 30m, 12h, 3d or 2w",
        "flow.yaml:5:11: steps[0].wait: expected a duration like 30m, 12h, 3d or 2w",
        "flow.yaml:6:11: steps[1].wait: a duration must be more than zero, not '0d'",
        "flow.yaml:7:11: steps[2].wait: expected a duration like 30m, 12h, 3d or 2w, not '3 days'",
        "flow.yaml:8:11: steps[3].wait: expected a duration like 30m, 12h, 3d or 2w, not '2y'",
        "flow.yaml:9:11: steps[4].wait: duration '9999d' is too long (at most 3650d)",
    ]


def test_ids_must_be_well_formed_and_unique(tmp_path):
    text = """\
    name: x
    match: blocked
    steps:
      - {id: pause, wait: 1d}
      - id: check
        if: blocked
        then:
          - {id: pause, wait: 2d}
        else:
          - {id: check, block: null}
      - {id: Bad Id, unblock: null}
      - {id: 7, delete: null}
    """
    assert problems_of(tmp_path, text) == [
        "flow.yaml:8:14: steps[1].then[0].id: duplicate id 'pause' (first at line 4)",
        "flow.yaml:10:14: steps[1].else[0].id: duplicate id 'check' (first at line 5)",
        "flow.yaml:11:10: steps[2].id: step id 'Bad Id' must use lowercase letters, digits, '-' and '_', "
        "starting with a letter or digit",
        "flow.yaml:12:10: steps[3].id: Input should be a valid string, not a number (quote it to make it text)",
    ]


def test_nothing_can_follow_a_delete(tmp_path):
    text = """\
    name: x
    match: blocked
    steps:
      - if: blocked
        then:
          - delete
          - tag_add: a
          - block
        else:
          - delete
      - note: unreachable
      - if: blocked
        then: [block]
        else: [delete]
      - delete
      - block
    """
    assert problems_of(tmp_path, text) == [
        "flow.yaml:7:9: steps[0].then[1]: nothing can follow a delete",
        "flow.yaml:11:5: steps[1]: nothing can follow an if whose branches both delete",
        "flow.yaml:16:5: steps[4]: nothing can follow a delete",
    ]


def test_set_cannot_write_built_in_fields(tmp_path):
    assert problems_of(tmp_path, "name: x\nmatch: blocked\nsteps:\n  - set: {plan: x, email: y}\n") == [
        "flow.yaml:4:20: steps[0].set: 'email' is a built-in field that cannot be set: "
        "the email is how contacts are matched: it cannot be changed"
    ]


def test_unsupported_yaml_features(tmp_path):
    text = """\
    name: !!python/object:os.system x
    match: !custom blocked
    <<: {description: d}
    1: one
    steps: !!set {block}
    """
    assert problems_of(tmp_path, text) == [
        "flow.yaml:1:7: name: YAML tag !!python/object:os.system is not supported",
        "flow.yaml:2:8: match: YAML tag !custom is not supported",
        "flow.yaml:3:1: merge keys (<<) are not supported",
        "flow.yaml:4:1: key '1' is not text: quote it",
        "flow.yaml:5:8: steps: YAML tag !!set is not supported",
    ]


def test_unprintable_characters(tmp_path):
    assert problems_of(tmp_path, "name: x\nmatch: 'a\x07'\n") == [
        "flow.yaml:2:10: character U+0007 is not allowed in a YAML file"
    ]


def test_billion_laughs_is_refused_at_its_first_anchor(tmp_path):
    # Refused where the first anchor is defined, before any alias could be expanded.
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [{','.join(['*' + prev] * 9)}]")
    assert problems_of(tmp_path, "\n".join(lines) + "\n") == [
        "flow.yaml:1:4: anchors (&a) are not allowed in flow files"
    ]
    assert problems_of(tmp_path, "name: x\nmatch: *m\n") == [
        "flow.yaml:2:8: aliases (*m) are not allowed in flow files"
    ]


def test_deep_nesting_and_node_count_are_capped(tmp_path):
    # The columns show where reading stopped: at the 65th level, and at the 10,001st node.
    # (Without the depth cap, 200,000 levels end in a RecursionError, not this message.)
    assert problems_of(tmp_path, "[" * 200_000) == ["flow.yaml:1:65: nested more than 64 levels deep"]
    assert problems_of(tmp_path, "steps: [" + ",".join(["block"] * 20_000) + "]") == [
        "flow.yaml:1:59991: more than 10000 YAML nodes: not a flow file"
    ]


def test_huge_file_is_refused_without_parsing(tmp_path):
    path = write(tmp_path, "name: x\n" + "# padding\n" * (MAX_BYTES // 10 + 1))
    assert validate_file(path) == [f"{path}:1:1: file is larger than 1 MiB: not a flow file"]


def test_non_utf8_file(tmp_path):
    path = write(tmp_path, "name: x\nmatch: 'café'\n".encode("latin-1"))
    assert validate_file(path) == [f"{path}:2:12: not UTF-8 text (byte 0xe9): save the file as UTF-8"]


def test_utf8_bom_is_accepted(tmp_path):
    path = write(tmp_path, "\ufeffname: x\nmatch: blocked\nsteps: [block]\n".encode("utf-8"))
    assert load_flow(path).name == "x"


def test_unreadable_paths(tmp_path):
    missing = str(tmp_path / "nope.yaml")
    assert validate_file(missing) == [f"{missing}: cannot read: No such file or directory"]
    assert validate_file(str(tmp_path)) == [f"{tmp_path}: cannot read: Is a directory"]
    with pytest.raises(FlowInvalid) as caught:
        load_flow(missing)
    assert caught.value.problems == [f"{missing}: cannot read: No such file or directory"]
    assert caught.value.exit_code == 2


def test_path_is_reported_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("flows").mkdir()
    Path("flows/f.yaml").write_text("name: x\nsteps: [block]\n")
    assert validate_file("flows/f.yaml") == ["flows/f.yaml:1:1: missing required key 'match'"]
    assert validate_file("./flows/../flows/f.yaml")[0].startswith("./flows/../flows/f.yaml:1:1: ")


# Stage 3: meaning --------------------------------------------------------------------------


def test_filter_syntax_errors_point_into_the_expression(tmp_path):
    text = """\
    name: x
    match: plan = "trial"
    exit_when: 'plan == "paid" and'
    steps:
      - if: "score > 1 or \\t ("
        then: [block]
      - if: |
          plan == "trial"
            and contains "x"
        then: [block]
      - if: >
          plan ==
        then: [block]
    """
    assert problems_of(tmp_path, text) == [
        "flow.yaml:2:13: match: '=' is not an operator: use '==' to compare",
        "flow.yaml:3:31: exit_when: expected a field, 'not' or '(' but found the end of the expression",
        "flow.yaml:5:27: steps[0].if: expected a field, 'not' or '(' but found the end of the expression",
        "flow.yaml:9:13: steps[1].if: expected a field, 'not' or '(' but found 'contains' "
        "(a property called 'contains' is written attr(\"contains\"))",
        "flow.yaml:11:9: steps[2].if: expected a value after '==' but found the end of the expression",
    ]


def test_single_quoted_escapes_are_counted(tmp_path):
    assert problems_of(tmp_path, "name: x\nmatch: 'name == \"it''s\" and and'\nsteps: [block]\n") == [
        "flow.yaml:2:29: match: expected a field, 'not' or '(' but found 'and' "
        "(a property called 'and' is written attr(\"and\"))"
    ]


def test_unknown_fields_need_a_database(tmp_path, crm):
    text = """\
    name: x
    match: 'contry == "DE"'
    exit_when: plan == "paid" and scroe > 3
    steps:
      - if: 'tags contains "vip" and lifecycle == "x"'
        then: [block]
    """
    assert problems_of(tmp_path, text) == []
    assert problems_of(tmp_path, text, crm) == [
        "flow.yaml:2:9: match: unknown field 'contry' (did you mean 'country'?)",
        "flow.yaml:3:31: exit_when: unknown field 'scroe' (did you mean 'score'?)",
        "flow.yaml:5:34: steps[0].if: unknown field 'lifecycle' (declare it with `crmctl property create`)",
    ]


def test_note_placeholders(tmp_path, crm):
    text = """\
    name: x
    match: blocked
    steps:
      - note: "Hi {{ contact.name }} from {{contact.country}}, {{ contact.first_name }}"
      - note: '{{ name }} {{ contact.a.b }} {% if x %}y{% endif %} {# c #} done }}'
      - note: |
          Dear {{ contact.name }},
            your {{ contact.plna }} plan
    """
    assert problems_of(tmp_path, text) == [
        "flow.yaml:5:12: steps[1].note: malformed placeholder '{{ name }}': write {{ contact.FIELD }} or {{ contact[\"NAME\"] }}, "
        'optionally with | default("…")',
        "flow.yaml:5:23: steps[1].note: malformed placeholder '{{ contact.a.b }}': write {{ contact.FIELD }} or "
        '{{ contact["NAME"] }}, optionally with | default("…")',
        "flow.yaml:5:41: steps[1].note: template code '{% if x %}' is not supported: "
        "a note can only insert values with {{ contact.FIELD }}",
        "flow.yaml:5:52: steps[1].note: template code '{% endif %}' is not supported: "
        "a note can only insert values with {{ contact.FIELD }}",
        "flow.yaml:5:64: steps[1].note: template code '{# c #}' is not supported: "
        "a note can only insert values with {{ contact.FIELD }}",
        "flow.yaml:5:77: steps[1].note: stray '}}' in a note: placeholders are written {{ contact.FIELD }}",
    ]
    with_db = problems_of(tmp_path, text, crm)
    assert (
        "flow.yaml:4:60: steps[0].note: unknown placeholder {{ contact.first_name }}: "
        "no field or property 'first_name'" in with_db
    )
    assert (
        "flow.yaml:8:14: steps[2].note: unknown placeholder {{ contact.plna }}: "
        "no field or property 'plna' (did you mean 'plan'?)" in with_db
    )
    assert len(with_db) == 8


def test_every_problem_in_a_file_is_reported():
    path = str(SAMPLE_FLOWS / "invalid-example.yaml")
    problems = validate_file(path)
    assert len(problems) == 14
    assert all(p.startswith(path + ":") for p in problems)
    lines = [int(p[len(path) + 1 :].split(":")[0]) for p in problems]
    assert lines == sorted(lines)
    with pytest.raises(FlowInvalid) as caught:
        load_flow(path)
    assert caught.value.problems == problems
    assert str(caught.value) == "\n".join(problems)


# The digest ---------------------------------------------------------------------------------


def test_digest_ignores_layout_and_comments_but_not_steps(tmp_path):
    base = load_flow(write(tmp_path, NURTURE, "a.yaml")).digest
    relaid = NURTURE.replace("  - tag_add: nurture", "  # first things first\n  -   tag_add:   [nurture]   # one tag")
    relaid = relaid.replace("{id: first-wait, wait: 3d}", "id: first-wait\n    wait: '3d'")
    relaid = "# a comment\n\n" + relaid.replace("reentry: 30d", "reentry: 720h")
    assert load_flow(write(tmp_path, relaid, "b.yaml")).digest == base
    changed = NURTURE.replace("wait: 1w", "wait: 8d")
    assert load_flow(write(tmp_path, changed, "c.yaml")).digest != base
    renamed = NURTURE.replace("id: check", "id: check2")
    assert load_flow(write(tmp_path, renamed, "d.yaml")).digest != base


# Note templates -----------------------------------------------------------------------------


def render(db, template: str) -> list[str]:
    body = compile_template(db, template)
    return [row[0] for row in db.execute(f"SELECT {body.sql} FROM contacts AS c ORDER BY c.id", body.params)]


def test_compile_template_renders_values_and_keeps_literals(crm):
    assert render(crm, "Hi {{ contact.name }} ({{contact.plan}}, {{ contact.score }}) in {{ contact.country }}.") == [
        "Hi Ada (trial, 80) in DE.",
        "Hi  (paid, ) in .",
    ]
    literal = '100% {sure} it\'s "quoted" ? ?1 :x $1 \\ {{ contact.email }} {'
    assert render(crm, literal) == [
        '100% {sure} it\'s "quoted" ? ?1 :x $1 \\ ada@example.com {',
        '100% {sure} it\'s "quoted" ? ?1 :x $1 \\ bob@example.com {',
    ]
    assert render(crm, "{{ contact.last_seen_at }}|{{ contact.tags }}|{{ contact.blocked }}|{{ contact.ratio }}") == [
        "2026-10-01T00:00:00Z|vip|false|",
        "||false|0.25",
    ]
    assert render(crm, "no placeholders") == ["no placeholders", "no placeholders"]


def test_compile_template_refuses_what_it_cannot_insert(crm):
    with pytest.raises(InvalidInput, match=r"unknown placeholder \{\{ contact.nope \}\}"):
        compile_template(crm, "x {{ contact.nope }}")
    with pytest.raises(InvalidInput, match="malformed placeholder"):
        compile_template(crm, "{{ contact.name | upper }}")
    with pytest.raises(InvalidInput, match="not supported"):
        compile_template(crm, "{% for x in y %}")


def test_templates_never_evaluate_anything():
    parts, problems = parse_template("{{ contact.__class__ }} {{ 7*7 }} {{ contact.name() }}")
    assert [getattr(p, "name", p) for p in parts] == ["__class__", " {{ 7*7 }} {{ contact.name() }}"]
    assert [offset for offset, _ in problems] == [24, 34]


# Sample flows ------------------------------------------------------------------------------


def sample_flow_paths() -> list[Path]:
    return sorted(p for p in SAMPLE_FLOWS.glob("*.yaml") if p.name != "invalid-example.yaml")


def test_the_sample_flows_exist():
    names = {p.stem for p in sample_flow_paths()}
    assert {"winback-trials", "spam-cleanup", "vip-tagging", "gdpr-retention", "trial-nurture"} <= names


@pytest.mark.skipif(not (SAMPLE_FLOWS.parent / "contacts.ndjson").exists(), reason="sample contacts not generated")
def test_sample_flows_validate_against_the_sample_data(db):
    from crmctl.sample import load_sample

    load_sample(db)
    catalog = {row[0].lower() for row in db.execute("SELECT name FROM tags")}
    for path in sample_flow_paths():
        assert validate_file(str(path)) == [], path
        flow = load_flow(str(path), db)
        used = {tag.lower() for step in flow.all_steps() for tag in step.tags}
        assert used <= catalog, f"{path.name} uses tags not in the sample data: {used - catalog}"


# Robustness ---------------------------------------------------------------------------------

_VALID = NURTURE.splitlines(keepends=True)
_PIECES = [
    "name:",
    "match:",
    "steps:",
    "- ",
    "  ",
    "\n",
    ":",
    "{",
    "}",
    "[",
    "]",
    ",",
    "'",
    '"',
    "&a ",
    "*a",
    "!!str ",
    "!!python/object ",
    "? ",
    "<<: ",
    "---\n",
    "|\n",
    ">\n",
    "#",
    "\t",
    "if:",
    "then:",
    "else:",
    "wait: 3d",
    "id: x",
    "delete",
    "{{ contact.name }}",
    "{{",
    "}}",
    "{%",
    "null",
    "~",
    "true",
    "1e400",
    "0x1F",
    "9" * 30,
    "\x00",
    "\ufeff",
    "é",
    "now - 30d",
    "==",
    "tags contains",
    "set:",
    "note:",
    "tag_add:",
    "reentry:",
    "1:30",
]


@st.composite
def mutated_flows(draw) -> str:
    lines = list(_VALID)
    for _ in range(draw(st.integers(1, 4))):
        choice = draw(st.integers(0, 4))
        index = draw(st.integers(0, len(lines) - 1))
        line = lines[index]
        cut = draw(st.integers(0, len(line)))
        if choice == 0:
            lines[index] = line[:cut] + draw(st.sampled_from(_PIECES)) + line[cut:]
        elif choice == 1:
            lines[index] = line[:cut] + line[draw(st.integers(cut, len(line))) :]
        elif choice == 2 and len(lines) > 1:
            del lines[index]
        elif choice == 3:
            lines.insert(index, draw(st.sampled_from(lines)))
        else:
            lines[index] = line[:cut] + draw(st.text(max_size=8)) + line[cut:]
    return "".join(lines)


yamlish = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10) | st.sampled_from(_PIECES),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "name",
                    "match",
                    "steps",
                    "if",
                    "then",
                    "else",
                    "id",
                    "wait",
                    "note",
                    "set",
                    "tag_add",
                    "delete",
                    "block",
                    "x",
                ]
            )
            | st.text(max_size=5),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


def _load_only_flowinvalid(text: str, db=None) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "f.yaml"
        path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
        try:
            flow = load_flow(str(path), db)
        except FlowInvalid as exc:
            assert exc.problems and all(p.startswith(str(path)) for p in exc.problems)
        else:
            assert flow.steps and len(flow.digest) == 64


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(mutated_flows(), st.text(max_size=200)))
def test_arbitrary_text_only_ever_raises_flowinvalid(text):
    _load_only_flowinvalid(text)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutated_flows())
def test_mutations_checked_against_a_database_only_raise_flowinvalid(crm, text):
    _load_only_flowinvalid(text, crm)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(yamlish, st.booleans())
def test_arbitrary_yaml_structures_only_raise_flowinvalid(value, as_step):
    if as_step:  # as a step of an otherwise valid flow
        value = {"name": "x", "match": "blocked", "steps": [value]}
    try:
        parse_flow(yaml.safe_dump(value, allow_unicode=True), "f.yaml")
    except FlowInvalid as exc:
        assert exc.problems and all(p.startswith("f.yaml:") for p in exc.problems)
