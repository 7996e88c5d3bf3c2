"""Synthetic French inpatient data as FHIR R4 NDJSON (bulk-export layout), deterministic for a seed.

Every person is invented. INS numbers carry the INS *test* OID (…4.10) and a valid NIR key, so that they
can never be mistaken for real identities. Drugs are common inpatient ones with their ATC codes, doses
in UCUM units, routes and administration times.

With ``shapes`` (the default) the data look the way hospital information systems export them: one order
in three names its drug through a ``medicationReference`` to a ``Medication`` of the export, and in every
run of 35 patients one has left (a finished stay, still exported with its orders) and one is in a unit
without a bed yet.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from rempart.continuity.fhir_import import RESOURCE_TYPES

INS_TEST_OID = "urn:oid:1.2.250.1.213.1.4.10"
RPPS_OID = "urn:oid:1.2.250.1.71.4.2.1"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"

FAMILY = [
    "Martin",
    "Bernard",
    "Thomas",
    "Petit",
    "Robert",
    "Richard",
    "Durand",
    "Dubois",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Lefèbvre",
    "Leroy",
    "Roux",
    "David",
    "Bertrand",
    "Morel",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupont",
    "Lambert",
    "Fontaine",
    "Rousseau",
    "Vincent",
    "Müller",
    "Lefèvre",
    "Faure",
    "André",
    "Mercier",
    "Blanc",
    "Guérin",
    "Boyer",
    "Garnier",
    "Chevalier",
    "François",
    "Legrand",
    "Gauthier",
    "Garcia",
    "Perrin",
    "Robin",
    "Clément",
    "Morin",
    "Nicolas",
    "Henry",
    "Roussel",
    "Mathieu",
    "Gautier",
    "Masson",
    "Marchand",
    "Duval",
    "Denis",
    "Dumont",
    "Marie",
    "Lemaire",
    "Noël",
    "Meyer",
    "Dufour",
    "Meunier",
    "Brun",
    "Blanchard",
    "Giraud",
    "Joly",
    "Rivière",
    "Lucas",
    "Brunet",
    "Gaillard",
    "Barbier",
    "Arnaud",
    "Martínez",
    "Gérard",
    "Roche",
    "Renard",
    "Schmitt",
    "Roy",
    "Leroux",
    "Colin",
    "Vidal",
    "Caron",
    "Picard",
    "Roger",
    "Fabre",
    "Aubert",
    "Lemoine",
    "Renaud",
    "Dumas",
    "Lacroix",
    "Olivier",
    "Philippe",
    "Bourgeois",
    "Pierre",
    "Benoît",
    "Rey",
    "Leclerc",
    "Payet",
    "Rolland",
    "Lecomte",
    "Étienne",
    "Carré",
    "Bréchet",
    "Œuvray",
    # names WinAnsi cannot print: the kits must show them as written (an embedded font)
    "Dvořák",
    "Nguyễn",
    "Łukasiewicz",
]
GIVEN_F = [
    "Marie",
    "Jeanne",
    "Françoise",
    "Monique",
    "Catherine",
    "Nathalie",
    "Isabelle",
    "Sylvie",
    "Anne",
    "Martine",
    "Christine",
    "Hélène",
    "Valérie",
    "Chantal",
    "Élise",
    "Josiane",
    "Geneviève",
    "Odette",
    "Léa",
    "Chloé",
    "Manon",
    "Camille",
    "Inès",
    "Zoé",
    "Agnès",
    "Bérénice",
    "Maëlle",
    "Noémie",
]
GIVEN_M = [
    "Jean",
    "Pierre",
    "Michel",
    "André",
    "Philippe",
    "René",
    "Louis",
    "Alain",
    "Jacques",
    "Bernard",
    "Marcel",
    "Daniel",
    "Roger",
    "Claude",
    "Gérard",
    "François",
    "Hervé",
    "Benoît",
    "Joël",
    "Loïc",
    "Théo",
    "Hugo",
    "Lucas",
    "Jérôme",
    "Stéphane",
    "Raphaël",
    "Gaël",
    "Noël",
    "Aurélien",
]
UNITS = (
    ("med", "Médecine polyvalente"),
    ("chir", "Chirurgie orthopédique"),
    ("ger", "Gériatrie"),
    ("ssr", "Soins de suite et de réadaptation (SSR)"),
    ("card", "Cardiologie"),
    ("pneumo", "Pneumologie"),
)
ALLERGIES = ("Pénicillines", "Produits de contraste iodés", "Latex", "AINS", "Sulfamides", "Codéine")


@dataclass(frozen=True)
class Drug:
    name: str
    atc: str
    dose: float
    unit: str  # as printed
    code: str  # UCUM
    route: str  # French, as printed
    times: tuple[str, ...]  # planned local times; empty with prn
    prn: bool = False
    hourly: float | None = None  # "toutes les N h" rather than N times a day

    @property
    def allergen(self) -> str | None:
        return (
            "Pénicillines"
            if self.atc.startswith("J01C")
            else ("AINS" if self.atc.startswith("M01A") else None)
        )


DRUGS = (
    Drug("Paracétamol", "N02BE01", 1, "g", "g", "per os", ("06:00", "12:00", "18:00", "00:00"), hourly=6),
    Drug("Enoxaparine", "B01AB05", 4000, "UI", "[IU]", "SC", ("20:00",)),
    Drug("Amoxicilline", "J01CA04", 1, "g", "g", "per os", ("08:00", "14:00", "20:00")),
    Drug("Furosémide", "C03CA01", 40, "mg", "mg", "per os", ("08:00",)),
    Drug("Insuline asparte", "A10AB05", 6, "UI", "[IU]", "SC", ("07:30", "12:00", "19:00")),
    Drug("Insuline glargine", "A10AE04", 14, "UI", "[IU]", "SC", ("22:00",)),
    Drug("Pantoprazole", "A02BC02", 40, "mg", "mg", "per os", ("08:00",)),
    Drug("Amlodipine", "C08CA01", 5, "mg", "mg", "per os", ("08:00",)),
    Drug("Bisoprolol", "C07AB07", 2.5, "mg", "mg", "per os", ("08:00",)),
    Drug("Ramipril", "C09AA05", 5, "mg", "mg", "per os", ("08:00",)),
    Drug("Atorvastatine", "C10AA05", 20, "mg", "mg", "per os", ("20:00",)),
    Drug("Lévothyroxine", "H03AA01", 75, "µg", "ug", "per os", ("07:00",)),
    Drug("Morphine", "N02AA01", 5, "mg", "mg", "SC", (), prn=True),
    Drug("Tramadol", "N02AX02", 50, "mg", "mg", "per os", ("08:00", "14:00", "20:00")),
    Drug("Ceftriaxone", "J01DD04", 1, "g", "g", "IV", ("10:00",)),
    Drug("Metformine", "A10BA02", 1000, "mg", "mg", "per os", ("08:00", "20:00")),
    Drug("Oxazépam", "N05BA04", 10, "mg", "mg", "per os", ("21:00",)),
    Drug("Macrogol", "A06AD15", 10, "g", "g", "per os", ("08:00",)),
    Drug("Chlorure de potassium", "A12BA01", 1, "g", "g", "per os", ("08:00", "20:00")),
    Drug("Apixaban", "B01AF02", 5, "mg", "mg", "per os", ("08:00", "20:00")),
    Drug("Métoclopramide", "A03FA01", 10, "mg", "mg", "IV", (), prn=True),
    Drug("Chlorure de sodium 0,9 %", "B05BB01", 1000, "mL", "mL", "IV", ("08:00",)),
    Drug("Prednisolone", "H02AB06", 20, "mg", "mg", "per os", ("08:00",)),
    Drug("Zopiclone", "N05CF01", 7.5, "mg", "mg", "per os", ("22:00",)),
    Drug("Kétoprofène", "M01AE03", 100, "mg", "mg", "per os", ("08:00", "20:00")),
)


def _nir(rng: random.Random, sex: str, birth: date) -> str:
    dept = f"{rng.choice((31, 33, 40, 63, 69, 81, 87, 64)):02d}"
    body = (
        f"{1 if sex == 'male' else 2}{birth.year % 100:02d}{birth.month:02d}{dept}{rng.randint(1, 999):03d}"
    )
    body += f"{rng.randint(1, 999):03d}"
    return body + f"{97 - int(body) % 97:02d}"


def _ref(kind: str, rid: str) -> dict[str, str]:
    return {"reference": f"{kind}/{rid}"}


DISCHARGED, BEDLESS, EVERY = 34, 33, 35  # patient i with i % EVERY == DISCHARGED has left…


def _medication(est: str, drug: Drug) -> dict[str, Any]:
    return {
        "resourceType": "Medication",
        "id": f"{est}-med-{drug.atc.lower()}",
        "code": {"coding": [{"system": ATC, "code": drug.atc, "display": drug.name}]},
    }


def _request(rid: str, pid: str, eid: str, doc: str, drug: Drug, authored: datetime) -> dict[str, Any]:
    repeat: dict[str, Any]
    if drug.hourly:
        repeat = {
            "frequency": 1,
            "period": drug.hourly,
            "periodUnit": "h",
            "timeOfDay": [f"{t}:00" for t in drug.times],
        }
    elif drug.prn:
        repeat = {"frequency": 1, "period": 4, "periodUnit": "h"}
    else:
        repeat = {
            "frequency": len(drug.times),
            "period": 1,
            "periodUnit": "d",
            "timeOfDay": [f"{t}:00" for t in drug.times],
        }
    dosage: dict[str, Any] = {
        "sequence": 1,
        "timing": {"repeat": repeat},
        "route": {"text": drug.route},
        "doseAndRate": [
            {"doseQuantity": {"value": drug.dose, "unit": drug.unit, "system": UCUM, "code": drug.code}}
        ],
    }
    if drug.prn:
        dosage["asNeededBoolean"] = True
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": ATC, "code": drug.atc, "display": drug.name}],
            "text": drug.name,
        },
        "subject": _ref("Patient", pid),
        "encounter": _ref("Encounter", eid),
        "requester": _ref("Practitioner", doc),
        "authoredOn": authored.isoformat(),
        "dosageInstruction": [dosage],
    }


def synth_resources(
    establishment: str,
    patients: int,
    seed: int = 0,
    taken_at: datetime | None = None,
    prescriptions: tuple[int, int] = (3, 8),
    units: int | None = None,
    shapes: bool = True,
) -> dict[str, list[dict[str, Any]]]:
    """FHIR resources for one establishment: same seed and arguments, same output."""
    rng = random.Random(f"{seed}:{establishment}")
    taken = (taken_at or datetime(2026, 1, 1, tzinfo=UTC)).astimezone(UTC)
    n_units = units or min(len(UNITS), max(2, patients // 25 + 2))
    chosen = sorted(rng.sample(range(len(UNITS)), n_units))
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in RESOURCE_TYPES}
    docs: dict[int, list[str]] = {}
    for u in chosen:
        code, name = UNITS[u]
        uid = f"{establishment}-{code}"
        out["Location"].append(
            {
                "resourceType": "Location",
                "id": uid,
                "name": name,
                "status": "active",
                "mode": "instance",
                "physicalType": {"coding": [{"code": "wa", "display": "Ward"}]},
            }
        )
        docs[u] = []
        for k in range(2):
            did = f"{uid}-dr{k + 1}"
            docs[u].append(did)
            out["Practitioner"].append(
                {
                    "resourceType": "Practitioner",
                    "id": did,
                    "identifier": [{"system": RPPS_OID, "value": f"10{rng.randint(0, 999_999_999):09d}"}],
                    "name": [
                        {
                            "family": rng.choice(FAMILY),
                            "given": [rng.choice(GIVEN_F + GIVEN_M)],
                            "prefix": ["Dr"],
                        }
                    ],
                }
            )
    for i in range(patients):
        u = chosen[i % n_units]
        _patient(out, rng, establishment, (i, i // n_units), u, docs[u][i % 2], taken, prescriptions)
    if shapes:
        _hospital_shapes(out, establishment, taken)
    return out


def _hospital_shapes(out: dict[str, list[dict[str, Any]]], est: str, taken: datetime) -> None:
    """Rewrite some resources into the shapes of real exports (see the module docstring)."""
    by_name = {d.name: d for d in DRUGS}
    used: dict[str, dict[str, Any]] = {}
    for k, mr in enumerate(out["MedicationRequest"]):
        if k % 3 != 2:
            continue
        drug = by_name[mr["medicationCodeableConcept"]["text"]]
        med = used.setdefault(drug.atc, _medication(est, drug))
        del mr["medicationCodeableConcept"]
        mr["medicationReference"] = _ref("Medication", med["id"])
    out["Medication"] = sorted(used.values(), key=lambda m: str(m["id"]))
    for i, enc in enumerate(out["Encounter"]):
        if i % EVERY == DISCHARGED:
            enc["status"] = "finished"
            enc["period"]["end"] = (taken - timedelta(hours=3)).isoformat()
            enc["location"][0]["status"] = "completed"
        elif i % EVERY == BEDLESS:
            # admitted to the unit, the bed not yet given: the stay points at the ward itself
            bed = enc["location"][0]["location"]["reference"].split("/", 1)[1]
            room = next(loc for loc in out["Location"] if loc["id"] == bed)["partOf"]["reference"]
            ward = next(loc for loc in out["Location"] if f"Location/{loc['id']}" == room)["partOf"]
            enc["location"] = [{"location": dict(ward), "status": "active"}]


def _patient(
    out: dict[str, list[dict[str, Any]]],
    rng: random.Random,
    est: str,
    index: tuple[int, int],
    u: int,
    doc: str,
    taken: datetime,
    prescriptions: tuple[int, int],
) -> None:
    i, j = index  # in the establishment, in the unit (two beds a room)
    code = UNITS[u][0]
    pid, eid = f"{est}-p{i + 1:04d}", f"{est}-e{i + 1:04d}"
    sex = rng.choice(("female", "male"))
    birth = date(rng.randint(1928, 2004), rng.randint(1, 12), rng.randint(1, 28))
    room = 100 * (1 + u) + j // 2 + 1
    bed = "AB"[j % 2]
    room_id, bed_id = f"{est}-{code}-ch{room}", f"{est}-{code}-lit{room}-{bed}"
    if j % 2 == 0:
        out["Location"].append(
            {
                "resourceType": "Location",
                "id": room_id,
                "name": f"Chambre {room}",
                "status": "active",
                "physicalType": {"coding": [{"code": "ro", "display": "Room"}]},
                "partOf": _ref("Location", f"{est}-{code}"),
            }
        )
    out["Location"].append(
        {
            "resourceType": "Location",
            "id": bed_id,
            "name": f"Lit {room}-{bed}",
            "status": "active",
            "physicalType": {"coding": [{"code": "bd", "display": "Bed"}]},
            "partOf": _ref("Location", room_id),
        }
    )
    out["Patient"].append(
        {
            "resourceType": "Patient",
            "id": pid,
            "identifier": [
                {
                    "use": "official",
                    "system": INS_TEST_OID,
                    "value": _nir(rng, sex, birth),
                    "type": {
                        "coding": [
                            {
                                "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203",
                                "code": "INS-NIR-TEST",
                            }
                        ]
                    },
                },
                {
                    "use": "usual",
                    "system": f"https://horizon-sante.example/fhir/ipp/{est}",
                    "value": f"{9000000 + i + 1}",
                    "type": {
                        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PI"}]
                    },
                },
            ],
            "name": [
                {
                    "use": "official",
                    "family": rng.choice(FAMILY),
                    "given": [rng.choice(GIVEN_F if sex == "female" else GIVEN_M)],
                }
            ],
            "gender": sex,
            "birthDate": birth.isoformat(),
        }
    )
    admitted = taken - timedelta(days=rng.randint(0, 20), hours=rng.randint(0, 23))
    out["Encounter"].append(
        {
            "resourceType": "Encounter",
            "id": eid,
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": _ref("Patient", pid),
            "period": {"start": admitted.isoformat()},
            "location": [{"location": _ref("Location", bed_id), "status": "active"}],
            "participant": [{"individual": _ref("Practitioner", doc)}],
        }
    )
    allergies = rng.sample(ALLERGIES, k=rng.choice((0, 0, 0, 1, 1, 2)))
    for k, a in enumerate(allergies):
        out["AllergyIntolerance"].append(
            {
                "resourceType": "AllergyIntolerance",
                "id": f"{pid}-al{k + 1}",
                "patient": _ref("Patient", pid),
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                            "code": "active",
                        }
                    ]
                },
                "code": {"text": a},
                "criticality": "high" if a == "Pénicillines" else "low",
            }
        )
    allowed = [d for d in DRUGS if d.allergen not in allergies]
    for k, drug in enumerate(rng.sample(allowed, k=rng.randint(*prescriptions))):
        out["MedicationRequest"].append(_request(f"{pid}-rx{k + 1:02d}", pid, eid, doc, drug, admitted))


def write_ndjson(resources: dict[str, list[dict[str, Any]]], out_dir: Path, taken_at: datetime) -> list[Path]:
    """One file per resource type, plus the bulk-export manifest that carries the export time."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, items in resources.items():
        path = out_dir / f"{kind}.ndjson"
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in items))
        paths.append(path)
    manifest = {
        "transactionTime": taken_at.astimezone(UTC).isoformat(),
        "requiresAccessToken": False,
        "output": [{"type": k, "url": f"{k}.ndjson"} for k in resources],
        "error": [],
    }
    (out_dir / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return paths


def generate(
    establishment: str,
    out_dir: Path,
    patients: int = 60,
    seed: int = 0,
    taken_at: datetime | None = None,
    prescriptions: tuple[int, int] = (3, 8),
    shapes: bool = True,
) -> list[Path]:
    taken = taken_at or datetime.now(UTC)
    res = synth_resources(establishment, patients, seed, taken, prescriptions, shapes=shapes)
    return write_ndjson(res, out_dir, taken)
