"""Bad FHIR input: every problem named with its file, line or entry, id and reason; the rest kept."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from rempart.continuity import synthetic
from rempart.continuity.fhir_import import read_fhir
from rempart.errors import InputError
from tests.continuity.conftest import TAKEN


def _lines(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [orjson.loads(x) for x in path.read_bytes().splitlines()]


def test_good_export_is_kept_whole(fhir_dir: Path) -> None:
    result = read_fhir([fhir_dir])
    assert result.problems == []
    assert result.counts()["Patient"] == 24 and result.taken_at == TAKEN


def test_bad_resources_are_reported_and_the_rest_kept(fhir_dir: Path) -> None:
    patients = fhir_dir / "Patient.ndjson"
    lines = patients.read_bytes().splitlines()
    lines[2] = b'{"resourceType": "Patient", "id": "broken", "birthDate": "12/03/1950"'  # invalid JSON
    lines[4] = b'{"resourceType": "Patient", "birthDate": "1950-03-12"}'  # no id
    lines[5] = orjson.dumps({**orjson.loads(lines[5]), "birthDate": "12/03/1950"})  # not a FHIR date
    patients.write_bytes(b"\n".join(lines) + b"\n")
    rx = fhir_dir / "MedicationRequest.ndjson"
    reqs = _lines(rx)
    reqs[0]["subject"] = {"reference": "Patient/nobody"}  # unknown reference
    del reqs[1]["subject"]  # missing required field
    reqs[2]["dosageInstruction"][0]["doseAndRate"] = []  # kept, its dose printed as unknown
    rx.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in reqs))

    result = read_fhir([fhir_dir])
    text = [str(p) for p in result.problems]
    assert any("Patient.ndjson:3" in t and "invalid JSON" in t for t in text)
    assert any("Patient.ndjson:5" in t and "id" in t for t in text)
    assert any("Patient.ndjson:6" in t and "birthDate" in t for t in text)
    assert any(
        "MedicationRequest.ndjson:1" in t and reqs[0]["id"] in t and "unknown reference Patient/nobody" in t
        for t in text
    )
    assert any("MedicationRequest.ndjson:2" in t and "subject" in t and "missing" in t for t in text)
    assert any("MedicationRequest.ndjson:3" in str(u) and "dose" in u.reason for u in result.unknowns)
    # the three broken patients drop their stays and prescriptions, each reported; everything else stays
    assert result.counts()["Patient"] == 21
    dropped_rx = {
        p.resource for p in result.problems if p.resource and p.resource.startswith("MedicationRequest/")
    }
    assert result.counts()["MedicationRequest"] == len(reqs) - len(dropped_rx)
    assert all(
        "unknown reference" in str(p) for p in result.problems if str(p.resource).startswith("Encounter/")
    )


def test_bundle_input_names_the_entry(tmp_path: Path) -> None:
    res = synthetic.synth_resources("dombes", 3, seed=1, taken_at=TAKEN)
    entries = [{"resource": r} for items in res.values() for r in items]
    entries[0]["resource"] = {"resourceType": "Practitioner", "id": "x", "name": "not a list"}
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": TAKEN.isoformat(),
        "entry": entries,
    }
    path = tmp_path / "export.json"
    path.write_bytes(orjson.dumps(bundle))
    result = read_fhir([path])
    assert result.taken_at == TAKEN
    assert [str(p.location) for p in result.problems][:1] == [f"{path}, field 'entry[0]'"]
    assert result.counts()["Patient"] == 3


def test_inactive_and_foreign_resources_are_skipped_not_errors(fhir_dir: Path) -> None:
    rx = fhir_dir / "MedicationRequest.ndjson"
    reqs = _lines(rx)
    reqs[0]["status"] = "stopped"
    rx.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in reqs))
    (fhir_dir / "Observation.ndjson").write_text('{"resourceType": "Observation", "id": "o1"}\n')
    result = read_fhir([fhir_dir])
    assert result.problems == []
    assert result.skipped == {"prescription stopped": 1, "Observation": 1}


def test_nothing_to_read_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_fhir([tmp_path / "missing"])
    with pytest.raises(InputError, match="no FHIR file"):
        read_fhir([tmp_path])
