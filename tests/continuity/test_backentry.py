"""Back-entry against the snapshot: clear errors, duplicates, omissions, identities, FHIR export."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from fhir.resources.R4B.bundle import Bundle

from rempart.continuity import register, service, snapshot
from rempart.continuity.backentry import FormEntries
from rempart.continuity.kits import KitPlan
from rempart.domain.inventory import Group
from rempart.errors import ConfigErrors, StateError
from rempart.settings import Settings
from rempart.store.db import Store
from tests.continuity.conftest import NOW
from tests.continuity.conftest import db_bytes as _db_bytes

LATER = NOW + timedelta(hours=14)


@pytest.fixture
def kit(imported: Store, settings: Settings, group: Group, tmp_path: Path) -> KitPlan:
    return service.build_kits(imported, settings, group, "capitouls", tmp_path / "kits", now=NOW).plan


def _returned(store: Store, *serials: str) -> None:
    with store.session() as s:
        for serial in serials:
            register.return_form(s, serial, LATER, "cadre")


def _admin(patient: str, request: str, at: datetime, **kw: Any) -> dict[str, Any]:
    return {
        "kind": "administration",
        "patient": patient,
        "request": request,
        "at": at.isoformat(),
        "given": True,
        "nurse": "IDE A.",
        **kw,
    }


def _enter(store: Store, settings: Settings, serial: str, entries: list[dict[str, Any]]) -> Any:
    doc = FormEntries.model_validate({"serial": serial, "entered_by": "clerk", "entries": entries})
    return service.enter_doc(store, settings, doc, LATER)


def _mar(kit: KitPlan, n: int = 0) -> Any:
    forms = [f for u in kit.units for f in u.mars.values() if f.planned]
    return forms[n]


def test_form_must_be_returned_before_it_is_entered(
    imported: Store, settings: Settings, kit: KitPlan
) -> None:
    form = _mar(kit)
    with pytest.raises(StateError, match="return it first"):
        _enter(imported, settings, form.serial, [])


def test_every_wrong_line_is_reported_with_its_field_and_nothing_is_written(
    imported: Store, settings: Settings, kit: KitPlan
) -> None:
    form = _mar(kit)
    other = _mar(kit, 1)
    rid, at = form.planned[0]
    _returned(imported, form.serial)
    bad = [
        _admin("DUPONT Jeanne", rid, at),  # unknown patient: a name typed where the IPP goes
        _admin(form.patient_id, "no-such-line", at),  # not a prescription of this patient
        _admin(other.patient_id, other.planned[0][0], at),  # another patient's MAR
        _admin(form.patient_id, rid, at, unit="mL"),  # unit confusion
        _admin(form.patient_id, rid, at, given=False),  # not given without a reason
        _admin(form.patient_id, rid, NOW + timedelta(days=3)),  # in the future
        {
            "kind": "admission",
            "patient": "PROV-X",
            "at": at.isoformat(),
            "family": "A",
            "given": "B",
            "birth_date": "1950-01-01",
            "sex": "F",
            "unit": "x",
        },  # wrong form type
    ]
    with pytest.raises(ConfigErrors) as err:
        _enter(imported, settings, form.serial, bad)
    fields = [e.location.field for e in err.value.errors if e.location]
    assert fields == [
        "entries[0].patient",
        "entries[1].request",
        "entries[2].patient",
        "entries[3].unit",
        "entries[4].reason",
        "entries[5].at",
        "entries[6].kind",
    ]
    assert "DUPONT" not in str(err.value)  # errors are printed: they never repeat what may be a name
    with imported.session() as s:
        assert register.get_form(s, form.serial).status == register.RETURNED


def test_yaml_file_errors_name_the_line(
    imported: Store, settings: Settings, kit: KitPlan, tmp_path: Path
) -> None:
    form = _mar(kit)
    _returned(imported, form.serial)
    path = tmp_path / "form.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "serial": form.serial,
                "entered_by": "clerk",
                "entries": [
                    {
                        "kind": "administration",
                        "patient": form.patient_id,
                        "at": "hier",
                        "given": True,
                        "nurse": "A",
                    }
                ],
            }
        )
    )
    with pytest.raises(ConfigErrors) as err:
        service.enter_file(imported, settings, path, LATER)
    assert err.value.errors[0].location is not None and err.value.errors[0].location.line is not None


def test_duplicates_and_omissions_are_flagged(imported: Store, settings: Settings, kit: KitPlan) -> None:
    form = _mar(kit)
    soins = next(f for u in kit.units for f in u.blanks if f.form_type == "administration")
    _returned(imported, form.serial, soins.serial)
    due = [(rid, at) for rid, at in form.planned if at <= LATER]
    assert len(due) >= 2
    lines = [
        _admin(form.patient_id, rid, at + timedelta(minutes=5), planned_at=at.isoformat())
        for rid, at in due[1:]
    ]
    result = _enter(imported, settings, form.serial, lines)
    assert result.entries == len(due) - 1 and result.duplicates == []
    # the same administration written again on a traceability sheet, by drug name
    rid, at = due[1]
    drug = next(
        rx.drug for u in kit.units for p in u.patients for rx in p.prescriptions if rx.request_id == rid
    )
    again = {**_admin(form.patient_id, rid, at + timedelta(minutes=5)), "request": None, "drug": drug.lower()}
    result = _enter(imported, settings, soins.serial, [again])
    assert len(result.duplicates) == 1
    with imported.session() as s:
        from rempart.continuity.reconcile import build_report

        report = build_report(s, "capitouls", LATER, until=LATER)
    assert [(o.serial, o.request_id) for o in report.omissions] == [(form.serial, due[0][0])]
    assert [(d.serial, d.first_serial) for d in report.duplicates] == [(soins.serial, form.serial)]
    assert [o.drug for o in report.omissions] == [""] and [d.drug for d in report.duplicates] == [""]
    # drugs are sealed in the store: the establishment's key names them
    key = snapshot.load_or_create_key(settings.key_directory, "capitouls", create=False)
    with imported.session() as s:
        named = build_report(s, "capitouls", LATER, until=LATER, key=key)
    printed = {rx.request_id: rx.drug for u in kit.units for p in u.patients for rx in p.prescriptions}
    assert [o.drug for o in named.omissions] == [printed[due[0][0]]]
    assert [d.drug for d in named.duplicates] == [drug]


def test_admission_prescription_identity_link_and_fhir_export(
    imported: Store, settings: Settings, kit: KitPlan, tmp_path: Path
) -> None:
    blanks = {f.form_type: f for u in kit.units[:1] for f in reversed(u.blanks)}
    adm, rx, soins = blanks["admission"], blanks["prescription"], blanks["administration"]
    _returned(imported, adm.serial, rx.serial, soins.serial)
    at = NOW + timedelta(hours=2)
    prov = adm.provisional_id
    assert prov is not None
    _enter(
        imported,
        settings,
        adm.serial,
        [
            {
                "kind": "admission",
                "patient": prov,
                "at": at.isoformat(),
                "family": "Lemoine",
                "given": "Odile",
                "birth_date": "1941-06-02",
                "sex": "F",
                "unit": kit.units[0].name,
            }
        ],
    )
    _enter(
        imported,
        settings,
        rx.serial,
        [
            {
                "kind": "prescription",
                "patient": prov,
                "request": f"{rx.serial}/1",
                "at": at.isoformat(),
                "drug": "Paracétamol",
                "atc": "N02BE01",
                "dose": 1,
                "unit": "g",
                "route": "per os",
                "frequency": "4 fois / 24 h",
                "times": ["06:00", "12:00"],
                "prescriber": "Dr G.",
            }
        ],
    )
    _enter(
        imported,
        settings,
        soins.serial,
        [
            _admin(prov, f"{rx.serial}/1", at + timedelta(hours=1), dose=1, unit="g"),
            _admin(prov, f"{rx.serial}/1", at + timedelta(hours=7), given=False, reason="refus"),
        ],
    )
    out, n = service.export_fhir(imported, settings, "capitouls", tmp_path / "b.json.enc", LATER)
    assert b"Lemoine" not in out.read_bytes()  # encrypted at rest, like the snapshot
    clear = snapshot.read_sealed(out, settings.key_directory).payload
    Bundle.model_validate_json(clear)  # valid FHIR, read back by the reference models
    kinds = sorted(e["resource"]["resourceType"] for e in orjson.loads(clear)["entry"])
    assert n == len(kinds)
    assert kinds == [
        "Encounter",
        "MedicationAdministration",
        "MedicationAdministration",
        "MedicationRequest",
        "Patient",
    ]
    assert b"Lemoine" in clear  # the export is for the HIS: it must carry the identity
    with imported.session() as s:
        from rempart.continuity.reconcile import build_report

        assert build_report(s, "capitouls", LATER).provisional_unlinked == [prov]
    # the case store never holds the admission's identity in clear
    assert b"Lemoine" not in _db_bytes(imported)
    service.link_identity(imported, settings, "capitouls", prov, "9100077", "identitovigilance", LATER)
    out, _ = service.export_fhir(imported, settings, "capitouls", tmp_path / "b2.json.enc", LATER)
    clear = snapshot.read_sealed(out, settings.key_directory).payload
    Bundle.model_validate_json(clear)
    linked = [e["resource"] for e in orjson.loads(clear)["entry"]]
    assert "Patient" not in [r["resourceType"] for r in linked]
    refs = [r["subject"]["reference"] for r in linked if r["resourceType"] == "Encounter"]
    assert refs == ["Patient?identifier=https://horizon-sante.example/fhir/ipp/capitouls|9100077"]
    not_done = [
        r for r in linked if r["resourceType"] == "MedicationAdministration" and r["status"] == "not-done"
    ]
    assert not_done[0]["statusReason"][0]["text"] == "refus"


def test_recover_waits_for_every_form(imported: Store, kit: KitPlan) -> None:
    from rempart.continuity.reconcile import is_complete

    assert not is_complete(imported, "capitouls")  # the kit's forms are out on the wards
    with imported.session() as s:
        for f in kit.forms():
            register.void_form(s, f.serial, "exercice annulé", LATER, "cadre")
        assert is_complete(s, "capitouls")


def _store_text(store: Store) -> str:
    """Every value of every table of the case store, as a reader of the SQLite file sees it."""
    con = sqlite3.connect(store.url.removeprefix("sqlite:///"))
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(str(v) for t in tables for row in con.execute(f'SELECT * FROM "{t}"') for v in row)
    finally:
        con.close()


def test_the_case_store_keeps_no_care_line_nor_identity_in_clear(
    imported: Store, settings: Settings, kit: KitPlan
) -> None:
    form = _mar(kit)
    blanks = {f.form_type: f for u in kit.units[:1] for f in reversed(u.blanks)}
    adm, rx = blanks["admission"], blanks["prescription"]
    _returned(imported, form.serial, adm.serial, rx.serial)
    (rid, at), *_ = form.planned
    _enter(imported, settings, form.serial, [_admin(form.patient_id, rid, at, nurse="IDE Maëlys T.")])
    prov = adm.provisional_id
    assert prov is not None
    admission = {
        "kind": "admission",
        "patient": prov,
        "at": at.isoformat(),
        "family": "Lemoine",
        "given": "Odile",
        "birth_date": "1941-06-02",
        "sex": "F",
        "unit": kit.units[0].name,
        "bed": "Lit 199-A",
    }
    _enter(imported, settings, adm.serial, [admission])
    new_rx = {
        "kind": "prescription",
        "patient": prov,
        "request": f"{rx.serial}/1",
        "at": at.isoformat(),
        "drug": "Kétoprofène",
        "dose": 100,
        "unit": "mg",
        "route": "intraveineuse lente",
        "frequency": "2 fois / 24 h",
        "prescriber": "Dr Hippolyte V.",
    }
    _enter(imported, settings, rx.serial, [new_rx])
    service.link_identity(imported, settings, "capitouls", prov, "9100077", "identitovigilance", LATER)
    text = _store_text(imported)
    planned = {d for u in kit.units for p in u.patients for r in p.prescriptions for d in (r.drug,)}
    clear = ["Lemoine", "Odile", "1941-06-02", "Lit 199-A", "IDE Maëlys T.", "Kétoprofène", "intraveineuse"]
    clear += ["Dr Hippolyte V.", "9100077", *planned]
    assert [t for t in clear if t in text] == []
    assert form.serial in text and rid in text  # the register and the MAR slots are there, in clear


def test_rows_entered_before_lines_were_sealed_are_still_read(
    imported: Store, settings: Settings, kit: KitPlan
) -> None:
    from rempart.continuity.backentry import line_of
    from rempart.continuity.reconcile import build_report
    from rempart.store.models.continuity import EntryRow, PlannedDoseRow

    form = _mar(kit)
    _returned(imported, form.serial)
    due = [(rid, at) for rid, at in form.planned if at <= LATER]
    _enter(imported, settings, form.serial, [_admin(form.patient_id, rid, at) for rid, at in due[1:]])
    key = snapshot.load_or_create_key(settings.key_directory, "capitouls", create=False)
    before = service.export_bundle(imported, settings, "capitouls", LATER)
    with imported.session() as s:
        expected = build_report(s, "capitouls", LATER, until=LATER, key=key).omissions
        # as the previous version stored them: the whole line and the drug in clear
        for row in s.query(EntryRow).all():
            row.data, row.sealed = line_of(row, key), None
        for dose in s.query(PlannedDoseRow).all():
            dose.drug = snapshot.open_value(
                key, register.planned_drug_aad(dose.serial, dose.request_id), dose.drug
            )
    with imported.session() as s:
        assert build_report(s, "capitouls", LATER, until=LATER, key=key).omissions == expected
    assert expected and expected[0].drug
    after = service.export_bundle(imported, settings, "capitouls", LATER)
    assert [e["resource"] for e in after["entry"]] == [e["resource"] for e in before["entry"]]
