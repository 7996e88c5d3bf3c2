"""Group alerts into incidents: per establishment, within a sliding time window.

An alert joins the open incident of its establishment when it comes no later than ``window`` after that
incident's last alert; otherwise it opens a new incident. Incidents already in the case store are
extended the same way, and an alert stored before (same rule, host, time and events) is not added twice,
so hunting the same logs again changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rempart.domain.alerts import TACTICS, Alert, Level
from rempart.domain.incidents import Incident
from rempart.errors import InputError
from rempart.store import incident_log
from rempart.store.db import Store
from rempart.store.models.core import AlertRow, IncidentRow

DEFAULT_WINDOW = timedelta(hours=24)
# below this level an alert is context for a hunter, not a reason to wake the security team
DEFAULT_INCIDENT_LEVEL = Level.MEDIUM


def group_alerts(alerts: Iterable[Alert], window: timedelta = DEFAULT_WINDOW) -> list[Incident]:
    """Pure grouping, without the store: one list of incidents, ordered by first alert."""
    by_est: dict[str | None, list[Alert]] = defaultdict(list)
    for alert in alerts:
        by_est[alert.establishment].append(alert)
    incidents: list[Incident] = []
    for est, items in by_est.items():
        current: Incident | None = None
        for alert in sorted(items, key=lambda a: a.time):
            if current is None or alert.time > current.last_seen + window:
                current = Incident(establishment=est, first_seen=alert.time, last_seen=alert.time)
                incidents.append(current)
            current.alerts.append(alert)
            current.last_seen = max(current.last_seen, alert.time)
    return sorted(incidents, key=lambda i: i.first_seen)


def _alert_key(
    rule_id: str, host: str | None, time: datetime, events: list[str]
) -> tuple[str, str, str, str]:
    return (rule_id, host or "", time.astimezone(UTC).isoformat(), ",".join(sorted(events)))


def _to_row(alert: Alert) -> AlertRow:
    return AlertRow(
        rule_id=alert.rule_id,
        title=alert.title,
        level=str(alert.level),
        time=alert.time,
        host=alert.host,
        establishment=alert.establishment,
        asset=alert.asset,
        tactics=list(alert.tactics),
        techniques=list(alert.techniques),
        events=[str(e) for e in alert.events],
        correlation=alert.correlation,
        details=dict(alert.details),
    )


def _next_ref(session: Session) -> str:
    count = session.execute(select(func.count(IncidentRow.id))).scalar_one()
    return f"INC-{count + 1:04d}"


def _refresh(row: IncidentRow) -> None:
    levels = [Level.parse(a.level) for a in row.alerts]
    row.severity = str(max(levels, default=Level.INFORMATIONAL))
    row.first_seen = min(a.time for a in row.alerts)
    row.last_seen = max(a.time for a in row.alerts)
    seen = {t for a in row.alerts for t in a.tactics}
    row.tactics = [t for t in TACTICS if t in seen]
    row.techniques = sorted({t for a in row.alerts for t in a.techniques})
    row.hosts = sorted({a.host for a in row.alerts if a.host})


def open_incidents(
    store: Store,
    alerts: list[Alert],
    window: timedelta = DEFAULT_WINDOW,
    now: datetime | None = None,
    exercise: bool = False,
    min_level: Level = DEFAULT_INCIDENT_LEVEL,
) -> list[IncidentRow]:
    """Store alerts of ``min_level`` and above grouped into incidents; return those created or extended."""
    alerts = [a for a in alerts if a.level >= min_level]
    touched: dict[int, IncidentRow] = {}
    opened_at = now or datetime.now(UTC)
    with store.session() as session:
        for incident in group_alerts(alerts, window):
            row = _matching_open_incident(session, incident, window)
            created = row is None
            if row is None:
                row = IncidentRow(
                    ref=_next_ref(session),
                    establishment=incident.establishment,
                    status="open",
                    severity=str(incident.severity),
                    first_seen=incident.first_seen,
                    last_seen=incident.last_seen,
                    opened_at=opened_at,
                    exercise=exercise,
                )
                session.add(row)
                session.flush()
            known = {_alert_key(a.rule_id, a.host, a.time, a.events) for a in row.alerts}
            added = 0
            for alert in incident.alerts:
                new = _to_row(alert)
                key = _alert_key(new.rule_id, new.host, new.time, new.events)
                if key in known:
                    continue
                known.add(key)
                row.alerts.append(new)
                added += 1
            if not added:
                continue
            _refresh(row)
            touched[row.id] = row
            verb = "ouvert" if created else "complété"
            incident_log.record(
                session,
                row.id,
                "detect",
                "detection",
                f"Incident {verb} : {added} alerte(s), sévérité {row.severity}, "
                f"tactiques {', '.join(row.tactics) or 'aucune'}, hôtes {', '.join(row.hosts) or '—'}",
                data={"alerts_added": added, "rules": sorted({a.rule_id for a in incident.alerts})},
                at=opened_at,
            )
    return list(touched.values())


def _matching_open_incident(session: Session, incident: Incident, window: timedelta) -> IncidentRow | None:
    query = select(IncidentRow).where(IncidentRow.status == "open")
    if incident.establishment is None:
        query = query.where(IncidentRow.establishment.is_(None))
    else:
        query = query.where(IncidentRow.establishment == incident.establishment)
    for row in session.execute(query.order_by(IncidentRow.last_seen.desc())).scalars():
        if row.first_seen - window <= incident.last_seen and incident.first_seen <= row.last_seen + window:
            return row
    return None


def get_incident(session: Session, ref: str | int) -> IncidentRow:
    """The incident a user names (INC-0001, or its number); a clear error when there is none."""
    key = str(ref).strip().upper()
    if key.isdigit():
        key = f"INC-{int(key):04d}"
    row = session.execute(select(IncidentRow).where(IncidentRow.ref == key)).scalar_one_or_none()
    if row is None:
        raise InputError(
            f"no incident '{key}' in the case store",
            hint="list incidents with `rempart incidents` (e.g. INC-0001)",
        )
    return row
