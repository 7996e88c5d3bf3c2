"""The continuity demo step, run on a context built here with a real case store and a real incident."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
from rich.console import Console

from rempart.continuity import snapshot
from rempart.demo import continuity_step
from rempart.demo.context import DemoContext
from rempart.domain.inventory import Group
from rempart.store import incident_log
from rempart.store.db import Store
from tests.continuity.conftest import NOW, make_incident


def test_demo_step_reconciles_every_form_and_flags_the_planted_errors(
    tmp_path: Path, group: Group, cstore: Store, example_group_path: Path
) -> None:
    iid = make_incident(cstore, "capitouls", NOW)
    ctx = DemoContext(
        workdir=tmp_path,
        group_path=example_group_path,
        group=group,
        store=cstore,
        events_db=tmp_path / "e.duckdb",
        console=Console(record=True, width=140),
        attacked="capitouls",
        attacker_ip="203.0.113.66",
        start=NOW - timedelta(hours=3),
        now=NOW,
        incident_ref="INC-0001",
        incident_id=iid,
    )
    continuity_step.run(ctx)
    facts = ctx.facts["continuity"]
    assert facts["all_accounted"] and facts["complete"]
    assert facts["duplicates"] == 1 and facts["omissions"] == 1
    report = orjson.loads(snapshot.read_sealed(Path(facts["report_json"]), ctx.keys_dir).payload)
    c = report["counts"]
    assert c["issued"] == c["entered"] + c["voided"] and c["unaccounted"] == 0
    assert Path(facts["report_pdf"]).stat().st_size > 1000
    bundle = orjson.loads(snapshot.read_sealed(Path(facts["bundle"]), ctx.keys_dir).payload)
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"MedicationAdministration", "MedicationRequest", "Encounter"} <= kinds
    # the snapshot was taken before the incident
    assert ctx.timeline[0][0] < NOW
    with cstore.session() as s:
        texts = [e.text for e in incident_log.entries(s, iid) if e.source == "continuity"]
    assert any("Kits" in t for t in texts) and any("Rapprochement" in t for t in texts)


def test_report_without_an_end_date_uses_the_last_returned_form(
    tmp_path: Path, group: Group, cstore: Store, example_group_path: Path
) -> None:
    from rempart.continuity.reconcile import build_report

    ctx = DemoContext(
        workdir=tmp_path,
        group_path=example_group_path,
        group=group,
        store=cstore,
        events_db=tmp_path / "e.duckdb",
        console=Console(record=True, width=140),
        attacked="capitouls",
        attacker_ip="203.0.113.66",
        start=NOW - timedelta(hours=3),
        now=NOW,
    )
    continuity_step.run(ctx)  # no incident: kits printed "hors incident", the rest is the same
    with cstore.session() as s:
        later = build_report(s, "capitouls", now=NOW + timedelta(days=30))  # what recover sees, much later
    assert later.until == ctx.facts["continuity"]["downtime_end"]
    assert (len(later.duplicates), len(later.omissions)) == (1, 1)
