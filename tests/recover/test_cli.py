"""The investigate and recover commands end to end on a real case store and event store."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rempart.cli.app import app
from rempart.domain.inventory import Group
from rempart.store.db import Store
from tests.identities.helpers import People
from tests.investigate.fleet import Plant, generate, load
from tests.recover.conftest import ATTACK_AT, ATTACKED, START, make_contained

runner = CliRunner()


def test_commands(
    group: Group, example_group_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "cases.sqlite"
    monkeypatch.setenv("REMPART_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("REMPART_EVENTS_DB", str(tmp_path / "events.duckdb"))
    monkeypatch.setenv("REMPART_INVENTORY", str(example_group_path))
    logs = generate(
        group,
        tmp_path / "logs",
        START,
        80,  # the intrusion at hour 30, then 50 h of clean logs: enough for the VPN (48 h)
        [Plant(ATTACKED, "ip", "198.51.100.7", ATTACK_AT)],
        [],
        establishments=[ATTACKED, "hers"],
    )
    load(logs, group, tmp_path / "events.duckdb")
    store = Store(f"sqlite:///{db}")
    make_contained(store, group, example_group_path, logs.ref(lambda r: "198.51.100.7" in r.raw))
    store.close()

    def ok(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    people = People(f"sqlite:///{db}")
    people.login("c.martin")  # sweeps and assessments are recorded with an account too

    def ok_as(person: str, *args: str) -> str:
        code, out = people.run(person, *args)
        assert code == 0, out
        return out

    assert "no_data_theft" in ok("gates", "INC-0001") and "shut" in ok("gates", "INC-0001")
    refused = people.invoke("c.martin", "reopen", "INC-0001", "vpn-nomade")
    assert refused.exit_code == 2 and "sweep_clean: no IOC sweep recorded" in refused.output
    wrong = runner.invoke(app, ["sweep", "INC-0001", "--ignore", "10.0.0.1"])
    assert (
        wrong.exit_code == 2 and "not among the indicators" in wrong.output and "198.51.100.7" in wrong.output
    )
    assert "Clinique de l'Hers" in ok("sweep", "INC-0001")
    assert "negative" not in ok("exfil", "INC-0001")  # French summary, not the English word
    assert "data_theft v1 negative" in ok("findings", "INC-0001")
    out = ok("timeline", "INC-0001", "--format", "json", "--out", str(tmp_path / "t.json"))
    assert (tmp_path / "t.json").is_file() and "entries" in out
    ok("timeline", "INC-0001", "--format", "html", "--out", str(tmp_path / "t.html"))
    assert "<svg" in (tmp_path / "t.html").read_text(encoding="utf-8")
    log = logs.files[0]
    assert "EV-0001" in ok_as("c.martin", "evidence", "add", "INC-0001", str(log))
    assert "ok" in ok_as("c.martin", "evidence", "verify", "INC-0001")
    log.write_text(log.read_text() + "ajout\n")
    altered = people.invoke("p.nguyen", "evidence", "verify", "INC-0001")
    assert altered.exit_code == 1 and "ALTERED" in altered.output
    assert "altered" in ok("evidence", "show", "INC-0001", "EV-0001")
    bad = people.invoke("c.martin", "attest", "INC-0001", "vpn-nomade", "rotated")
    assert bad.exit_code == 2 and "credentials_rotated" in bad.output
    for check in ("credentials_rotated", "systems_patched"):
        ok_as("astreinte-dsi", "attest", "INC-0001", "vpn-nomade", check)
    assert "approval recorded" in ok_as("c.martin", "reopen", "INC-0001", "vpn-nomade")
    assert "re-opened vpn-nomade (stage 1)" in ok_as("m.durand", "reopen", "INC-0001", "vpn-nomade")
    closing = people.invoke("c.martin", "close", "INC-0001")
    assert closing.exit_code == 2 and "still closed: telemaintenance-dpi" in closing.output
    ok("report", "INC-0001", "--out", str(tmp_path / "rapport.pdf"))
    assert (tmp_path / "rapport.pdf").read_bytes().startswith(b"%PDF")
