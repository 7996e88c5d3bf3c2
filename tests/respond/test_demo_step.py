"""The demo's respond step on a context built here: the plan runs to the end, approvals and acks included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from rempart.demo import respond_step
from rempart.demo.context import DemoContext
from rempart.inventory import load_group
from rempart.respond import service
from rempart.store import journal
from rempart.store.db import Store
from tests.conftest import EXAMPLES
from tests.respond.helpers import make_incident


def test_respond_step_contains_the_attacked_clinic(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    incident = make_incident(store, establishment="saint-cyprien", hosts=("tls-scy-ws001",))
    now = datetime.now(UTC)
    console = Console(record=True, width=160)
    ctx = DemoContext(
        tmp_path,
        EXAMPLES / "group.yaml",
        load_group(EXAMPLES / "group.yaml"),
        store,
        tmp_path / "events.duckdb",
        console,
        "saint-cyprien",
        "203.0.113.66",
        now - timedelta(days=1),
        now,
        "INC-0001",
        incident,
    )
    try:
        respond_step.run(ctx)
        assert ctx.run_id is not None
        report = service.show_run(store, ctx.run_id)
        assert report.status == "verified", [(s.step_id, s.status) for s in report.steps]
        assert report.step("arreter-dpi-fichiers").approved_by == ["c.martin", "j.roux"]
        out = console.export_text()
        assert "Exécution n° 1" in out
        lab = ctx.facts["respond.lab"]
        if lab is not None:  # the namespace network: real connections before and after
            assert "Avant le confinement" in out and "Après le confinement" in out
            assert ctx.facts["respond.access_open"]("vpn-nomade") is False
            result = service.reopen_access(
                store, ctx.run_id, "vpn-nomade", "recover", ctx.facts["respond.adapters"]
            )
            assert result.ok and ctx.facts["respond.access_open"]("vpn-nomade") is True
        else:
            assert "dummy" in out
        assert any(stage == "confinement" for _, stage, _ in ctx.timeline)
        with store.session() as s:
            assert journal.verify(s) == []
    finally:
        respond_step.teardown(ctx)
        store.close()
