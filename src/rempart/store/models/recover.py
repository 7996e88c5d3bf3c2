"""Recovery: human attestations and approvals per external access, and the staged re-openings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rempart.store.models.base import Base
from rempart.store.types import UTCDateTime


class AttestationRow(Base):
    """A person vouches for one check of one access's re-opening gate (credentials rotated …)."""

    __tablename__ = "reopen_attestations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    access_id: Mapped[str] = mapped_column(String(64))
    check: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text, default="")


class ReopenApprovalRow(Base):
    """A person approves re-opening one access, in one of the roles the recovery policy requires."""

    __tablename__ = "reopen_approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    access_id: Mapped[str] = mapped_column(String(64))
    approver: Mapped[str] = mapped_column(String(128))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReopeningRow(Base):
    """The decision and outcome of re-opening one access (one row per attempt that passed the gate)."""

    __tablename__ = "reopenings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    access_id: Mapped[str] = mapped_column(String(64))
    establishment: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))  # decided, reopened, failed
    detail: Mapped[str] = mapped_column(Text, default="")
    gate: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the gate as it was when passed
