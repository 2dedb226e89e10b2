"""The plain table (stdout not a terminal) lines columns up by terminal cells, not code points."""

from __future__ import annotations

from crmctl.cli.options import ListFormat
from crmctl.cli.render import emit_records

ACCENT = "Rene\u0301e"  # e + COMBINING ACUTE ACCENT: 6 code points, 5 cells
ZWJ = "\U0001f469\u200d\U0001f4bb dev"  # WOMAN + ZWJ + LAPTOP is one glyph of 2 cells: 6 cells
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # MAN ZWJ WOMAN ZWJ GIRL: 2 cells
WIDE = "日本"  # 2 wide characters: 4 cells


def test_plain_table_measures_combining_marks_joined_emoji_and_wide_characters(capsys):
    rows = [{"name": name, "contacts": n} for n, name in enumerate([ACCENT, ZWJ, FAMILY, WIDE, "plain"], start=1)]
    emit_records(iter(rows), ListFormat.table, ["name", "contacts"])
    assert capsys.readouterr().out.splitlines() == [
        "name    contacts",
        "------  --------",
        # The name column is 6 cells wide (ZWJ), then 2 spaces, then the numbers right-aligned in 8.
        ACCENT + " " * (1 + 2 + 7) + "1",
        ZWJ + " " * (0 + 2 + 7) + "2",
        FAMILY + " " * (4 + 2 + 7) + "3",
        WIDE + " " * (2 + 2 + 7) + "4",
        "plain" + " " * (1 + 2 + 7) + "5",
    ]


def test_plain_table_of_ascii_is_unchanged(capsys):
    emit_records(iter([{"a": "x", "b": "long value"}]), ListFormat.table, ["a", "b"])
    assert capsys.readouterr().out == "a  b\n-  ----------\nx  long value\n"
