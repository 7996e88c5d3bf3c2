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

from rempart.continuity.snapshot import Snapshot

PARIS = ZoneInfo("Europe/Paris")
INS_SYSTEMS = {
    "urn:oid:1.2.250.1.213.1.4.8": "INS-NIR",
    "urn:oid:1.2.250.1.213.1.4.9": "INS-NIA",
    "urn:oid:1.2.250.1.213.1.4.10": "INS-NIR-TEST",
}
NO_UNIT = "Sans unité"

ROUTE_FR = {
    "oral": "per os",
    "iv": "IV",
    "sc": "SC",
    "im": "IM",
    "inhaled": "inhalée",
    "transdermal": "transdermique",
}


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
    # French decimal comma; never a trailing ".0" that could be misread as 10
    text = f"{value:g}"
    return text.replace(".", ",")


def _concept_text(cc: dict[str, Any] | None) -> str:
    if not cc:
        return "?"
    if cc.get("text"):
        return str(cc["text"])
    for c in cc.get("coding") or []:
        if c.get("display"):
            return str(c["display"])
        if c.get("code"):
            return str(c["code"])
    return "?"


def _frequency(timing: dict[str, Any], prn: bool) -> tuple[str, tuple[str, ...]]:
    rep = timing.get("repeat") or {}
    times = tuple(str(t)[:5] for t in rep.get("timeOfDay") or [])
    freq, period, unit = rep.get("frequency"), rep.get("period"), rep.get("periodUnit")
    if prn:
        return "si besoin", ()
    if freq and period and unit == "h":
        label = f"toutes les {_number(period / freq)} h"
        if not times:
            step = period / freq
            times = tuple(f"{int(h) % 24:02d}:00" for h in _frange(6.0, 24.0 + 6.0, step))
        return label, times
    if freq and unit == "d":
        days = float(period or 1)
        label = f"{freq} fois / 24 h" if days == 1 else f"{freq} fois / {_number(days)} j"
        if not times:
            step = 24 / freq
            times = tuple(f"{int(8 + i * step) % 24:02d}:00" for i in range(int(freq)))
        return label, times
    return (timing.get("code") or {}).get("text") or "voir prescription", times


def _frange(start: float, stop: float, step: float) -> list[float]:
    out, x = [], start
    while x < stop - 1e-9 and step > 0:
        out.append(x)
        x += step
    return out


def prescription_of(res: dict[str, Any]) -> Prescription:
    dosage = (res.get("dosageInstruction") or [{}])[0]
    qty: dict[str, Any] = {}
    for dr in dosage.get("doseAndRate") or []:
        if dr.get("doseQuantity"):
            qty = dr["doseQuantity"]
            break
    cc = res.get("medicationCodeableConcept") or {}
    atc = next(
        (c.get("code") for c in cc.get("coding") or [] if "atc" in str(c.get("system", "")).lower()), None
    )
    route_cc = dosage.get("route") or {}
    route = route_cc.get("text") or _concept_text(route_cc)
    prn = bool(dosage.get("asNeededBoolean"))
    frequency, times = _frequency(dosage.get("timing") or {}, prn)
    return Prescription(
        request_id=res["id"],
        drug=_concept_text(cc).upper(),
        atc=atc,
        dose=_number(float(qty.get("value") or 0)),
        unit=str(qty.get("unit") or qty.get("code")),
        route=ROUTE_FR.get(route, route),
        frequency=frequency,
        times=tuple(sorted(times)),
        prn=prn,
    )


def _name(res: dict[str, Any]) -> tuple[str, str]:
    names = res.get("name") or [{}]
    official = next((n for n in names if n.get("use") == "official"), names[0])
    return str(official.get("family") or "?"), " ".join(official.get("given") or []) or "?"


def _identifiers(res: dict[str, Any]) -> tuple[str | None, str | None, str | None, str | None]:
    ipp = ins = kind = ipp_system = None
    for ident in res.get("identifier") or []:
        system = ident.get("system", "")
        if system in INS_SYSTEMS:
            ins, kind = ident.get("value"), INS_SYSTEMS[system]
        elif (
            any(c.get("code") == "PI" for c in (ident.get("type") or {}).get("coding") or []) and ipp is None
        ):
            ipp, ipp_system = ident.get("value"), system or None
    return ipp, ins, kind, ipp_system


def _location_chain(loc_id: str | None, locations: dict[str, dict[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    seen: set[str] = set()
    while loc_id and loc_id in locations and loc_id not in seen:
        seen.add(loc_id)
        loc = locations[loc_id]
        kind = next((c.get("code") for c in (loc.get("physicalType") or {}).get("coding") or []), "wa")
        out.setdefault({"bd": "bed", "ro": "room"}.get(kind, "unit"), str(loc.get("name") or loc_id))
        loc_id = _ref_id(loc.get("partOf"))
    return out


def build_census(snap: Snapshot) -> Census:
    res = snap.resources
    practitioners = res.get("Practitioner", {})
    locations = res.get("Location", {})
    allergies: dict[str, list[str]] = {}
    for a in res.get("AllergyIntolerance", {}).values():
        allergies.setdefault(_ref_id(a.get("patient")) or "", []).append(_concept_text(a.get("code")))
    rx: dict[str, list[Prescription]] = {}
    for mr in res.get("MedicationRequest", {}).values():
        rx.setdefault(_ref_id(mr.get("subject")) or "", []).append(prescription_of(mr))
    stays: dict[str, dict[str, Any]] = {}
    for enc in res.get("Encounter", {}).values():
        stays[_ref_id(enc.get("subject")) or ""] = enc
    census = Census(snap.establishment, snap.taken_at)
    for pid, pres in res.get("Patient", {}).items():
        enc = stays.get(pid, {})
        loc = _location_chain(_ref_id(((enc.get("location") or [{}])[0]).get("location")), locations)
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
            ins_kind=kind,
            unit=loc.get("unit", NO_UNIT),
            room=loc.get("room", "?"),
            bed=loc.get("bed", "?"),
            attending=_practitioner_name(practitioners.get(doc or "")),
            allergies=tuple(sorted(allergies.get(pid, []))),
            prescriptions=tuple(sorted(rx.get(pid, []), key=lambda p: (p.drug, p.request_id))),
            encounter_id=enc.get("id"),
            ipp_system=ipp_system,
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
