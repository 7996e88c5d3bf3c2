"""Notify stage tables: T0 per establishment, each sending (or filing) of a notification, acknowledgements."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rempart.store.models.base import Base
from rempart.store.types import UTCDateTime


class T0Row(Base):
    """When the organisation became aware of the incident, for one establishment (the legal clocks' start)."""

    __tablename__ = "notify_t0"
    __table_args__ = (UniqueConstraint("incident_id", "establishment"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    establishment: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text, default="")


class SendingRow(Base):
    """One attempt at a stage of an obligation: an e-mail sent (or failed), or a filing by other means."""

    __tablename__ = "notify_sendings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    establishment: Mapped[str] = mapped_column(String(64))
    obligation: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(
        String(16)
    )  # email, portal, paper, phone, in_person, internal, letter
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(16))  # sending, sent, failed, filed
    error: Mapped[str | None] = mapped_column(Text)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    author: Mapped[str] = mapped_column(String(128))
    draft_sha256: Mapped[str] = mapped_column(String(64))
    findings: Mapped[list[int]] = mapped_column(JSON, default=list)  # finding ids the draft was built from
    reference: Mapped[str | None] = mapped_column(Text)  # portal receipt, complaint number … for filings
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    acks: Mapped[list[AckRow]] = relationship(back_populates="sending", order_by="AckRow.at")


class AckRow(Base):
    """An acknowledgement received for a sending (receipt number, reply e-mail, phone confirmation)."""

    __tablename__ = "notify_acks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sending_id: Mapped[int] = mapped_column(ForeignKey("notify_sendings.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    by: Mapped[str] = mapped_column(String(255))  # who acknowledged (the authority)
    reference: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(128))

    sending: Mapped[SendingRow] = relationship(back_populates="acks")
