"""Back-entered paper records as one FHIR R4 transaction Bundle, for re-import into the HIS.

MedicationAdministration for every administration (``completed`` or ``not-done`` with its reason),
MedicationRequest for prescriptions written on paper, Encounter (and Patient) for downtime admissions.
Duplicates are left out. Late entries keep the actual time of care and say they were entered by proxy
from paper (R25). The Bundle is validated with ``fhir.resources`` before it is returned.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from rempart.continuity.backentry import line_of, link_aad
from rempart.continuity.census import Census
from rempart.continuity.snapshot import open_value
from rempart.continuity.synthetic import ATC, UCUM
from rempart.errors import StateError
from rempart.store.models.continuity import EntryRow, IdentityLinkRow

PROVISIONAL_SYSTEM = "urn:rempart:provisional-identity"
NS = uuid.UUID("6f1c3a52-5d1e-4c8e-9a57-0d1f7a2b9e11")


def _urn(*parts: str) -> str:
    return f"urn:uuid:{uuid.uuid5(NS, '|'.join(parts))}"


def _note(row: EntryRow) -> list[dict[str, str]]:
    return [
        {
            "text": f"Saisie différée (par procuration) depuis le formulaire papier {row.serial}, "
            f"documenté pendant le mode dégradé."
        }
    ]


def _ucum(unit: str | None) -> dict[str, Any]:
    code = {"UI": "[IU]", "µg": "ug"}.get(unit or "", unit or "")
    return {"unit": unit, "system": UCUM, "code": code}


class _Builder:
    def __init__(self, census: Census, links: dict[str, str], key: bytes, ipp_system: str) -> None:
        self.census, self.links, self.key, self.ipp_system = census, links, key, ipp_system
        self.entries: list[dict[str, Any]] = []
        self.patient_urls: dict[str, str] = {}
        self.request_urls: dict[str, str] = {}

    def add(self, url: str, resource: dict[str, Any], kind: str) -> None:
        self.entries.append(
            {"fullUrl": url, "resource": resource, "request": {"method": "POST", "url": kind}}
        )

    def patient(self, ref: str) -> str:
        if ref in self.patient_urls:
            return self.patient_urls[ref]
        if ref in self.links:  # merged with the qualified identity: point at it, create nothing
            return f"Patient?identifier={self.ipp_system}|{self.links[ref]}"
        return f"Patient/{ref}"

    def admission(self, row: EntryRow) -> None:
        traits = line_of(row, self.key)
        enc_url = _urn(row.serial, "encounter")
        if row.patient_ref in self.links:
            subject = f"Patient?identifier={self.ipp_system}|{self.links[row.patient_ref]}"
        else:
            subject = _urn(row.serial, "patient")
            self.add(
                subject,
                {
                    "resourceType": "Patient",
                    "identifier": [{"system": PROVISIONAL_SYSTEM, "value": row.patient_ref}],
                    "name": [{"use": "official", "family": traits["family"], "given": [traits["given"]]}],
                    "gender": {"F": "female", "M": "male"}.get(traits["sex"], "unknown"),
                    "birthDate": traits["birth_date"],
                },
                "Patient",
            )
        self.patient_urls[row.patient_ref] = subject
        where = " ".join(str(x) for x in (traits.get("unit"), traits.get("room"), traits.get("bed")) if x)
        self.add(
            enc_url,
            {
                "resourceType": "Encounter",
                "status": "in-progress",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
                "subject": {"reference": subject},
                "period": {"start": row.at.isoformat()},
                "location": [{"location": {"display": where or "non précisé"}, "status": "active"}],
            },
            "Encounter",
        )

    def prescription(self, row: EntryRow) -> None:
        d = line_of(row, self.key)
        url = _urn(row.serial, "rx", str(d["request"]))
        self.request_urls[str(d["request"])] = url
        coding = [{"system": ATC, "code": d["atc"], "display": d["drug"]}] if d.get("atc") else []
        repeat: dict[str, Any] = (
            {"timeOfDay": [f"{t}:00" for t in d.get("times") or []]} if d.get("times") else {}
        )
        self.add(
            url,
            {
                "resourceType": "MedicationRequest",
                "status": "active",
                "intent": "order",
                "identifier": [{"system": "urn:rempart:downtime-prescription", "value": str(d["request"])}],
                "medicationCodeableConcept": {"coding": coding, "text": d["drug"]}
                if coding
                else {"text": d["drug"]},
                "subject": {"reference": self.patient(row.patient_ref)},
                "authoredOn": row.at.isoformat(),
                "requester": {"display": d["prescriber"]},
                "note": _note(row),
                "dosageInstruction": [
                    {
                        "text": f"{d['frequency']}",
                        "route": {"text": d["route"]},
                        "timing": {"repeat": repeat} if repeat else {"code": {"text": d["frequency"]}},
                        "doseAndRate": [{"doseQuantity": {"value": d["dose"], **_ucum(d["unit"])}}],
                    }
                ],
            },
            "MedicationRequest",
        )

    def administration(self, row: EntryRow) -> None:
        d = line_of(row, self.key)
        rid = str(d["request"])
        request = self.request_urls.get(rid, f"MedicationRequest/{rid}")
        res: dict[str, Any] = {
            "resourceType": "MedicationAdministration",
            "status": "completed" if d["given"] else "not-done",
            "medicationCodeableConcept": {"text": d["drug"]},
            "subject": {"reference": self.patient(row.patient_ref)},
            "effectiveDateTime": row.at.isoformat(),
            "request": {"reference": request},
            "performer": [{"actor": {"display": d["nurse"]}}],
            "note": _note(row),
        }
        p = self.census.patient(row.patient_ref)
        if p is not None and p.encounter_id:
            res["context"] = {"reference": f"Encounter/{p.encounter_id}"}
        if d["given"] and d.get("dose") is not None:
            value = float(str(d["dose"]).replace(",", "."))
            res["dosage"] = {"dose": {"value": value, **_ucum(d.get("unit"))}}
        if not d["given"]:
            res["statusReason"] = [{"text": d.get("reason") or "non précisé"}]
        self.add(_urn(row.serial, "ma", str(row.id)), res, "MedicationAdministration")


def export_bundle(
    census: Census, rows: list[EntryRow], links: list[IdentityLinkRow], key: bytes, at: datetime
) -> dict[str, Any]:
    ipp_system = next(
        (p.ipp_system for p in census.patients() if p.ipp_system), f"urn:rempart:ipp:{census.establishment}"
    )
    real = {
        link.provisional_id: open_value(
            key, link_aad(link.establishment, link.provisional_id), link.real_identifier
        )
        for link in links
    }
    b = _Builder(census, real, key, ipp_system)
    kept = [r for r in rows if r.duplicate_of is None]
    for kind, make in (
        ("admission", b.admission),
        ("prescription", b.prescription),
        ("administration", b.administration),
    ):
        for row in kept:
            if row.kind == kind:
                make(row)
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "timestamp": at.isoformat(),
        "entry": b.entries,
    }
    try:
        get_fhir_model_class("Bundle").model_validate(bundle)
    except ValidationError as exc:  # our own output: a bug, but say which field rather than crash later
        raise StateError(
            f"the export Bundle is not valid FHIR: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}"
        ) from None
    return bundle
