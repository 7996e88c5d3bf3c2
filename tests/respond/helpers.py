"""Incidents in a case store, as the detect stage would have written them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rempart.store.db import Store
from tests.cases import add_incident


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
        inc = add_incident(
            s, establishment=establishment, opened=now, since=timedelta(minutes=30), severity=severity,
            tactics=tactics, techniques=["T1003.001", "T1486"], hosts=hosts, ref=ref,
            alert={"rule_id": "rempart-lsass-dump", "title": "LSASS memory dump", "level": severity,
                   "time": now, "host": hosts[0] if hosts else None, "tactics": list(tactics),
                   "techniques": ["T1003.001"], "events": []},
        )
        return inc.id
