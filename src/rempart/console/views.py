"""What the incident page and ``/api/incidents/{ref}`` show, gathered once from the stages' services."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rempart.board.states import State, incident_state
from rempart.console.context import ConsoleContext
from rempart.detect.incidents import get_incident
from rempart.domain.actors import Actor
from rempart.errors import RempartError
from rempart.identities.authorize import check_incident
from rempart.notify import service as notify
from rempart.respond import service as respond
from rempart.respond.interface import Operation
from rempart.respond.service import StepView
from rempart.respond.states import StepStatus
from rempart.store import incident_log

DECIDABLE = {StepStatus.PLANNED.value, StepStatus.AWAITING_APPROVAL.value}


def operation_text(op: Operation) -> str:
    """One command, call or instruction exactly as the adapter would make it."""
    if op.kind == "exec":
        text = " ".join(op.argv)
        return f"{text}\n{op.stdin}" if op.stdin else text
    if op.kind == "http":
        body = json.dumps(op.body, ensure_ascii=False, indent=1) if op.body is not None else ""
        return f"{op.method} {op.url}\n{body}".rstrip()
    return op.text or ""


@dataclass
class StepLine(StepView):
    """A step as respond shows it, with the exact operations it makes (or made) when applied."""

    operations: list[str] = field(default_factory=list)

    @property
    def decidable(self) -> bool:
        return self.status in DECIDABLE

    @property
    def awaiting_ack(self) -> bool:
        return self.status == StepStatus.AWAITING_ACK.value


@dataclass
class RunLine:
    run_id: int
    playbook: str
    status: str
    steps: list[StepLine]


@dataclass
class ClockLine:
    establishment: str
    obligation: str
    stage: str
    recipient: str
    status: str
    due: datetime | None
    left: timedelta | None


@dataclass
class IncidentView:
    ref: str
    establishment: str | None
    severity: str
    status: str
    state: State
    opened_at: datetime
    first_seen: datetime
    last_seen: datetime
    hosts: list[str]
    tactics: list[str]
    techniques: list[str]
    exercise: bool
    alerts: list[dict[str, Any]] = field(default_factory=list)
    runs: list[RunLine] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    clocks: list[ClockLine] = field(default_factory=list)
    clocks_note: str = ""


def _runs(ctx: ConsoleContext, ref: str) -> list[RunLine]:
    out = []
    for summary in respond.list_runs(ctx.store, ref):
        report = respond.show_run(ctx.store, summary.run_id)
        try:
            ops = respond.planned_operations(ctx.store, summary.run_id, ctx.review_adapters(summary.run_id))
        except RempartError as exc:  # an adapters file gone or broken: say so on the step, show the rest
            ops, broken = {}, exc.message
        else:
            broken = ""
        unshown = [f"(non affichable : {broken})"] if broken else []
        steps = [
            StepLine(**vars(st), operations=[operation_text(o) for o in ops.get(st.seq, [])] or unshown)
            for st in report.steps
        ]
        out.append(RunLine(report.run_id, report.playbook, report.status, steps))
    return out


def _clocks(ctx: ConsoleContext, ref: str, at: datetime) -> tuple[list[ClockLine], str]:
    try:
        clocks = notify.compute_clocks(ctx.store, ref, ctx.group, now=at)
    except RempartError as exc:
        return [], exc.message
    return [
        ClockLine(c.establishment, c.obligation.title, c.stage.label, c.recipient, c.status.french, c.due,
                  c.remaining(at))
        for c in clocks
    ], ""


def incident_view(ctx: ConsoleContext, actor: Actor, ref: str) -> IncidentView:
    """Incident ``ref`` as ``actor`` may see it (refused outside their scope)."""
    at = datetime.now(UTC)
    with ctx.store.session() as s:
        inc = get_incident(s, ref)
        check_incident(actor, inc.ref, inc.establishment)
        state, _ = incident_state(s, inc)
        view = IncidentView(
            inc.ref, inc.establishment, inc.severity, inc.status, state, inc.opened_at, inc.first_seen,
            inc.last_seen, list(inc.hosts), list(inc.tactics), list(inc.techniques), inc.exercise,
            [
                {"time": a.time, "title": a.title, "level": a.level, "host": a.host, "rule_id": a.rule_id,
                 "correlation": a.correlation}
                for a in inc.alerts
            ],
        )
        view.log = [
            {"at": e.at, "source": e.source, "kind": e.kind, "author": e.author, "text": e.text}
            for e in incident_log.entries(s, inc.id)
        ]
    view.runs = _runs(ctx, view.ref)
    view.clocks, view.clocks_note = _clocks(ctx, view.ref, at)
    return view
