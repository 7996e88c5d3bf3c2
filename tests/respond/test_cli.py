"""The commands end to end through Typer: plan check/show, respond, approve, ack, rollback, run, journal."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from rempart.cli.app import app
from rempart.store.db import Store
from rempart.store.models.core import JournalRow
from tests.conftest import EXAMPLES
from tests.identities.helpers import People
from tests.respond.helpers import make_incident

PLAN = str(EXAMPLES / "plan.yaml")
GROUP = str(EXAMPLES / "group.yaml")


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cases.sqlite'}"
    monkeypatch.setenv("REMPART_DATABASE_URL", url)
    monkeypatch.setenv("REMPART_PLAN", PLAN)
    monkeypatch.setenv("REMPART_INVENTORY", GROUP)
    monkeypatch.setenv("COLUMNS", "200")
    store = Store(url)
    make_incident(store)
    store.close()
    return url


@pytest.fixture
def people(db: str) -> People:
    return People(db)


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_plan_check_ok_and_located_error(tmp_path: Path) -> None:
    code, out = cli("plan", "check", PLAN, "--inventory", GROUP)
    assert code == 0 and "2 playbook(s), 8 steps, 7 people" in out
    bad = tmp_path / "plan.yaml"
    bad.write_text(Path(PLAN).read_text().replace("action: hold_queue", "action: hold_the_queue"))
    code, out = cli("plan", "check", str(bad))
    assert code == 2
    assert f"{bad}:" in out and "steps[2].action" in out


def test_plan_show_prints_the_exact_commands(db: str, people: People) -> None:
    people.login("c.martin")  # the dry run reads the incident: an account is needed
    code, out = cli("plan", "show", "INC-0001")
    assert code == 0, out
    assert "intrusion-confirmee" in out
    assert "$ nft -j -f - < (transaction on stdin)" in out
    assert "rempart@10.11.1.40 -- postsuper -h ALL" in out
    assert '"hook":"forward"' in out  # the transaction itself is shown
    code, out = cli("plan", "show", "INC-0001", "--undo")
    assert "undo $ nft -j list table inet rempart" in out and "postsuper -H ALL" in out


def test_respond_approve_ack_rollback_and_journal(db: str, people: People) -> None:
    code, out = cli("respond", "INC-0001", "--dry-run")
    assert code == 0 and "nft -j -f -" in out  # a dry run changes nothing: no login needed
    code, out = people.run("c.martin", "respond", "INC-0001")
    assert code == 0, out
    assert "dummy adapter" in out and "awaiting_approval" in out
    code, out = people.run("astreinte-dsi", "approve", "1", "arreter-dpi-fichiers")
    assert code == 2 and "needs an approver holding one of: rssi, clinic_director" in out
    assert people.run("c.martin", "approve", "1", "6")[0] == 0
    code, out = people.run("m.durand", "approve", "1", "6")
    assert code == 0
    code, out = people.run("astreinte-dsi", "ack", "1", "deconnecter-sauvegardes", "--comment", "fait 10:02")
    assert code == 0 and "fait 10:02" in out
    code, out = people.run("astreinte-dsi", "ack", "1", "appeler-ars", "--comment", "ARS prévenue")
    assert code == 0 and "verified" in out
    code, out = people.run("c.martin", "rollback", "1", "fermer-acces-externes")
    assert code == 0 and "ok step 1" in out
    code, out = cli("run", "show", "1")
    assert code == 0 and "rolled_back" in out
    code, out = cli("run", "list", "INC-0001")
    assert code == 0 and "intrusion-confirmee" in out and "INC-0001" in out
    code, out = cli("journal", "verify")
    assert code == 0 and "journal intact" in out
    code, out = cli("journal", "show", "--subject", "run/1/step/6")
    assert "approval.given" in out and "c.martin" in out


def test_journal_verify_names_the_altered_entry(db: str, people: People) -> None:
    assert people.run("c.martin", "respond", "INC-0001")[0] == 0
    store = Store(db)
    with store.session() as s:
        s.execute(update(JournalRow).where(JournalRow.seq == 3).values(actor="someone-else"))
    store.close()
    code, out = cli("journal", "verify")
    assert code == 1  # a broken journal, not a usage error (2)
    assert "entry 3 edited: actor changed" in out


def test_later_commands_reuse_the_runs_adapters_file(db: str, tmp_path: Path, people: People) -> None:
    record = tmp_path / "record.jsonl"
    adapters = tmp_path / "adapters.yaml"
    adapters.write_text(f"dummy: {{record: {record}}}\ndummy_for: [nftables, ssh, postfix, webhook]\n")
    assert people.run("c.martin", "respond", "INC-0001", "--adapters", str(adapters))[0] == 0
    assert people.run("c.martin", "approve", "1", "6")[0] == 0
    code, out = people.run("m.durand", "approve", "1", "6")  # no --adapters: the run's file is used
    assert code == 0 and f"using the run's adapters file {adapters}" in out
    assert "dummy adapter" not in out
    applied = [line for line in record.read_text().splitlines() if '"adapter":"ssh"' in line]
    assert len(applied) == 2  # the DPI and file servers, through the configured adapters


def test_failed_run_says_what_is_in_place_and_exits_1(db: str, tmp_path: Path, people: People) -> None:
    adapters = tmp_path / "adapters.yaml"
    # a firewall that refuses every command (`false nft …` exits 1), the rest on the dummy
    adapters.write_text("nftables: {firewalls: {capitouls: ['false']}}\ndummy_for: [ssh, postfix, webhook]\n")
    code, out = people.run("c.martin", "respond", "INC-0001", "--adapters", str(adapters))
    assert code == 1
    assert "stopped at a safe point" in out and "in place: nothing" in out
    assert "may be partly in place: 1 fermer-acces-externes" in out
    assert "not applied: 2 suspendre-flux-messagerie" in out
    assert "attempt 3: false nft -j -f" in out
