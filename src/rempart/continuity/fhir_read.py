"""How a kit reads the FHIR R4 shapes hospital information systems write: medication, dosage, order
status, presence of a patient now, the active bed, merged identities and the INS.

Shared by the import (which reports what it cannot read, with file and line) and the census (which
prints it), so that both say the same thing about the same resource. Whatever a nurse needs and the
export does not give is returned as a sentence in ``missing``, never as a guessed value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# the kit's words for a value it cannot print (kit_pdf boxes them, the import report counts them)
MISSING_DRUG = "médicament non identifié dans l'export{} — vérifier avec la pharmacie"
MISSING_DOSE = "dose non renseignée dans l'export — vérifier avec le prescripteur"
MISSING_UNIT = "unité de la dose non renseignée dans l'export — vérifier avec le prescripteur"
MISSING_ROUTE = "voie d'administration non renseignée dans l'export — vérifier avec le prescripteur"
TEXT_ONLY = "posologie en texte libre seulement dans l'export — vérifier avec le prescripteur"
SEVERAL_DOSAGES = (
    "plusieurs posologies dans l'export, seule la première est imprimée — vérifier avec le prescripteur"
)
MISSING_BED = "lit non renseigné dans l'export — vérifier avec le bureau des entrées"
UNKNOWN = "À VÉRIFIER"  # what a cell shows in place of a value the export does not give

ATC_SYSTEMS = ("http://www.whocc.no/atc",)
# ANS terminologies: CIP (13 digits) and UCD codes of French medicines
CIP_SYSTEMS = ("urn:oid:1.2.250.1.213.2.3.1", "http://data.esante.gouv.fr/cip")
UCD_SYSTEMS = ("urn:oid:1.2.250.1.213.2.3.2", "http://data.esante.gouv.fr/ucd")

INS_SYSTEMS = {
    "urn:oid:1.2.250.1.213.1.4.8": "INS-NIR",
    "urn:oid:1.2.250.1.213.1.4.9": "INS-NIA",
    "urn:oid:1.2.250.1.213.1.4.10": "INS-NIR-TEST",
}
IDENTITY_RELIABILITY = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"

ROUTE_FR = {
    "oral": "per os",
    "iv": "IV",
    "sc": "SC",
    "im": "IM",
    "inhaled": "inhalée",
    "transdermal": "transdermique",
}
# SNOMED CT route codes as EDQM/SNOMED exports carry them
ROUTE_SNOMED = {
    "26643006": "per os",
    "47625008": "IV",
    "34206005": "SC",
    "78421000": "IM",
    "18679011000001101": "inhalée",
    "45890007": "transdermique",
}

# MedicationRequest.status: what is printed, and what is never printed as active
PRINTED_STATUS = {"active": "active", "on-hold": "suspended"}
NOT_CURRENT_STATUS = ("stopped", "completed", "cancelled", "entered-in-error", "draft")
ORDER_INTENTS = ("order", "original-order", "reflex-order", "filler-order", "instance-order")

# Encounter.status of a patient who is in the establishment now
PRESENT_STATUS = ("in-progress", "arrived", "triaged", "onleave")

# FHIR timing abbreviations (v3 GTSAbbreviation) as frequency, period, unit
TIMING_CODES: dict[str, dict[str, Any]] = {
    "QD": {"frequency": 1, "period": 1, "periodUnit": "d"},
    "BID": {"frequency": 2, "period": 1, "periodUnit": "d"},
    "TID": {"frequency": 3, "period": 1, "periodUnit": "d"},
    "QID": {"frequency": 4, "period": 1, "periodUnit": "d"},
    "AM": {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["MORN"]},
    "PM": {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["EVE"]},
    "Q1H": {"frequency": 1, "period": 1, "periodUnit": "h"},
    "Q2H": {"frequency": 1, "period": 2, "periodUnit": "h"},
    "Q3H": {"frequency": 1, "period": 3, "periodUnit": "h"},
    "Q4H": {"frequency": 1, "period": 4, "periodUnit": "h"},
    "Q6H": {"frequency": 1, "period": 6, "periodUnit": "h"},
    "Q8H": {"frequency": 1, "period": 8, "periodUnit": "h"},
    "QOD": {"frequency": 1, "period": 2, "periodUnit": "d"},
}
# Timing.repeat.when: the hour a ward gives it at, and the words printed
WHEN: dict[str, tuple[str, str]] = {
    "WAKE": ("07:00", "au réveil"),
    "MORN": ("08:00", "matin"),
    "ACM": ("07:30", "avant petit-déjeuner"),
    "CM": ("08:00", "au petit-déjeuner"),
    "PCM": ("08:30", "après petit-déjeuner"),
    "NOON": ("12:00", "midi"),
    "ACD": ("11:30", "avant déjeuner"),
    "CD": ("12:00", "au déjeuner"),
    "PCD": ("12:30", "après déjeuner"),
    "AFT": ("15:00", "après-midi"),
    "EVE": ("18:00", "soir"),
    "ACV": ("18:30", "avant dîner"),
    "CV": ("19:00", "au dîner"),
    "PCV": ("19:30", "après dîner"),
    "NIGHT": ("22:00", "nuit"),
    "HS": ("22:00", "au coucher"),
}
PERIOD_FR = {"h": "h", "d": "j", "wk": "sem.", "min": "min"}


@dataclass(frozen=True)
class Order:
    """One MedicationRequest as a kit prints it; ``missing`` holds a sentence per value it cannot print."""

    drug: str
    atc: str | None
    dose: str
    unit: str
    route: str
    frequency: str
    times: tuple[str, ...]
    prn: bool
    instructions: str  # what the last column adds: as-needed reason, maximum, rate, free text
    suspended: bool
    missing: tuple[str, ...]


def number(value: float) -> str:
    # French decimal comma; never a trailing ".0" that could be misread as 10
    return f"{value:g}".replace(".", ",")


def concept_text(cc: dict[str, Any] | None) -> str | None:
    """The words of a CodeableConcept: its text, else the display of a coding; None without words."""
    if not cc:
        return None
    if cc.get("text"):
        return str(cc["text"])
    codings = cc.get("coding") or []
    for systems in (ATC_SYSTEMS, CIP_SYSTEMS, UCD_SYSTEMS, ()):
        for c in codings:
            if c.get("display") and (not systems or c.get("system") in systems):
                return str(c["display"])
    return None


def _code_hint(cc: dict[str, Any] | None) -> str:
    for c in (cc or {}).get("coding") or []:
        if c.get("code"):
            return f" (code {c['code']} sans libellé)"
    return ""


def medication_of(
    res: dict[str, Any], medications: dict[str, dict[str, Any]]
) -> tuple[dict[str, Any] | None, str | None]:
    """(the medication's CodeableConcept, why it cannot be found) for inline, contained or referenced."""
    if "medicationCodeableConcept" in res:
        return res["medicationCodeableConcept"], None
    ref = (res.get("medicationReference") or {}).get("reference")
    if not isinstance(ref, str):
        return None, ""
    if ref.startswith("#"):
        contained = [c for c in res.get("contained") or [] if c.get("resourceType") == "Medication"]
        med = next((c for c in contained if c.get("id") == ref[1:]), None)
    else:
        parts = ref.rstrip("/").split("/")
        med = medications.get(parts[-1]) if len(parts) >= 2 and parts[-2] == "Medication" else None
    if med is None:
        return None, f" ({ref} absent de l'export)"
    code = med.get("code")
    if concept_text(code) is None:
        # a Medication made of ingredients only (a compounded preparation): their names
        names = [concept_text(i.get("itemCodeableConcept")) for i in med.get("ingredient") or []]
        if names and all(names):
            return {"text": " + ".join(n for n in names if n)}, None
    return code, None


def _atc(cc: dict[str, Any] | None) -> str | None:
    return next(
        (c.get("code") for c in (cc or {}).get("coding") or [] if "atc" in str(c.get("system", "")).lower()),
        None,
    )


def _quantity(q: dict[str, Any] | None) -> tuple[str | None, str | None]:
    if not q:
        return None, None
    value = q.get("value")
    unit = q.get("unit") or q.get("code")
    return (number(float(value)) if value is not None else None), (str(unit) if unit else None)


def _dose(dosage: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(dose, unit, rate) of the ordered doseAndRate entry (else the first that has a dose)."""
    entries = dosage.get("doseAndRate") or []
    ordered = [
        e
        for e in entries
        if any(c.get("code") == "ordered" for c in (e.get("type") or {}).get("coding") or [])
    ]
    dose = unit = rate = None
    for e in ordered + [e for e in entries if e not in ordered]:
        if dose is None and e.get("doseQuantity"):
            dose, unit = _quantity(e["doseQuantity"])
        elif dose is None and e.get("doseRange"):
            low, low_unit = _quantity(e["doseRange"].get("low"))
            high, high_unit = _quantity(e["doseRange"].get("high"))
            dose = f"{low} à {high}" if low and high else low or high
            unit = low_unit or high_unit if low_unit == high_unit or not (low_unit and high_unit) else None
        if rate is None and e.get("rateQuantity"):
            value, rate_unit = _quantity(e["rateQuantity"])
            rate = f"débit {value} {rate_unit}" if value and rate_unit else None
    return dose, unit, rate


def _route(dosage: dict[str, Any]) -> str | None:
    cc = dosage.get("route") or {}
    if cc.get("text"):
        return ROUTE_FR.get(str(cc["text"]), str(cc["text"]))
    for c in cc.get("coding") or []:
        if str(c.get("code")) in ROUTE_SNOMED:
            return ROUTE_SNOMED[str(c["code"])]
    text = concept_text(cc)
    return ROUTE_FR.get(text, text) if text else None


def _frange(start: float, stop: float, step: float) -> list[float]:
    out, x = [], start
    while x < stop - 1e-9 and step > 0:
        out.append(x)
        x += step
    return out


def frequency(timing: dict[str, Any], prn: bool) -> tuple[str, tuple[str, ...]]:
    """(frequency as printed, planned local times) of a Timing."""
    code = timing.get("code") or {}
    codes = [str(c.get("code")) for c in code.get("coding") or []]
    abbrev = next((c for c in codes if c in TIMING_CODES), None)
    rep = {**(TIMING_CODES.get(abbrev or "") or {}), **(timing.get("repeat") or {})}
    times = tuple(str(t)[:5] for t in rep.get("timeOfDay") or [])
    when = [WHEN[w] for w in rep.get("when") or [] if w in WHEN]
    if not times and when:
        times = tuple(t for t, _ in when)
    freq, period, unit = rep.get("frequency"), rep.get("period"), rep.get("periodUnit")
    if prn:
        return "si besoin", ()
    words = ", ".join(w for _, w in when)
    if freq and period and unit == "h":
        step = period / freq
        label = f"toutes les {number(step)} h"
        if not times:
            times = tuple(f"{int(h) % 24:02d}:00" for h in _frange(6.0, 24.0 + 6.0, step))
        return label, times
    if (freq or when) and unit in (None, "d"):
        freq = freq or len(when)
        days = float(period or 1)
        label = f"{freq} fois / 24 h" if days == 1 else f"{freq} fois / {number(days)} j"
        if not times:
            step = 24 / freq
            times = tuple(f"{int(8 + i * step) % 24:02d}:00" for i in range(int(freq)))
        return label + (f" ({words})" if words else ""), times
    if freq and period and unit in PERIOD_FR:
        return f"{freq} fois / {number(float(period))} {PERIOD_FR[unit]}", times
    return code.get("text") or (f"code {abbrev}" if abbrev else "voir prescription"), times


def read_order(res: dict[str, Any], medications: dict[str, dict[str, Any]]) -> Order:
    """A MedicationRequest (already validated) as the kit prints it."""
    missing: list[str] = []
    cc, why = medication_of(res, medications)
    drug = concept_text(cc)
    if drug is None:
        missing.append(MISSING_DRUG.format(_code_hint(cc) if why is None else why))
    dosages = sorted(res.get("dosageInstruction") or [], key=lambda d: d.get("sequence") or 0)
    dosage = dosages[0] if dosages else {}
    if len(dosages) > 1:
        missing.append(SEVERAL_DOSAGES)
    dose, unit, rate = _dose(dosage)
    extra: list[str] = []
    text = dosage.get("text") or dosage.get("patientInstruction")
    if dose is None and text:
        missing.append(TEXT_ONLY)
        extra.append(f"consigne : {text}")
    else:
        if dose is None and rate is None:
            missing.append(MISSING_DOSE)
        if unit is None and (dose is not None or rate is None):
            missing.append(MISSING_UNIT)
    route = _route(dosage)
    if route is None:
        missing.append(MISSING_ROUTE)
    reason = concept_text(dosage.get("asNeededCodeableConcept"))
    prn = bool(dosage.get("asNeededBoolean")) or "asNeededCodeableConcept" in dosage
    freq, times = frequency(dosage.get("timing") or {}, prn)
    if reason:
        extra.insert(0, f"si : {reason}")
    if rate:
        extra.append(rate)
    mx = dosage.get("maxDosePerPeriod")
    if mx:
        value, max_unit = _quantity(mx.get("numerator"))
        per, per_unit = _quantity(mx.get("denominator"))
        if value:
            per_text = (per_unit if per == "1" else f"{per} {per_unit}") if per and per_unit else "période"
            extra.append(f"max {value} {max_unit or ''} / {per_text}".replace("  ", " "))
    suspended = res.get("status") == "on-hold"
    return Order(
        drug=drug.upper() if drug else UNKNOWN,
        atc=_atc(cc),
        dose=dose if dose is not None else ("—" if rate and unit is None else UNKNOWN),
        unit=unit if unit is not None else ("—" if rate and dose is None else UNKNOWN),
        route=route or UNKNOWN,
        frequency=_frequency_label(freq, dosage, text is not None and dose is None, rate is not None),
        times=() if suspended else tuple(sorted(times)),
        prn=prn,
        instructions=" ; ".join(extra),
        suspended=suspended,
        missing=tuple(missing),
    )


def _frequency_label(freq: str, dosage: dict[str, Any], text_only: bool, rate: bool) -> str:
    if dosage.get("timing"):
        return freq
    if text_only:
        return "voir consigne"
    return "en continu" if rate else freq


def not_printed(res: dict[str, Any]) -> str | None:
    """Why a valid MedicationRequest is left out of the kit (None: it is printed)."""
    status = res.get("status")
    if status in NOT_CURRENT_STATUS:
        return f"prescription {status}"
    if res.get("intent") not in ORDER_INTENTS:
        return f"not an order (intent {res.get('intent')})"
    return None


def _when(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def absence(enc: dict[str, Any], at: datetime) -> str | None:
    """Why the patient of this Encounter is not in the establishment at `at` (None: present)."""
    status = enc.get("status")
    period = enc.get("period") or {}
    end, start = _when(period.get("end")), _when(period.get("start"))
    if status == "finished":
        return f"encounter finished{f' on {end.date().isoformat()}' if end else ''}, patient discharged"
    if status not in PRESENT_STATUS:
        return f"encounter {status}: patient not present"
    if end is not None and end <= at:
        return f"encounter ended on {end.date().isoformat()} (period.end), patient discharged"
    if start is not None and start > at:
        return "encounter starts after the export: patient not yet admitted"
    return None


def current_locations(enc: dict[str, Any], at: datetime) -> list[str]:
    """Location references where the patient is now: the active entries of the location history."""
    entries = [e for e in enc.get("location") or [] if isinstance(e.get("location"), dict)]

    def current(e: dict[str, Any]) -> bool:
        end = _when((e.get("period") or {}).get("end"))
        return e.get("status") == "active" or (e.get("status") is None and (end is None or end > at))

    chosen = [e for e in entries if current(e)]
    # the most recent move last: when two beds are active, the newest one wins
    chosen.sort(key=lambda e: _when((e.get("period") or {}).get("start")) or datetime.min.replace(tzinfo=UTC))
    return [str(e["location"].get("reference", "")) for e in chosen]


def stay_of(enc: dict[str, Any], encounters: dict[str, dict[str, Any]]) -> str | None:
    """The stay a movement belongs to (FR Core: the movements of a stay are Encounters whose partOf is
    the stay's Encounter), or None when `enc` is a stay itself."""
    seen: set[str] = set()
    parent = _id_of((enc.get("partOf") or {}).get("reference"))
    while parent in encounters and parent not in seen:
        seen.add(parent)
        up = _id_of((encounters[parent].get("partOf") or {}).get("reference"))
        if up not in encounters:
            return parent
        parent = up
    return None


def movements(encounters: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Stay id -> its movements (only stays that have some)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for enc in encounters.values():
        if enc.get("partOf") and (stay := stay_of(enc, encounters)):
            out.setdefault(stay, []).append(enc)
    return out


def stay_locations(stay: dict[str, Any], moves: dict[str, list[dict[str, Any]]], at: datetime) -> list[str]:
    """Where the patient of a stay is now: the stay's active locations, then its current movement's."""
    refs = current_locations(stay, at)
    now = [e for e in moves.get(str(stay.get("id")), []) if absence(e, at) is None]
    now.sort(key=lambda e: _when((e.get("period") or {}).get("start")) or datetime.min.replace(tzinfo=UTC))
    for move in now:
        refs += current_locations(move, at)
    return refs


def _id_of(ref: Any) -> str | None:
    return ref.rstrip("/").split("/")[-1] if isinstance(ref, str) and "Encounter/" in ref else None


def replaced_by(patient: dict[str, Any]) -> str | None:
    """The id of the Patient this one was merged into (Patient.link replaced-by), if any."""
    for link in patient.get("link") or []:
        if link.get("type") == "replaced-by":
            ref = (link.get("other") or {}).get("reference")
            if isinstance(ref, str):
                return ref.rstrip("/").split("/")[-1]
    return None


def ins_of(patient: dict[str, Any]) -> tuple[str | None, str | None]:
    """(INS number, kind) unless FR Core's identity reliability says the identity is not qualified
    (provisoire, récupérée, validée): an INS may only be used for a qualified identity."""
    status = None
    for ext in patient.get("extension") or []:
        if ext.get("url") == IDENTITY_RELIABILITY:
            for sub in ext.get("extension") or []:
                if sub.get("url") == "identityStatus":
                    status = (sub.get("valueCoding") or {}).get("code")
    for ident in patient.get("identifier") or []:
        kind = INS_SYSTEMS.get(ident.get("system", ""))
        if kind and ident.get("value"):
            if status not in (None, "QUAL"):
                return None, f"INS non qualifiée ({status})"
            return str(ident["value"]), kind
    return None, None


def place_of(locations: dict[str, dict[str, Any]], refs: list[str]) -> dict[str, str]:
    """Unit, room and bed names from the Location references of a stay, each followed up its partOf."""
    out: dict[str, str] = {}
    for ref in refs:  # oldest first: a later (more precise or newer) entry overrides
        chain: dict[str, str] = {}
        loc_id: str | None = ref.rstrip("/").split("/")[-1] if ref else None
        seen: set[str] = set()
        while loc_id and loc_id in locations and loc_id not in seen:
            seen.add(loc_id)
            loc = locations[loc_id]
            kind = next((c.get("code") for c in (loc.get("physicalType") or {}).get("coding") or []), "wa")
            level = {"bd": "bed", "ro": "room"}.get(str(kind), "unit")
            chain.setdefault(level, str(loc.get("name") or loc_id))
            parent = (loc.get("partOf") or {}).get("reference")
            loc_id = str(parent).rstrip("/").split("/")[-1] if isinstance(parent, str) else None
        if "bed" in chain and "bed" in out:
            out = {}  # a newer bed: the room and unit of the old one no longer apply
        out.update(chain)
    return out
