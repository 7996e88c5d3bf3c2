"""The FHIR shapes real exports use, from a corpus written by hand (fixtures/fhir-shapes), read back from the
printed kit with pdftotext and compared line by line with expected.yaml: drug, dose, unit, route,
frequency and times, on each patient's own pages; and the import report, entry by entry."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from rempart.cli.app import app
from rempart.continuity import kit_pdf, kits
from rempart.continuity.census import Census, build_census
from rempart.continuity.fhir_import import ImportProblem, read_fhir
from rempart.continuity.snapshot import Snapshot
from rempart.domain.inventory import Group
from tests.conftest import need
from tests.identities.helpers import People

CORPUS = Path(__file__).parent / "fixtures" / "fhir-shapes"
EXPECTED: dict[str, Any] = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))
SOURCES = [k for k in EXPECTED if k != "taken_at"]
WITH_KITS = [k for k in SOURCES if "patients" in EXPECTED[k]]


def pages_of(pdf: Path) -> list[str]:
    out = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    return out.split("\f")[:-1]


def cells_pattern(number: int, cells: list[str]) -> re.Pattern[str]:
    """One table row as pdftotext -layout prints it: the cells in order, whole, on one line."""
    parts = [r"\s+".join(re.escape(w) for w in str(c).split()) for c in cells]
    return re.compile(rf"^\s*{number}\s+" + r"\s+".join(parts) + r"\s*$", re.M)


def _matches(actual: list[ImportProblem], expected: list[list[Any]]) -> None:
    got = [(str(p.location), p.resource, p.reason) for p in actual]
    assert len(got) == len(expected), got
    for where, resource, words in expected:
        hits = [g for g in got if where in g[0] and g[1] == resource and words in g[2]]
        assert len(hits) == 1, (where, resource, words, got)


@pytest.mark.parametrize("source", SOURCES)
def test_import_report_names_each_refusal_omission_and_unknown(source: str) -> None:
    exp = EXPECTED[source]
    result = read_fhir([CORPUS / source])
    _matches(result.problems, exp.get("refused", []))
    _matches(result.left_out, exp.get("left_out", []))
    _matches(result.unknowns, exp.get("unknown", []))
    assert result.counts()["unknown values"] == len(exp.get("unknown", []))
    if "skipped" in exp:
        assert result.skipped == exp["skipped"]


def _kit(source: str, group: Group, out: Path) -> tuple[Census, kits.KitPlan, list[str]]:
    result = read_fhir([CORPUS / source])
    assert result.taken_at is not None
    census = build_census(Snapshot("capitouls", result.taken_at, result.resources))
    at = result.taken_at + timedelta(minutes=80)
    plan = kits.plan_kit(census, group, group.establishment("capitouls"), 1, at, "INC-0042", at)
    pages = [pg for f in kit_pdf.render_kit(plan, out) for pg in pages_of(f)]
    return census, plan, pages


@pytest.fixture(scope="module")
def printed(
    tmp_path_factory: pytest.TempPathFactory, group: Group
) -> dict[str, tuple[Census, kits.KitPlan, list[str]]]:
    need(shutil.which("pdftotext") is not None, "poppler-utils (pdftotext) not installed")
    return {s: _kit(s, group, tmp_path_factory.mktemp("shapes")) for s in WITH_KITS}


@pytest.mark.parametrize("source", WITH_KITS)
def test_each_patient_pages_print_exactly_the_expected_lines(source: str, printed: Any) -> None:
    census, plan, pages = printed[source]
    exp = EXPECTED[source]["patients"]
    assert sorted(p.ipp or "" for p in census.patients()) == sorted(exp)
    for p in census.patients():
        want = exp[p.ipp]
        serial = next(u.mars[p.id].serial for u in plan.units if p.id in u.mars)
        mine = [pg for pg in pages if f"N° {serial}" in pg]
        others = [pg for pg in pages if pg not in mine and "Liste des patients" not in pg]
        flat = " ".join(" ".join(mine).split())
        assert want["name"] in flat and f"IPP {p.ipp}" in flat
        assert f"{want['place']} — Médecin" in flat
        if "ins" in want:
            assert f"IPP {p.ipp} — {want['ins']}" in flat
        for n, cells in enumerate(want["lines"], 1):
            row = cells_pattern(n, cells)
            assert sum(len(row.findall(pg)) for pg in mine) == 1, (p.ipp, cells)
            assert not any(row.search(pg) for pg in others), (p.ipp, cells)
        # nothing else: one grid label per expected line ("3 · DRUG")
        labels = re.findall(r"^\s*\d+ · ", "\n".join(mine), re.M)
        assert len(labels) == len(want["lines"]), (p.ipp, labels)
        for line in want["box"]:
            assert " ".join(line.split()) in flat, (p.ipp, line)
        assert ("À VÉRIFIER AVANT TOUTE ADMINISTRATION" in flat) == bool(want["box"])
        assert "?" not in flat  # the symptom of the issue: "?" where a value was


@pytest.mark.parametrize("source", WITH_KITS)
def test_census_counts_present_patients_by_unit_and_lists_the_bedless_apart(
    source: str, printed: Any
) -> None:
    census, plan, pages = printed[source]
    for unit, want in EXPECTED[source]["census"].items():
        page = next(pg for pg in pages if "Liste des patients présents" in pg and f"— {unit}" in pg)
        flat = " ".join(page.split())
        count = f"{want['present']} patient(s) présent(s) dans l'unité"
        if want["bedless"]:
            count += f", dont {want['bedless']} sans lit attribué"
        assert f"{count} — conforme à l'instantané" in flat
        heading = "Patients sans lit attribué dans l'export"
        assert (heading in flat) == bool(want["bedless"])
        if want["bedless"]:
            above, below = flat.split(heading, 1)
            bedless = [p for p in census.units[unit] if not p.has_bed]
            assert all(p.display_name in below and p.display_name not in above for p in bedless)
            assert all(p.display_name not in below for p in census.units[unit] if p.has_bed)
    assert set(plan.census_gaps) == set()


def test_patients_who_left_and_orders_not_current_are_printed_nowhere(printed: Any) -> None:
    _, _, pages = printed["export"]
    text = " ".join(" ".join(pages).split())
    for word in EXPECTED["export"]["absent"]:
        assert word not in text, word


def test_a_census_that_disagrees_with_the_snapshot_says_so_in_red_words(group: Group, tmp_path: Path) -> None:
    need(shutil.which("pdftotext") is not None, "poppler-utils (pdftotext) not installed")
    result = read_fhir([CORPUS / "export"])
    assert result.taken_at is not None
    res = result.resources
    # a second present stay for the same patient: one patient listed, two stays in the snapshot
    res["Encounter"]["e1-twice"] = {**res["Encounter"]["e1"], "id": "e1-twice"}
    census = build_census(Snapshot("capitouls", result.taken_at, res))
    plan = kits.plan_kit(census, group, group.establishment("capitouls"), 1, result.taken_at)
    assert list(plan.census_gaps) == ["Médecine A"]
    text = " ".join(" ".join(pg for f in kit_pdf.render_kit(plan, tmp_path) for pg in pages_of(f)).split())
    assert "ÉCART AVEC L'INSTANTANÉ : 3 patient(s) listé(s) pour 4 séjour(s) en cours" in text


def test_snapshot_status_fails_while_the_kit_would_print_unknown_values(
    tmp_path: Path, example_group_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "REMPART_HOME": str(tmp_path / "home"),
        "REMPART_KEYS_DIR": str(tmp_path / "keys"),
        "REMPART_INVENTORY": str(example_group_path),
    }
    for name, value in env.items():  # the login below reads the same case store as the commands
        monkeypatch.setenv(name, value)
    People(f"sqlite:///{tmp_path / 'home' / 'cases.sqlite'}").login("astreinte-dsi")  # imports need one
    run = CliRunner(env=env)
    out = run.invoke(app, ["snapshot", "import", "capitouls", str(CORPUS / "export")])
    assert out.exit_code == 0, out.output
    flat = " ".join(out.output.split())
    assert "left out" in flat and "Encounter/e3: encounter finished on 2026-11-27, patient discharged" in flat
    assert "MedicationRequest/rx-discharged: encounter finished" in flat and "unknown reference" not in flat
    assert "5 unknown values" in flat
    age = ["--max-age-hours", "1000000"]  # the corpus was exported on 2026-11-28: only the unknowns count
    status = run.invoke(app, ["snapshot", "status", "capitouls", *age])
    assert status.exit_code == 1 and "UNKNOWN capitouls: 5 value(s)" in " ".join(status.output.split())
    kit = run.invoke(app, ["kits", "build", "capitouls", "--out", str(tmp_path / "k1")])
    assert kit.exit_code == 0, kit.output
    assert "the kit prints 5 value(s) boxed" in " ".join(kit.output.split())  # as many as the import said
    # a clean export of the same establishment, imported later: the kit no longer prints unknowns
    out = run.invoke(app, ["snapshot", "import", "capitouls", str(CORPUS / "bundle-searchset.json")])
    assert out.exit_code == 0, out.output
    status = run.invoke(app, ["snapshot", "status", "capitouls", *age])
    assert status.exit_code == 0 and "UNKNOWN" not in status.output, status.output
    kit = run.invoke(app, ["kits", "build", "capitouls", "--out", str(tmp_path / "k2")])
    assert kit.exit_code == 0 and "À VÉRIFIER" not in kit.output, kit.output


def test_a_patient_without_a_name_or_birth_date_is_said_so_in_words() -> None:
    result = read_fhir([CORPUS / "bundle-searchset.json"])
    assert result.taken_at is not None
    pat = result.resources["Patient"]["s1"]
    del pat["name"], pat["birthDate"]
    census = build_census(Snapshot("capitouls", result.taken_at, result.resources))
    p = census.patients()[0]
    line = kit_pdf.identity_line(p)
    assert line.startswith("NOM NON RENSEIGNÉ (prénom non renseigné) — né(e) le inconnue — IPP 300001")
    assert "?" not in line
