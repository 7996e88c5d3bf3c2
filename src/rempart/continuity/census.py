"""The census of an establishment, read from a snapshot: units → patients → prescriptions.

This is what the kits print and what back-entry is validated against. It is built from FHIR JSON that
was already validated on import, so it only follows references and picks fields.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rempart.continuity import fhir_read
from rempart.continuity.snapshot import Snapshot

PARIS = ZoneInfo("Europe/Paris")
INS_SYSTEMS = fhir_read.INS_SYSTEMS
NO_UNIT = "Sans unité attribuée dans l'export"
ROUTE_FR = fhir_read.ROUTE_FR


@dataclass(frozen=True)
class Prescription:
    request_id: str
    drug: str  # as printed: "PARACÉTAMOL"
    atc: str | None
    dose: str  # "1", "0,5"
    unit: str  # UCUM code or unit text: "g", "mg", "[IU]"
    route: str
    frequency: str  # "4 fois / 24 h", "si besoin"
    times: tuple[str, ...]  # planned local times "08:00"
    prn: bool
    instructions: str = ""  # as-needed reason, maximum dose, rate, free-text instruction
    suspended: bool = False  # on-hold: printed, never planned
    missing: tuple[str, ...] = ()  # a sentence per value the export does not give (printed boxed)

    @property
    def typed(self) -> str:
        """The one line that types this prescription unambiguously (and that tests look for)."""
        return f"{self.drug} {self.dose} {self.unit} {self.route}"


@dataclass(frozen=True)
class Patient:
    id: str  # FHIR id
    family: str
    given: str
    birth_date: date | None
    sex: str  # "F", "M", "I"
    ipp: str | None
    ins: str | None
    ins_kind: str | None
    unit: str
    room: str
    bed: str
    attending: str
    allergies: tuple[str, ...]
    prescriptions: tuple[Prescription, ...]
    encounter_id: str | None = None
    ipp_system: str | None = None
    ins_note: str | None = None  # "INS non qualifiée (PROV)": why no INS is printed

    @property
    def has_bed(self) -> bool:
        return bool(self.bed)

    @property
    def display_name(self) -> str:
        return f"{self.family.upper()} {self.given}"

    @property
    def identifier(self) -> str:
        return self.ipp or self.ins or self.id

    def sort_key(self) -> tuple[str, str, date, str]:
        # name then date of birth, accents folded: binders are filed the way people search them (CHSF)
        return (_fold(self.family), _fold(self.given), self.birth_date or date.min, self.id)


@dataclass
class Census:
    establishment: str
    taken_at: datetime
    units: dict[str, list[Patient]] = field(default_factory=dict)  # unit name -> patients sorted by name/DOB
    # present stays per unit, counted from the snapshot's encounters rather than from the patients listed
    stays: dict[str, int] = field(default_factory=dict)

    def check(self, unit: str) -> str | None:
        """Why the unit's count of patients differs from the snapshot's present stays (None: it matches)."""
        listed, stays = len(self.units.get(unit, [])), self.stays.get(unit, 0)
        if listed == stays:
            return None
        return f"{listed} patient(s) listé(s) pour {stays} séjour(s) en cours dans l'instantané"

    def patients(self) -> list[Patient]:
        return [p for ps in self.units.values() for p in ps]

    def patient(self, patient_id: str) -> Patient | None:
        return next((p for p in self.patients() if patient_id in (p.id, p.ipp)), None)


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text.casefold()) if not unicodedata.combining(c))


def _ref_id(ref: dict[str, Any] | None) -> str | None:
    if not ref or not isinstance(ref.get("reference"), str):
        return None
    return str(ref["reference"]).rstrip("/").split("/")[-1]


def _number(value: float) -> str:
    return fhir_read.number(value)


def _concept_text(cc: dict[str, Any] | None) -> str:
    return fhir_read.concept_text(cc) or "non renseigné"


def prescription_of(
    res: dict[str, Any], medications: dict[str, dict[str, Any]] | None = None
) -> Prescription:
    order = fhir_read.read_order(res, medications or {})
    return Prescription(
        request_id=res["id"],
        drug=order.drug,
        atc=order.atc,
        dose=order.dose,
        unit=order.unit,
        route=order.route,
        frequency=order.frequency,
        times=order.times,
        prn=order.prn,
        instructions=order.instructions,
        suspended=order.suspended,
        missing=order.missing,
    )


def _name(res: dict[str, Any]) -> tuple[str, str]:
    names = res.get("name") or [{}]
    official = next((n for n in names if n.get("use") == "official"), names[0])
    # a missing name in words: a "?" reads like a value on paper
    family = str(official.get("family") or "nom non renseigné")
    return family, " ".join(official.get("given") or []) or "(prénom non renseigné)"


def _identifiers(res: dict[str, Any]) -> tuple[str | None, str | None, str | None, str | None]:
    ipp = ipp_system = None
    for ident in res.get("identifier") or []:
        system = ident.get("system", "")
        if system in INS_SYSTEMS:
            continue
        if any(c.get("code") == "PI" for c in (ident.get("type") or {}).get("coding") or []) and ipp is None:
            ipp, ipp_system = ident.get("value"), system or None
    ins, kind = fhir_read.ins_of(res)
    return ipp, ins, kind, ipp_system


def _present_stays(snap: Snapshot) -> dict[str, dict[str, Any]]:
    """Patient id -> the stay the patient is in now (the latest begun, when an export holds two)."""
    stays: dict[str, dict[str, Any]] = {}
    encounters = snap.resources.get("Encounter", {})
    for enc in encounters.values():
        if fhir_read.absence(enc, snap.taken_at) is not None or fhir_read.stay_of(enc, encounters):
            continue
        pid = _ref_id(enc.get("subject")) or ""
        old = stays.get(pid)
        if old is None or str((old.get("period") or {}).get("start", "")) < str(
            (enc.get("period") or {}).get("start", "")
        ):
            stays[pid] = enc
    return stays


def build_census(snap: Snapshot) -> Census:
    """Patients present at the snapshot time, by unit: a stay over (or a merged record) is not listed."""
    res = snap.resources
    practitioners = res.get("Practitioner", {})
    locations = res.get("Location", {})
    medications = res.get("Medication", {})
    allergies: dict[str, list[str]] = {}
    for a in res.get("AllergyIntolerance", {}).values():
        allergies.setdefault(_ref_id(a.get("patient")) or "", []).append(_concept_text(a.get("code")))
    stays = _present_stays(snap)
    encounters = res.get("Encounter", {})
    moves = fhir_read.movements(encounters)
    rx: dict[str, list[Prescription]] = {}
    for mr in res.get("MedicationRequest", {}).values():
        if fhir_read.not_printed(mr) or mr.get("status") == "unknown":
            continue
        pid = _ref_id(mr.get("subject")) or ""
        enc_id = _ref_id(mr.get("encounter"))
        over = enc_id in encounters and fhir_read.absence(encounters[enc_id], snap.taken_at) is not None
        if enc_id in encounters and (stay := fhir_read.stay_of(encounters[enc_id], encounters)):
            over = fhir_read.absence(encounters[stay], snap.taken_at) is not None  # a past movement
        if pid not in stays or over:
            continue  # an order of a stay that is over is not given
        rx.setdefault(pid, []).append(prescription_of(mr, medications))
    census = Census(snap.establishment, snap.taken_at)
    for enc in encounters.values():
        if fhir_read.absence(enc, snap.taken_at) is None and not fhir_read.stay_of(enc, encounters):
            place = fhir_read.place_of(locations, fhir_read.stay_locations(enc, moves, snap.taken_at))
            unit = place.get("unit", NO_UNIT)
            census.stays[unit] = census.stays.get(unit, 0) + 1
    for pid, pres in res.get("Patient", {}).items():
        merged = fhir_read.replaced_by(pres) in res.get("Patient", {}) or pres.get("active") is False
        if pid not in stays or merged:
            continue
        enc = stays[pid]
        loc = fhir_read.place_of(locations, fhir_read.stay_locations(enc, moves, snap.taken_at))
        doc = next((_ref_id(p.get("individual")) for p in enc.get("participant") or []), None)
        family, given = _name(pres)
        ipp, ins, kind, ipp_system = _identifiers(pres)
        birth = pres.get("birthDate")
        patient = Patient(
            id=pid,
            family=family,
            given=given,
            birth_date=date.fromisoformat(birth) if birth and len(birth) == 10 else None,
            sex={"female": "F", "male": "M"}.get(pres.get("gender", ""), "I"),
            ipp=ipp,
            ins=ins,
            ins_kind=kind if ins else None,
            unit=loc.get("unit", NO_UNIT),
            room=loc.get("room", ""),
            bed=loc.get("bed", ""),
            attending=_practitioner_name(practitioners.get(doc or "")),
            allergies=tuple(sorted(allergies.get(pid, []))),
            prescriptions=tuple(sorted(rx.get(pid, []), key=lambda p: (p.drug, p.request_id))),
            encounter_id=enc.get("id"),
            ipp_system=ipp_system,
            ins_note=kind if not ins else None,
        )
        census.units.setdefault(patient.unit, []).append(patient)
    for unit in census.units:
        census.units[unit].sort(key=Patient.sort_key)
    census.units = dict(sorted(census.units.items()))
    return census


def _practitioner_name(res: dict[str, Any] | None) -> str:
    if not res:
        return "non renseigné"
    family, given = _name(res)
    prefix = " ".join((res.get("name") or [{}])[0].get("prefix") or ["Dr"])
    return f"{prefix} {given} {family.upper()}"


def planned_slots(p: Prescription, start: datetime, hours: int) -> list[datetime]:
    """The planned administrations of a prescription within [start, start + hours), as aware UTC."""
    end = start + timedelta(hours=hours)
    local_start = start.astimezone(PARIS)
    out: list[datetime] = []
    for day in range(hours // 24 + 2):
        d = local_start.date() + timedelta(days=day)
        for t in p.times:
            hh, mm = (int(x) for x in t.split(":"))
            at = datetime.combine(d, time(hh, mm), PARIS)
            if start <= at < end:
                out.append(at.astimezone(start.tzinfo))
    return sorted(out)
