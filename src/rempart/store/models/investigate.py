"""Evidence locker: registered files with their SHA-256 and chain of custody."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rempart.store.models.base import Base
from rempart.store.types import UTCDateTime


class EvidenceRow(Base):
    """One piece of evidence: a file, its hash at registration, who registered it and who holds it."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)  # EV-0001, what people type
    path: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(Text, default="")
    registered_by: Mapped[str] = mapped_column(String(128))
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    custodian: Mapped[str] = mapped_column(String(128))  # who holds it now

    custody: Mapped[list[CustodyRow]] = relationship(back_populates="evidence", order_by="CustodyRow.id")


class CustodyRow(Base):
    """One link of the chain of custody: registration, handover, access or verification."""

    __tablename__ = "evidence_custody"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[str] = mapped_column(String(32))  # registered, handover, access, verified, altered
    actor: Mapped[str] = mapped_column(String(128))
    recipient: Mapped[str | None] = mapped_column(String(128))  # for a handover
    sha256: Mapped[str | None] = mapped_column(String(64))  # hash seen at that moment, when computed
    note: Mapped[str] = mapped_column(Text, default="")

    evidence: Mapped[EvidenceRow] = relationship(back_populates="custody")
