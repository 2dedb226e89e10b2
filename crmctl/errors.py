"""The exception types. The CLI's main() turns each into `Error: …` and an exit code."""

from __future__ import annotations


class CrmError(Exception):
    """A refusal or failure at run time (exit 1).

    `kind` is the one word a script reads in a JSON error object (`-f json`)."""

    exit_code = 1
    kind = "failed"


class InvalidInput(CrmError):
    """Bad usage or invalid input: nothing was changed (exit 2)."""

    exit_code = 2
    kind = "invalid_input"


class UsageError(InvalidInput):
    """Options that cannot go together, or a command line that says nothing (exit 2)."""

    kind = "usage"


class Refused(CrmError):
    """The operation was refused by a guard: nothing was changed."""

    kind = "refused"


class NotFound(CrmError):
    """A named thing (contact, tag, flow, run) does not exist."""

    kind = "not_found"


class UnknownTags(NotFound):
    """One or more tags are not in the tag catalog.

    `hint` is the option of the current command that would create them (tag add's
    `--create`), or empty where there is none: the message then names only the command."""

    def __init__(self, names: list[str], hint: str = "", suggestions: dict[str, str] | None = None):
        self.names = names
        self.suggestions = suggestions = suggestions or {}
        quoted = ", ".join(
            quote(n) + (f" (did you mean {quote(suggestions[n])}?)" if n in suggestions else "") for n in names
        )
        plural = "s" if len(names) > 1 else ""
        super().__init__(
            f"unknown tag{plural} {quoted}: create with "
            f"`crmctl tag create {' '.join(_shell_word(n) for n in names)}`" + (f" or pass {hint}" if hint else "")
        )


class MissingContacts(NotFound):
    """Identifiers in a selection that match no contact. At most SHOWN of them are quoted,
    each cut short: a mistaken pipe must not pour contact data into a cron mail."""

    SHOWN = 20

    def __init__(self, identifiers: list[str], total: int):
        self.identifiers = identifiers[: self.SHOWN]
        shown = ", ".join(quote(i) for i in self.identifiers)
        more = f" and {total - len(self.identifiers)} more" if total > len(self.identifiers) else ""
        super().__init__(
            f"{total} contact{'s' if total != 1 else ''} not found: {shown}{more} (use --ignore-missing to skip them)"
        )


class DatabaseError(CrmError):
    """The database file cannot be used (not crmctl's, too new, unreadable)."""

    kind = "database"


class NoDatabase(DatabaseError):
    """There is no crmctl database there yet (a PostgreSQL schema missing or empty): run `crmctl init`."""


class CaseCollisions(DatabaseError):
    """Existing emails or tag names that are one under the case rule: the schema upgrade that
    makes them unique waits until they are made distinct."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        listing = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(
            "this database needs an upgrade that makes emails and tag names unique under crmctl's case rule "
            "(Unicode case folding), but some already collide; nothing was changed by it:\n"
            f"{listing}\n"
            "Resolve each group, then run any crmctl command to finish the upgrade: "
            "`crmctl tag rename OLD NEW` or `crmctl tag delete NAME` for tags; for contacts, "
            "`crmctl contact show ID` to compare them and `crmctl delete ID` for a duplicate. "
            "`crmctl db check` lists what is left."
        )


class LockTimeout(CrmError):
    """Another process held the write lock for longer than we were willing to wait.

    Exit 75 (EX_TEMPFAIL): nothing is wrong with the command, so a cron wrapper may retry."""

    exit_code = 75
    kind = "busy"

    @classmethod
    def held_by(cls, holder: str, waited: float | None) -> LockTimeout:
        """The message both backends give: who holds the lock, and how long this process waited."""
        after = f" after {waited:g} s" if waited is not None else ""
        return cls(f"the database is locked (held by {holder}); gave up waiting{after}")


class FilterError(InvalidInput):
    """A filter expression that does not parse or names an unknown field."""

    def __init__(self, message: str, expression: str, position: int):
        self.reason = message
        self.expression = expression
        self.position = position
        super().__init__(self.render())

    def render(self, label: str = "") -> str:
        caret = " " * self.position + "^"
        prefix = f"{label}: " if label else ""
        return f"{prefix}{self.reason}\n  {self.expression}\n  {caret}"


class FlowInvalid(InvalidInput):
    """A flow file with one or more problems, each `FILE:LINE:COL: message`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def quote(text: str, limit: int = 64) -> str:
    """User or database text inside a message: quoted, control characters escaped, cut to
    `limit` characters."""
    from crmctl.text import visible

    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return "'" + visible(text) + "'"


def _shell_word(name: str) -> str:
    import shlex

    from crmctl.text import visible

    return visible(shlex.quote(name))
