"""Reading the case store needs an authenticated account too, within that account's scope, through the
real CLI on a real SQLite case store."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rempart.cli.app import app
from rempart.store.db import Store
from tests.conftest import EXAMPLES
from tests.identities.helpers import People, account, login_as
from tests.respond.helpers import make_incident

# every command that reads the case store; INC-0001 and run 1 are at Capitouls
READERS: list[tuple[str, ...]] = [
    ("incidents",),
    ("incident", "show", "INC-0001"),
    ("run", "list"),
    ("run", "list", "INC-0001"),
    ("run", "show", "1"),
    ("plan", "show", "INC-0001", "-p", str(EXAMPLES / "plan.yaml")),
    ("journal", "show"),
    ("gates", "INC-0001"),
    ("findings", "INC-0001"),
    ("evidence", "show", "INC-0001"),
    ("evidence", "verify", "INC-0001"),
    ("timeline", "INC-0001", "--out", "timeline.csv"),
    ("log", "show", "INC-0001"),
    ("obligations", "INC-0001"),
    ("notify", "status", "INC-0001"),
    ("forms", "list", "capitouls"),
    ("snapshot", "status", "capitouls"),
    ("snapshot", "status"),
]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No event store, evidence locker or output file outside tmp_path."""
    monkeypatch.setenv("REMPART_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_every_reading_command_needs_a_login(db: str, people: People, tmp_path: Path) -> None:
    CliRunner().invoke(app, ["logout"])
    for args in READERS:
        code, out = cli(*args)
        assert code == 2 and "not logged in" in out and "rempart login" in out, (args, out)
        assert "Traceback" not in out
    people.login("c.martin")
    for args in READERS:
        code, out = cli(*args)
        assert "not logged in" not in out and "acts only" not in out, (args, out)
        # what is left to fail is the data (no event store, no snapshot yet), never the account
        assert code == 0 or "no event store" in out or "no snapshot" in out, (args, out)


def test_the_auditor_reads_everything_and_changes_nothing(db: str, people: People) -> None:
    people.login("l.petit")
    for args in READERS:
        code, out = cli(*args)
        assert "not logged in" not in out and "acts only" not in out and "read-only" not in out, (args, out)
    code, out = cli("incidents")
    assert code == 0 and "INC-0001" in out
    code, out = cli("journal", "show")
    assert code == 0 and "run/1" in out
    code, out = cli("log", "add", "INC-0001", "vu")
    assert code == 2 and "read-only" in out


def test_an_account_of_another_establishment_reads_only_its_own(
    db: str, people: People, tmp_path: Path
) -> None:
    store = Store(db)
    make_incident(store, establishment="saint-cyprien", ref="INC-0002", hosts=("tls-scy-ws001",))
    store.close()
    people.login("t.moreau")  # RSSI of Saint-Cyprien only
    code, out = cli("incidents")
    assert code == 0 and "INC-0002" in out and "INC-0001" not in out
    code, out = cli("run", "list")
    assert code == 0 and "capitouls" not in out
    for args in [
        ("incident", "show", "INC-0001"),
        ("run", "show", "1"),
        ("run", "list", "INC-0001"),
        ("findings", "INC-0001"),
        ("log", "show", "INC-0001"),
        ("notify", "status", "INC-0001"),
        ("forms", "list", "capitouls"),
        ("snapshot", "status", "capitouls"),
    ]:
        code, out = cli(*args)
        assert code == 2 and "acts only for saint-cyprien" in out, (args, out)
    code, out = cli("incident", "show", "INC-0002")
    assert code == 0 and "saint-cyprien" in out
    code, out = cli("snapshot", "status")  # the group's listing, cut to its own establishment
    assert "saint-cyprien" in out and "capitouls" not in out, out
    code, out = cli("journal", "show")  # the journal mixes every establishment
    assert code == 2 and "covers the whole group" in out
    (tmp_path / "vpn.log").write_text("date=2026-11-28 srcip=198.51.100.7\n")
    code, out = cli("evidence", "add", "INC-0001", "vpn.log")  # nor may it work on another's incident
    assert code == 2 and "acts only for saint-cyprien" in out


def test_an_investigator_reads_only_the_incidents_of_the_account(db: str, people: People, plan: Path) -> None:
    store = Store(db)
    make_incident(store, ref="INC-0002")
    secret = account(store, "e.expert", plan=plan, incidents=("INC-0002",))
    login_as(store, "e.expert", secret)
    store.close()
    people.current = "e.expert"
    code, out = cli("incidents")
    assert code == 0 and "INC-0002" in out and "INC-0001" not in out
    for args in [("incident", "show", "INC-0001"), ("findings", "INC-0001"), ("run", "show", "1"),
                 ("evidence", "show", "INC-0001")]:
        code, out = cli(*args)
        assert code == 2 and "works only on INC-0002, not on INC-0001" in out, (args, out)
    assert cli("findings", "INC-0002")[0] == 0
    code, out = cli("journal", "show")
    assert code == 2 and "covers the whole group" in out


def test_evidence_of_another_incident_is_not_shown_under_this_one(
    db: str, people: People, tmp_path: Path
) -> None:
    store = Store(db)
    make_incident(store, ref="INC-0002")
    store.close()
    log = tmp_path / "fortigate.log"
    log.write_text("date=2026-11-28 srcip=198.51.100.7\n")
    code, out = people.run("c.martin", "evidence", "add", "INC-0001", str(log))
    assert code == 0 and "EV-0001" in out
    code, out = cli("evidence", "show", "INC-0002", "EV-0001")
    assert code == 2 and "EV-0001 is not evidence of this incident" in out
    assert cli("evidence", "show", "INC-0001", "EV-0001")[0] == 0


def test_hunting_into_the_groups_case_store_needs_an_account(
    db: str, people: People, tmp_path: Path
) -> None:
    log = tmp_path / "empty.json"
    log.write_text("")
    rules = tmp_path / "rules"
    rules.mkdir()
    hunt = ("hunt", str(log), "--rules", str(rules), "--events-db", ":memory:", "--db", db)
    CliRunner().invoke(app, ["logout"])
    code, out = cli(*hunt)
    assert code == 2 and "not logged in" in out
    own = f"sqlite:///{tmp_path / 'my-hunt.sqlite'}"  # an investigator's own store, without accounts
    code, out = cli(*hunt[:-1], own)
    assert "not logged in" not in out, out
    people.login("l.petit")
    code, out = cli(*hunt)
    assert code == 2 and "read-only" in out


def test_the_degraded_mode_commands_that_change_things_need_an_account(db: str, tmp_path: Path) -> None:
    for args in [
        ("snapshot", "import", "capitouls", str(tmp_path)),
        ("kits", "build", "capitouls", "--out", str(tmp_path / "kits")),
        ("reconcile", "capitouls", "--out", str(tmp_path / "reports")),
        ("continuity", "export", "capitouls", "--out", str(tmp_path / "b.enc")),
    ]:
        code, out = cli(*args)
        assert code == 2 and "not logged in" in out, (args, out)


def test_an_investigator_cannot_hunt_new_incidents_into_the_groups_store(
    db: str, people: People, plan: Path, tmp_path: Path
) -> None:
    store = Store(db)
    login_as(store, "e.expert", account(store, "e.expert", plan=plan, incidents=("INC-0001",)))
    store.close()
    (tmp_path / "rules").mkdir()
    (tmp_path / "empty.json").write_text("")
    code, out = cli("hunt", str(tmp_path / "empty.json"), "--rules", str(tmp_path / "rules"),
                    "--events-db", ":memory:", "--db", db)
    assert code == 2 and "a hunt opens new incidents" in out and "--db" in out
