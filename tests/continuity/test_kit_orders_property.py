"""Property: for generated snapshots, every current order of every present patient is printed once, on
that patient's own pages, and nothing else is — read back from the PDF, whatever FHIR shapes carry it."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rempart.continuity import kit_pdf, kits
from rempart.continuity.census import build_census
from rempart.continuity.fhir_import import read_fhir
from rempart.continuity.snapshot import Snapshot
from rempart.domain.inventory import Group
from tests.conftest import need
from tests.continuity.conftest import NOW, TAKEN

# what this test expects, stated apart from the code under test
PRESENT = {"in-progress", "arrived", "triaged", "onleave"}
PRINTED = {"active", "on-hold"}
ORDERS = {"order", "original-order", "instance-order"}

order = st.fixed_dictionaries(
    {
        "status": st.sampled_from(
            ["active", "active", "on-hold", "stopped", "completed", "cancelled", "entered-in-error", "draft"]
        ),
        "intent": st.sampled_from(["order", "order", "original-order", "instance-order", "plan", "proposal"]),
        "med": st.sampled_from(["text", "coding", "reference", "contained", "missing-reference"]),
        "dose": st.sampled_from(["quantity", "range", "text"]),
        "old_stay": st.booleans(),  # written on an earlier, finished stay of the same patient
    }
)
patient = st.fixed_dictionaries(
    {
        "status": st.sampled_from(
            ["in-progress", "in-progress", "onleave", "finished", "planned", "cancelled"]
        ),
        "ended": st.booleans(),  # period.end before the export
        "bed": st.booleans(),
        "orders": st.lists(order, max_size=4),
    }
)


def _ref(kind: str, rid: str) -> dict[str, str]:
    return {"reference": f"{kind}/{rid}"}


def _snapshot(
    spec: list[dict[str, Any]],
) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, list[int]]]:
    """FHIR resources for the spec, and for each patient that must be listed, the orders it must show."""
    res: dict[str, dict[str, dict[str, Any]]] = {
        k: {} for k in ("Location", "Patient", "Encounter", "Medication", "MedicationRequest")
    }
    res["Location"]["w"] = {
        "resourceType": "Location",
        "id": "w",
        "name": "Unité W",
        "physicalType": {"coding": [{"code": "wa"}]},
    }
    expected: dict[str, list[int]] = {}
    k = 0
    for i, p in enumerate(spec):
        pid, eid = f"p{i}", f"e{i}"
        res["Patient"][pid] = {
            "resourceType": "Patient",
            "id": pid,
            "name": [{"family": f"Nom{i:02d}x", "given": ["Test"]}],
            "birthDate": "1950-01-01",
        }
        where = "w"
        if p["bed"]:
            where = f"b{i}"
            res["Location"][where] = {
                "resourceType": "Location",
                "id": where,
                "name": f"Lit {i}",
                "physicalType": {"coding": [{"code": "bd"}]},
                "partOf": _ref("Location", "w"),
            }
        period: dict[str, str] = {"start": "2026-11-20T08:00:00+00:00"}
        if p["ended"]:
            period["end"] = "2026-11-27T08:00:00+00:00"
        for stay, status in ((eid, p["status"]), (f"{eid}-old", "finished")):
            res["Encounter"][stay] = {
                "resourceType": "Encounter",
                "id": stay,
                "status": status,
                "class": {"code": "IMP"},
                "subject": _ref("Patient", pid),
                "period": period
                if stay == eid
                else {"start": "2026-10-01T08:00:00+00:00", "end": "2026-10-09T08:00:00+00:00"},
                "location": [{"location": _ref("Location", where), "status": "active"}],
            }
        present = p["status"] in PRESENT and not p["ended"]
        if present:
            expected[pid] = []
        for o in p["orders"]:
            k += 1
            rid = f"rx{k}"
            name = f"PRODUIT{k:03d}"
            mr: dict[str, Any] = {
                "resourceType": "MedicationRequest",
                "id": rid,
                "status": o["status"],
                "intent": o["intent"],
                "subject": _ref("Patient", pid),
                "encounter": _ref("Encounter", f"{eid}-old" if o["old_stay"] else eid),
            }
            if o["med"] == "text":
                mr["medicationCodeableConcept"] = {"text": name}
            elif o["med"] == "coding":
                mr["medicationCodeableConcept"] = {
                    "coding": [{"system": "http://www.whocc.no/atc", "code": "X", "display": name}]
                }
            elif o["med"] == "contained":
                mr["contained"] = [{"resourceType": "Medication", "id": "m", "code": {"text": name}}]
                mr["medicationReference"] = {"reference": "#m"}
            else:
                mr["medicationReference"] = _ref("Medication", f"med{k}")
                if o["med"] == "reference":
                    res["Medication"][f"med{k}"] = {
                        "resourceType": "Medication",
                        "id": f"med{k}",
                        "code": {"text": name},
                    }
            dose: dict[str, Any] = {
                "route": {"text": "IV"},
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            }
            quantity = {"value": 5000 + k, "unit": "mg"}
            if o["dose"] == "quantity" or o["med"] == "missing-reference":  # something to find it by
                dose["doseAndRate"] = [{"doseQuantity": quantity}]
            elif o["dose"] == "range":
                dose["doseAndRate"] = [
                    {"doseRange": {"low": quantity, "high": {"value": 9000 + k, "unit": "mg"}}}
                ]
            else:
                dose["text"] = "selon protocole"
            mr["dosageInstruction"] = [dose]
            res["MedicationRequest"][rid] = mr
            if present and o["status"] in PRINTED and o["intent"] in ORDERS and not o["old_stay"]:
                expected[pid].append(k)
    return res, expected


def _pages(pdf: Path) -> list[str]:
    out = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    return out.split("\f")[:-1]


def _token(k: int, res: dict[str, Any]) -> re.Pattern[str]:
    # the drug name when the export gives one, else the dose: each unique to its order
    mr = res["MedicationRequest"][f"rx{k}"]
    known = (
        "medicationCodeableConcept" in mr
        or "contained" in mr
        or mr["medicationReference"]["reference"].removeprefix("Medication/") in res["Medication"]
    )
    return re.compile(rf"\bPRODUIT{k:03d}\b" if known else rf"(?<![\d,]){5000 + k}(?![\d,])")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(patient, min_size=1, max_size=6))
def test_every_current_order_of_every_present_patient_once_on_its_own_pages(
    group: Group, spec: list[dict[str, Any]]
) -> None:
    need(shutil.which("pdftotext") is not None, "poppler-utils (pdftotext) not installed")
    res, expected = _snapshot(spec)
    census = build_census(Snapshot("capitouls", TAKEN, res))
    assert sorted(p.id for p in census.patients()) == sorted(expected)
    plan = kits.plan_kit(census, group, group.establishment("capitouls"), 1, NOW)
    with tempfile.TemporaryDirectory() as out:
        pages = [pg for f in kit_pdf.render_kit(plan, Path(out)) for pg in _pages(f)]
    sheets = [pg for pg in pages if "Prescriptions en cours" in pg]
    text = "\n".join(pages)
    for pid, ks in expected.items():
        serial = next(u.mars[pid].serial for u in plan.units if pid in u.mars)
        mine = "\n".join(pg for pg in sheets if f"N° {serial}" in pg)
        others = "\n".join(pg for pg in sheets if f"N° {serial}" not in pg)
        for k in ks:
            tok = _token(k, res)
            # the drug name is on its row and its grid label; a dose is on its row only
            assert len(tok.findall(mine)) == (2 if "PRODUIT" in tok.pattern else 1), (pid, k)
            assert not tok.search(others), (pid, k)
        assert len(re.findall(r"^\s*\d+ · ", mine, re.M)) == len(ks), pid
    printed = {k for ks in expected.values() for k in ks}
    for k in range(1, len(res["MedicationRequest"]) + 1):
        if k not in printed:
            assert not re.search(rf"\bPRODUIT{k:03d}\b|(?<![\d,]){5000 + k}(?![\d,])", text), k
    for i in range(len(spec)):
        assert (f"NOM{i:02d}X" in text) == (f"p{i}" in expected)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(patient, min_size=1, max_size=6))
def test_the_import_keeps_what_the_census_prints(tmp_path: Path, spec: list[dict[str, Any]]) -> None:
    # through the files an HIS writes: the import's filtering gives the census the same patients and orders
    res, expected = _snapshot(spec)
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    import orjson

    for kind, items in res.items():
        (folder / f"{kind}.ndjson").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in items.values()))
    result = read_fhir([folder], TAKEN)
    census = build_census(Snapshot("capitouls", TAKEN, result.resources))
    got = {p.id: sorted(int(rx.request_id[2:]) for rx in p.prescriptions) for p in census.patients()}
    assert got == {pid: sorted(ks) for pid, ks in expected.items()}
    assert result.problems == []
