"""The segment filter language: `plan == 'trial' and last_seen_at < now - 30d`.

    from crmctl.query import compile_filter
    condition = compile_filter(db, text)   # .sql over contact alias `c`, .params
    db.execute(f"SELECT c.id FROM contacts AS c WHERE {condition.sql}", condition.params)

Grammar (keywords are case-insensitive; field names are not)::

    expr     := or
    or       := and ("or" and)*
    and      := unary ("and" unary)*
    unary    := "not" unary | primary
    primary  := "(" expr ")" | test
    test     := field OP value | field ["not"] "in" "[" value ("," value)* "]"
              | field "exists" | field
    field    := NAME | attr("any key")
    OP       := == | != | < | <= | > | >= | contains | startswith | endswith
    value    := "string" | 'string' | number | true | false | now [(+|-) DURATION]
    DURATION := integer followed by m, h, d or w (minutes, hours, days, weeks)

`not` binds tighter than `and`, which binds tighter than `or`; a test binds tighter than
`not`, so `not tags contains "vip"` negates the whole test. A NAME is letters, digits and
`_` (not starting with a digit), optionally dotted (`address.city`). Strings take the
escapes `\\\\`, `\\"`, `\\'`, `\\n` and `\\t`; numbers are `42`, `-7`, `2.5`.

Fields. `id`, `email`, `name`, `phone`, `user_id`, `created_at`, `last_seen_at`,
`blocked`, `tags` and `conversations` are built in. Any other name is a property, which
must be declared in the catalog (crmctl.properties) whether or not any contact holds a
value; otherwise the error suggests the closest field: `unknown field 'contry' (did you
mean 'country'?)`. Names match properties without regard to case. A name that is not a
plain name, is a keyword, or is shadowed by a built-in is written `attr("first name")`,
`attr("in")`, `attr("email")`; attr("…") always means a property.

Semantics (two-valued: every test is true or false, never unknown):

- A test on a missing value (no value, or NULL) is false, except `!=`, which is exactly
  `not (a == b)`. `in [...]` is an `or` of `==`; `not in` is its negation. `exists` is true
  when the value is present (not NULL).
- Text: `==`, `!=` and `<`… compare exactly and case-sensitively (by code point), except
  `email`, which compares by the one case rule (crmctl.folding), through the contacts' unique
  folded key, so `email == X` finds exactly the contact the store calls X, via its index.
- `contains`, `startswith`, `endswith` ignore case with full Unicode case folding
  (`name contains "müller"` matches "MÜLLER", "strasse" matches "Straße"), treat `%`, `_`
  and every other character literally, and only match text values. See folding.py.
- Each property's type decides its operators and literals (crmctl.query.fields):
  text `== != < <= > >= contains startswith endswith in exists`; number
  `== != < <= > >= in exists`; boolean `== != exists` and the name alone (`vip` is
  `vip == true`); date `== != < <= > >= exists`, with ISO-8601 literals and `now ± DURATION`.
  A literal of another type is an error with a caret (`score is a number property: write
  50, not "50"`).
- `created_at` and `last_seen_at` compare chronologically with ISO-8601 literals (a date
  alone is the start of that day UTC; offsets are converted to UTC) and with `now`,
  `now - 30d`, `now + 2h`. `now` is the clock's (CRMCTL_NOW overrides it), read once per
  compile. Date properties compare the same way. Anything else against them is an error,
  as is `now` against any other field. `true`/`false` only compare with `blocked` and
  boolean properties.
- `tags contains "vip"` is true when the contact has that tag, its name folded as above;
  `tags in ["a", "b"]` when it has any of them; `tags exists` when it has any tag. Other
  operators on `tags` are errors.
- `conversations` is the number of conversations the contact has (0 when none).
- `id` is a number; `name`, `phone`, `user_id` and `email` take strings only.

Why a hand-written parser rather than lark: the grammar is ten lines and the messages are
the product. Each rule here reports what it expected and what it found at the exact column
(`expected a value after '==' but found the end of the expression`), an unterminated string
points at its opening quote, and common slips get hints (`=` for `==`, a keyword used as a
field, `contain` for `contains`, a duration without `now`). With lark these would be a
mapping from LALR terminal sets back to prose, for no less code and an extra dependency.
"""

from crmctl.query.compiler import Condition, compile_filter, value_expression
from crmctl.query.parser import parse_filter

__all__ = ["Condition", "compile_filter", "parse_filter", "value_expression"]
