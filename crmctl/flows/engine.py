"""The flow engine: exit, resume the due, enrol the newly matching, walk them through the steps.

A run is one transaction. Every step is one set-based action over the contacts that reach
it (a temp table of ids), using the same action functions as the CLI commands.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crmctl import actions, clock
from crmctl.errors import CrmError, DatabaseError, InvalidInput, LockTimeout, Refused
from crmctl.flows import cases, checked
from crmctl.flows.model import BRANCHING
from crmctl.store import flows as flow_sql
from crmctl.store import outbox as outbox_sql
from crmctl.store import scopes

if TYPE_CHECKING:
    from sqlite_utils import Database


@dataclass
class StepStats:
    path: str
    action: str
    id: str | None = None
    contacts: int = 0
    changed: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        """How reports name the step: its id when it has one, else its path."""
        return self.id or self.path

    def to_dict(self) -> dict:
        return {
            "step": self.name,
            "path": self.path,
            "id": self.id,
            "action": self.action,
            "contacts": self.contacts,
            "changed": self.changed,
            **self.extra,
        }


ROUTING = ("if", "wait", "switch", "split")  # steps that move contacts on, changing none


@dataclass
class RunReport:
    flow: str
    run_id: int | None
    dry_run: bool
    status: str = "ok"
    matched: int = 0
    resumed: int = 0
    parked: int = 0
    exited: int = 0
    completed: int = 0
    deleted: int = 0
    steps: list[StepStats] = field(default_factory=list)
    emitted: dict[str, int] = field(default_factory=dict)  # records per outbox
    error: str | None = None

    def changed_by_action(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for step in self.steps:
            if step.action not in ROUTING:
                totals[step.action] = totals.get(step.action, 0) + step.changed
        return totals

    def to_dict(self) -> dict:
        return {
            "flow": self.flow,
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "status": self.status,
            "matched": self.matched,
            "resumed": self.resumed,
            "parked": self.parked,
            "exited": self.exited,
            "completed": self.completed,
            "deleted": self.deleted,
            "emitted": dict(self.emitted),
            "steps": [s.to_dict() for s in self.steps],
            "changed": self.changed_by_action(),
            **({"error": self.error} if self.error else {}),
        }


@dataclass
class RunOptions:
    dry_run: bool = False
    # Asked with the number of contacts the run would delete; None means consent was given (--yes).
    confirm_deletes: Callable[[int], bool] | None = None
    on_missing_wait: str | None = None


def run_flow(db: Database, flow, options: RunOptions) -> RunReport:
    """Run one flow in one transaction (rolled back when it is a dry run).

    A real run that fails or is refused changes nothing, and is then recorded in the run
    history, in a small transaction of its own, with status `failed` or `refused` and the error."""
    from crmctl.store import transaction

    started = time.monotonic()
    began = clock.now_text()
    deletes = any(step.kind == "delete" for step in flow.all_steps())
    try:
        with transaction(db, dry_run=options.dry_run, deletes_contacts=deletes):
            runner = _Runner(db, flow, options)
            report = runner.run()
            flow_sql.finish_run(db, runner.run_id, report.to_dict(), _elapsed_ms(started))
    except LockTimeout:
        raise  # never began: nothing to record, and recording would wait for the same lock
    except Exception as exc:
        if not options.dry_run:
            _record_unfinished(db, flow, began, exc, _elapsed_ms(started))
        raise
    if options.dry_run:
        report.run_id = None  # its history row was rolled back with everything else
    return report


def source_of(flow) -> str:
    """The flow file's absolute path, as run history keeps it."""
    return flow.source if flow.source.startswith("<") else os.path.abspath(flow.source)


def _record_unfinished(db: Database, flow, began: str, exc: Exception, duration_ms: int) -> None:
    from crmctl.store import transaction

    refused = isinstance(exc, CrmError) and not isinstance(exc, (InvalidInput, DatabaseError))
    status = "refused" if refused else "failed"
    message = str(exc) or type(exc).__name__
    try:
        with transaction(db, deletes_contacts=False):
            flow_sql.record_unfinished_run(
                db, flow.name, flow.digest, source_of(flow), began, status, message, duration_ms
            )
    except Exception:  # noqa: BLE001 - the run's own error is what the caller must see
        pass


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


class _Runner:
    def __init__(self, db: Database, flow, options: RunOptions):
        self.db = db
        self.flow = flow
        self.options = options
        self.moment = clock.now()
        self.now = clock.format_time(self.moment)
        self.stats: dict[str, StepStats] = {}
        self.report = RunReport(flow.name, None, options.dry_run)
        self._names = 0
        self._compiled: dict[str, object] = {}
        self._split_ready = False

    # The run, in order ----------------------------------------------------------------

    def run(self) -> RunReport:
        flow_sql.remember_definition(self.db, self.flow.name, self.flow.digest, self.flow.text, self.now)
        checked.remember(self.db, self.flow, self.now)
        run_id = flow_sql.start_run(
            self.db, self.flow.name, self.flow.digest, source_of(self.flow), self.now, self.options.dry_run
        )
        self.report.run_id = self.run_id = run_id
        self.ctx = actions.Context(actor=f"flow:{self.flow.name}", now=self.now, run_id=run_id)
        self._register_steps()
        self._check_tags_exist()
        outboxes = sorted({step.outbox for step in self.flow.all_steps() if step.kind == "emit"})
        if outboxes:
            outbox_sql.ensure(self.db, outboxes, self.now)
        self._exit_leavers()
        self._handle_missing_positions()
        self._resume_due()
        self._enrol_new()
        self._guard_deletes()
        self.report.steps = list(self.stats.values())
        return self.report

    def _exit_leavers(self) -> None:
        if not self.flow.exit_when:
            return
        condition = self._condition(self.flow.exit_when)
        leaving = self._scope()
        flow_sql.exiting(self.db, leaving, self.flow.name, condition.sql, condition.params)
        self.report.exited = scopes.count(self.db, leaving)
        if self.report.exited:
            flow_sql.finish(self.db, leaving, self.flow.name, "exited", self.now, self.run_id)
            self._audit("flow_exit", leaving, self.report.exited, "exit_when")
        if self.flow.on_exit:
            # Cleanup acts like any step: on the contacts the flow may act on.
            acting = leaving
            if not self.flow.include_blocked:
                acting = self._scope()
                scopes.keep_where(self.db, leaving, acting, "c.blocked_at IS NULL", [])
            self._run_list(self.flow.on_exit, 0, acting, entering=False)
        scopes.drop(self.db, leaving)

    def _handle_missing_positions(self) -> None:
        known = {step.key for step in self.flow.wait_steps()}
        stale = [(pos, n) for pos, n, _, _ in flow_sql.positions(self.db, self.flow.name) if pos not in known]
        if not stale:
            return
        where = ", ".join(f"{n} at {pos}" for pos, n in stale)
        if self.options.on_missing_wait != "end":
            raise Refused(
                f"flow '{self.flow.name}' changed while contacts were parked at waits it no longer has "
                f"({where}); rerun with --on-missing-wait end to end their enrolment"
            )
        ending = self._scope()
        flow_sql.parked_at(self.db, ending, self.flow.name, [pos for pos, _ in stale])
        count = scopes.count(self.db, ending)
        flow_sql.finish(self.db, ending, self.flow.name, "exited", self.now, self.run_id)
        self._audit("flow_missing_wait", ending, count, f"ended enrolment: {where}")
        self.report.exited += count
        scopes.drop(self.db, ending)

    def _resume_due(self) -> None:
        for wait in self.flow.wait_steps():
            ready = self._scope()
            flow_sql.due(self.db, ready, self.flow.name, wait.key, self.now, include_blocked=self.flow.include_blocked)
            count = scopes.count(self.db, ready)
            if count:
                self.report.resumed += count
                self._run_frames(self._frames_after(wait), ready, entering=False)
            scopes.drop(self.db, ready)

    def _enrol_new(self) -> None:
        condition = self._condition(self.flow.match)
        entering = self._scope()
        cutoff = None
        if self.flow.reentry not in (True, False):
            cutoff = clock.format_time(clock.shift(self.moment, -self.flow.reentry, "the reentry cut-off"))
        flow_sql.candidates(
            self.db,
            entering,
            self.flow.name,
            condition.sql,
            condition.params,
            include_blocked=self.flow.include_blocked,
            reentry=self.flow.reentry,
            cutoff=cutoff,
            run_id=self.run_id,
            ids=condition.ids,
        )
        self.report.matched = scopes.count(self.db, entering)
        if self.report.matched:
            # Their enrolments are written once, where each one ends up (parked or completed):
            # nothing reads them in between, and the run is one transaction.
            self._run_frames([(self.flow.steps, 0)], entering, entering=True)
        scopes.drop(self.db, entering)

    def _guard_deletes(self) -> None:
        deleted = self.report.deleted
        limit = self.flow.max_deletes
        if limit is not None and deleted > limit:
            message = (
                f"flow '{self.flow.name}' would delete {deleted} contacts, more than max_deletes {limit}; "
                "nothing was changed"
            )
            if self.options.dry_run:  # the whole plan is still shown, with the refusal
                self.report.status, self.report.error = "refused", message
                return
            raise Refused(message)
        if deleted and not self.options.dry_run and self.options.confirm_deletes is not None:
            if not self.options.confirm_deletes(deleted):
                raise Refused(f"flow '{self.flow.name}' would delete {deleted} contacts: not confirmed")

    # Walking the steps ----------------------------------------------------------------

    def _run_frames(self, frames: list[tuple[list, int]], scope: str, *, entering: bool) -> None:
        """Run the remaining steps of each frame, innermost first; survivors complete.

        `entering`: the contacts are enrolled by this run and have no active enrolment yet."""
        for steps, start in frames:
            scope = self._run_list(steps, start, scope, entering)
        count = scopes.count(self.db, scope)
        if count:
            if entering:
                flow_sql.enter(
                    self.db, scope, self.flow.name, self.flow.digest, self.now, self.run_id, state="completed"
                )
            else:
                flow_sql.finish(self.db, scope, self.flow.name, "completed", self.now, self.run_id)
            self.report.completed += count

    def _run_list(self, steps: list, start: int, scope: str, entering: bool) -> str:
        """Apply steps[start:] to scope; return the scope of contacts that reach the end."""
        for step in steps[start:]:
            reached = scopes.count(self.db, scope)
            stats = self.stats[step.path]
            stats.contacts += reached
            if step.kind == "wait":
                self._park(step, scope, reached, entering)
                return self._empty()
            if step.kind in BRANCHING:
                scope = self._route(step, scope, stats, entering)
                continue
            if reached:
                result = self._act(step, scope)
                stats.changed += result.changed
                if step.kind == "emit":
                    self.report.emitted[step.outbox] = self.report.emitted.get(step.outbox, 0) + result.changed
            if step.kind == "delete":
                self.report.deleted += reached
                return self._empty()
        return scope

    def _route(self, step, scope: str, stats: StepStats, entering: bool) -> str:
        """Send the contacts of scope down the ways of an if, switch or split; merge those that come out."""
        if step.kind == "if":
            ways = self._if_ways(step, scope, stats)
        elif step.kind == "switch":
            ways = self._switch_ways(step, scope, stats)
        else:
            ways = self._split_ways(step, scope, stats)
        merged = self._scope()
        for steps, way in ways:
            scopes.add_scope(self.db, merged, self._run_list(steps, 0, way, entering))  # ways never share a contact
        return merged

    def _if_ways(self, step, scope: str, stats: StepStats) -> list[tuple[list, str]]:
        condition = self._condition(step.condition)
        yes = self._scope()
        scopes.keep_where(self.db, scope, yes, condition.sql, condition.params)
        no = self._scope()
        scopes.copy_except(self.db, scope, yes, no)
        stats.extra["then"] += scopes.count(self.db, yes)
        stats.extra["else"] += scopes.count(self.db, no)
        return [(step.then, yes), (step.otherwise, no)]

    def _switch_ways(self, step, scope: str, stats: StepStats) -> list[tuple[list, str]]:
        """Each case takes its contacts from those no earlier case took; the rest go to default."""
        remaining = self._scope()
        scopes.add_scope(self.db, remaining, scope)
        left = scopes.count(self.db, remaining)
        counts = stats.extra["cases"]
        ways = []
        for branch in step.branches:
            chosen = self._scope()
            if left:
                condition = self._condition(cases.condition_text(step.switch_field, branch.value))
                scopes.move_where(self.db, remaining, chosen, condition.sql, condition.params, ids=condition.ids)
                taken = scopes.count(self.db, chosen)
                counts[branch.label] += taken
                left -= taken
            ways.append((branch.steps, chosen))
        stats.extra["default"] += left
        return [*ways, (step.otherwise, remaining)]

    def _split_ways(self, step, scope: str, stats: StepStats) -> list[tuple[list, str]]:
        """Contacts go to branches by a stable hash of flow name, split id and contact id (0..99),
        each branch taking the next `percent` buckets in file order; the branch is recorded."""
        counts = stats.extra["branches"]
        buckets = f"flow_buckets_{self._names + 1}"
        self._names += 1
        if not self._split_ready:
            flow_sql.register_split_bucket(self.db)
            self._split_ready = True
        flow_sql.fill_buckets(self.db, scope, buckets, f"{self.flow.name}\x1f{step.id}")
        ways, low = [], 0
        for branch in step.branches:
            chosen = self._scope()
            flow_sql.take_buckets(self.db, buckets, chosen, low, low + branch.percent)
            low += branch.percent
            taken = scopes.count(self.db, chosen)
            counts[branch.label] += taken
            if taken:
                flow_sql.record_branch(self.db, chosen, self.flow.name, step.key, branch.label, self.ctx.run_id)
            ways.append((branch.steps, chosen))
        scopes.drop(self.db, buckets)
        return ways

    def _park(self, step, scope: str, reached: int, entering: bool) -> None:
        if not reached:
            return
        due_at = clock.format_time(clock.shift(self.moment, step.seconds, f"the end of the wait at {step.path}"))
        if entering:
            flow_sql.enter(
                self.db,
                scope,
                self.flow.name,
                self.flow.digest,
                self.now,
                self.run_id,
                state="active",
                position=step.key,
                due_at=due_at,
            )
        else:
            flow_sql.park(self.db, scope, self.flow.name, step.key, due_at, self.flow.digest, self.run_id)
        self.stats[step.path].changed += reached
        self.report.parked += reached

    def _act(self, step, scope: str) -> actions.ActionResult:
        kind = step.kind
        if kind == "tag_add":
            return actions.tag_add(self.db, scope, step.tags, self.ctx)
        if kind == "tag_remove":
            return actions.tag_remove(self.db, scope, step.tags, self.ctx)
        if kind == "note":
            return actions.note(self.db, scope, self._template(step), self.ctx, author=self.ctx.actor)
        if kind == "set":
            return actions.set_values(self.db, scope, self._edits(step), self.ctx)
        if kind == "unset":
            return actions.unset_values(self.db, scope, self._edits(step), self.ctx)
        if kind == "block":
            return actions.block(self.db, scope, self.ctx)
        if kind == "unblock":
            return actions.unblock(self.db, scope, self.ctx)
        if kind == "delete":
            return actions.delete(self.db, scope, self.ctx, confirm=None)
        if kind == "emit":
            return actions.emit(self.db, scope, step.outbox, step.fields, self.ctx, flow=self.flow.name, step=step.key)
        raise ValueError(f"unknown step kind {kind!r}")

    # Helpers --------------------------------------------------------------------------

    def _frames_after(self, target) -> list[tuple[list, int]]:
        """The continuation after a step: the rest of its list, then of each enclosing list."""
        chain = _chain_to(self.flow.steps, target)
        assert chain is not None, f"step {target.path} not in flow"
        return [(steps, index + 1) for steps, index in reversed(chain)]

    def _register_steps(self) -> None:
        """Every step is reported, with zero counts where no contact reached it."""
        for step in self.flow.all_steps():
            self.stats[step.path] = StepStats(step.path, step.kind, step.id, extra=_way_counts(step))

    def _check_tags_exist(self) -> None:
        names = [tag for step in self.flow.all_steps() if step.kind in ("tag_add", "tag_remove") for tag in step.tags]
        if names:
            actions.resolve_tags(self.db, names, self.ctx)

    def _condition(self, text: str):
        if text not in self._compiled:
            from crmctl.query import compile_filter

            self._compiled[text] = compile_filter(self.db, text)
        return self._compiled[text]

    def _template(self, step):
        key = "note:" + step.path
        if key not in self._compiled:
            from crmctl.flows.template import compile_template

            self._compiled[key] = compile_template(self.db, step.template)
        return self._compiled[key]

    def _edits(self, step):
        """A set or unset step's keys resolved in the catalog (the values are already typed)."""
        key = "edits:" + step.path
        if key not in self._compiled:
            from crmctl import editing

            if step.kind == "set":
                self._compiled[key] = editing.typed_edits(self.db, step.values)
            else:
                self._compiled[key] = editing.unset_keys(self.db, step.keys)
        return self._compiled[key]

    def _scope(self) -> str:
        self._names += 1
        return scopes.create(self.db, f"flow_scope_{self._names}")

    def _empty(self) -> str:
        return self._scope()

    def _audit(self, action: str, scope: str, count: int, detail: str) -> None:
        from crmctl.store import audit

        if count:
            audit.record(
                self.db,
                at=self.now,
                actor=self.ctx.actor,
                action=action,
                detail=detail,
                scope=scope,
                contacts=count,
                run_id=self.run_id,
            )


def _way_counts(step) -> dict:
    """Zero counts for the ways a branching step sends contacts down."""
    if step.kind == "if":
        return {"then": 0, "else": 0}
    if step.kind == "switch":
        return {"cases": {branch.label: 0 for branch in step.branches}, "default": 0}
    if step.kind == "split":
        return {"branches": {branch.label: 0 for branch in step.branches}}
    return {}


def _chain_to(steps: list, target) -> list[tuple[list, int]] | None:
    """[(list, index)] from the top-level list down to the list holding `target`."""
    for index, step in enumerate(steps):
        if step is target or step.path == target.path:
            return [(steps, index)]
        for branch in step.children():
            inner = _chain_to(branch, target)
            if inner is not None:
                return [(steps, index), *inner]
    return None
