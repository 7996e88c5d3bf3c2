"""Incidents, their alerts, the incident log (main courante) and the audit journal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rempart.store.models.base import Base
from rempart.store.types import UTCDateTime


class IncidentRow(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)  # INC-0001, what people type
    establishment: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    severity: Mapped[str] = mapped_column(String(16))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    tactics: Mapped[list[str]] = mapped_column(JSON, default=list)
    techniques: Mapped[list[str]] = mapped_column(JSON, default=list)
    hosts: Mapped[list[str]] = mapped_column(JSON, default=list)
    exercise: Mapped[bool] = mapped_column(Boolean, default=False)

    alerts: Mapped[list[AlertRow]] = relationship(back_populates="incident", order_by="AlertRow.time")


class AlertRow(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(16))
    time: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    host: Mapped[str | None] = mapped_column(String(255))
    establishment: Mapped[str | None] = mapped_column(String(64))
    asset: Mapped[str | None] = mapped_column(String(255))
    tactics: Mapped[list[str]] = mapped_column(JSON, default=list)
    techniques: Mapped[list[str]] = mapped_column(JSON, default=list)
    events: Mapped[list[str]] = mapped_column(JSON, default=list)  # "source#record" references
    correlation: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    incident: Mapped[IncidentRow | None] = relationship(back_populates="alerts")


class LogEntryRow(Base):
    """One line of an incident's main courante: written by the stages and by people."""

    __tablename__ = "incident_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    source: Mapped[str] = mapped_column(String(32))  # detect, respond, continuity, notify, investigate, …
    kind: Mapped[str] = mapped_column(String(32))  # note, decision, action, finding, notification …
    author: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class JournalRow(Base):
    """Append-only audit journal; each row's hash covers its content and the previous row's hash, and its
    MAC (HMAC-SHA256 with the journal key, kept outside the case store) proves it was written by rempart.

    Rows written before the journal had a key (migration 0007_journal) have no MAC; see ``store.journal``.
    """

    __tablename__ = "journal"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255))
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON, hashed as written
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_id: Mapped[str | None] = mapped_column(String(16))  # fingerprint of the key that wrote the MAC
    mac: Mapped[str | None] = mapped_column(String(64))
    field_macs: Mapped[str | None] = mapped_column(Text)  # per-field MACs: verify names what was changed


class FindingRow(Base):
    """An investigation finding (data theft, propagation …), versioned: a later one supersedes an earlier.

    Written by ``investigate``; read by ``notify`` (drafts need a complementary notification when a finding
    changes) and ``recover`` (gates), which is why it lives with the core tables.
    """

    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # data_theft, propagation (see investigate.findings)
    version: Mapped[int] = mapped_column(Integer, default=1)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id"))
    positive: Mapped[bool] = mapped_column(
        Boolean
    )  # True: theft / propagation found; False: evidence of none
    summary: Mapped[str] = mapped_column(Text)  # French, one paragraph, for drafts and reports
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the numbers behind it
    author: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
