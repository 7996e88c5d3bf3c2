"""The demo's notify step on a context built here (the detect step is not needed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from rich.console import Console

from rempart.demo import notify_step
from rempart.demo.context import DemoContext
from rempart.domain.inventory import Group
from rempart.notify import service
from rempart.notify.obligations import ClockStatus
from rempart.store.db import Store
from tests.conftest import need
from tests.notify.conftest import OPENED, make_incident


def test_notify_step(tmp_path: Path, store: Store, group: Group, example_group_path: Path) -> None:
    iid = make_incident(store, establishment="saint-cyprien", hosts=["tls-scy-dc01", "tls-scy-dpi01"])
    console = Console(record=True, width=140)
    ctx = DemoContext(
        workdir=tmp_path,
        group_path=example_group_path,
        group=group,
        store=store,
        events_db=tmp_path / "events.duckdb",
        console=console,
        attacked="saint-cyprien",
        attacker_ip="203.0.113.66",
        start=OPENED,
        now=OPENED,
        incident_ref="INC-0001",
        incident_id=iid,
    )
    notify_step.run(ctx)
    facts = ctx.facts["notify"]
    assert facts["sent"] == 3 and facts["received_by_relay"] == 3  # the refused attempt never reached it
    pdfs = sorted((tmp_path / "notifications").glob("*.pdf"))
    assert len(pdfs) >= facts["drafts"] >= 8
    views = service.sendings(store, iid)
    assert [v.row.status for v in views if v.row.obligation == "partners"] == ["failed", "sent"]
    assert all(v.acks for v in views if v.row.status == "sent")
    clocks = service.compute_clocks(store, iid, group, now=OPENED)
    done = {(c.obligation.id, c.stage.id) for c in clocks if c.status == ClockStatus.DONE}
    assert {
        ("csp_signalement", "declaration"),
        ("nis2_anssi", "early_warning"),
        ("partners", "information"),
        ("cnil_violation", "initial"),
        ("police_complaint", "complaint"),
    } <= done
    assert set(facts["closing_tasks"]) == {"csp_signalement/resolution", "nis2_anssi/final_report"}
    text = console.export_text()
    assert "Échéances au" in text and "refusé" in text and "550" in text
    log = [e.text for e in service.log_entries(store, iid)]
    assert any("ÉCHEC" in t for t in log) and any("Accusé de réception" in t for t in log)
    need(shutil.which("pdftotext") is not None, "pdftotext missing")
    csp = next(p for p in pdfs if "csp_signalement_declaration" in p.name)
    out = subprocess.run(["pdftotext", str(csp), "-"], capture_output=True, text=True, check=True).stdout
    assert "Clinique Saint-Cyprien" in out or "Saint-Cyprien" in out
