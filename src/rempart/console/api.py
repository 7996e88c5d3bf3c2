"""The JSON API under /api: the same people, scopes and services as the pages, for automation.

A personal API token (``Authorization: Bearer rpt_…``) acts with its account's roles but never with a
second factor: it reads, acknowledges and rejects, and an approval of a destructive step made with it is
refused (the approver must be a person who just typed a code).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field

from rempart.board.states import group_board
from rempart.console.context import ConsoleContext, context_of
from rempart.console.params import Number
from rempart.console.sessions import Caller, Who
from rempart.console.views import incident_view
from rempart.identities.authorize import check_group_wide, check_incident, check_writes, sees_incident
from rempart.respond import service as respond
from rempart.store import journal
from rempart.store.models.core import IncidentRow
from rempart.store.models.respond import PlanRunRow

# declares the bearer scheme in the OpenAPI schema; sessions.caller does the checking (a token or cookie)
bearer = HTTPBearer(auto_error=False, description="a personal API token (`rempart token create`)")
router = APIRouter(prefix="/api", tags=["api"], dependencies=[Depends(bearer)])
AUTH: dict[int | str, dict[str, Any]] = {
    401: {"description": "not authenticated"},
    403: {"description": "refused (scope, role, read-only account, missing CSRF or second factor)"},
}
RUN_AUTH: dict[int | str, dict[str, Any]] = {**AUTH, 404: {"description": "no such plan run or step"}}


class Me(BaseModel):
    account: str
    person: str | None
    name: str
    roles: list[str]
    establishments: list[str]
    incidents: list[str]
    via: str
    second_factor_at: datetime | None


class IncidentSummary(BaseModel):
    ref: str
    establishment: str | None
    severity: str
    status: str
    opened_at: datetime
    exercise: bool


class Decision(BaseModel):
    reason: str = Field(default="", description="why the step is refused (reject)")
    comment: str = Field(default="", description="what was done (acknowledge a manual step)")



@router.get("/me", responses=AUTH)
def me(who: Who) -> Me:
    a = who.actor
    return Me(account=a.account, person=a.person_id, name=a.name, roles=list(a.roles),
              establishments=list(a.establishments), incidents=list(a.incidents), via=a.via,
              second_factor_at=a.second_factor_at)


@router.get("/board", responses=AUTH)
def board(request: Request, who: Who) -> dict[str, Any]:
    ctx = context_of(request)
    b = group_board(ctx.store, ctx.group, who.actor)
    return {
        "group": b.group, "at": b.at,
        "establishments": [
            {"id": e.id, "name": e.name, "pole": p.id, "state": e.state.value,
             "incidents": [i.ref for i in e.incidents], "snapshot_at": e.snapshot_at,
             "snapshot_stale": e.snapshot_stale(b.at), "containment_steps": e.contained_steps}
            for p in b.poles for e in p.establishments
        ],
    }


@router.get("/incidents", responses=AUTH)
def incidents(request: Request, who: Who) -> list[IncidentSummary]:
    with context_of(request).store.session() as s:
        rows = s.query(IncidentRow).order_by(IncidentRow.id).all()
        return [
            IncidentSummary(ref=r.ref, establishment=r.establishment, severity=r.severity, status=r.status,
                            opened_at=r.opened_at, exercise=r.exercise)
            for r in rows if sees_incident(who.actor, r.ref, r.establishment)
        ]


@router.get("/incidents/{ref}", responses={**AUTH, 404: {"description": "no such incident"}})
def incident(request: Request, ref: str, who: Who) -> dict[str, Any]:
    v = incident_view(context_of(request), who.actor, ref)
    return {
        "ref": v.ref, "establishment": v.establishment, "severity": v.severity, "status": v.status,
        "state": v.state.value, "opened_at": v.opened_at, "hosts": v.hosts, "techniques": v.techniques,
        "alerts": v.alerts, "log": v.log,
        "runs": [
            {"run_id": r.run_id, "playbook": r.playbook, "status": r.status,
             "steps": [vars(st) for st in r.steps]}
            for r in v.runs
        ],
        "clocks": [
            {"establishment": c.establishment, "obligation": c.obligation, "stage": c.stage,
             "recipient": c.recipient, "status": c.status, "due": c.due,
             "left_seconds": c.left.total_seconds() if c.left is not None else None}
            for c in v.clocks
        ],
    }


def _writable_run(ctx: ConsoleContext, who: Caller, run_id: int) -> None:
    with ctx.store.session() as s:
        run = s.get(PlanRunRow, run_id)
        if run is None:
            raise LookupError(f"no plan run {run_id}")
        inc = s.get(IncidentRow, run.incident_id)
        if inc is None:
            raise LookupError(f"plan run {run_id} has no incident")
        check_incident(who.actor, inc.ref, inc.establishment)
    check_writes(who.actor)


def _report(report: respond.RunReport) -> dict[str, Any]:
    return {"run_id": report.run_id, "incident": report.incident_ref, "status": report.status,
            "steps": [{"seq": s.seq, "step_id": s.step_id, "status": s.status, "approved_by": s.approved_by,
                       "needs": s.needs} for s in report.steps]}


@router.post("/runs/{run_id}/steps/{step}/approve", responses=RUN_AUTH)
def approve(request: Request, run_id: Number, step: Number, who: Who) -> dict[str, Any]:
    ctx = context_of(request)
    _writable_run(ctx, who, run_id)
    return _report(respond.approve(ctx.store, run_id, step, who.actor, ctx.run_adapters(run_id)))


@router.post("/runs/{run_id}/steps/{step}/reject", responses=RUN_AUTH)
def reject(request: Request, run_id: Number, step: Number, body: Decision, who: Who) -> dict[str, Any]:
    ctx = context_of(request)
    _writable_run(ctx, who, run_id)
    return _report(respond.reject(ctx.store, run_id, step, who.actor, body.reason, ctx.run_adapters(run_id)))


@router.post("/runs/{run_id}/steps/{step}/ack", responses=RUN_AUTH)
def ack(request: Request, run_id: Number, step: Number, body: Decision, who: Who) -> dict[str, Any]:
    ctx = context_of(request)
    _writable_run(ctx, who, run_id)
    return _report(respond.ack(ctx.store, run_id, step, who.actor, body.comment, ctx.run_adapters(run_id)))


@router.get("/journal", responses=AUTH)
def journal_entries(request: Request, who: Who, limit: int = 200) -> dict[str, Any]:
    check_group_wide(who.actor, "the journal")
    with context_of(request).store.session() as s:
        report = journal.check(s)
        rows = journal.entries(s)[-max(1, min(limit, 5000)):][::-1]
        return {
            "intact": not report.problems, "entries": report.entries,
            "problems": [p.reason for p in report.problems],
            "latest": [{"seq": r.seq, "at": r.at, "actor": r.actor, "action": r.action, "subject": r.subject}
                       for r in rows],
        }
