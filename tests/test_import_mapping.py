"""Mapped imports: presets on the sample exports, dialects, encodings, header matching,
--map and mapping files (with FILE:LINE:COL), dates, and --dry-run."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from test_import import attributes, contact, counts, dump, load, refusal, tags

from crmctl.errors import InvalidInput
from crmctl.importer import dates, dialect, mapfile
from crmctl.importer.mapping import Mapping, normal, property_header
from crmctl.store import open_db

EXPORTS = Path(__file__).resolve().parent.parent / "sample_data" / "exports"


@pytest.fixture
def db(tmp_path):
    database = open_db(tmp_path / "t.db", create=True)
    yield database
    database.close()


@pytest.fixture
def initialised(isolated_db):
    open_db(isolated_db, create=True).close()


def preset(name: str, **overlay) -> Mapping:
    mapping = mapfile.load_preset(name)
    mapping.overlay(overlay.get("maps", []))
    return mapping


# Presets on the sample exports ------------------------------------------------------------


def test_hubspot_export_with_its_preset(db):
    report = load(db, (EXPORTS / "hubspot-contacts.csv").read_bytes(), "h.csv", mapping=preset("hubspot"))
    assert (report.inserted, report.rejected) == (3, 0)
    assert report.dialect.to_dict() == {
        "delimiter": ",",
        "delimiter_detected": True,
        "encoding": "utf-8",
        "bom": True,
        "line_ending": "CRLF",
    }
    assert contact(db, "ada@example.com") == {
        "id": 1,
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "phone": "+44 20 7946 0001",
        "user_id": None,
        "created_at": "2024-03-01T10:22:00Z",
        "last_seen_at": None,
        "blocked_at": None,
    }
    assert attributes(db, "ada@example.com") == {
        "hubspot_id": (1001, "integer"),
        "contact_owner": ("sam@example.net", "text"),
        "last_activity_date": ("2024-11-20T09:15:00Z", "text"),
        "lead_status": ("Open", "text"),
        "marketing_contact_status": ("Marketing contact", "text"),
        "company": ("Analytical Engines", "text"),
        "lifecycle_stage": ("Customer", "text"),
    }
    assert contact(db, "grace@example.org")["created_at"] == "2023-12-31T23:59:00Z"
    assert contact(db, "grace@example.org")["phone"] is None
    assert contact(db, "emile@example.fr")["name"] == "Émile Durand"
    assert contact(db, "emile@example.fr")["created_at"] == "2025-07-04T00:00:00Z"  # a date alone
    assert attributes(db, "emile@example.fr")["company"] == ("Société Exemple, SARL", "text")
    assert "Primary Associated Company ID" not in {k for k in attributes(db, "ada@example.com")}
    assert {"column": "Primary Associated Company ID", "to": "ignored"} in report.columns


def test_mailchimp_export_with_its_preset(db):
    report = load(db, (EXPORTS / "mailchimp-subscribed.csv").read_bytes(), "m.csv", mapping=preset("mailchimp"))
    assert (report.inserted, report.rejected) == (2, 0)
    assert report.dialect.crlf and not report.dialect.bom
    ada = contact(db, "ada@example.com")
    assert (ada["name"], ada["phone"], ada["created_at"]) == (
        "Ada Lovelace",
        "+44 20 7946 0001",
        "2024-03-01T10:22:33Z",
    )
    assert attributes(db, "ada@example.com") == {
        "address": ("12 Example Square  London  SW1A 0AA  GB", "text"),
        "birthday": ("12/10", "text"),
        "member_rating": (4, "integer"),
        "timezone": ("Europe/London", "text"),
        "country": ("GB", "text"),
        "region": ("ENG", "text"),
        "mailchimp_notes": ("Met at the conference", "text"),
    }
    assert tags(db, "ada@example.com") == ["Newsletter, weekly", "VIP"]
    grace = contact(db, "grace@example.org")
    assert grace["created_at"] == "2023-12-31T23:59:00Z"  # no OPTIN_TIME: the confirmation time
    assert attributes(db, "grace@example.org") == {"member_rating": (2, "integer")}


def test_intercom_export_with_its_preset(db):
    report = load(db, (EXPORTS / "intercom-people.csv").read_bytes(), "i.csv", mapping=preset("intercom"))
    assert (report.inserted, report.rejected) == (2, 0)
    assert contact(db, "ada@example.com") == {
        "id": 1,
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "phone": "+44 20 7946 0001",
        "user_id": "u-1001",
        "created_at": "2024-03-01T10:22:33Z",
        "last_seen_at": "2024-11-20T09:15:00Z",
        "blocked_at": None,
    }
    assert attributes(db, "ada@example.com") == {
        "first_seen": ("2024-03-01 10:20:00 UTC", "text"),
        "last_heard_from": ("2024-10-01 12:00:00 UTC", "text"),
        "web_sessions": (42, "integer"),
        "city": ("London", "text"),
        "country": ("United Kingdom", "text"),
        "unsubscribed_from_emails": (0, "integer"),  # a boolean: every value was true or false
        "company": ("Analytical Engines", "text"),
    }
    assert {p["name"]: p["type"] for p in report.properties_created}["unsubscribed_from_emails"] == "boolean"
    assert tags(db, "ada@example.com") == ["beta", "vip"]
    assert contact(db, "grace@example.org")["last_seen_at"] == "2024-01-05T00:00:00Z"


def test_without_the_preset_us_dates_are_bad_rows_naming_the_option(db):
    message = refusal(db, (EXPORTS / "hubspot-contacts.csv").read_bytes(), "h.csv")
    assert "line 2: created_at: '03/01/2024 10:22' is ambiguous (day or month first?): pass --date-format" in message


def test_preset_list_names_presets_and_columns(cli):
    result = cli("contact", "import", "--preset", "list", "-f", "json")
    presets = {p["name"]: p for p in json.loads(result.stdout)}
    assert sorted(presets) == ["hubspot", "intercom", "mailchimp"]
    assert {"column": "Email Address", "to": "email"} in presets["mailchimp"]["columns"]
    assert {"column": "First Name", "to": "name (joined)"} in presets["hubspot"]["columns"]
    text = cli("contact", "import", "--preset", "list").stdout
    assert text.startswith("hubspot: HubSpot contacts export (CSV)\n  Email → email\n")


def test_unknown_preset(cli):
    result = cli("contact", "import", "x.csv", "--preset", "salesforce")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: no preset 'salesforce': choose from hubspot, intercom, mailchimp (see --preset list)\n"
    )


# Dialects and encodings -------------------------------------------------------------------


@pytest.mark.parametrize("sep, name", [(",", "comma"), (";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_delimiter_is_detected_from_the_header(db, sep, name):
    data = sep.join(["email", "name", "plan"]) + "\n" + sep.join(["ada@example.com", '"Ada, L."', "pro"]) + "\n"
    report = load(db, data)
    assert report.dialect.delimiter == sep and report.dialect.detected
    assert report.dialect.describe() == f"CSV, {name}-separated (detected), utf-8, LF line endings"
    assert contact(db, "ada@example.com")["name"] == "Ada, L."


def test_detection_ignores_delimiters_inside_quotes(db):
    report = load(db, '"email;x","name"\na@example.com,A\n', mapping=mapping_of("email;x=email"))
    assert report.dialect.delimiter == ","


def test_forced_delimiter_and_the_hint_when_it_is_wrong(db):
    load(db, "email|name\nada@example.com|Ada\n", delimiter="|")
    assert contact(db, "ada@example.com")["name"] == "Ada"
    message = refusal(db, "email;name\nada@example.com;Ada\n", delimiter=",")
    assert message == "line 1: no 'email' column (the header is one column containing ';': pass --delimiter ';')"
    with pytest.raises(InvalidInput, match="--delimiter must be one of"):
        dialect.delimiter("::")
    assert dialect.delimiter("tab") == "\t"


def test_windows_encodings(db):
    data = "email;name\nzoe@example.com;Zoë Müller – “Z”\n".encode("cp1252")
    message = refusal(db, data)
    assert message == (
        "line 2: not valid UTF-8 text; save the file as UTF-8, or pass --encoding cp1252 (or latin-1) "
        "for a Windows export"
    )
    report = load(db, data, encoding="cp1252")
    assert report.dialect.codec == "cp1252"
    assert contact(db, "zoe@example.com")["name"] == "Zoë Müller – “Z”"
    load(db, "email\nle@example.com\n".encode("latin-1"), encoding="latin-1")
    with pytest.raises(InvalidInput, match="unsupported encoding 'utf-16'"):
        load(db, "email\n", encoding="utf-16")


def test_bom_with_a_windows_encoding_is_refused(db):
    data = b"\xef\xbb\xbfemail\na@example.com\n"
    assert refusal(db, data, encoding="cp1252") == (
        "line 1: the file starts with a UTF-8 byte order mark, but --encoding is cp1252"
    )


# Header matching and --map ----------------------------------------------------------------


def mapping_of(*maps: str) -> Mapping:
    mapping = Mapping()
    mapping.overlay(list(maps))
    return mapping


@pytest.mark.parametrize("header", ["E-mail", "Email Address", "email", "EMAIL", " e_mail ", "E-Mail-Address"])
def test_email_headers_match_without_regard_to_case_spaces_and_punctuation(db, header):
    load(db, f'"{header}",Full Name,Phone Number\nada@example.com,Ada L,123\n')
    assert (contact(db, "ada@example.com")["name"], contact(db, "ada@example.com")["phone"]) == ("Ada L", "123")


def test_an_ambiguous_header_lists_the_candidates(db):
    assert refusal(db, "Email,Email Address\na@example.com,b@example.com\n") == (
        "line 1: columns 'Email' and 'Email Address' both go to email: keep one, e.g. --map 'Email Address=-'"
    )
    load(db, "Email,Email Address\na@example.com,b@example.com\n", mapping=mapping_of("Email Address=-"))
    assert contact(db, "a@example.com")["id"] == 1


def test_map_renames_ignores_and_targets_properties(db):
    mapping = mapping_of("Mail=email", "Fax=-", "Name=name", "Plan Name=plan", "Score=property:Full Name")
    report = load(db, "Mail,Fax,Name,Plan Name,Score\nada@example.com,123,Ada,pro,7\n", mapping=mapping)
    assert contact(db, "ada@example.com")["name"] == "Ada"
    assert attributes(db, "ada@example.com") == {"plan": ("pro", "text"), "Full Name": (7, "integer")}
    assert report.columns == [
        {"column": "Mail", "to": "email"},
        {"column": "Fax", "to": "ignored"},
        {"column": "Name", "to": "name"},
        {"column": "Plan Name", "to": "property 'plan' (new, text)"},
        {"column": "Score", "to": "property 'Full Name' (new, number)"},
    ]
    again = load(db, "Mail,Fax,Name,Plan Name,Score\nbob@example.com,1,Bob,free,8\n", mapping=mapping)
    assert again.columns[3:] == [
        {"column": "Plan Name", "to": "property 'plan'"},
        {"column": "Score", "to": "property 'Full Name'"},
    ]


def test_map_target_is_checked_against_the_catalog(db):
    load(db, "email,score,plan\na@example.com,10,pro\n")
    assert refusal(
        db, "email,Points\nb@example.com,3\n", mapping=mapping_of("Points=scor"), create_properties=False
    ) == (
        "--map 'Points=scor': unknown property 'scor' (did you mean 'score'?); a target is a built-in field "
        "(email, name, phone, user_id, created_at, last_seen_at, blocked, blocked_at, tags, id), a declared "
        "property or -: declare properties with `crmctl property create NAME --type TYPE`, or pass "
        "--create-properties (it declares those whose columns the file has)"
    )
    load(db, "email,Points\nb@example.com,3\n", mapping=mapping_of("Points=SCORE"), create_properties=False)
    assert attributes(db, "b@example.com") == {"score": (3, "integer")}  # the catalog's spelling
    with pytest.raises(InvalidInput, match="'Email' is a built-in field: a property needs another name"):
        load(db, "email,x\nc@example.com,1\n", mapping=mapping_of("x=property:Email"))
    load(db, "email,Points\nc@example.com,3\n", mapping=mapping_of("Points=points"))  # created
    assert attributes(db, "c@example.com") == {"points": (3, "integer")}


def test_mapping_file_targets_are_checked_with_their_position(db, tmp_path):
    load(db, "email,score\na@example.com,10\n")
    path = tmp_path / "m.yaml"
    path.write_text("columns:\n  Points: scroe\nfields:\n  nmae: {join: [A, B]}\n")
    mapping = mapfile.load_file(str(path))
    message = refusal(db, "email,Points\nb@example.com,3\n", mapping=mapping, create_properties=False)
    assert message.splitlines() == [
        f"{path}:2:11: unknown property 'scroe' (did you mean 'score'?)",
        f"{path}:4:3: unknown property 'nmae' (did you mean 'name'?)",
        "a target is a built-in field (email, name, phone, user_id, created_at, last_seen_at, blocked, "
        "blocked_at, tags, id), a declared property or -: declare properties with `crmctl property create "
        "NAME --type TYPE`, or pass --create-properties (it declares those whose columns the file has)",
    ]


def test_a_preset_on_a_new_database_names_its_undeclared_properties_once(initialised, cli):
    export = EXPORTS / "hubspot-contacts.csv"
    result = cli("contact", "import", str(export), "--preset", "hubspot", "--dry-run")
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "Error: preset hubspot:22:14: unknown property 'hubspot_id'"
    assert lines[-1].startswith("a target is a built-in field")
    assert len(lines) == 8  # seven properties, one explanation
    created = cli("contact", "import", str(export), "--preset", "hubspot", "--create-properties", "-f", "json")
    assert created.exit_code == 0
    assert len(json.loads(created.stdout)["properties_created"]) == 7


def test_unmapped_columns_follow_the_catalog_rules(db):
    message = refusal(db, "Email,Lifecycle Stage,Fax\na@example.com,lead,1\n", create_properties=False)
    assert message.startswith(
        "2 columns are neither a built-in field nor a declared property: 'Lifecycle Stage', 'Fax'"
    )
    load(db, "Email,Lifecycle Stage,Fax\na@example.com,lead,1\n", mapping=mapping_of("Fax=-", "Lifecycle Stage=-"))
    assert attributes(db, "a@example.com") == {}


def test_headers_match_declared_properties_by_the_catalog_rule(db):
    load(db, "email,First Name,Lead Score\na@example.com,Ann,3\n")
    report = load(db, "email,FIRST NAME,lead-score\nb@example.com,Bo,4\n", create_properties=False)
    assert attributes(db, "b@example.com") == {"First Name": ("Bo", "text"), "Lead Score": (4, "integer")}
    assert report.columns[1:] == [
        {"column": "FIRST NAME", "to": "property 'First Name'"},
        {"column": "lead-score", "to": "property 'Lead Score'"},
    ]


def test_a_header_that_is_a_field_and_a_property_alike_is_ambiguous(db):
    load(db, "email,property:Email Address\na@example.com,x\n")
    assert refusal(db, "Mail,Email Address\nb@example.com,y\n", mapping=mapping_of("Mail=email")) == (
        "line 1: column 'Email Address' could be the built-in field email or the property 'Email Address': "
        "say which, e.g. --map 'Email Address=email' or --map 'Email Address=property:Email Address'"
    )
    load(db, "email,a-b,a_b\nc@example.com,1,2\n")
    assert refusal(db, "email,A B\nd@example.com,3\n", create_properties=False) == (
        "line 1: column 'A B' matches the properties 'a-b', 'a_b': map it to one, e.g. --map 'A B=a-b'"
    )


def test_map_errors(db):
    assert refusal(db, "email\na@example.com\n", mapping=mapping_of("Fax=-")) == (
        "--map 'Fax=-': no column 'Fax' in the file (columns: 'email')"
    )
    with pytest.raises(InvalidInput, match="write SOURCE=TARGET"):
        mapping_of("nothing")


def test_map_applies_to_json_keys(db):
    load(
        db,
        '{"Mail": "ada@example.com", "Fax": 1, "Plan": "pro"}\n',
        "x.ndjson",
        mapping=mapping_of("Mail=email", "Fax=-"),
    )
    assert attributes(db, "ada@example.com") == {"Plan": ("pro", "text")}


def test_property_prefix_header_reads_as_that_property(db):
    load(db, "email,property:E-mail,property:Phone Number, x\na@example.com,Ann,7,y\n")
    assert attributes(db, "a@example.com") == {
        "E-mail": ("Ann", "text"),
        "Phone Number": (7, "integer"),
        "x": ("y", "text"),
    }
    with pytest.raises(InvalidInput, match="column 'id': 'id' is a built-in field: a property needs another name"):
        load(db, "email,property:id\nb@example.com,1\n")
    assert property_header("Name") == "property:Name" and property_header("plan") == "plan"
    assert property_header("E-mail") == "property:E-mail" and property_header("Created") == "property:Created"
    assert property_header(" x") == "property: x" and property_header("property:a") == "property:property:a"
    assert normal("E-Mail Address") == "emailaddress"


# Mapping files ----------------------------------------------------------------------------


def test_mapping_file(db, tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(
        "date_format: '%d.%m.%Y'\n"
        "timezone: Europe/Berlin\n"
        "columns:\n"
        "  E-Mail: email\n"
        "  Angelegt: created_at\n"
        "  Zuletzt: {to: last_seen_at, date_format: unix}\n"
        "  Schlagworte: {to: tags, separator: '|'}\n"
        "fields:\n"
        "  name: {join: [Vorname, Nachname], separator: ' '}\n"
        "ignore: [Intern]\n"
    )
    data = "E-Mail;Vorname;Nachname;Angelegt;Zuletzt;Schlagworte;Intern\na@example.com;Jo;Ko;24.12.2024;1700000000;a,b|c;x\n"
    report = load(db, data, mapping=mapfile.load_file(str(path)))
    row = contact(db, "a@example.com")
    assert (row["name"], row["created_at"], row["last_seen_at"]) == (
        "Jo Ko",
        "2024-12-23T23:00:00Z",
        "2023-11-14T22:13:20Z",
    )
    assert tags(db, "a@example.com") == ["a,b", "c"]
    assert attributes(db, "a@example.com") == {}
    assert report.mapping == str(path)


def test_mapping_file_errors_have_file_line_column(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "columns:\n"
        "  Email: email\n"
        "  Tags: {to: tags, separator: ';;'}\n"
        "  X: {to: conversations}\n"
        "  Y: {target: name}\n"
        "fields:\n"
        "  name: {join: First}\n"
        "date_format: 'dd/mm'\n"
        "colums: {}\n"
    )
    with pytest.raises(InvalidInput) as caught:
        mapfile.load_file(str(path))
    assert str(caught.value).splitlines() == [
        f"{path}:3:31: columns.Tags.separator: a separator is one character",
        f"{path}:4:11: columns.X.to: conversations cannot come from a column (only from JSON records)",
        f"{path}:5:6: columns.Y: needs `to: TARGET`",
        f"{path}:5:7: columns.Y.target: unknown key (expected one of to, date_format, separator, quoted)",
        f"{path}:7:16: fields.name.join: must be a list of column names",
        f"{path}:8:14: date_format: date_format: 'dd/mm' is not a date format: use strftime directives such as "
        "%d/%m/%Y, or unix",
        f"{path}:9:1: colums: unknown key (expected one of description, delimiter, encoding, date_format, "
        "timezone, columns, fields, ignore)",
    ]


def test_mapping_file_yaml_problems(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("columns:\n  a: &x email\n  b: *x\n")
    with pytest.raises(InvalidInput, match=r"m.yaml:2:6: anchors \(&x\) are not allowed in mapping files"):
        mapfile.load_file(str(path))
    path.write_text("columns:\n  a: email\n  a: name\n")
    with pytest.raises(InvalidInput, match=r"m.yaml:3:3: columns: duplicate key 'a' \(first at line 2\)"):
        mapfile.load_file(str(path))


def test_every_preset_is_a_valid_mapping():
    for name in mapfile.preset_names():
        assert mapfile.load_preset(name).rules


# Dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, stored",
    [
        ("2026-11-27 14:03", "2026-11-27T14:03:00Z"),
        ("2026-11-27T14:03:00.000Z", "2026-11-27T14:03:00Z"),
        ("2026-11-27T14:03:00+02:00", "2026-11-27T12:03:00Z"),
        ("2026-11-27", "2026-11-27T00:00:00Z"),
        ("2026-11-27 14:03:09 UTC", "2026-11-27T14:03:09Z"),
    ],
)
def test_unambiguous_forms_are_read_without_a_format(text, stored):
    assert dates.DateReader().stored(text) == stored


def test_timezone_applies_to_times_without_an_offset():
    berlin = dates.DateReader(tz=dates.zone("Europe/Berlin"))
    assert berlin.stored("2026-07-01 12:00") == "2026-07-01T10:00:00Z"
    assert berlin.stored("2026-01-01") == "2025-12-31T23:00:00Z"
    assert berlin.stored("2026-07-01T12:00:00Z") == "2026-07-01T12:00:00Z"
    with pytest.raises(InvalidInput, match="unknown time zone 'Mars/Base'"):
        dates.zone("Mars/Base")


def test_formats_and_unix():
    us = dates.DateReader(("%m/%d/%Y",))
    assert us.stored("01/02/2026") == "2026-01-02T00:00:00Z"
    assert us.stored("2026-01-02") == "2026-01-02T00:00:00Z"  # ISO is always read
    with pytest.raises(ValueError, match=r"'13/02/2026' does not match --date-format '%m/%d/%Y' \(nor ISO-8601\)"):
        us.stored("13/02/2026")
    assert dates.DateReader(("unix",)).stored("1700000000") == "2023-11-14T22:13:20Z"
    assert dates.DateReader(("unix_ms",)).stored("1700000000000") == "2023-11-14T22:13:20Z"


def test_ambiguous_dates_are_bad_rows_naming_the_option(db):
    problem = refusal(db, "email,created_at\na@example.com,01/02/2026\n").splitlines()[1]
    assert problem == (
        "  line 2: created_at: '01/02/2026' is ambiguous (day or month first?): pass --date-format, "
        "e.g. '%m/%d/%Y' (US) or '%d/%m/%Y'"
    )
    load(db, "email,created_at\na@example.com,01/02/2026\n", date_formats=("%d/%m/%Y",), timezone="UTC")
    assert contact(db, "a@example.com")["created_at"] == "2026-02-01T00:00:00Z"


def test_date_options_on_the_command_line(cli, initialised, tmp_path, isolated_db):
    path = tmp_path / "p.csv"
    path.write_text("email,created_at\na@example.com,01/02/2026 09:00\n")
    result = cli("contact", "import", path, "--date-format", "%d/%m/%Y %H:%M", "--timezone", "America/New_York")
    assert result.exit_code == 0, result.stderr
    database = open_db(isolated_db)
    assert contact(database, "a@example.com")["created_at"] == "2026-02-01T14:00:00Z"
    bad = cli("contact", "import", path, "--date-format", "yyyy")
    assert bad.exit_code == 2
    assert "is not a date format" in bad.stderr


# --dry-run --------------------------------------------------------------------------------


def test_dry_run_reports_exactly_and_writes_nothing(cli, initialised, tmp_path, isolated_db):
    path = tmp_path / "p.csv"
    path.write_text("email,name,tags,plan\na@example.com,A,new-tag,pro\nbad,x,,\nb@example.com,B,,\n")
    cli("contact", "import", path, "--skip-invalid", "--create-properties", "-q")
    path.write_text(
        "email,name,tags,plan,score\na@example.com,A2,other,pro,1.5\nbad,x,,,\nc@example.com,C,,,\nb@example.com,B,,,\n"
    )
    database = open_db(isolated_db)
    tables = ("contacts", "tags", "contact_tags", "properties", "property_values", "audit")
    before = dump(database, tables)
    dry = cli("contact", "import", path, "--skip-invalid", "--create-properties", "--dry-run", "-f", "json")
    assert dry.exit_code == 0, dry.stderr
    assert dump(database, tables) == before
    real = cli("contact", "import", path, "--skip-invalid", "--create-properties", "-f", "json")
    dry_report, real_report = json.loads(dry.stdout), json.loads(real.stdout)
    assert dry_report.pop("dry_run") is True and real_report.pop("dry_run") is False
    assert dry_report == real_report
    assert counts(real_report) == {
        "inserted": 1,
        "updated": 1,
        "unchanged": 1,
        "rejected": 1,
        "problems": ["line 3: invalid email 'bad'"],
        "tags_created": ["other"],
        "properties_created": [{"name": "score", "type": "number"}],
    }
    assert dry.stderr.startswith(
        "dry run, nothing was written; would import: 1 inserted, 1 updated, 1 unchanged, 1 rejected\n"
        "would create properties: score (number)\n"
    )


def test_json_report_option_and_deprecated_alias(cli, initialised, tmp_path):
    path = tmp_path / "p.ndjson"
    path.write_text('{"email": "a@example.com"}\n')
    for flag in (["-f", "json"], ["--json"]):
        result = cli("contact", "import", path, *flag, "-q")
        assert json.loads(result.stdout)["format"] == "ndjson"
    result = cli("contact", "import", "-", "--input-format", "ndjson", "-q", input='{"email": "b@example.com"}\n')
    assert result.exit_code == 0, result.stderr


def test_report_lists_every_column_on_stderr(cli, initialised, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("E-mail;Full Name;Plan\na@example.com;A;pro\n")
    result = cli("contact", "import", path, "--create-properties")
    assert result.stderr.splitlines() == [
        "imported: 1 inserted, 0 updated, 0 unchanged, 0 rejected",
        "created properties: Plan (text)",
        "input: CSV, semicolon-separated (detected), utf-8, LF line endings",
        "columns:",
        "  'E-mail' → email",
        "  'Full Name' → name",
        "  'Plan' → property 'Plan' (new, text)",
    ]


def test_missing_file_argument(cli):
    result = cli("contact", "import")
    assert (result.exit_code, result.stderr) == (2, "Error: missing FILE: give a file to import, or `-` for stdin\n")


def test_stream_reading_is_unchanged_for_plain_files(db):
    assert load(db, io.BytesIO(b"email\na@example.com\n").read()).inserted == 1
