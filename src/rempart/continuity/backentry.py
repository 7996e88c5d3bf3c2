"""Back-entry: what a returned paper form says, as structured entries validated against the snapshot.

A form is entered all at once: every line is checked (patient, prescription, unit, time, form type) and
every mistake is reported with its line before anything is written. Duplicates (same patient, drug and
time already entered, from this form or another) are kept but flagged, and left out of the FHIR export.
What a line says of the patient's care (drug, dose, nurse, reason, prescriber; an admission's identity
traits and bed) is stored encrypted with the establishment's snapshot key (``sealed``); ``data`` keeps only
the prescription line and MAR slot it fills, which the reconciliation reads without the key.
"""

from __future__ import annotations

import base64
import os
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.continuity import register
from rempart.continuity.census import Census, Prescription
from rempart.continuity.snapshot import seal_value
from rempart.errors import ConfigError, ConfigErrors, InputError, Location, StateError
from rempart.store import journal
from rempart.store.models.continuity import EntryRow, FormRow, IdentityLinkRow, KitRow
from rempart.yamldoc import load_model

FORM_ACCEPTS = {
    "mar": {"administration"},
    "administration": {"administration"},
    "prescription": {"prescription"},
    "admission": {"admission"},
    "lab": set(),  # lab requisitions are entered by the laboratory from the paper (R25)
}


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    patient: str = Field(min_length=1, description="IPP or snapshot id, or a provisional identity")
    at: datetime = Field(description="actual date and time of care, with its UTC offset")


class AdministrationIn(_Entry):
    kind: Literal["administration"] = "administration"
    request: str | None = Field(default=None, description="MedicationRequest id (printed line) if known")
    drug: str | None = None
    dose: float | None = None
    unit: str | None = None
    given: bool
    reason: str | None = Field(default=None, description="why not given (refus, absent, à jeun…)")
    planned_at: datetime | None = Field(default=None, description="the MAR slot this line fills")
    nurse: str = Field(min_length=1)


class PrescriptionIn(_Entry):
    kind: Literal["prescription"] = "prescription"
    request: str = Field(min_length=1, description="number written on the paper line, e.g. RX-0004/1")
    drug: str = Field(min_length=1)
    atc: str | None = None
    dose: float
    unit: str = Field(min_length=1)
    route: str = Field(min_length=1)
    frequency: str = Field(min_length=1)
    times: list[str] = Field(default_factory=list)
    prescriber: str = Field(min_length=1)


class AdmissionIn(_Entry):
    kind: Literal["admission"] = "admission"
    family: str = Field(min_length=1)
    given: str = Field(min_length=1)
    birth_date: date
    sex: Literal["F", "M", "I"]
    unit: str = Field(min_length=1)
    room: str | None = None
    bed: str | None = None
    attending: str | None = None


EntryIn = Annotated[AdministrationIn | PrescriptionIn | AdmissionIn, Field(discriminator="kind")]


class FormEntries(BaseModel):
    """A returned form as typed by the back-entry clerk (YAML or JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    serial: str = Field(min_length=3)
    entered_by: str = Field(min_length=1)
    entries: list[EntryIn] = Field(default_factory=list)


def load_entries(path: Path) -> FormEntries:
    return load_model(FormEntries, path)


def _fold(text: str) -> str:
    flat = unicodedata.normalize("NFD", text.casefold())
    return " ".join("".join(c for c in flat if not unicodedata.combining(c)).split())


def _seal(key: bytes, aad: str, data: dict[str, Any]) -> str:
    nonce = os.urandom(12)
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, orjson.dumps(data), aad.encode())).decode()


def unseal(key: bytes, aad: str, token: str) -> dict[str, Any]:
    raw = base64.b64decode(token)
    try:
        data: dict[str, Any] = orjson.loads(AESGCM(key).decrypt(raw[:12], raw[12:], aad.encode()))
    except InvalidTag:
        raise InputError("cannot decrypt a back-entered line: wrong key for this establishment") from None
    return data


def _aad(row: EntryRow) -> str:
    return f"{row.establishment}|{row.patient_ref}"


BOOKKEEPING = ("request", "planned_at")  # what stays in clear in ``data``: no care, no identity


def _sealed_row(key: bytes, line: dict[str, Any], **base: Any) -> EntryRow:
    row = EntryRow(data={k: line[k] for k in BOOKKEEPING if k in line}, **base)
    row.sealed = _seal(key, _aad(row), {k: v for k, v in line.items() if k not in BOOKKEEPING})
    return row


def line_of(row: EntryRow, key: bytes) -> dict[str, Any]:
    """Everything the line says, in clear (rows entered before lines were sealed kept it all in ``data``)."""
    return {**row.data, **(unseal(key, _aad(row), row.sealed) if row.sealed else {})}


@dataclass(frozen=True)
class EnterResult:
    serial: str
    entries: int
    duplicates: list[int]  # ids of entries flagged as duplicates
    warnings: list[str]


class _Checker:
    """Validates one form's entries against the census and what was already entered."""

    def __init__(
        self,
        session: Session,
        census: Census,
        form: FormRow,
        kit: KitRow,
        now: datetime,
        where: Path | str,
        key: bytes,
    ):
        self.session, self.census, self.form, self.kit, self.now, self.where, self.key = (
            session,
            census,
            form,
            kit,
            now,
            where,
            key,
        )
        self.errors: list[ConfigError] = []
        self.warnings: list[str] = []
        rows = session.execute(select(EntryRow).where(EntryRow.establishment == form.establishment)).scalars()
        self.existing = list(rows)
        self._clear: dict[int, dict[str, Any]] = {}
        self.admitted = {e.patient_ref for e in self.existing if e.kind == "admission"}
        self.new_rx = {e.data["request"]: e for e in self.existing if e.kind == "prescription"}

    def line(self, row: EntryRow) -> dict[str, Any]:
        """The row in clear, decrypted once (rows not yet flushed have no id: keyed by the object)."""
        if id(row) not in self._clear:
            self._clear[id(row)] = line_of(row, self.key)
        return self._clear[id(row)]

    def fail(self, i: int, field: str, message: str, hint: str | None = None) -> None:
        self.errors.append(ConfigError(message, Location(self.where, None, f"entries[{i}].{field}"), hint))

    def patient_ref(self, i: int, ref: str) -> str | None:
        p = self.census.patient(ref)
        if p is not None:
            return p.id
        if ref in self.admitted:
            return ref
        # what was typed is not repeated: a clerk may have written a name where the IPP goes
        self.fail(
            i,
            "patient",
            "this patient is neither in the snapshot nor admitted during downtime",
            "write the IPP or snapshot id printed on the form, or an admission's provisional identity",
        )
        return None

    def prescription(  # noqa: PLR0911  (one early return per way a paper line can be wrong)
        self, i: int, pid: str, e: AdministrationIn
    ) -> tuple[str, str, Prescription | None] | None:
        """(request id, drug, printed prescription) for an administration line."""
        p = self.census.patient(pid)
        printed = list(p.prescriptions) if p else []
        if e.request:
            rx = next((r for r in printed if r.request_id == e.request), None)
            if rx is not None:
                return rx.request_id, rx.drug, rx
            new = self.new_rx.get(e.request)
            if new is not None and new.patient_ref == pid:
                return e.request, str(self.line(new)["drug"]), None
            self.fail(
                i, "request", f"prescription '{e.request}' is not an active prescription of this patient"
            )
            return None
        if e.drug:
            matches = [r for r in printed if _fold(r.drug) == _fold(e.drug)]
            if len(matches) == 1:
                return matches[0].request_id, matches[0].drug, matches[0]
            news = [
                k
                for k, v in self.new_rx.items()
                if v.patient_ref == pid and _fold(self.line(v)["drug"]) == _fold(e.drug)
            ]
            if len(news) == 1:
                return news[0], e.drug.upper(), None
            self.fail(
                i,
                "drug",
                f"drug '{e.drug}' matches {len(matches) + len(news)} prescriptions of this patient",
                "give the prescription line ('request')",
            )
            return None
        self.fail(i, "request", "an administration needs the prescription line ('request') or the drug")
        return None

    def time(self, i: int, at: datetime) -> None:
        if at.tzinfo is None:
            self.fail(i, "at", "time without a UTC offset (write e.g. 2026-11-28T08:10+01:00)")
        elif at > self.now + timedelta(minutes=5):
            self.fail(i, "at", "time is in the future")
        elif at < self.kit.window_start - timedelta(hours=1):
            self.fail(i, "at", "time is before the kit was printed")


def enter_form(
    session: Session,
    census: Census,
    doc: FormEntries,
    key: bytes,
    now: datetime,
    where: Path | str = "<entries>",
) -> EnterResult:
    """Validate every line of a returned form, then record them and mark the form entered."""
    form = register.get_form(session, doc.serial)
    if form.establishment != census.establishment:
        raise StateError(
            f"form {form.serial} belongs to '{form.establishment}', not '{census.establishment}'"
        )
    kit = session.get(KitRow, form.kit_id)
    assert kit is not None  # foreign key
    register.require_returned(form)
    check = _Checker(session, census, form, kit, now, where, key)
    rows = [r for i, e in enumerate(doc.entries) if (r := _row(check, i, e, doc.entered_by)) is not None]
    if check.errors:
        raise ConfigErrors(check.errors)
    session.add_all(rows)
    session.flush()
    _flag_duplicates(check.existing, rows, check.line)
    session.flush()
    register.mark_entered(session, form, now, doc.entered_by, len(rows))
    return EnterResult(
        form.serial, len(rows), [r.id for r in rows if r.duplicate_of is not None], check.warnings
    )


def _row(  # noqa: PLR0911  (one early return per way a paper line can be wrong)
    check: _Checker, i: int, e: AdministrationIn | PrescriptionIn | AdmissionIn, by: str
) -> EntryRow | None:
    form = check.form
    if e.kind not in FORM_ACCEPTS[form.form_type]:
        check.fail(i, "kind", f"a '{form.form_type}' form cannot hold '{e.kind}' lines")
        return None
    check.time(i, e.at)
    base = {
        "serial": form.serial,
        "establishment": form.establishment,
        "kind": e.kind,
        "at": e.at,
        "entered_by": by,
        "entered_at": check.now,
    }
    if isinstance(e, AdmissionIn):
        if e.patient != form.provisional_id:
            check.fail(
                i, "patient", f"this admission form carries the provisional identity {form.provisional_id}"
            )
            return None
        check.admitted.add(e.patient)
        traits = e.model_dump(
            mode="json", include={"family", "given", "birth_date", "sex", "unit", "room", "bed", "attending"}
        )
        return _sealed_row(check.key, traits, patient_ref=e.patient, **base)
    pid = check.patient_ref(i, e.patient)
    if pid is None:
        return None
    if form.form_type == "mar" and pid != form.patient_id:
        check.fail(i, "patient", "this MAR sheet belongs to another patient")
        return None
    if isinstance(e, PrescriptionIn):
        if e.request in check.new_rx:
            check.fail(i, "request", f"prescription line '{e.request}' was already entered")
            return None
        data = e.model_dump(mode="json", exclude={"patient", "at", "kind"})
        row = _sealed_row(check.key, data, patient_ref=pid, **base)
        check.new_rx[e.request] = row
        return row
    found = check.prescription(i, pid, e)
    if found is None:
        return None
    rid, drug, printed = found
    if e.given and printed is not None and e.unit and _fold(e.unit) != _fold(printed.unit):
        check.fail(
            i,
            "unit",
            f"unit '{e.unit}' differs from the prescription's '{printed.unit}'",
            "check the paper: a unit confusion is a medication error to report",
        )
        return None
    if (
        e.given
        and printed is not None
        and e.dose is not None
        and f"{e.dose:g}".replace(".", ",") != printed.dose
    ):
        check.warnings.append(f"entries[{i}]: dose {e.dose:g} differs from the prescription ({printed.dose})")
    if not e.given and not e.reason:
        check.fail(i, "reason", "a dose not given needs its reason")
        return None
    line: dict[str, Any] = {
        "request": rid,
        "drug": drug,
        "dose": e.dose if e.dose is not None else (printed.dose if printed else None),
        "unit": e.unit or (printed.unit if printed else None),
        "given": e.given,
        "reason": e.reason,
        "planned_at": e.planned_at.isoformat() if e.planned_at else None,
        "nurse": e.nurse,
    }
    return _sealed_row(check.key, line, patient_ref=pid, **base)


def duplicate_key(row: EntryRow, line: dict[str, Any]) -> tuple[str, str, str] | None:
    if row.kind != "administration":
        return None
    return (
        row.patient_ref,
        _fold(str(line.get("drug"))),
        row.at.astimezone(UTC).isoformat(timespec="minutes"),
    )


def _flag_duplicates(
    existing: list[EntryRow], new: list[EntryRow], line: Callable[[EntryRow], dict[str, Any]]
) -> None:
    """Same patient, drug and time already entered: keep the line, point it at the first (rows have ids)."""
    seen: dict[tuple[str, str, str], EntryRow] = {}
    for row in [*existing, *new]:
        k = duplicate_key(row, line(row))
        if k is None:
            continue
        if k in seen and row.duplicate_of is None and row.id != seen[k].id:
            row.duplicate_of = seen[k].id
        elif row.duplicate_of is None:
            seen.setdefault(k, row)


def link_aad(establishment: str, provisional_id: str) -> str:
    return f"{establishment}|{provisional_id}|identity-link"


def link_identity(
    session: Session,
    establishment: str,
    provisional_id: str,
    real_identifier: str,
    actor: str,
    now: datetime,
    key: bytes,
) -> IdentityLinkRow:
    """Merge a downtime provisional identity with the qualified one (irreversible in many HIS: journaled).

    The IPP (or INS) is stored sealed with the establishment's key."""
    admitted = session.execute(
        select(EntryRow).where(
            EntryRow.establishment == establishment,
            EntryRow.kind == "admission",
            EntryRow.patient_ref == provisional_id,
        )
    ).scalar()
    if admitted is None:
        raise InputError(f"no downtime admission entered under '{provisional_id}' in '{establishment}'")
    if session.get(IdentityLinkRow, provisional_id) is not None:
        raise StateError(f"'{provisional_id}' is already linked to a qualified identity")
    row = IdentityLinkRow(
        provisional_id=provisional_id,
        establishment=establishment,
        real_identifier=seal_value(key, link_aad(establishment, provisional_id), real_identifier.strip()),
        linked_by=actor,
        linked_at=now,
    )
    session.add(row)
    journal.append(
        session, actor, "continuity.identity_linked", f"identity:{establishment}:{provisional_id}", at=now
    )
    return row


def entries_of(session: Session, establishment: str) -> list[EntryRow]:
    return list(
        session.execute(
            select(EntryRow).where(EntryRow.establishment == establishment).order_by(EntryRow.id)
        ).scalars()
    )
