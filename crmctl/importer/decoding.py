"""Bytes → text: BOM handling, UTF-16 refused, the Windows encodings on request, and bad
bytes reported with their line."""

from __future__ import annotations

import codecs
import functools
import itertools
from collections.abc import Iterator
from typing import BinaryIO

from crmctl.errors import InvalidInput

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)

# Encodings in which every line break is the byte 0x0a, so a file can be split into lines
# before decoding: UTF-8 and the single-byte Western encodings of Windows exports.
ENCODINGS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "cp1252": "cp1252",
    "windows-1252": "cp1252",
    "latin-1": "latin-1",
    "latin1": "latin-1",
    "iso-8859-1": "latin-1",
    "iso-8859-15": "iso8859-15",
    "latin-9": "iso8859-15",
}
HINT = "pass --encoding cp1252 (or latin-1) for a Windows export"


def encoding(name: str | None) -> str:
    """The codec for --encoding NAME (default UTF-8)."""
    if name is None:
        return "utf-8"
    codec = ENCODINGS.get(name.strip().lower().replace("_", "-"))
    if codec is None:
        raise InvalidInput(f"unsupported encoding {name!r}: use utf-8, cp1252, latin-1 or iso-8859-15")
    return codec


def _refuse_utf16(first: bytes) -> None:
    if first.startswith(_UTF16_BOMS):
        raise InvalidInput("line 1: the file is UTF-16; save it as UTF-8")


def _not_utf8(line: int, codec: str = "utf-8") -> InvalidInput:
    if codec == "utf-8":
        return InvalidInput(f"line {line}: not valid UTF-8 text; save the file as UTF-8, or {HINT}")
    return InvalidInput(f"line {line}: not valid {codec} text: check --encoding")


class TextLines:
    """Decoded lines (with their line endings), BOM removed. A line that cannot be decoded
    raises UnicodeDecodeError: the caller knows which line it asked for. After the first
    line is read, `bom` tells whether the file began with a UTF-8 byte order mark."""

    def __init__(self, stream: BinaryIO, codec: str = "utf-8"):
        self.stream = stream
        self.codec = codec
        self.bom = False

    def __iter__(self) -> Iterator[str]:
        first = next(iter(self.stream), b"")
        _refuse_utf16(first)
        if first.startswith(codecs.BOM_UTF8):
            if self.codec != "utf-8":
                raise InvalidInput(
                    f"line 1: the file starts with a UTF-8 byte order mark, but --encoding is {self.codec}"
                )
            first = first[len(codecs.BOM_UTF8) :]
            self.bom = True
        decode = functools.partial(bytes.decode, encoding=self.codec)
        return map(decode, itertools.chain((first,), self.stream))


def _lines(stream: BinaryIO) -> Iterator[str]:
    return iter(TextLines(stream))


class _Utf8Chunks:
    """Decode a byte stream chunk by chunk; a bad byte is refused with its line number."""

    def __init__(self, stream: BinaryIO, codec: str = "utf-8"):
        self.stream = stream
        self.codec = codec
        self.decoder = codecs.getincrementaldecoder(codec)()
        self.newlines = 0
        self.started = False

    def read(self, size: int) -> str:
        """Up to about `size` characters; "" only at the end."""
        while True:
            data = self.stream.read(size)
            if not self.started:
                _refuse_utf16(data)
            pending = self.decoder.getstate()[0]
            try:
                text = self.decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                raise _not_utf8(self.newlines + (pending + data).count(b"\n", 0, exc.start) + 1, self.codec) from None
            if text and not self.started:
                self.started = True
                text = text[1:] if text.startswith("\ufeff") else text
            self.newlines += text.count("\n")
            if text or not data:
                return text
