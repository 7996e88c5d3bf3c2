"""Closing an incident: every closing task done, then the incident is marked closed.

Tasks: the notifications side (CSP notice of resolution, NIS2 final report … as the notify stage's
clocks say), paper records reconciled in the continuity register, and every contained access re-opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from rempart.continuity.reconcile import is_complete
from rempart.detect.incidents import get_incident
from rempart.domain.inventory import Group
from rempart.errors import StateError
from rempart.notify import service as notify
from rempart.notify.obligations import ClockStatus
from rempart.recover import gates
from rempart.recover.policy import RecoveryPolicy
from rempart.store import incident_log, journal
from rempart.store.db import Store


@dataclass(frozen=True)
class ClosingTask:
    name: str
    label: str  # French, for the report
    done: bool
    detail: str
    todo: str = ""


def closing_status(
    store: Store, group: Group, policy: RecoveryPolicy, incident_ref: str, now: datetime | None = None
) -> list[ClosingTask]:
    when = now or datetime.now(UTC)
    with store.session() as s:
        inc = get_incident(s, incident_ref)
        incident_id, ref, est = inc.id, inc.ref, inc.establishment
        gate_list = gates.evaluate_all(s, inc, group, policy, when)
        reconciled = is_complete(s, est) if est else True
    tasks: list[ClosingTask] = []
    for clock in notify.closing_tasks_status(store, incident_id, group, now=when):
        done = clock.status in (ClockStatus.DONE, ClockStatus.NOT_NEEDED)
        tasks.append(
            ClosingTask(
                f"notify:{clock.obligation.id}:{clock.stage.id}",
                f"{clock.obligation.title} — {clock.stage.label}",
                done,
                f"{clock.status.french}" + (f" le {clock.done_at:%d/%m/%Y %H:%M}" if clock.done_at else ""),
                "" if done else f"send or file it: `rempart notify` for {ref}",
            )
        )
    tasks.append(
        ClosingTask(
            "reconciliation",
            "Rapprochement des formulaires papier terminé",
            reconciled,
            "complete"
            if reconciled
            else "paper forms not all entered or voided, or provisional identities unmerged",
            "" if reconciled else f"`rempart reconcile {est}`",
        )
    )
    still = [g.access.id for g in gate_list if g.state == gates.CLOSED]
    tasks.append(
        ClosingTask(
            "reopening",
            "Accès externes rouverts",
            not still,
            "every contained access re-opened" if not still else f"still closed: {', '.join(still)}",
            "" if not still else f"`rempart gates {ref}` then `rempart reopen {ref} ACCESS`",
        )
    )
    return tasks


def close(
    store: Store,
    group: Group,
    policy: RecoveryPolicy,
    incident_ref: str,
    actor: str,
    now: datetime | None = None,
) -> list[ClosingTask]:
    """Mark the incident closed; refused, with every open task and what to do, while one is open."""
    when = now or datetime.now(UTC)
    tasks = closing_status(store, group, policy, incident_ref, when)
    open_tasks = [t for t in tasks if not t.done]
    if open_tasks:
        raise StateError(
            f"{incident_ref} cannot be closed yet:\n  - "
            + "\n  - ".join(f"{t.label}: {t.detail} — {t.todo}" for t in open_tasks)
        )
    with store.session() as s:
        inc = get_incident(s, incident_ref)
        inc.status = "closed"
        journal.append(s, actor, "incident.closed", inc.ref, {"tasks": [t.name for t in tasks]}, at=when)
        incident_log.record(
            s,
            inc.id,
            "recover",
            "decision",
            f"Incident {inc.ref} clos : toutes les tâches de clôture sont faites.",
            author=actor,
            at=when,
        )
    return tasks
