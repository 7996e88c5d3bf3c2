"""The investigate demo step on a context built here: generated multi-clinic logs, an incident whose
alert points at the intrusion's events; it must find no propagation and no exfiltration, with numbers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from rich.console import Console

from rempart.demo import investigate_step
from rempart.demo.context import DemoContext
from rempart.domain.inventory import Group
from rempart.store.db import Store
from tests.investigate.conftest import make_incident
from tests.investigate.fleet import Plant, generate, load, utc

START = utc(2026, 7, 1, 0, 0)
AT = START + timedelta(hours=30)


def test_investigate_step(store: Store, group: Group, example_group_path: Path, tmp_path: Path) -> None:
    plants = [Plant("capitouls", "ip", "198.51.100.7", AT), Plant("capitouls", "tool", "rclone.exe", AT)]
    logs = generate(
        group, tmp_path / "logs", START, 36, plants, [], establishments=["capitouls", "hers", "adour"]
    )
    load(logs, group, tmp_path / "events.duckdb")
    refs = logs.ref(lambda r: "198.51.100.7" in r.raw or "rclone.exe" in r.raw)
    incident_id = make_incident(store, "capitouls", AT, refs, hosts=["tls-cap-pcsecours"])
    console = Console(record=True, width=400)
    ctx = DemoContext(
        workdir=tmp_path,
        group_path=example_group_path,
        group=group,
        store=store,
        events_db=tmp_path / "events.duckdb",
        console=console,
        attacked="capitouls",
        attacker_ip="198.51.100.7",
        start=START,
        now=AT + timedelta(minutes=20),
        incident_ref="INC-0001",
        incident_id=incident_id,
    )
    investigate_step.run(ctx)
    facts = ctx.facts["investigate"]
    assert facts["propagated_to"] == [] and facts["data_theft"] is False
    swept = facts["events_swept"]
    assert swept["hers"] > 0 and swept["adour"] > 0 and swept["vercors"] == 0
    assert sum(swept.values()) == len(logs.records)
    assert facts["hosts_assessed"] > 0 and facts["outbound_bytes"] > 0
    assert len(facts["evidence"]) >= 3 and all(Path(p).is_file() for p in facts["timeline"].values())
    out = console.export_text()
    assert "pas de propagation" in out and "Aucun dépassement de la ligne de base" in out
    assert [stage for _, stage, _ in ctx.timeline] == ["investigation"] * 3
