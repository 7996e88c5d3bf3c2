"""The main courante: a timestamped log per incident, the single source for drafts and reports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.store.models.core import LogEntryRow


def record(
    session: Session,
    incident_id: int,
    source: str,
    kind: str,
    text: str,
    author: str = "rempart",
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> LogEntryRow:
    row = LogEntryRow(
        incident_id=incident_id,
        at=at or datetime.now(UTC),
        source=source,
        kind=kind,
        author=author,
        text=text,
        data=data or {},
    )
    session.add(row)
    session.flush()
    return row


def entries(session: Session, incident_id: int) -> list[LogEntryRow]:
    return list(
        session.execute(
            select(LogEntryRow)
            .where(LogEntryRow.incident_id == incident_id)
            .order_by(LogEntryRow.at, LogEntryRow.id)
        ).scalars()
    )
