"""Find the incident a command names (``INC-0001`` or its number)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.errors import InputError
from rempart.store.models.core import IncidentRow


def get_incident(session: Session, ref: str | int) -> IncidentRow:
    text = str(ref).strip()
    query = select(IncidentRow).where(IncidentRow.ref == text.upper())
    row = session.execute(query).scalar_one_or_none()
    if row is None and text.isdigit():
        row = session.get(IncidentRow, int(text))
    if row is None:
        raise InputError(
            f"no incident '{text}'", hint="give the reference shown by `rempart incidents` (e.g. INC-0001)"
        )
    return row
