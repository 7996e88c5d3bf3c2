"""The register of every serial-numbered paper form: issued → returned → entered, or voided with a reason.

Every change of status is journaled (who, when, which serial; never what the form says).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rempart.continuity.kits import KitPlan
from rempart.continuity.snapshot import seal_value
from rempart.errors import InputError, StateError
from rempart.store import journal
from rempart.store.models.continuity import FormRow, KitRow, PlannedDoseRow

ISSUED, RETURNED, ENTERED, VOIDED = "issued", "returned", "entered", "voided"
STATUSES = (ISSUED, RETURNED, ENTERED, VOIDED)
STATUS_FR = {ISSUED: "émis", RETURNED: "rendu", ENTERED: "saisi", VOIDED: "annulé"}


def next_kit_number(session: Session, establishment: str) -> int:
    last = session.execute(
        select(func.max(KitRow.number)).where(KitRow.establishment == establishment)
    ).scalar()
    return (last or 0) + 1


def planned_drug_aad(serial: str, request_id: str) -> str:
    return f"{serial}|{request_id}|planned-drug"


def register_kit(
    session: Session, plan: KitPlan, snapshot_id: int, files: list[Path], actor: str, key: bytes
) -> KitRow:
    """Record the kit, every serial it prints and every administration its MARs plan.

    The drug of each planned dose is sealed with the establishment's key: with the patient id beside it,
    it is health data."""
    est = plan.establishment.id
    kit = KitRow(
        establishment=est,
        number=plan.number,
        incident_ref=plan.incident_ref,
        snapshot_id=snapshot_id,
        built_at=plan.built_at,
        window_start=plan.window_start,
        hours=plan.config.hours,
        files=[str(f) for f in files],
    )
    session.add(kit)
    session.flush()
    forms = plan.forms()
    session.add_all(
        FormRow(
            serial=f.serial,
            kit_id=kit.id,
            establishment=est,
            unit=f.unit,
            form_type=f.form_type,
            patient_id=f.patient_id,
            provisional_id=f.provisional_id,
            status=ISSUED,
            issued_at=plan.built_at,
        )
        for f in forms
    )
    session.flush()
    drugs = {rx.request_id: rx.drug for u in plan.units for p in u.patients for rx in p.prescriptions}
    session.add_all(
        PlannedDoseRow(
            serial=f.serial,
            patient_id=f.patient_id or "",
            request_id=rid,
            drug=seal_value(key, planned_drug_aad(f.serial, rid), drugs[rid]),
            planned_at=at,
        )
        for f in forms
        for rid, at in f.planned
    )
    journal.append(
        session,
        actor,
        "continuity.kit_built",
        f"kit:{est}:{plan.number}",
        {"incident": plan.incident_ref, "forms": len(forms), "units": len(plan.units)},
        at=plan.built_at,
    )
    return kit


def get_form(session: Session, serial: str) -> FormRow:
    row = session.get(FormRow, serial.strip().upper())
    if row is None:
        raise InputError(
            f"unknown form serial '{serial}'", hint="the serial is printed at the top right of the form"
        )
    return row


def return_form(session: Session, serial: str, at: datetime, actor: str) -> FormRow:
    row = get_form(session, serial)
    if row.status != ISSUED:
        raise StateError(f"form {row.serial} is already {row.status}; only an issued form can be returned")
    row.status, row.returned_at = RETURNED, at
    journal.append(session, actor, "continuity.form_returned", f"form:{row.serial}", at=at)
    return row


def require_returned(row: FormRow) -> None:
    """Only a form that came back can be entered, and only once."""
    if row.status != RETURNED:
        hint = "return it first (`rempart forms return`)" if row.status == ISSUED else None
        raise StateError(f"form {row.serial} is {row.status}; only a returned form can be entered", hint=hint)


def mark_entered(session: Session, row: FormRow, at: datetime, actor: str, entries: int) -> None:
    require_returned(row)
    row.status, row.entered_at = ENTERED, at
    journal.append(
        session, actor, "continuity.form_entered", f"form:{row.serial}", {"entries": entries}, at=at
    )


def void_form(session: Session, serial: str, reason: str, at: datetime, actor: str) -> FormRow:
    row = get_form(session, serial)
    if not reason.strip():
        raise InputError("a reason is required to void a form")
    if row.status in (ENTERED, VOIDED):
        raise StateError(f"form {row.serial} is already {row.status}; it cannot be voided")
    row.status, row.voided_at, row.void_reason = VOIDED, at, reason.strip()
    journal.append(
        session, actor, "continuity.form_voided", f"form:{row.serial}", {"reason": reason.strip()}, at=at
    )
    return row


def forms_of(session: Session, establishment: str) -> list[FormRow]:
    return list(
        session.execute(
            select(FormRow).where(FormRow.establishment == establishment).order_by(FormRow.serial)
        ).scalars()
    )
