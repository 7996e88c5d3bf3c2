"""The clocks: for each establishment of an incident, every applicable obligation stage and its deadline.

A stage is *done* when a sending with status ``sent`` or ``filed`` exists for it (an e-mail handed to
the relay, or a filing recorded by a person: portal receipt, paper, phone, complaint). Deadlines start
at T0, at another stage's completion, at the resolution, or at a finding newer than what was last sent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.notify.catalogue import Catalogue, Obligation, Stage, Start
from rempart.notify.clocks import add_period
from rempart.notify.facts import IncidentFacts
from rempart.store.models.notify import SendingRow

DONE_STATUSES = ("sent", "filed")


class ClockStatus(StrEnum):
    DONE = "done"
    DUE = "due"
    OVERDUE = "overdue"
    WAITING = "waiting"  # its start has not happened yet (resolution, previous stage)
    NOT_NEEDED = "not_needed"  # complementary stage with nothing new to say

    @property
    def french(self) -> str:
        return {
            "done": "fait",
            "due": "à faire",
            "overdue": "EN RETARD",
            "waiting": "en attente",
            "not_needed": "sans objet",
        }[self.value]


@dataclass(frozen=True)
class Clock:
    establishment: str
    obligation: Obligation
    stage: Stage
    start: datetime | None
    due: datetime | None  # provisional when the start is not known yet (from the previous stage's due)
    status: ClockStatus
    done_at: datetime | None = None
    done_late: bool = False
    note: str = ""
    recipient: str = ""

    def remaining(self, now: datetime) -> timedelta | None:
        if self.due is None or self.status in (ClockStatus.DONE, ClockStatus.NOT_NEEDED):
            return None
        return self.due - now


def sendings_for(session: Session, incident_id: int) -> list[SendingRow]:
    return list(
        session.execute(
            select(SendingRow)
            .where(SendingRow.incident_id == incident_id)
            .order_by(SendingRow.attempted_at, SendingRow.id)
        ).scalars()
    )


def _done(sendings: list[SendingRow], est: str, ob: str, stage: str) -> SendingRow | None:
    return next(
        (
            s
            for s in sendings
            if s.establishment == est
            and s.obligation == ob
            and s.stage == stage
            and s.status in DONE_STATUSES
        ),
        None,
    )


def applies(ob: Obligation, facts: IncidentFacts) -> bool:
    trig = ob.trigger
    return (
        ob.enabled
        and all(facts.holds(c) for c in trig.all)
        and (not trig.any or any(facts.holds(c) for c in trig.any))
    )


def stage_clocks(
    ob: Obligation, facts: IncidentFacts, sendings: list[SendingRow], now: datetime, catalogue: Catalogue
) -> list[Clock]:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(catalogue.timezone)
    est = facts.establishment.id
    out: dict[str, Clock] = {}
    for st in ob.stages:
        done = _done(sendings, est, ob.id, st.id)
        start: datetime | None
        note = ""
        provisional: datetime | None = None
        if st.start == Start.T0:
            start = facts.t0
        elif st.start == Start.STAGE:
            prev = out.get(st.after or "")
            start = prev.done_at if prev else None
            if start is None and prev is not None and prev.due is not None:
                provisional = add_period(prev.due, st.allowance, tz)
                note = f"après « {ob.stage(st.after or '').label} »"
        elif st.start == Start.RESOLUTION:
            start = facts.resolved_at
            note = "" if start else "à la clôture de l'incident"
        else:
            start, note = _new_finding_start(ob, st, facts, sendings)
            if start is not None:
                done = None  # an earlier complementary sending did not cover this newer finding
            elif done is None:
                out[st.id] = Clock(est, ob, st, None, None, ClockStatus.NOT_NEEDED, note=note)
                continue
        due = add_period(start, st.allowance, tz) if start else provisional
        if done is not None and done.done_at is not None:
            late = due is not None and done.done_at > due
            out[st.id] = Clock(est, ob, st, start, due, ClockStatus.DONE, done.done_at, late, note)
        elif start is None:
            out[st.id] = Clock(est, ob, st, None, due, ClockStatus.WAITING, note=note)
        else:
            status = ClockStatus.OVERDUE if due is not None and now > due else ClockStatus.DUE
            out[st.id] = Clock(est, ob, st, start, due, status, note=note)
    recipient = (
        ob.recipient.name.replace("{region}", facts.establishment.region).split(" — ")[0].split(" (")[0]
    )
    return [replace(c, recipient=recipient) for c in out.values()]


def _new_finding_start(
    ob: Obligation, st: Stage, facts: IncidentFacts, sendings: list[SendingRow]
) -> tuple[datetime | None, str]:
    """A complementary notification is needed when a finding is newer than the last one sent."""
    est = facts.establishment.id
    sent = [
        s
        for s in sendings
        if s.establishment == est and s.obligation == ob.id and s.status in DONE_STATUSES and s.stage != st.id
    ]
    if not sent:
        return None, "après la notification initiale, si l'investigation apporte du nouveau"
    told: set[int] = set()
    for s in sendings:
        if s.establishment == est and s.obligation == ob.id and s.status in DONE_STATUSES:
            told.update(s.findings)
    new = [f for f in facts.findings if f.id not in told]
    if not new:
        return None, "aucune nouvelle conclusion depuis le dernier envoi"
    latest = max(f.created_at for f in new)
    kinds = ", ".join(sorted({f"{f.kind} v{f.version}" for f in new}))
    return latest, f"nouvelle conclusion : {kinds}"


def clocks_for(
    facts: IncidentFacts, catalogue: Catalogue, sendings: list[SendingRow], now: datetime
) -> list[Clock]:
    out: list[Clock] = []
    for ob in catalogue.obligations:
        if applies(ob, facts):
            out += stage_clocks(ob, facts, sendings, now, catalogue)
    return out
