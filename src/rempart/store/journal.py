"""The audit journal: append-only, each entry chained to the previous one by SHA-256.

Every action that changes the outside world is journaled before and after it runs. ``verify`` walks
the chain and names the first entry that was altered, removed or inserted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.store.models.core import JournalRow

GENESIS = "0" * 64


def _canonical(payload: dict[str, Any]) -> str:
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def _digest(seq: int, at: datetime, actor: str, action: str, subject: str, payload: str, prev: str) -> str:
    material = "\x1f".join([str(seq), at.astimezone(UTC).isoformat(), actor, action, subject, payload, prev])
    return hashlib.sha256(material.encode()).hexdigest()


def append(
    session: Session,
    actor: str,
    action: str,
    subject: str,
    payload: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> JournalRow:
    """Add one entry at the end of the chain, in the caller's transaction."""
    last = session.execute(
        select(JournalRow).order_by(JournalRow.seq.desc()).limit(1).with_for_update()
    ).scalar_one_or_none()
    seq = last.seq + 1 if last else 1
    prev = last.hash if last else GENESIS
    when = (at or datetime.now(UTC)).astimezone(UTC)
    body = _canonical(payload or {})
    row = JournalRow(
        seq=seq,
        at=when,
        actor=actor,
        action=action,
        subject=subject,
        payload=body,
        prev_hash=prev,
        hash=_digest(seq, when, actor, action, subject, body, prev),
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class JournalProblem:
    seq: int
    reason: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.reason}"


def verify(session: Session) -> list[JournalProblem]:
    """Walk the whole chain; an empty list means the journal is intact."""
    problems: list[JournalProblem] = []
    prev = GENESIS
    expected_seq = 1
    for row in session.execute(select(JournalRow).order_by(JournalRow.seq)).scalars():
        if row.seq != expected_seq:
            problems.append(JournalProblem(row.seq, f"entries {expected_seq}..{row.seq - 1} are missing"))
        if row.prev_hash != prev:
            problems.append(JournalProblem(row.seq, "does not follow the previous entry (chain broken)"))
        digest = _digest(row.seq, row.at, row.actor, row.action, row.subject, row.payload, row.prev_hash)
        if digest != row.hash:
            problems.append(JournalProblem(row.seq, "content was altered after it was written"))
        prev = row.hash
        expected_seq = row.seq + 1
    return problems


def entries(session: Session, subject_prefix: str | None = None) -> list[JournalRow]:
    query = select(JournalRow).order_by(JournalRow.seq)
    if subject_prefix:
        query = query.where(JournalRow.subject.startswith(subject_prefix))
    return list(session.execute(query).scalars())
