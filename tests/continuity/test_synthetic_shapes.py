"""The synthetic data carry the shapes real exports have, so that the demo's kits show them."""

from __future__ import annotations

from pathlib import Path

from rempart.continuity import synthetic
from rempart.continuity.census import NO_UNIT, build_census
from rempart.continuity.fhir_import import read_fhir
from rempart.continuity.snapshot import Snapshot
from tests.continuity.conftest import TAKEN


def test_medication_references_a_discharged_patient_and_one_without_a_bed(tmp_path: Path) -> None:
    synthetic.generate("vercors", tmp_path, 36, seed=4, taken_at=TAKEN, prescriptions=(3, 3))
    result = read_fhir([tmp_path])
    assert result.problems == []
    refs = [r for r in result.resources["MedicationRequest"].values() if "medicationReference" in r]
    assert refs and len(refs) < len(result.resources["MedicationRequest"])
    census = build_census(Snapshot("vercors", TAKEN, result.resources))
    # every referenced drug is printed by its name, as the inline ones are
    printed = {rx.request_id: rx for p in census.patients() for rx in p.prescriptions}
    names = {d.atc: d.name.upper() for d in synthetic.DRUGS}
    for r in refs:
        if r["id"] in printed:
            med = result.resources["Medication"][r["medicationReference"]["reference"].split("/")[1]]
            assert printed[r["id"]].drug == names[med["code"]["coding"][0]["code"]]
    assert [p.reason for p in result.left_out if p.resource == "Patient/vercors-p0035"] == [
        "encounter finished on 2026-11-28, patient discharged"
    ]
    assert census.patient("vercors-p0035") is None and len(census.patients()) == 35
    bedless = [p for p in census.patients() if not p.has_bed]
    assert [p.id for p in bedless] == ["vercors-p0034"] and bedless[0].unit != NO_UNIT
    assert [u.resource for u in result.unknowns] == ["Encounter/vercors-e0034"]
