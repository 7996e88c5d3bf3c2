"""Evidence locker: files registered with their SHA-256, who and when, and a chain of custody.

Every registration, handover, access and verification is one custody row and one journal entry, so the
chain can be shown to an investigator or a court and its own integrity checked (the journal is
hash-chained). ``verify`` hashes the file again: a changed file is reported and recorded, never hidden.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rempart.errors import InputError, Location
from rempart.store import incident_log, journal
from rempart.store.models.core import IncidentRow
from rempart.store.models.investigate import CustodyRow, EvidenceRow

CHUNK = 1 << 20


def sha256_of(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _custody(
    session: Session,
    ev: EvidenceRow,
    incident_ref: str,
    action: str,
    actor: str,
    when: datetime,
    recipient: str | None = None,
    sha256: str | None = None,
    note: str = "",
) -> CustodyRow:
    row = CustodyRow(
        evidence_id=ev.id, at=when, action=action, actor=actor, recipient=recipient, sha256=sha256, note=note
    )
    session.add(row)
    session.flush()
    journal.append(
        session,
        actor,
        f"evidence.{action}",
        f"{incident_ref}/evidence/{ev.ref}",
        {"sha256": sha256, "recipient": recipient, "note": note, "path": ev.path},
        at=when,
    )
    return row


def get(session: Session, ref: str) -> EvidenceRow:
    row = session.execute(
        select(EvidenceRow).where(EvidenceRow.ref == ref.strip().upper())
    ).scalar_one_or_none()
    if row is None:
        raise InputError(
            f"no evidence '{ref}'", hint="see `rempart evidence show INCIDENT` for the references"
        )
    return row


def listing(session: Session, incident_id: int) -> list[EvidenceRow]:
    return list(
        session.execute(
            select(EvidenceRow).where(EvidenceRow.incident_id == incident_id).order_by(EvidenceRow.id)
        ).scalars()
    )


def register(
    session: Session,
    incident: IncidentRow,
    path: Path,
    actor: str,
    description: str = "",
    at: datetime | None = None,
) -> EvidenceRow:
    """Hash ``path`` and register it under the incident; ``actor`` becomes its first custodian."""
    if not path.is_file():
        raise InputError("evidence file not found", Location(path))
    when = (at or datetime.now(UTC)).astimezone(UTC)
    digest, size = sha256_of(path)
    number = (session.execute(select(func.count(EvidenceRow.id))).scalar_one() or 0) + 1
    ev = EvidenceRow(
        incident_id=incident.id,
        ref=f"EV-{number:04d}",
        path=str(path.resolve()),
        name=path.name,
        sha256=digest,
        size=size,
        description=description,
        registered_by=actor,
        registered_at=when,
        custodian=actor,
    )
    session.add(ev)
    session.flush()
    _custody(session, ev, incident.ref, "registered", actor, when, sha256=digest, note=description)
    incident_log.record(
        session,
        incident.id,
        "investigate",
        "evidence",
        f"Pièce {ev.ref} enregistrée : {ev.name} ({size} octets, SHA-256 {digest[:16]}…) par {actor}.",
        author=actor,
        data={"evidence": ev.ref, "sha256": digest},
        at=when,
    )
    return ev


def handover(
    session: Session,
    incident: IncidentRow,
    ev: EvidenceRow,
    actor: str,
    recipient: str,
    note: str = "",
    at: datetime | None = None,
) -> CustodyRow:
    """``actor`` hands the evidence to ``recipient``; only the current custodian may do so."""
    if actor != ev.custodian:
        raise InputError(
            f"{ev.ref} is held by {ev.custodian}, not {actor}",
            hint="only the current custodian hands it over",
        )
    when = (at or datetime.now(UTC)).astimezone(UTC)
    digest, _ = sha256_of(Path(ev.path)) if Path(ev.path).is_file() else (None, 0)
    row = _custody(
        session, ev, incident.ref, "handover", actor, when, recipient=recipient, sha256=digest, note=note
    )
    ev.custodian = recipient
    incident_log.record(
        session,
        incident.id,
        "investigate",
        "evidence",
        f"Pièce {ev.ref} remise par {actor} à {recipient}.",
        author=actor,
        data={"evidence": ev.ref, "to": recipient},
        at=when,
    )
    return row


def access(
    session: Session,
    incident: IncidentRow,
    ev: EvidenceRow,
    actor: str,
    note: str = "",
    at: datetime | None = None,
) -> CustodyRow:
    """Someone opened or copied the evidence: recorded, with the hash seen at that moment."""
    when = (at or datetime.now(UTC)).astimezone(UTC)
    digest, _ = sha256_of(Path(ev.path)) if Path(ev.path).is_file() else (None, 0)
    return _custody(session, ev, incident.ref, "access", actor, when, sha256=digest, note=note)


@dataclass(frozen=True)
class Verification:
    evidence: str
    ok: bool
    expected: str
    found: str | None  # None: the file is gone
    reason: str


def verify(
    session: Session, incident: IncidentRow, ev: EvidenceRow, actor: str, at: datetime | None = None
) -> Verification:
    """Hash the file again and compare with the registration; the outcome joins the chain of custody."""
    when = (at or datetime.now(UTC)).astimezone(UTC)
    path = Path(ev.path)
    found = sha256_of(path)[0] if path.is_file() else None
    if found is None:
        result = Verification(ev.ref, False, ev.sha256, None, f"file missing: {ev.path}")
    elif found != ev.sha256:
        result = Verification(ev.ref, False, ev.sha256, found, "content changed since registration")
    else:
        result = Verification(ev.ref, True, ev.sha256, found, "intact")
    _custody(
        session,
        ev,
        incident.ref,
        "verified" if result.ok else "altered",
        actor,
        when,
        sha256=found,
        note=result.reason,
    )
    if not result.ok:
        incident_log.record(
            session,
            incident.id,
            "investigate",
            "evidence",
            f"ALERTE : la pièce {ev.ref} ({ev.name}) ne correspond plus à son empreinte ({result.reason}).",
            author=actor,
            data={"evidence": ev.ref, "expected": ev.sha256, "found": found},
            at=when,
        )
    return result
