"""The states of a plan run and of its steps, and which ones count as done."""

from __future__ import annotations

from enum import StrEnum


class StepStatus(StrEnum):
    PLANNED = "planned"
    AWAITING_APPROVAL = "awaiting_approval"
    APPLYING = "applying"  # intent written: the adapter may have acted, verify before re-applying
    AWAITING_ACK = "awaiting_ack"  # a person must acknowledge (manual step)
    APPLIED = "applied"
    VERIFIED = "verified"
    FAILED = "failed"
    REJECTED = "rejected"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"


class RunStatus(StrEnum):
    PLANNED = "planned"
    AWAITING_APPROVAL = "awaiting_approval"
    AWAITING_ACK = "awaiting_ack"
    APPLYING = "applying"
    APPLIED = "applied"
    VERIFIED = "verified"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


# a step in one of these states lets the run go past it
PASSABLE = {StepStatus.VERIFIED, StepStatus.APPLIED, StepStatus.REJECTED, StepStatus.ROLLED_BACK}
# states in which something may be in place in the outside world
MAY_BE_IN_PLACE = {
    StepStatus.APPLYING,
    StepStatus.AWAITING_ACK,
    StepStatus.APPLIED,
    StepStatus.VERIFIED,
    StepStatus.FAILED,
    StepStatus.ROLLING_BACK,
}
FINISHED_RUN = {RunStatus.VERIFIED, RunStatus.ROLLED_BACK}
