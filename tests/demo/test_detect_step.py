"""The demo's detection: real formats through the real readers and rules, one incident, one clinic."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from sqlalchemy import select

from rempart.demo.scenario import make_context, run_demo
from rempart.store.db import Store
from rempart.store.models.core import IncidentRow


def test_demo_opens_one_incident_for_exactly_the_attacked_clinic(
    tmp_path: Path, example_group_path: Path
) -> None:
    console = Console(file=(tmp_path / "out.txt").open("w"), width=120)
    ctx = make_context(tmp_path / "demo", example_group_path, console, attacked="hers")
    run_demo(ctx, steps=["detect"])
    store = Store(f"sqlite:///{tmp_path / 'demo' / 'cases.sqlite'}")
    with store.session() as s:
        incidents = list(s.execute(select(IncidentRow)).scalars())
        assert [(i.ref, i.establishment) for i in incidents] == [("INC-0001", "hers")]
        (incident,) = incidents
        intrusion = ctx.facts["detect.intrusion"]
        # every attacked host is in the incident; every stage of the attack was seen
        assert {h.split(".")[0] for h in incident.hosts} >= set(intrusion.hosts)
        assert {"credential-access", "execution", "impact"} <= set(incident.tactics)
        assert incident.severity == "critical"
        assert all(a.establishment == "hers" for a in incident.alerts)
    store.close()
    assert "INC-0001 ouvert pour Clinique de l'Hers" in (tmp_path / "out.txt").read_text()


def test_with_sigmahq_rules_too_the_incident_names_only_the_attacked_clinic(
    tmp_path: Path, example_group_path: Path, shared_data: Path
) -> None:
    console = Console(file=(tmp_path / "out.txt").open("w"), width=120)
    ctx = make_context(tmp_path / "demo", example_group_path, console)
    run_demo(ctx, sigma_dirs=[shared_data / "sigma" / "rules" / "windows"], steps=["detect"])
    store = Store(f"sqlite:///{tmp_path / 'demo' / 'cases.sqlite'}")
    with store.session() as s:
        incidents = list(s.execute(select(IncidentRow)).scalars())
        assert [i.establishment for i in incidents] == [ctx.attacked]
        # SigmaHQ's own rules corroborate ours on the same attack
        titles = {a.title for a in incidents[0].alerts}
        assert "Process Memory Dump Via Comsvcs.DLL" in titles
    store.close()
