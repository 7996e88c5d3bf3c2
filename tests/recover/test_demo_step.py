"""The recover demo step on a context built here: a contained incident (real plan run, dummy adapters),
investigated; the step must re-open every access in stages through the gates and write the report."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

from rich.console import Console

from rempart.demo import investigate_step, recover_step
from rempart.demo.context import DemoContext
from rempart.domain.inventory import Group
from rempart.recover import gates
from rempart.recover.policy import load_policy
from rempart.store.db import Store
from tests.conftest import need
from tests.investigate.fleet import Plant, generate, load
from tests.recover.conftest import ATTACK_AT, ATTACKED, START, make_contained


def test_recover_step(store: Store, group: Group, example_group_path: Path, tmp_path: Path) -> None:
    # the intrusion ends the generated logs, as in the demo
    logs = generate(
        group,
        tmp_path / "logs",
        START,
        31,
        [Plant(ATTACKED, "ip", "198.51.100.7", ATTACK_AT)],
        [],
        establishments=[ATTACKED, "hers"],
    )
    load(logs, group, tmp_path / "events.duckdb")
    c = make_contained(store, group, example_group_path, logs.ref(lambda r: "198.51.100.7" in r.raw))
    console = Console(record=True, width=400)
    ctx = DemoContext(
        workdir=tmp_path,
        group_path=example_group_path,
        group=group,
        store=store,
        events_db=tmp_path / "events.duckdb",
        console=console,
        attacked=ATTACKED,
        attacker_ip="198.51.100.7",
        start=START,
        now=ATTACK_AT + timedelta(minutes=30),
        incident_ref=c.ref,
        incident_id=c.incident_id,
        run_id=c.run_id,
    )
    ctx.facts["respond.adapters"] = c.adapters
    investigate_step.run(ctx)
    recover_step.run(ctx)
    out = console.export_text()
    assert "Refus expliqué" in out and "sweep_clean" in out and "48 h required" in out
    reopened = ctx.facts["recover"]["reopened"]
    with store.session() as s:
        from rempart.detect.incidents import get_incident

        states = {
            g.access.id: g.state for g in gates.evaluate_all(s, get_incident(s, c.ref), group, load_policy())
        }
    assert set(reopened) == {a for a, st in states.items() if st == gates.REOPENED} == set(states)
    # the 72 h accesses come last, after the second sweep
    assert set(reopened[-2:]) == {"telemaintenance-dpi", "lien-partenaire"}
    pdf = Path(ctx.facts["recover"]["report"])
    assert pdf.is_file() and pdf.read_bytes().startswith(b"%PDF")
    need(shutil.which("pdftotext") is not None, "poppler-utils missing")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Décisions de réouverture" in text and "telemaintenance-dpi" in text
