"""The synthetic data generator: deterministic, French, valid FHIR, test INS only."""

from __future__ import annotations

from pathlib import Path

import orjson

from rempart.continuity import synthetic
from rempart.continuity.fhir_import import read_fhir
from tests.continuity.conftest import TAKEN


def test_same_seed_same_bytes_other_seed_other_people(tmp_path: Path) -> None:
    a = synthetic.generate("bellecour", tmp_path / "a", 20, seed=1, taken_at=TAKEN)
    b = synthetic.generate("bellecour", tmp_path / "b", 20, seed=1, taken_at=TAKEN)
    synthetic.generate("bellecour", tmp_path / "c", 20, seed=2, taken_at=TAKEN)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert (tmp_path / "a" / "Patient.ndjson").read_bytes() != (
        tmp_path / "c" / "Patient.ndjson"
    ).read_bytes()


def test_output_is_valid_fhir_with_test_ins_and_atc_codes(tmp_path: Path) -> None:
    synthetic.generate("vercors", tmp_path, 30, seed=4, taken_at=TAKEN, prescriptions=(10, 10), shapes=False)
    result = read_fhir([tmp_path])
    assert result.problems == [] and result.counts()["Patient"] == 30
    assert result.counts()["MedicationRequest"] == 300
    for p in result.resources["Patient"].values():
        ins = next(i for i in p["identifier"] if i["system"] == synthetic.INS_TEST_OID)["value"]
        assert len(ins) == 15 and int(ins[13:]) == 97 - int(ins[:13]) % 97  # valid NIR key
        assert ins[0] == ("1" if p["gender"] == "male" else "2")
    atc = {
        c["code"]
        for r in result.resources["MedicationRequest"].values()
        for c in r["medicationCodeableConcept"]["coding"]
    }
    assert {"N02BE01", "B01AB05", "J01CA04", "C03CA01"} & atc
    units = {
        r["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["code"]
        for r in result.resources["MedicationRequest"].values()
    }
    assert units <= {"g", "mg", "ug", "mL", "[IU]"}


def test_no_penicillin_for_a_penicillin_allergy(tmp_path: Path) -> None:
    res = synthetic.synth_resources("chartrons", 200, seed=8, taken_at=TAKEN, shapes=False)
    allergic = {
        a["patient"]["reference"] for a in res["AllergyIntolerance"] if a["code"]["text"] == "Pénicillines"
    }
    assert allergic
    for r in res["MedicationRequest"]:
        if r["subject"]["reference"] in allergic:
            assert not r["medicationCodeableConcept"]["coding"][0]["code"].startswith("J01C")
    assert orjson.dumps(res)  # serialisable as is
