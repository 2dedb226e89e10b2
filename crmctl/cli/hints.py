"""Hints for command lines the shell took apart before crmctl saw them."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

# Words that can only continue a filter: when one arrives as its own argument right after a
# one-word -w, the shell split an unquoted expression.
_FILTER_WORDS = frozenset(
    {"==", "!=", "<", "<=", ">", ">=", "contains", "startswith", "endswith", "exists", "in", "and", "or", "not"}
)
_BARE_VALUE = re.compile(r"-?[0-9]+(\.[0-9]+)?|true|false|now|\[.*|\(.*|.*\)")


def split_filter(where: Sequence[str] | None, words: Sequence[str]) -> str | None:
    """The hint for `-w plan == "trial"` typed without quotes, or None.

    `where` are the -w values as parsed, `words` the arguments that followed the first
    one-word filter (positional arguments or leftovers)."""
    single = [w for w in (where or []) if w.strip() and len(w.split()) == 1]
    if not single:
        return None
    for start, word in enumerate(words):
        if word.strip().lower() in _FILTER_WORDS:
            rest = [_requote(w, i == 0) for i, w in enumerate(words[start:])]
            whole = " ".join([single[0], *rest])
            return (
                f"quote the whole -w expression, which the shell split into separate arguments: -w {shlex.quote(whole)}"
            )
    return None


def split_filter_in_args(args: Sequence[str]) -> str | None:
    """The same hint from a raw command line (when parsing stopped at the extra arguments):
    a -w value of one word directly followed by a word that can only continue a filter."""
    for i, arg in enumerate(args):
        if arg in ("-w", "--where") and i + 2 < len(args):
            value, rest = args[i + 1], args[i + 2 :]
        elif arg.startswith("--where=") and i + 1 < len(args):
            value, rest = arg.split("=", 1)[1], args[i + 1 :]
        else:
            continue
        if rest[0].strip().lower() in _FILTER_WORDS:
            end = next((j for j, word in enumerate(rest) if word.startswith("--")), len(rest))
            hint = split_filter([value], rest[:end])
            if hint:
                return hint
    return None


def _requote(word: str, is_operator: bool) -> str:
    """The shell dropped the quotes around text values: put them back in the suggestion."""
    if is_operator or word.lower() in _FILTER_WORDS or _BARE_VALUE.fullmatch(word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
