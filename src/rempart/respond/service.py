"""The respond stage's public API: start or resume a plan run, approve, reject, acknowledge, roll back,
re-open one access, show a run, dry-run a plan. The CLI, the demo and the recover stage call these.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.domain.actors import FRESH_SECOND_FACTOR, Actor
from rempart.domain.inventory import Group
from rempart.errors import StateError
from rempart.respond import approvals
from rempart.respond.dryrun import DryRun, dry_run
from rempart.respond.engine import Engine, Sleep, actions_of, adapter_for, now, step_label, subject
from rempart.respond.interface import Adapters, Operation
from rempart.respond.plan import Approval, LoadedPlan
from rempart.respond.selection import IncidentFacts, choose_playbook, expand, find_incident
from rempart.respond.states import MAY_BE_IN_PLACE, RunStatus, StepStatus
from rempart.respond.undo import RollbackReport, StepResult, find_step, reopen, rollback_run
from rempart.store import incident_log, journal
from rempart.store.db import Store
from rempart.store.models.core import IncidentRow
from rempart.store.models.respond import ApprovalRow, PlanRunRow, PlanStepRow

__all__ = [
    "DryRun",
    "ReopenResult",
    "RollbackReport",
    "RunReport",
    "StepResult",
    "ack",
    "adapters_source",
    "approve",
    "dry_run",
    "find_incident",
    "latest_run",
    "list_runs",
    "planned_operations",
    "reject",
    "reopen_access",
    "respond",
    "rollback",
    "show_run",
]


# -- reports ---------------------------------------------------------------------------------------
@dataclass
class StepView:
    seq: int
    step_id: str
    title: str
    action: str
    adapter: str
    status: str
    targets: list[str]
    approved_by: list[str]
    needs: str
    error: str | None
    comment: str | None
    applies: int
    started_at: datetime | None
    finished_at: datetime | None
    rolled_back: list[str] = field(default_factory=list)
    instructions: list[str] = field(default_factory=list)  # what a person must do (manual steps)


@dataclass
class RunReport:
    run_id: int
    incident_ref: str
    establishment: str
    playbook: str
    status: str
    steps: list[StepView]

    @property
    def applied(self) -> list[StepView]:
        """Steps whose effect is (possibly partly) in place in the outside world."""
        return [s for s in self.steps if StepStatus(s.status) in MAY_BE_IN_PLACE]

    @property
    def not_applied(self) -> list[StepView]:
        return [s for s in self.steps if StepStatus(s.status) not in MAY_BE_IN_PLACE]

    def step(self, ref: str | int) -> StepView:
        return next(s for s in self.steps if str(ref) in (str(s.seq), s.step_id))


def show_run(store: Store, run_id: int) -> RunReport:
    with store.session() as s:
        run = s.get(PlanRunRow, run_id)
        if run is None:
            raise StateError(f"no plan run {run_id}")
        inc = s.get(IncidentRow, run.incident_id)
        views = []
        for st in run.steps:
            decisions = [(d.person, d.decision) for d in st.decisions]
            views.append(
                StepView(
                    st.seq,
                    st.step_id,
                    st.title,
                    st.action,
                    st.adapter,
                    st.status,
                    [a["target"] for a in st.actions],
                    approvals.approvers(decisions),
                    approvals.missing(
                        Approval.model_validate(st.approval), run.people, decisions,
                        approvals.escalated(Approval.model_validate(st.approval), st.started_at, now()),
                    )
                    if st.status in (StepStatus.PLANNED, StepStatus.AWAITING_APPROVAL)
                    else "",
                    st.error,
                    st.comment,
                    st.applies,
                    st.started_at,
                    st.finished_at,
                    list(st.rolled_back_targets),
                    [
                        str(a["params"]["instruction"])
                        for a in st.actions
                        if "instruction" in a.get("params", {})
                    ],
                )
            )
        return RunReport(run.id, inc.ref if inc else "?", run.establishment, run.playbook, run.status, views)


# -- starting and resuming -------------------------------------------------------------------------
def _create_run(
    store: Store,
    incident: str | int,
    loaded: LoadedPlan,
    group: Group,
    actor: str,
    adapters_source: str | None,
) -> int:
    with store.session() as s:
        inc = find_incident(s, incident)
        facts = IncidentFacts.from_row(inc)
        book = choose_playbook(loaded.plan, facts, group)
        t = now()
        run = PlanRunRow(
            incident_id=inc.id,
            establishment=facts.establishment or "",
            playbook=book.id,
            plan_path=loaded.path,
            plan_digest=loaded.digest,
            adapters_source=adapters_source,
            people=[p.model_dump() for p in loaded.plan.people],
            status=RunStatus.PLANNED.value,
            created_by=actor,
            created_at=t,
            updated_at=t,
        )
        s.add(run)
        s.flush()
        specs = expand(book, facts, group, f"r{run.id}")
        for sp in specs:
            s.add(
                PlanStepRow(
                    run_id=run.id,
                    seq=sp.seq,
                    step_id=sp.step_id,
                    title=sp.title,
                    action=sp.action,
                    adapter=sp.adapter,
                    approval=sp.approval,
                    timeout=sp.timeout,
                    attempts=sp.attempts,
                    backoff=sp.backoff,
                    verify=sp.verify,
                    reversible=sp.reversible,
                    blocks=sp.blocks,
                    actions=[a.to_dict() for a in sp.actions],
                    status=StepStatus.PLANNED.value,
                )
            )
        journal.append(
            s,
            actor,
            "run.planned",
            subject(run.id),
            {
                "incident": inc.ref,
                "playbook": book.id,
                "plan": loaded.path,
                "plan_sha256": loaded.digest,
                "steps": [
                    {
                        "seq": sp.seq,
                        "id": sp.step_id,
                        "adapter": sp.adapter,
                        "targets": [a.target for a in sp.actions],
                    }
                    for sp in specs
                ],
            },
        )
        incident_log.record(
            s,
            inc.id,
            "respond",
            "decision",
            f"Plan « {book.title} » déclenché ({len(specs)} étapes), exécution n° {run.id}",
            actor,
            {"run": run.id, "playbook": book.id},
        )
        return run.id


@dataclass
class RunSummary:
    run_id: int
    incident_ref: str
    establishment: str
    playbook: str
    status: str
    created_at: datetime
    created_by: str


def list_runs(store: Store, incident: str | int | None = None) -> list[RunSummary]:
    """Every plan run (of one incident, if given), newest first."""
    with store.session() as s:
        query = select(PlanRunRow, IncidentRow.ref).join(
            IncidentRow, IncidentRow.id == PlanRunRow.incident_id
        )
        if incident is not None:
            query = query.where(PlanRunRow.incident_id == find_incident(s, incident).id)
        rows = s.execute(query.order_by(PlanRunRow.id.desc())).all()
        return [
            RunSummary(r.id, ref, r.establishment, r.playbook, r.status, r.created_at, r.created_by)
            for r, ref in rows
        ]


def latest_run(store: Store, incident: str | int) -> int | None:
    """The incident's most recent plan run, if any."""
    return _open_run(store, incident)


def _open_run(store: Store, incident: str | int) -> int | None:
    with store.session() as s:
        inc = find_incident(s, incident)
        row = s.execute(
            select(PlanRunRow).where(PlanRunRow.incident_id == inc.id).order_by(PlanRunRow.id.desc()).limit(1)
        ).scalar_one_or_none()
        return row.id if row is not None else None


def respond(
    store: Store,
    incident: str | int,
    loaded: LoadedPlan,
    group: Group,
    adapters: Adapters,
    actor: str = "rempart",
    sleep: Sleep = time.sleep,
    adapters_source: str | None = None,
) -> RunReport:
    """Start the plan for an incident, or resume its run where it stopped (after a crash, an approval…).

    ``adapters_source`` names where ``adapters`` came from (the adapters file); it is kept with the run so
    that later commands on the run reach the same systems.
    """
    run_id = _open_run(store, incident)
    if run_id is None or show_run(store, run_id).status == RunStatus.ROLLED_BACK:
        run_id = _create_run(store, incident, loaded, group, actor, adapters_source)
    else:
        with store.session() as s:
            journal.append(s, actor, "run.resumed", subject(run_id), {"plan_sha256": loaded.digest})
    Engine(store, adapters, actor, sleep).advance(run_id)
    return show_run(store, run_id)


def adapters_source(store: Store, run_id: int) -> str | None:
    """The adapters file a run was started with (None: the dummy)."""
    with store.session() as s:
        run = s.get(PlanRunRow, run_id)
        if run is None:
            raise StateError(f"no plan run {run_id}")
        return run.adapters_source


def _step_row(s: Session, run_id: int, step_ref: str | int) -> tuple[PlanRunRow, PlanStepRow]:
    run = s.get(PlanRunRow, run_id)
    if run is None:
        raise StateError(f"no plan run {run_id}")
    return run, find_step(run.steps, str(step_ref))


def planned_operations(store: Store, run_id: int, adapters: Adapters) -> dict[int, list[Operation]]:
    """For each step of a run, exactly what it does (or did) when applied: the commands, calls or
    instructions an approver signs off. ``adapters``: review adapters (nothing is run)."""
    with store.session() as s:
        run = s.get(PlanRunRow, run_id)
        if run is None:
            raise StateError(f"no plan run {run_id}")
        out: dict[int, list[Operation]] = {}
        for st in run.steps:
            acts = actions_of(st)
            out[st.seq] = adapter_for(adapters, st).plan("apply", acts) if acts else []
        return out


def _person_of(actor: Actor) -> str:
    """The plan's person an authenticated account acts as: approvals count people, not accounts."""
    if actor.person_id is None:
        raise StateError(f"account {actor.account} is bound to no person of the plan: it cannot decide")
    return actor.person_id


def approve(
    store: Store,
    run_id: int,
    step_ref: str | int,
    actor: Actor,
    adapters: Adapters,
    sleep: Sleep = time.sleep,
) -> RunReport:
    """Record ``actor``'s approval (refused with a clear reason if not allowed), then advance the run.

    An approval changes the outside world (closes accesses, stops servers): it needs a second factor
    verified within the last few minutes, and counts the account's person, so one person approves once."""
    try:
        if not actor.fresh_second_factor(now()):
            raise StateError(
                f"approving needs a second factor from the last {FRESH_SECOND_FACTOR.seconds // 60} minutes "
                f"({actor.account} via {actor.via})",
                hint="rempart reauth",
            )
        _record_approval(store, run_id, step_ref, _person_of(actor), actor.account)
    except StateError as exc:
        with store.session() as s:  # a refused attempt is part of the record too
            journal.append(
                s, actor.account, "approval.refused", subject(run_id),
                {"step": str(step_ref), "why": exc.message},
            )
        raise
    Engine(store, adapters, actor.who, sleep).advance(run_id)
    return show_run(store, run_id)


def _step_event(
    s: Session, run: PlanRunRow, step: PlanStepRow, person: str, action: str, payload: dict[str, Any],
    kind: str, text: str,
) -> None:
    """A person's decision on a step: in the journal (``action``) and, in French, in the main courante."""
    journal.append(s, person, action, subject(run.id, step.seq), payload)
    incident_log.record(
        s, run.incident_id, "respond", kind, f"Étape {step.seq} « {step.title} » {text}", person,
        {"run": run.id, "step": step.seq},
    )


def _record_approval(store: Store, run_id: int, step_ref: str | int, person: str, account: str) -> None:
    with store.session() as s:
        run, step = _step_row(s, run_id, step_ref)
        if step.status not in (StepStatus.PLANNED, StepStatus.AWAITING_APPROVAL):
            raise StateError(f"{step_label(step)} is {step.status}: it no longer takes approvals")
        policy = Approval.model_validate(step.approval)
        decisions = [(d.person, d.decision) for d in step.decisions]
        at = now()
        who = approvals.check_approver(
            policy, run.people, decisions, person, run.establishment, step_label(step), step.started_at, at
        )
        s.add(ApprovalRow(step_id=step.id, person=person, roles=who.roles, decision="approve", at=at))
        standin = not set(who.roles) & set(policy.roles)
        by = f"{who.name} (suppléance après {policy.escalate_after} min d'attente)" if standin else who.name
        _step_event(s, run, step, person, "approval.given",
                    {"roles": who.roles, "escalation": standin, "account": account},
                    "decision", f"approuvée par {by}")


def reject(
    store: Store,
    run_id: int,
    step_ref: str | int,
    actor: Actor,
    reason: str,
    adapters: Adapters,
    sleep: Sleep = time.sleep,
) -> RunReport:
    """A person with an approving role refuses the step: it will not run; later steps go on."""
    person = _person_of(actor)
    if not reason.strip():
        raise StateError("a rejection needs a reason (--reason)")
    with store.session() as s:
        run, step = _step_row(s, run_id, step_ref)
        if step.status not in (StepStatus.PLANNED, StepStatus.AWAITING_APPROVAL):
            raise StateError(f"{step_label(step)} is {step.status}: it can no longer be rejected")
        policy = Approval.model_validate(step.approval)
        who = approvals.check_approver(
            policy, run.people, [], person, run.establishment, step_label(step), step.started_at, now()
        )
        earlier = next((d for d in step.decisions if d.person == person), None)
        if earlier is not None:  # approved, then changed their mind: the refusal replaces the approval
            earlier.decision, earlier.reason, earlier.at = "reject", reason, now()
        else:
            s.add(
                ApprovalRow(
                    step_id=step.id,
                    person=person,
                    roles=who.roles,
                    decision="reject",
                    reason=reason,
                    at=now(),
                )
            )
        step.status = StepStatus.REJECTED.value
        _step_event(s, run, step, person, "approval.rejected", {"reason": reason},
                    "decision", f"refusée par {who.name} : {reason}")
    Engine(store, adapters, person, sleep).advance(run_id)
    return show_run(store, run_id)


def ack(
    store: Store,
    run_id: int,
    step_ref: str | int,
    actor: Actor,
    comment: str,
    adapters: Adapters,
    sleep: Sleep = time.sleep,
) -> RunReport:
    """A person says a manual step is done; the comment is journaled and the run goes on."""
    person = actor.who
    if not actor.carries_out_plans:
        raise StateError(
            f"{actor.account} ({', '.join(actor.roles)}) observes the plan: it does not carry out its steps",
            hint="the establishment's IT, its director or the RSSI acknowledge manual steps",
        )
    if not comment.strip():
        raise StateError("an acknowledgement needs a comment saying what was done (--comment)")
    with store.session() as s:
        run, step = _step_row(s, run_id, step_ref)
        if not actor.covers(run.establishment):
            raise StateError(
                f"{actor.account} acts only for {', '.join(actor.establishments)}, "
                f"not for establishment {run.establishment}"
            )
        if step.status != StepStatus.AWAITING_ACK:
            raise StateError(f"{step_label(step)} is {step.status}, not waiting for an acknowledgement")
        step.status = StepStatus.VERIFIED.value
        step.comment = comment
        step.applies += 1
        step.finished_at = now()
        _step_event(s, run, step, person, "manual.acknowledged", {"comment": comment},
                    "action", f"réalisée par {person} : {comment}")
    Engine(store, adapters, person, sleep).advance(run_id)
    return show_run(store, run_id)


def rollback(
    store: Store,
    run_id: int,
    step: str | int | None = None,
    actor: str = "rempart",
    adapters: Adapters | None = None,
    sleep: Sleep = time.sleep,
) -> RollbackReport:
    """Undo a whole run (reverse order) or one step; manual and irreversible steps are listed for people."""
    if adapters is None:
        raise StateError("rollback needs the adapters that applied the run")
    with store.session() as s:
        journal.append(s, actor, "rollback.requested", subject(run_id), {"step": step})
    return rollback_run(Engine(store, adapters, actor, sleep), run_id, None if step is None else str(step))


@dataclass
class ReopenResult:
    run_id: int
    access_id: str
    steps: list[StepResult]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.steps)

    @property
    def status(self) -> str:
        return "reopened" if self.ok else "failed"

    @property
    def message(self) -> str:
        return "; ".join(r.message for r in self.steps) or f"{self.access_id} was already open"


def reopen_access(
    store: Store, run_id: int, access_id: str, actor: str, adapters: Adapters, sleep: Sleep = time.sleep
) -> ReopenResult:
    """Roll back exactly the containment of one external access of the run's establishment."""
    with store.session() as s:
        journal.append(s, actor, "reopen.requested", subject(run_id), {"access": access_id})
    results = reopen(Engine(store, adapters, actor, sleep), run_id, access_id)
    return ReopenResult(run_id, access_id, results)
