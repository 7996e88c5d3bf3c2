"""Findings: versioned conclusions of the investigation (data theft, propagation).

A finding is never edited. A new assessment of the same kind for the same incident is a new row with
``version + 1`` whose ``supersedes_id`` points at the one it replaces; the current finding of a kind is
the one nothing supersedes. ``notify`` reads this: a finding recorded after a notification was sent
calls for a complementary notification.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.store import incident_log, journal
from rempart.store.models.core import FindingRow, IncidentRow


class FindingKind(StrEnum):
    DATA_THEFT = "data_theft"
    PROPAGATION = "propagation"


LABELS_FR = {FindingKind.DATA_THEFT: "vol de données", FindingKind.PROPAGATION: "propagation"}


def history(session: Session, incident_id: int, kind: FindingKind | str) -> list[FindingRow]:
    """Every version of one kind of finding, oldest first."""
    return list(
        session.execute(
            select(FindingRow)
            .where(FindingRow.incident_id == incident_id, FindingRow.kind == str(kind))
            .order_by(FindingRow.version, FindingRow.id)
        ).scalars()
    )


def current(session: Session, incident_id: int, kind: FindingKind | str) -> FindingRow | None:
    """The latest version of one kind of finding (the one no other supersedes), or None."""
    rows = history(session, incident_id, kind)
    superseded = {r.supersedes_id for r in rows if r.supersedes_id is not None}
    live = [r for r in rows if r.id not in superseded]
    return live[-1] if live else None


def all_current(session: Session, incident_id: int) -> list[FindingRow]:
    found = (current(session, incident_id, kind) for kind in FindingKind)
    return [f for f in found if f is not None]


def record_finding(
    session: Session,
    incident: IncidentRow,
    kind: FindingKind,
    positive: bool,
    summary: str,
    data: dict[str, Any],
    author: str,
    at: datetime | None = None,
) -> FindingRow:
    """Record a finding; it supersedes the current one of the same kind, which it names."""
    when = (at or datetime.now(UTC)).astimezone(UTC)
    previous = current(session, incident.id, kind)
    body = dict(data)
    if previous is not None:
        # what notify needs to decide whether the change calls for a complementary notification
        body["previous"] = {"id": previous.id, "version": previous.version, "positive": previous.positive}
        body["conclusion_changed"] = previous.positive != positive
    row = FindingRow(
        incident_id=incident.id,
        kind=str(kind),
        version=(previous.version + 1) if previous else 1,
        supersedes_id=previous.id if previous else None,
        positive=positive,
        summary=summary,
        data=body,
        author=author,
        created_at=when,
    )
    session.add(row)
    session.flush()
    label = LABELS_FR[kind]
    verdict = "POSITIF" if positive else "négatif"
    text = f"Constat « {label} » v{row.version} ({verdict}) : {summary}"
    if previous is not None:
        text += f" (remplace la version {previous.version})"
    incident_log.record(
        session,
        incident.id,
        "investigate",
        "finding",
        text,
        author=author,
        data={"finding_id": row.id, "kind": str(kind), "version": row.version, "positive": positive},
        at=when,
    )
    journal.append(
        session,
        author,
        "finding.recorded",
        f"{incident.ref}/finding/{row.id}",
        {"kind": str(kind), "version": row.version, "positive": positive, "supersedes": row.supersedes_id},
        at=when,
    )
    return row
