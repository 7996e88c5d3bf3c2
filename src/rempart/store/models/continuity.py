"""Degraded mode: clinical snapshots, downtime kits, the register of paper forms and back-entry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rempart.store.models.base import Base
from rempart.store.types import UTCDateTime


class SnapshotRow(Base):
    """One encrypted snapshot of an establishment's clinical data; no patient data in this row."""

    __tablename__ = "continuity_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    establishment: Mapped[str] = mapped_column(String(64), index=True)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())  # when the source data was exported
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    path: Mapped[str] = mapped_column(Text)  # the encrypted file
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # resources kept per type
    problems: Mapped[int] = mapped_column(Integer, default=0)  # resources rejected on import


class KitRow(Base):
    """A downtime kit built for an establishment (one PDF per care unit)."""

    __tablename__ = "continuity_kits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    establishment: Mapped[str] = mapped_column(String(64), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, … per establishment; part of every serial
    incident_ref: Mapped[str | None] = mapped_column(String(32))
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("continuity_snapshots.id"))
    built_at: Mapped[datetime] = mapped_column(UTCDateTime())
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())  # first hour of the MAR grids
    hours: Mapped[int] = mapped_column(Integer)
    files: Mapped[list[str]] = mapped_column(JSON, default=list)


class FormRow(Base):
    """One serial-numbered paper form: issued → returned → entered, or voided with a reason."""

    __tablename__ = "continuity_forms"

    serial: Mapped[str] = mapped_column(String(64), primary_key=True)
    kit_id: Mapped[int] = mapped_column(ForeignKey("continuity_kits.id"), index=True)
    establishment: Mapped[str] = mapped_column(String(64), index=True)
    unit: Mapped[str] = mapped_column(String(64))
    form_type: Mapped[str] = mapped_column(String(16))  # mar, prescription, administration, admission, lab
    patient_id: Mapped[str | None] = mapped_column(String(64))  # FHIR Patient id for a pre-filled MAR
    provisional_id: Mapped[str | None] = mapped_column(String(32))  # pre-allocated on admission forms
    status: Mapped[str] = mapped_column(String(16), default="issued")
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    entered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    void_reason: Mapped[str | None] = mapped_column(Text)


class PlannedDoseRow(Base):
    """An administration printed on a pre-filled MAR: what omission detection checks against."""

    __tablename__ = "continuity_planned_doses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(ForeignKey("continuity_forms.serial"), index=True)
    patient_id: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(64))
    drug: Mapped[str] = mapped_column(Text)  # as printed, sealed with the establishment's key
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EntryRow(Base):
    """One structured line read from a returned form (an administration, a prescription, an admission)."""

    __tablename__ = "continuity_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(ForeignKey("continuity_forms.serial"), index=True)
    establishment: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # administration, prescription, admission
    patient_ref: Mapped[str] = mapped_column(String(64))  # snapshot Patient id or provisional id
    at: Mapped[datetime] = mapped_column(UTCDateTime())  # actual time of care (late entry keeps it)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # prescription line, MAR slot only
    sealed: Mapped[str | None] = mapped_column(Text)  # the rest of the line (care, identity), encrypted
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("continuity_entries.id"))
    entered_by: Mapped[str] = mapped_column(String(128))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IdentityLinkRow(Base):
    """A provisional identity given at a downtime admission, merged later with the qualified one."""

    __tablename__ = "continuity_identity_links"

    provisional_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    establishment: Mapped[str] = mapped_column(String(64), index=True)
    real_identifier: Mapped[str] = mapped_column(Text)  # IPP (or INS) of the qualified identity, sealed
    linked_by: Mapped[str] = mapped_column(String(128))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())
