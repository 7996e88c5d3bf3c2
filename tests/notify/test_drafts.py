"""Every draft carries every required field of its obligation, filled from the incident (read in the PDF)."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from rempart.domain.inventory import Group
from rempart.inventory import load_group
from rempart.notify import service
from rempart.notify.catalogue import load_catalogue
from rempart.notify.drafts import Draft
from rempart.store.db import Store
from tests.conftest import need
from tests.notify.conftest import OPENED, add_finding, make_incident

FACTS = {
    "people_count": "environ 4 812 patients",
    "records_count": "12 950 dossiers",
    "insurer": "Assur-Cyber Santé, contrat CY-7731",
    "art34_decision": "Informer les patients : risque élevé retenu le 30/11",
    "controller": "GHT Garonne, responsable de traitement",
    "processor": "oui",
    "eigs": "oui",
    "eigs_nature": "Erreur de dose d'héparine sur feuille papier",
    "eigs_circumstances": "Transcription manuelle pendant le mode dégradé",
    "eigs_first_measures": "Surveillance renforcée, double contrôle des transcriptions",
    "eigs_patient_info": "Patient et famille informés le 29/11",
    "eigs_analysis": "Analyse ALARM : absence de double lecture",
    "eigs_action_plan": "Double lecture obligatoire des prescriptions papier",
}
FINDING = "Aucun transfert sortant au-delà de la ligne de base (max 1,2 Go/j contre 1,1 Go/j)"


def pdf_text(path: Path) -> str:
    need(shutil.which("pdftotext") is not None, "pdftotext (poppler-utils) is not installed")
    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True, text=True
    )
    return out.stdout


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def oes_group(tmp_path_factory: pytest.TempPathFactory, example_group_path: Path) -> Group:
    """The example group with the attacked clinic designated OSE, so that the CERT-FR duty applies too."""
    data = yaml.safe_load(example_group_path.read_text(encoding="utf-8"))
    data["poles"][0]["establishments"][0]["oes"] = True
    path = tmp_path_factory.mktemp("group") / "group.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_group(path)


def _every_draft(store: Store, group: Group, exercise: bool) -> list[Draft]:
    iid = make_incident(store, exercise=exercise)
    for name, value in FACTS.items():
        service.record_fact(store, iid, name, value, "cellule-crise", at=OPENED + timedelta(minutes=30))
    add_finding(store, iid, "data_theft", False, FINDING, OPENED + timedelta(hours=10))
    service.record_resolution(store, iid, OPENED + timedelta(days=20), "direction", "Systèmes reconstruits")
    cat = load_catalogue()
    drafts: list[Draft] = []
    for ob in cat.obligations:
        drafts += service.make_drafts(
            store, iid, group, cat, obligation=ob.id, now=OPENED + timedelta(hours=12)
        )
    return drafts


def test_every_obligation_and_stage_has_a_complete_draft(
    store: Store, oes_group: Group, tmp_path: Path
) -> None:
    drafts = _every_draft(store, oes_group, exercise=False)
    cat = load_catalogue()
    expected = {(o.id, s.id) for o in cat.obligations for s in o.stages}
    assert {(d.obligation.id, d.stage.id) for d in drafts} == expected
    for d in drafts:
        pdf, txt = service.write_draft(d, tmp_path)
        text, mail = squash(pdf_text(pdf)), squash(txt.read_text(encoding="utf-8"))
        assert d.missing == [], f"{d.basename}: {[f.id for f in d.missing]}"
        for spec in d.stage.fields:
            value = next(f for f in d.fields if f.id == spec.id)
            assert value.value, f"{d.basename}: {spec.id} empty"
            assert squash(spec.label) in text, f"{d.basename}: label {spec.label!r} not in PDF"
            assert squash(spec.label) in mail, f"{d.basename}: label {spec.label!r} not in e-mail"
            for raw in value.value.splitlines():
                line = re.sub(r"^\[[x ]\] ", "", raw)
                assert squash(line) in text, f"{d.basename}: {spec.id} value {line!r} not in PDF"
                assert squash(line) in mail, f"{d.basename}: {spec.id} value {line!r} not in e-mail"
        assert "EXERCICE" not in text


def test_values_come_from_the_incident(store: Store, oes_group: Group) -> None:
    drafts = {(d.obligation.id, d.stage.id): d for d in _every_draft(store, oes_group, exercise=False)}

    def value(ob: str, stage: str, field: str) -> str:
        return next(f.value for f in drafts[ob, stage].fields if f.id == field)

    assert "310000001" in value("csp_signalement", "declaration", "structure")  # inventory: FINESS
    assert "Horizon Santé SAS" in value("csp_signalement", "declaration", "structure")
    assert "rssi@horizon-sante.example" in value("csp_signalement", "declaration", "declarant")
    assert "dpo@horizon-sante.example" in value("cnil_violation", "initial", "dpo_contact")
    assert "VPN nomade fermé" in value("cnil_violation", "initial", "measures")  # incident log
    assert "tls-cap-dpi01 (his_server)" in value("csp_signalement", "declaration", "systems")
    assert "T1486" in value("csp_signalement", "declaration", "causes")  # incident techniques
    assert "28/11/2026 14:03 (UTC+01:00)" in value("police_complaint", "complaint", "date_found")  # T0, Paris
    assert "01/12/2026 14:03" in value("police_complaint", "complaint", "complaint_deadline")
    assert "203.0.113.66" in value("nis2_anssi", "notification", "iocs")  # alert details
    assert FINDING in value("nis2_anssi", "final_report", "findings")  # findings table
    assert "Lien-partenaire".lower() in value("partners", "information", "links_cut").lower()
    assert "Laboratoire de biologie partenaire" in value("partners", "information", "links_cut")
    for name, fact in (
        ("people_count", "people_count"),
        ("insurer", "insurance"),
        ("art34_decision", "art34_decision"),
        ("controller", "controller"),
    ):
        found = [f.value for d in drafts.values() for f in d.fields if f.id == fact]
        assert found and all(FACTS[name] in v for v in found)
    assert FACTS["eigs_action_plan"] in value("eigs", "part2", "eigs_action_plan")
    assert "Systèmes reconstruits" in value("csp_signalement", "resolution", "resolution")


def test_late_cnil_notification_asks_for_the_reasons_of_delay(
    case: object, store: Store, group: Group
) -> None:
    iid = make_incident(store, ref="INC-0002")
    late = OPENED + timedelta(hours=80)
    [draft] = service.make_drafts(store, iid, group, obligation="cnil_violation", stage="initial", now=late)
    assert [f.id for f in draft.missing] == ["people_count", "records_count", "delay_reasons"]
    service.record_fact(store, iid, "delay_reasons", "Systèmes de messagerie coupés, DPO injoignable", "dpo")
    [draft] = service.make_drafts(store, iid, group, obligation="cnil_violation", stage="initial", now=late)
    assert "DPO injoignable" in next(f.value for f in draft.fields if f.id == "delay_reasons")


def test_exercise_drafts_say_exercice_everywhere(store: Store, oes_group: Group, tmp_path: Path) -> None:
    drafts = _every_draft(store, oes_group, exercise=True)
    for d in drafts:
        pdf, txt = service.write_draft(d, tmp_path)
        assert d.subject.startswith("[EXERCICE]")
        assert "EXERCICE" in txt.read_text(encoding="utf-8").splitlines()[0]
        pages = pdf_text(pdf).split("\f")
        assert all("EXERCICE" in page for page in pages if page.strip()), d.basename
