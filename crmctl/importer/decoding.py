"""Bytes → text: BOM handling, UTF-16 refused, and bad bytes reported with their line."""

from __future__ import annotations

import codecs
import itertools
from collections.abc import Iterator
from typing import BinaryIO

from crmctl.errors import InvalidInput

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _refuse_utf16(first: bytes) -> None:
    if first.startswith(_UTF16_BOMS):
        raise InvalidInput("line 1: the file is UTF-16; save it as UTF-8")


def _not_utf8(line: int) -> InvalidInput:
    return InvalidInput(f"line {line}: not valid UTF-8 text; save the file as UTF-8")


def _lines(stream: BinaryIO) -> Iterator[str]:
    """Decoded lines (with their line endings), BOM removed. A line that is not UTF-8 raises
    UnicodeDecodeError: the caller knows which line it asked for."""
    first = next(iter(stream), b"")
    _refuse_utf16(first)
    if first.startswith(codecs.BOM_UTF8):
        first = first[len(codecs.BOM_UTF8) :]
    return itertools.chain((first.decode("utf-8"),), map(_utf8, stream))


def _utf8(line: bytes) -> str:
    return line.decode("utf-8")


class _Utf8Chunks:
    """Decode a byte stream chunk by chunk; a bad byte is refused with its line number."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder("utf-8")()
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
                raise _not_utf8(self.newlines + (pending + data).count(b"\n", 0, exc.start) + 1) from None
            if text and not self.started:
                self.started = True
                text = text[1:] if text.startswith("\ufeff") else text
            self.newlines += text.count("\n")
            if text or not data:
                return text
