"""Staged re-opening: one access at a time, each through its gate, each recorded before and after.

``reopen`` records the caller's approval (when they may give one and have not), then, only if the gate
is passable, writes the decision (journal, incident log, a ``reopenings`` row) and rolls back exactly that
access's containment through the respond stage. Anything else is refused with the gate's reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rempart.detect.incidents import get_incident
from rempart.domain.actors import FRESH_SECOND_FACTOR, Actor
from rempart.domain.inventory import Group
from rempart.errors import StateError
from rempart.recover import gates
from rempart.recover.policy import RecoveryPolicy
from rempart.respond import service as respond
from rempart.respond.interface import Adapters
from rempart.store import incident_log, journal
from rempart.store.db import Store
from rempart.store.models.recover import ReopenApprovalRow, ReopeningRow


@dataclass
class ReopenOutcome:
    gate: gates.Gate  # as it was when the decision was taken
    approved_now: bool  # the caller's approval was recorded by this call
    reopened: bool
    stage: int  # 1 for the first access re-opened in this incident, 2 for the next …
    detail: str


def _approved(store: Store, incident_id: int, access_id: str, person: str) -> bool:
    with store.session() as s:
        return (
            s.execute(
                select(ReopenApprovalRow.id).where(
                    ReopenApprovalRow.incident_id == incident_id,
                    ReopenApprovalRow.access_id == access_id,
                    ReopenApprovalRow.approver == person,
                )
            ).first()
            is not None
        )


def reopen(
    store: Store,
    group: Group,
    policy: RecoveryPolicy,
    incident_ref: str,
    access_id: str,
    by: Actor,
    adapters: Adapters,
    now: datetime | None = None,
) -> ReopenOutcome:
    """Approve (as the authenticated ``by``) and, when the gate is passable, re-open one access. See the
    module doc. Re-opening lets the outside in again: it needs a second factor of the last few minutes."""
    when = now or datetime.now(UTC)
    if not by.fresh_second_factor(datetime.now(UTC)):
        raise StateError(
            f"re-opening needs a second factor from the last {FRESH_SECOND_FACTOR.seconds // 60} minutes "
            f"({by.account} via {by.via})",
            hint="rempart reauth",
        )
    if by.person_id is None:
        raise StateError(f"account {by.account} is bound to no person of the plan: it cannot approve")
    actor = by.person_id
    with store.session() as s:
        incident = get_incident(s, incident_ref)
        incident_id = incident.id
        gate = gates.evaluate(s, incident, group, policy, access_id, when)
    approved_now = False
    if gate.approval_missing and not _approved(store, incident_id, access_id, actor):
        with store.session() as s:  # committed on its own: an approval stays given if re-opening waits
            gate = gates.approve(s, get_incident(s, incident_ref), group, policy, access_id, actor, now=when)
        approved_now = True
    if not gate.passable:
        if approved_now:
            return ReopenOutcome(gate, True, False, 0, "approval recorded; " + "; ".join(gate.refusals()))
        raise gates.GateClosed(gate, f"re-opening by {actor}")
    with store.session() as s:
        _settle_interrupted(s, incident_id, access_id)
        pending = s.execute(
            select(ReopeningRow.access_id).where(
                ReopeningRow.incident_id == incident_id, ReopeningRow.status == "decided"
            )
        ).first()
        if pending is not None:
            raise StateError(
                f"the re-opening of access '{pending[0]}' is not finished: one access at a time",
                hint=f"run `rempart reopen {gate.incident_ref} {pending[0]}` again to finish it",
            )
        stage = (
            s.execute(
                select(func.count(ReopeningRow.id)).where(
                    ReopeningRow.incident_id == incident_id, ReopeningRow.status == "reopened"
                )
            ).scalar_one()
            or 0
        ) + 1
        row = ReopeningRow(
            incident_id=incident_id,
            access_id=access_id,
            establishment=gate.establishment,
            actor=actor,
            decided_at=when,
            status="decided",
            gate=gate.to_dict(),
        )
        s.add(row)
        s.flush()
        row_id = row.id
        journal.append(
            s,
            actor,
            "reopen.decided",
            f"{gate.incident_ref}/access/{access_id}",
            {"stage": stage, "gate": gate.to_dict()},
            at=when,
        )
        incident_log.record(
            s,
            incident_id,
            "recover",
            "decision",
            f"Réouverture décidée (étape {stage}) de l'accès {access_id} ({gate.access.kind}) : preuves "
            f"vérifiées, approuvée par {', '.join(gate.approvers)}.",
            author=actor,
            data={"access": access_id, "stage": stage},
            at=when,
        )
    if gate.run_id is None:  # cannot happen for a closed access; keeps the type checker honest
        raise StateError("no plan run holds this access's containment")
    try:
        result = respond.reopen_access(store, gate.run_id, access_id, actor, adapters)
        ok, detail = result.ok, "; ".join(r.message for r in result.steps) or "nothing left in place"
    except StateError as exc:
        ok, detail = False, str(exc)
    status = "reopened" if ok else "failed"
    with store.session() as s:
        done = s.get(ReopeningRow, row_id)
        if done is not None:
            done.status, done.detail = status, detail
        journal.append(
            s,
            actor,
            f"reopen.{status}",
            f"{gate.incident_ref}/access/{access_id}",
            {"stage": stage, "detail": detail},
        )
        text = (
            f"Accès {access_id} rouvert (étape {stage}) : {detail}"
            if ok
            else f"ÉCHEC de la réouverture de l'accès {access_id} : {detail}"
        )
        incident_log.record(
            s,
            incident_id,
            "recover",
            "action",
            text,
            author=actor,
            data={"access": access_id, "stage": stage, "status": status},
        )
    return ReopenOutcome(gate, approved_now, ok, stage, detail)


def _settle_interrupted(s: Session, incident_id: int, access_id: str) -> None:
    """A re-opening cut short (crash between decision and result): finished if its access is open now,
    taken over if it is the access asked for again; respond's rollback is idempotent either way."""
    run = gates.latest_run(s, incident_id)
    stale = s.execute(
        select(ReopeningRow).where(ReopeningRow.incident_id == incident_id, ReopeningRow.status == "decided")
    ).scalars()
    for row in stale:
        if gates.access_state(run, row.access_id) == gates.REOPENED:
            row.status, row.detail = (
                "reopened",
                "completed before an interruption (state read back from the run)",
            )
        elif row.access_id == access_id:
            row.status, row.detail = "interrupted", "taken over by a new attempt"


def reopenings(store: Store, incident_id: int) -> list[ReopeningRow]:
    with store.session() as s:
        return list(
            s.execute(
                select(ReopeningRow).where(ReopeningRow.incident_id == incident_id).order_by(ReopeningRow.id)
            ).scalars()
        )
