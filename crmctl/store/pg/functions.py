"""The SQL functions SQLite gets from Python (registered on each connection), as PostgreSQL
functions of the same names, created by the schema's first migration (crmctl.store.pg.schema):

    crmctl_fold(text)                          crmctl.folding.fold, exactly
    crmctl_split_bucket(seed text, id bigint)  crmctl.store.flows.register_split_bucket's bucket
    crmctl_suppression_digest(ipad, opad, email)
                                               crmctl.store.suppressions.digest; the key's pads
                                               come from `suppression_pads(key)`
    crmctl_number_text(jsonb | float8)         crmctl.value_types.number_text of a stored number

crmctl_convert has no SQL twin: a date's conversion is Python's datetime.fromisoformat, whose
accepted forms change between Python versions, so retyping converts values in Python.

The case rule. fold(s) = NFC(casefold(NFD(s))), and casefold works one code point at a time.
PostgreSQL's lower() under the ICU root collation ("und-x-icu") is Unicode's full lowercase
mapping, which agrees with casefold for almost every code point; the ones where it does not
(ß, ς, ſ, Cherokee, iota subscripts, code points one Unicode version knows and the other not
…) are found when the functions are installed, by asking this Python and this server, and
mapped explicitly. Σ is mapped too: lower() alone makes it ς at the end of a word. ASCII
text takes the fast path, lower() under "C".
"""

from __future__ import annotations

import functools
import json
import sys
import unicodedata
from typing import Any

__all__ = ["install", "suppression_pads"]

ICU = '"und-x-icu"'
SIGMA = "\u03a3"
# Runs of code points that no Unicode version gives a case: CJK ideographs, Hangul, private
# use, Tangut. The server's scan skips them (it costs one lower() call per code point).
_UNCASED = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xD800, 0xF8FF), (0x17000, 0x18AFF))
_LAST_CASED_PLANE = 0x1FFFF  # planes 2 and above hold no cased letters


@functools.cache
def _python_candidates() -> frozenset[str]:
    """Every code point that casefold changes."""
    found = set()
    for code in range(0x80, sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        if char.casefold() != char:
            found.add(char)
    return frozenset(found)


def _server_key(db: Any) -> str:
    """What the exceptions depend on: this rule, the server and its ICU, Python's Unicode."""
    row = db.conn.execute(
        "SELECT current_setting('server_version_num'), coalesce(pg_collation_actual_version(oid), '') "
        "FROM pg_collation WHERE collname = 'und-x-icu' LIMIT 1"
    ).fetchone()
    if row is None:
        from crmctl.errors import DatabaseError

        raise DatabaseError('crmctl needs a PostgreSQL server built with ICU (collation "und-x-icu")')
    return f"crmctl_fold 1; PostgreSQL {row[0]}; ICU {row[1]}; Unicode {unicodedata.unidata_version}"


_exceptions_cache: dict[str, dict[str, str]] = {}


def fold_exceptions(db: Any) -> dict[str, str]:
    """Code point → its casefold, for each code point where the server's lower() differs.

    Finding them takes a second (a lower() call per code point of the cased planes), so they
    are kept per process, and taken from crmctl_fold_unicode's comment in another schema of
    the database (owned by the same role) when that was made under the same key: a new
    schema on a server that has one (every test's) costs nothing. Only the code points are
    taken from there; what each maps to is this Python's casefold."""
    key = _server_key(db)
    if key not in _exceptions_cache:
        chars = _neighbour_exceptions(db, key)
        if chars is None:
            chars = _scan_exceptions(db)
        _exceptions_cache[key] = {c: c.casefold() for c in sorted(chars)}
    return _exceptions_cache[key]


def _neighbour_exceptions(db: Any, key: str) -> set[str] | None:
    rows = db.conn.execute(
        "SELECT d.description FROM pg_proc AS p JOIN pg_description AS d ON d.objoid = p.oid "
        "AND d.classoid = 'pg_proc'::regclass WHERE p.proname = 'crmctl_fold_unicode' "
        "AND p.proowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
    ).fetchall()
    for (description,) in rows:
        try:
            recorded = json.loads(description)
            if recorded["key"] == key and isinstance(recorded["chars"], str):
                chars = set(recorded["chars"])
                if SIGMA in chars and all(ord(c) > 0x7F for c in chars):
                    return chars
        except (ValueError, KeyError, TypeError):
            continue
    return None


def _scan_exceptions(db: Any) -> set[str]:
    skip = " ".join(f"AND (i < {low} OR i > {high})" for low, high in _UNCASED)
    server = {
        row[0]
        for row in db.conn.execute(
            f"SELECT chr(i) FROM generate_series(128, {_LAST_CASED_PLANE}) AS i WHERE true {skip} "
            f"AND lower(chr(i) COLLATE {ICU}) <> chr(i)"
        )
    }
    candidates = sorted(server | _python_candidates() | {SIGMA})
    lowered = dict(
        db.conn.execute(f"SELECT c, lower(c COLLATE {ICU}) FROM unnest(%s::text[]) AS c", [candidates]).fetchall()
    )
    return {c for c in candidates if c.casefold() != lowered[c] or c == SIGMA}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@functools.cache
def _python_whitespace() -> str:
    """What str.strip() strips."""
    return "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())


def fold_sql(exceptions: dict[str, str]) -> str:
    assert all(ord(c) > 0x7F for c in exceptions)  # safe in a bracket expression
    bracket = _literal("[" + "".join(sorted(exceptions)) + "]")
    mapping = _literal(json.dumps(exceptions, ensure_ascii=False, sort_keys=True))
    return f"""
CREATE OR REPLACE FUNCTION crmctl_fold_unicode(s text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fold$
DECLARE
    d text := normalize(s, NFD);
BEGIN
    IF d !~ {bracket} THEN
        RETURN normalize(lower(d COLLATE {ICU}), NFC);
    END IF;
    RETURN normalize((
        SELECT string_agg(coalesce(m.map ->> t.c, lower(t.c COLLATE {ICU})), '' ORDER BY t.i)
        FROM regexp_split_to_table(d, '') WITH ORDINALITY AS t(c, i), (SELECT {mapping}::jsonb AS map) AS m
    ), NFC);
END
$fold$;

-- Not STRICT, so that it is inlined (NULL still gives NULL).
CREATE OR REPLACE FUNCTION crmctl_fold(s text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fold$
SELECT CASE WHEN octet_length(s) = char_length(s) THEN lower(s COLLATE "C") ELSE crmctl_fold_unicode(s) END
$fold$;
"""


@functools.cache
def other_sql() -> str:
    whitespace = "U&'" + "".join(f"\\{ord(c):04X}" for c in _python_whitespace()) + "'"  # all in plane 0
    return f"""
CREATE OR REPLACE FUNCTION crmctl_split_bucket(seed text, id bigint) RETURNS integer
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
    -- The first 8 bytes of the digest, as a signed number: unsigned, it is h + 2^64 when h < 0.
    h bigint := ('x' || encode(substr(sha256(convert_to(seed || chr(31) || id::text, 'UTF8')), 1, 8), 'hex'))
        ::bit(64)::bigint;
BEGIN
    RETURN mod(mod(h, 100) + 100 + CASE WHEN h < 0 THEN 16 ELSE 0 END, 100);  -- 2^64 = 16 (mod 100)
END
$fn$;

-- Neither STRICT nor IMMUTABLE (convert_to is STABLE), so that it is inlined.
CREATE OR REPLACE FUNCTION crmctl_suppression_digest(key_ipad bytea, key_opad bytea, email text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
SELECT encode(
    sha256(key_opad || sha256(key_ipad || convert_to(crmctl_fold(btrim(email, {whitespace})), 'UTF8'))), 'hex'
)
$fn$;

-- An unsigned decimal (plain or with an exponent) as its significant digits and the place
-- of the decimal point: 0.DIGITS × 10^point.
CREATE OR REPLACE FUNCTION crmctl_decimal_digits(t text, OUT digits text, OUT point integer)
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
    parts text[] := regexp_match(t, '^([0-9]+)(?:\\.([0-9]*))?(?:e([-+]?[0-9]+))?$');
    stripped text;
BEGIN
    digits := parts[1] || coalesce(parts[2], '');
    point := length(parts[1]) + coalesce(parts[3]::integer, 0);
    stripped := ltrim(digits, '0');
    point := point - (length(digits) - length(stripped));
    digits := rtrim(stripped, '0');
END
$fn$;

-- Python's repr of a float: the shortest digits that read back the same, the nearest of them
-- when there are two, written as Python writes them. The server's own shortest output starts
-- the search: it does not count a text on the exact half-way bound (read back to even).
CREATE OR REPLACE FUNCTION crmctl_number_text(v double precision) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET extra_float_digits = 1 AS $fn$
DECLARE
    magnitude double precision := abs(v);
    parts text[] := regexp_match(magnitude::text, '^([0-9]+)(?:\\.([0-9]*))?(?:e([-+]?[0-9]+))?$');
    sign text := CASE WHEN v < 0 OR (v = 0 AND v::text LIKE '-%') THEN '-' ELSE '' END;
    digits text := parts[1] || coalesce(parts[2], '');
    point integer := length(parts[1]) + coalesce(parts[3]::integer, 0);
    stripped text := ltrim(digits, '0');
    x numeric;
    lo numeric;
    hi numeric;
    best numeric;
    k integer;
    exponent integer;
BEGIN
    IF parts IS NULL THEN
        RETURN lower(v::text);  -- NaN, Infinity: never stored
    END IF;
    point := point - (length(digits) - length(stripped));
    digits := rtrim(stripped, '0');
    IF digits = '' THEN
        RETURN sign || '0.0';
    END IF;
    -- Up to 15 digits, below 2^53, no shorter text lies on the bound: a half-way point there
    -- has more digits.
    IF length(digits) >= 16 OR magnitude >= 9007199254740992 THEN
        x := ('0.' || digits || 'e' || point)::numeric;
        k := length(digits) - 1;
        WHILE k >= 1 LOOP
            lo := trunc(x, k - point);
            hi := lo + power(10::numeric, point - k);
            best := NULL;
            IF lo >= 2.5e-324 AND lo::double precision = magnitude THEN  -- below: no double
                best := lo;
            END IF;
            IF hi <= 1.7976931348623158e308 AND hi::double precision = magnitude  -- above: none
                AND (best IS NULL OR hi - x < x - lo) THEN
                best := hi;
            END IF;
            EXIT WHEN best IS NULL;
            SELECT d.digits, d.point INTO digits, point FROM crmctl_decimal_digits(best::text) AS d;
            x := best;
            k := length(digits) - 1;
        END LOOP;
    END IF;
    IF point > -4 AND point <= 16 THEN
        IF point <= 0 THEN
            RETURN sign || '0.' || repeat('0', -point) || digits;
        ELSIF point >= length(digits) THEN
            RETURN sign || digits || repeat('0', point - length(digits)) || '.0';
        END IF;
        RETURN sign || left(digits, point) || '.' || substr(digits, point + 1);
    END IF;
    exponent := point - 1;
    RETURN sign || left(digits, 1) || CASE WHEN length(digits) > 1 THEN '.' || substr(digits, 2) ELSE '' END
        || 'e' || CASE WHEN exponent < 0 THEN '-' ELSE '+' END
        || CASE WHEN abs(exponent) < 10 THEN '0' ELSE '' END || abs(exponent)::text;
END
$fn$;

-- A stored property value as text: an integer as written, a float (a JSON number with a '.')
-- as Python's repr, a string as itself.
CREATE OR REPLACE FUNCTION crmctl_number_text(v jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
SELECT CASE WHEN jsonb_typeof(v) = 'number' AND strpos(v::text, '.') > 0
            THEN crmctl_number_text((v::text)::double precision)
            ELSE v #>> '{{}}' END
$fn$;
"""


def install(db: Any) -> None:
    """Create (or replace) every function, through the raw connection (no translation)."""
    exceptions = fold_exceptions(db)
    db.conn.execute(fold_sql(exceptions))
    recorded = json.dumps({"key": _server_key(db), "chars": "".join(exceptions)}, ensure_ascii=False)
    db.conn.execute(f"COMMENT ON FUNCTION crmctl_fold_unicode(text) IS {_literal(recorded)}")
    db.conn.execute(other_sql())


def suppression_pads(key_hex: str) -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer padded keys for meta.suppression_key, the first two
    arguments of crmctl_suppression_digest: the digest is then two sha256() calls."""
    key = bytes.fromhex(key_hex).ljust(64, b"\0")  # keys are 32 bytes, under the block size
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)
