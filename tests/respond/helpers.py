"""Incidents in a case store, as the detect stage would have written them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rempart.store.db import Store
from rempart.store.models.core import AlertRow, IncidentRow


def make_incident(
    store: Store,
    establishment: str = "capitouls",
    severity: str = "critical",
    tactics: tuple[str, ...] = ("credential-access", "impact"),
    hosts: tuple[str, ...] = ("tls-cap-ws002",),
    ref: str = "INC-0001",
) -> int:
    now = datetime.now(UTC)
    with store.session() as s:
        inc = IncidentRow(
            ref=ref,
            establishment=establishment,
            status="open",
            severity=severity,
            first_seen=now - timedelta(minutes=30),
            last_seen=now,
            opened_at=now,
            tactics=list(tactics),
            techniques=["T1003.001", "T1486"],
            hosts=list(hosts),
        )
        s.add(inc)
        s.flush()
        s.add(
            AlertRow(
                incident_id=inc.id,
                rule_id="rempart-lsass-dump",
                title="LSASS memory dump",
                level=severity,
                time=now,
                host=hosts[0] if hosts else None,
                establishment=establishment,
                tactics=list(tactics),
                techniques=["T1003.001"],
                events=[],
            )
        )
        return inc.id
