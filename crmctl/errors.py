"""The exception types. The CLI's main() turns each into `Error: …` and an exit code."""

from __future__ import annotations


class CrmError(Exception):
    """A refusal or failure at run time (exit 1)."""

    exit_code = 1


class InvalidInput(CrmError):
    """Bad usage or invalid input: nothing was changed (exit 2)."""

    exit_code = 2


class Refused(CrmError):
    """The operation was refused by a guard: nothing was changed."""


class UnknownTags(CrmError):
    """One or more tags are not in the tag catalog."""

    def __init__(self, names: list[str], hint: str = "--create"):
        self.names = names
        quoted = ", ".join(f"'{n}'" for n in names)
        plural = "s" if len(names) > 1 else ""
        super().__init__(
            f"unknown tag{plural} {quoted}: create with "
            f"`crmctl tag create {' '.join(_shell_word(n) for n in names)}`" + (f" or pass {hint}" if hint else "")
        )


class MissingContacts(CrmError):
    """Identifiers in a selection that match no contact."""

    def __init__(self, identifiers: list[str], total: int):
        self.identifiers = identifiers
        shown = ", ".join(identifiers)
        more = f" and {total - len(identifiers)} more" if total > len(identifiers) else ""
        super().__init__(
            f"{total} contact{'s' if total != 1 else ''} not found: {shown}{more} (use --ignore-missing to skip them)"
        )


class NotFound(CrmError):
    """A named thing (contact, tag, flow, run) does not exist."""


class DatabaseError(CrmError):
    """The database file cannot be used (not crmctl's, too new, unreadable)."""


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
    """Another process held the write lock for longer than we were willing to wait."""


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


def _shell_word(name: str) -> str:
    import shlex

    return shlex.quote(name)
