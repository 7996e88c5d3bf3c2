"""Access to patient data is traced (who saw which establishment's patients, when, through what) and
refused to roles that do not need it; the trace never holds a patient's name. Real CLI, real SQLite."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from rempart.cli.app import app
from rempart.store.db import Store
from rempart.store.models.core import JournalRow
from tests.identities.helpers import People

ACCESS = "patient_data.access"


@pytest.fixture
def fhir(db: str, people: People, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Six synthetic patients of Capitouls imported by the IT on call; the folder of their FHIR files."""
    monkeypatch.setenv("REMPART_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("REMPART_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.chdir(tmp_path)
    taken = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()
    out = tmp_path / "fhir"
    code, text = people.run("astreinte-dsi", "continuity", "generate", "--establishment", "capitouls",
                            "--patients", "6", "--out", str(out), "--taken-at", taken)
    assert code == 0, text
    code, text = people.run("astreinte-dsi", "snapshot", "import", "capitouls", str(out / "capitouls"))
    assert code == 0, text
    return out / "capitouls"


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def accesses(db: str) -> list[JournalRow]:
    store = Store(db)
    try:
        with store.session() as s:
            return list(s.scalars(select(JournalRow).where(JournalRow.action == ACCESS)))
    finally:
        store.close()


def patient_names(folder: Path) -> set[str]:
    names = set()
    for line in (folder / "Patient.ndjson").read_text(encoding="utf-8").splitlines():
        for n in orjson.loads(line).get("name", []):
            names.add(n["family"])
            names.update(n.get("given", []))
    return {n for n in names if len(n) > 2}


def test_a_kit_build_journals_one_access_naming_the_account_and_kit(
    db: str, people: People, fhir: Path, tmp_path: Path
) -> None:
    names = patient_names(fhir)
    assert len(names) >= 6
    assert accesses(db) == []  # importing is not seeing
    code, out = people.run("astreinte-dsi", "kits", "build", "capitouls", "--out", str(tmp_path / "kits"))
    assert code == 0, out
    [entry] = accesses(db)
    payload = orjson.loads(entry.payload)
    assert entry.actor == "astreinte-dsi" and payload["account"] == "astreinte-dsi"
    assert payload["seen"] == "kit" and payload["kit"] == 1 and payload["establishment"] == "capitouls"
    assert payload["snapshot"] >= 1 and payload["forms"] > 0 and "CAPITOULS-K1" in payload["serials"].upper()
    con = sqlite3.connect(db.removeprefix("sqlite:///"))
    rows = [" ".join(str(v) for v in r) for r in con.execute("SELECT * FROM journal")]  # every column
    con.close()
    leaked = sorted(n for n in names if any(n in r for r in rows))
    assert leaked == []
    people.login("l.petit")  # the auditor reads the traces
    code, out = cli("journal", "show", "--action", ACCESS)
    assert code == 0 and "astreinte-dsi" in out and ACCESS in out and "import" not in out, out


def test_roles_without_need_cannot_see_patient_data(
    db: str, people: People, fhir: Path, tmp_path: Path
) -> None:
    kit = ("kits", "build", "capitouls", "--out", str(tmp_path / "kits"))
    code, out = people.run("e.expert", *kit)
    assert code == 2 and "e.expert (investigator) may not see patient data: the kit" in out, out
    code, out = people.run("l.petit", *kit)
    assert code == 2 and "read-only" in out
    code, out = people.run("e.expert", "reconcile", "capitouls", "--out", str(tmp_path / "r"))
    assert code == 2 and "may not see patient data" in out
    code, out = people.run("e.expert", "continuity", "export", "capitouls", "--out", "-")
    assert code == 2 and "may not see patient data" in out and "resourceType" not in out
    assert accesses(db) == [] and not (tmp_path / "kits").exists()


def test_an_export_and_its_decryption_are_each_traced(
    db: str, people: People, fhir: Path, tmp_path: Path
) -> None:
    sealed = tmp_path / "b.json.enc"
    code, out = people.run("astreinte-dsi", "continuity", "export", "capitouls", "--out", str(sealed))
    assert code == 0, out
    decrypt = ("continuity", "decrypt", str(sealed), "--out", str(tmp_path / "b.json"))
    code, out = people.run("e.expert", *decrypt)
    assert code == 2 and "may not see patient data" in out and not (tmp_path / "b.json").exists()
    code, out = people.run("astreinte-dsi", *decrypt)
    assert code == 0, out
    seen = [orjson.loads(e.payload)["seen"] for e in accesses(db)]
    assert seen == ["fhir_export", "fhir-export"]
