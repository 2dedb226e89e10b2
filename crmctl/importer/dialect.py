"""A CSV file's dialect: the delimiter (detected from the header line, or forced), the
encoding, the byte order mark and the line ending, as the import report names them."""

from __future__ import annotations

from dataclasses import dataclass

from crmctl.errors import InvalidInput

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_NAMED = {name: char for char, name in DELIMITERS.items()} | {"\\t": "\t", "tsv": "\t"}


def delimiter(text: str | None) -> str | None:
    """--delimiter: one of , ; | or tab (also written `\\t`, `tab`, `comma`, `semicolon`, `pipe`)."""
    if text is None:
        return None
    if text in DELIMITERS:
        return text
    char = _NAMED.get(text.strip().lower())
    if char is None:
        raise InvalidInput(f"--delimiter must be one of , ; | or tab, not {text!r}")
    return char


def detect(header_line: str) -> str:
    """The delimiter the header line uses most, outside quotes; a comma when it uses none.
    A tie is resolved in the order , ; tab |."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(counts, key=lambda c: counts[c])  # max keeps the first of equal counts
    return best if counts[best] else ","


def looks_delimited(header: list[str], used: str) -> str | None:
    """When the header came out as one column, another delimiter it contains (for a hint)."""
    if len(header) != 1:
        return None
    for char in DELIMITERS:
        if char != used and char in header[0]:
            return char
    return None


@dataclass
class Dialect:
    delimiter: str = ","
    detected: bool = True
    codec: str = "utf-8"
    bom: bool = False
    crlf: bool = False

    def to_dict(self) -> dict:
        return {
            "delimiter": self.delimiter,
            "delimiter_detected": self.detected,
            "encoding": self.codec,
            "bom": self.bom,
            "line_ending": "CRLF" if self.crlf else "LF",
        }

    def describe(self) -> str:
        how = "detected" if self.detected else "forced"
        bom = " with BOM" if self.bom else ""
        return (
            f"CSV, {DELIMITERS[self.delimiter]}-separated ({how}), {self.codec}{bom}, "
            f"{'CRLF' if self.crlf else 'LF'} line endings"
        )
