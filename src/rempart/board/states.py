"""Where each establishment stands: normal, alerte, confiné, mode dégradé, réouverture.

An establishment's state is the furthest stage any of its unclosed incidents has reached, as recorded by
the stages themselves: an incident opened (alerte), a containment step in place at its firewall or on its
servers (confiné), downtime kits printed since the incident opened (mode dégradé), an access re-opened
or the incident recovering (réouverture). A closed incident no longer counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.domain.actors import Actor
from rempart.domain.incidents import IncidentStatus
from rempart.domain.inventory import Group
from rempart.identities.authorize import sees_incident
from rempart.respond.plan import ActionKind
from rempart.respond.states import MAY_BE_IN_PLACE
from rempart.store.db import Store
from rempart.store.models.continuity import KitRow, SnapshotRow
from rempart.store.models.core import IncidentRow
from rempart.store.models.recover import ReopeningRow
from rempart.store.models.respond import PlanRunRow

# R20 of the continuity notes: a snapshot not refreshed within 2 hours is raised to IT
SNAPSHOT_STALE = timedelta(hours=2)

# actions that cut the establishment off (a notification call or a manual note does not)
CONTAINING = {
    ActionKind.CLOSE_ACCESS, ActionKind.BLOCK_MAIL, ActionKind.ISOLATE_HOST, ActionKind.STOP_SERVICE,
    ActionKind.SHUTDOWN, ActionKind.HOLD_QUEUE,
}


class State(StrEnum):
    NORMAL = "normal"
    ALERTE = "alerte"
    CONFINE = "confiné"
    DEGRADE = "mode dégradé"
    REOUVERTURE = "réouverture"


ORDER = list(State)


@dataclass(frozen=True)
class IncidentLine:
    ref: str
    severity: str
    status: str
    opened_at: datetime
    exercise: bool
    state: State


@dataclass
class EstablishmentLine:
    id: str
    name: str
    city: str
    state: State = State.NORMAL
    incidents: list[IncidentLine] = field(default_factory=list)
    snapshot_at: datetime | None = None
    contained_steps: int = 0

    def snapshot_stale(self, at: datetime) -> bool:
        return self.snapshot_at is None or at - self.snapshot_at > SNAPSHOT_STALE


@dataclass
class PoleLine:
    id: str
    name: str
    establishments: list[EstablishmentLine]


@dataclass
class Board:
    group: str
    at: datetime
    poles: list[PoleLine]

    def establishment(self, est_id: str) -> EstablishmentLine | None:
        return next((e for p in self.poles for e in p.establishments if e.id == est_id), None)

    def counts(self) -> dict[State, int]:
        out = dict.fromkeys(State, 0)
        for p in self.poles:
            for e in p.establishments:
                out[e.state] += 1
        return out


def _containing_steps(run: PlanRunRow) -> int:
    return sum(
        1 for st in run.steps
        if st.status in MAY_BE_IN_PLACE and st.action in CONTAINING
        and len(st.rolled_back_targets) < max(len(st.actions), 1)
    )


def incident_state(s: Session, inc: IncidentRow) -> tuple[State, int]:
    """The furthest stage ``inc`` reached, and how many containment steps are in place."""
    if inc.status == IncidentStatus.CLOSED:
        return State.NORMAL, 0
    runs = s.scalars(select(PlanRunRow).where(PlanRunRow.incident_id == inc.id)).all()
    contained = sum(_containing_steps(r) for r in runs)
    reopened = s.scalars(
        select(ReopeningRow.id).where(ReopeningRow.incident_id == inc.id, ReopeningRow.status == "reopened")
    ).first()
    if reopened is not None or inc.status == IncidentStatus.RECOVERING:
        return State.REOUVERTURE, contained
    kits = select(KitRow.id).where(KitRow.establishment == inc.establishment)
    kit = s.scalars(kits.where((KitRow.incident_ref == inc.ref) | (KitRow.built_at >= inc.opened_at))).first()
    if kit is not None:
        return State.DEGRADE, contained
    if contained or inc.status == IncidentStatus.CONTAINED:
        return State.CONFINE, contained
    return State.ALERTE, contained


def group_board(store: Store, group: Group, actor: Actor, at: datetime | None = None) -> Board:
    """Every establishment ``actor`` may see, with its state, unclosed incidents and snapshot age."""
    at = at or datetime.now(UTC)
    with store.session() as s:
        open_incidents = s.scalars(
            select(IncidentRow).where(IncidentRow.status != IncidentStatus.CLOSED).order_by(IncidentRow.id)
        ).all()
        by_est: dict[str, list[IncidentLine]] = {}
        contained: dict[str, int] = {}
        for inc in open_incidents:
            if inc.establishment is None or not sees_incident(actor, inc.ref, inc.establishment):
                continue
            state, steps = incident_state(s, inc)
            by_est.setdefault(inc.establishment, []).append(
                IncidentLine(inc.ref, inc.severity, inc.status, inc.opened_at, inc.exercise, state)
            )
            contained[inc.establishment] = contained.get(inc.establishment, 0) + steps
        latest = select(SnapshotRow.establishment, SnapshotRow.taken_at).order_by(SnapshotRow.taken_at)
        snaps: dict[str, datetime] = {est: taken for est, taken in s.execute(latest)}
    poles = []
    for pole in group.poles:
        lines = []
        for est in pole.establishments:
            if not actor.covers(est.id) or (actor.incidents and est.id not in by_est):
                continue
            incidents = by_est.get(est.id, [])
            state = max((i.state for i in incidents), key=ORDER.index, default=State.NORMAL)
            lines.append(EstablishmentLine(est.id, est.name, est.city, state, incidents, snaps.get(est.id),
                                           contained.get(est.id, 0)))
        if lines:
            poles.append(PoleLine(pole.id, pole.name, lines))
    return Board(group.name, at, poles)


def open_incident_of(store: Store, establishment: str) -> str | None:
    """The establishment's most recent unclosed incident (what a kit printed now belongs to), if any."""
    with store.session() as s:
        latest = select(IncidentRow.ref).where(
            IncidentRow.establishment == establishment, IncidentRow.status != IncidentStatus.CLOSED
        )
        return s.scalars(latest.order_by(IncidentRow.id.desc())).first()
