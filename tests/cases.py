"""Incidents as the detect stage would have written them, built directly in a real case store, for the
tests of the stages after detect."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from rempart.store.models.core import AlertRow, IncidentRow


def add_incident(
    session: Session,
    *,
    establishment: str,
    opened: datetime,
    since: timedelta,
    tactics: Sequence[str],
    techniques: Sequence[str],
    hosts: Sequence[str],
    alert: dict[str, Any],
    ref: str = "INC-0001",
    status: str = "open",
    severity: str = "critical",
    exercise: bool = False,
) -> IncidentRow:
    """An incident first seen ``since`` before it was ``opened``, with one alert (``alert``: its columns
    besides the incident and the establishment)."""
    inc = IncidentRow(
        ref=ref,
        establishment=establishment,
        status=status,
        severity=severity,
        first_seen=opened - since,
        last_seen=opened,
        opened_at=opened,
        tactics=list(tactics),
        techniques=list(techniques),
        hosts=list(hosts),
        exercise=exercise,
    )
    session.add(inc)
    session.flush()
    session.add(AlertRow(incident_id=inc.id, establishment=establishment, **{"details": {}, **alert}))
    return inc
