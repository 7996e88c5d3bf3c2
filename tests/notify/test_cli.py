"""The notify commands end to end on a real case store and a loopback SMTP server."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rempart.adapters.smtp_sink import LocalSMTPServer
from rempart.cli.app import app
from rempart.store.db import Store
from tests.identities.helpers import People
from tests.notify.conftest import make_incident


@pytest.fixture
def cli(
    store_url: str, store: Store, example_group_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[CliRunner, list[str]]:
    make_incident(store)
    monkeypatch.setenv("REMPART_DATABASE_URL", store_url)  # where `rempart login` keeps the session
    People(store_url).login("c.martin")  # every note, T0, fact and sending is signed by an account
    monkeypatch.setenv("REMPART_INVENTORY", str(example_group_path))
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner(), ["--db", store_url]


def test_log_t0_obligations(cli: tuple[CliRunner, list[str]]) -> None:
    runner, db = cli
    r = runner.invoke(
        app,
        [
            "log",
            "add",
            "INC-0001",
            "Le directeur confirme le chiffrement",
            "--kind",
            "decision",
            *db,
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["log", "show", "INC-0001", *db])
    assert "Le directeur confirme le chiffrement" in r.output and "c.martin" in r.output
    r = runner.invoke(
        app, ["t0", "set", "INC-0001", "capitouls", "--at", "2026-03-28T10:00+01:00", *db]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["obligations", "INC-0001", "--now", "2026-03-29T12:00+02:00", *db])
    assert r.exit_code == 0, r.output
    line = next(x for x in r.output.splitlines() if "early_warning" in x)
    assert "29/03/26 11:00+02" in line and "EN RETARD" in line and "dépassé de 1 h 00 min" in line
    assert "échéance(s) dépassée(s)" in r.output


def test_user_errors_are_one_clear_line(cli: tuple[CliRunner, list[str]], tmp_path: Path) -> None:
    runner, db = cli
    r = runner.invoke(
        app, ["t0", "set", "INC-0001", "capitouls", "--at", "2026-03-28 10:00", *db]
    )
    assert r.exit_code == 2 and "time zone" in r.output
    r = runner.invoke(
        app, ["t0", "set", "INC-0001", "nulle-part", "--at", "2026-03-28T10:00Z", *db]
    )
    assert r.exit_code == 2 and "nulle-part" in r.output
    r = runner.invoke(app, ["obligations", "INC-0099", *db])
    assert r.exit_code == 2 and "INC-0099" in r.output
    r = runner.invoke(app, ["log", "add", "INC-0001", "x", "--kind", "rumeur", *db])
    assert r.exit_code == 2 and "rumeur" in r.output
    bad = tmp_path / "obligations.yaml"
    bad.write_text("version: '1'\nobligations:\n- id: x\n  title: X\n")
    r = runner.invoke(app, ["notify", "catalogue", str(bad)])
    assert r.exit_code == 2 and "obligations.yaml:3" in r.output and "legal_basis" in r.output
    r = runner.invoke(
        app,
        ["notify", "send", "INC-0001", "csp_signalement", "--to", "a@b.example", *db],
        env={"REMPART_OOB_SMTP_HOST": "", "REMPART_OOB_SMTP_SENDER": ""},
    )
    assert r.exit_code == 2


def test_draft_send_ack_status(
    cli: tuple[CliRunner, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner, db = cli
    out = tmp_path / "drafts"
    r = runner.invoke(app, ["notify", "draft", "INC-0001", "cnil_violation", "--out", str(out), *db])
    assert r.exit_code == 0, r.output
    assert (out / "INC-0001_capitouls_cnil_violation_initial.pdf").is_file()
    assert "people_count" in r.output  # what is still to complete is listed
    r = runner.invoke(app, ["notify", "fact", "INC-0001", "people_count", "environ 900", *db])
    assert r.exit_code == 0, r.output
    with LocalSMTPServer() as server:
        monkeypatch.setenv("REMPART_OOB_SMTP_HOST", server.host)
        monkeypatch.setenv("REMPART_OOB_SMTP_PORT", str(server.port))
        monkeypatch.setenv("REMPART_OOB_SMTP_SECURITY", "none")
        monkeypatch.setenv("REMPART_OOB_SMTP_SENDER", "crise@secours.example")
        r = runner.invoke(
            app,
            [
                "notify",
                "send",
                "INC-0001",
                "cnil_violation",
                "--to",
                "dpo@horizon.example",
                "--out",
                str(out),
                *db,
            ],
        )
    assert r.exit_code == 0, r.output
    assert len(server.received) == 1 and "environ 900" in server.received[0].message.get_body().get_content()
    r = runner.invoke(app, ["notify", "ack", "1", "--by", "CNIL", "--ref", "n° 42", *db])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "notify",
            "done",
            "INC-0001",
            "police_complaint",
            "complaint",
            "--channel",
            "in_person",
            "--ref",
            "PV 17",
            *db,
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["notify", "status", "INC-0001", *db])
    assert "cnil_violation / initial" in r.output and "CNIL (n° 42)" in r.output and "PV 17" in r.output
