"""Plan runs: a durable state machine per incident, one row per step, one per approval decision."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rempart.store.models.base import Base
from rempart.store.types import UTCDateTime


class PlanRunRow(Base):
    __tablename__ = "plan_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    establishment: Mapped[str] = mapped_column(String(64))
    playbook: Mapped[str] = mapped_column(String(64))
    plan_path: Mapped[str] = mapped_column(Text)
    plan_digest: Mapped[str] = mapped_column(String(64))
    # the adapters file the run was started with: later commands (approve, ack, rollback) reuse it, so
    # that a step approved without --adapters is not silently "applied" by the dummy
    adapters_source: Mapped[str | None] = mapped_column(Text)
    people: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # who may approve, as planned
    status: Mapped[str] = mapped_column(String(24))  # see respond.states.RunStatus
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    steps: Mapped[list[PlanStepRow]] = relationship(back_populates="run", order_by="PlanStepRow.seq")


class PlanStepRow(Base):
    __tablename__ = "plan_steps"
    __table_args__ = (UniqueConstraint("run_id", "seq", name="uq_plan_steps_run_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("plan_runs.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    step_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(32))
    adapter: Mapped[str] = mapped_column(String(64))
    approval: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    timeout: Mapped[float] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer)
    backoff: Mapped[float] = mapped_column(Float)
    verify: Mapped[bool] = mapped_column(Boolean)
    reversible: Mapped[bool] = mapped_column(Boolean)
    blocks: Mapped[bool] = mapped_column(Boolean)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(24))  # see respond.states.StepStatus
    tries: Mapped[int] = mapped_column(Integer, default=0)
    applies: Mapped[int] = mapped_column(Integer, default=0)  # successful adapter applies (crash tests count)
    rolled_back_targets: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)  # a manual step's acknowledgement
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    run: Mapped[PlanRunRow] = relationship(back_populates="steps")
    decisions: Mapped[list[ApprovalRow]] = relationship(back_populates="step", order_by="ApprovalRow.id")


class ApprovalRow(Base):
    __tablename__ = "plan_approvals"
    __table_args__ = (UniqueConstraint("step_id", "person", name="uq_plan_approvals_step_person"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("plan_steps.id"), index=True)
    person: Mapped[str] = mapped_column(String(64))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    decision: Mapped[str] = mapped_column(String(16))  # approve, reject
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    step: Mapped[PlanStepRow] = relationship(back_populates="decisions")
