"""Identities through the real CLI: login, logout, whoami, and every decision made by an authenticated
account (`--as` is gone)."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from typer.testing import CliRunner

from rempart.adapters.smtp_sink import LocalSMTPServer
from rempart.cli.app import app
from rempart.identities import service, totp
from rempart.store import journal
from rempart.store.db import Store
from rempart.store.models.core import JournalRow
from tests.conftest import EXAMPLES
from tests.identities.helpers import (
    PASSWORD,
    People,
    account,
    age_second_factor,
    cli_login,
    forget_replay,
    login_as,
    person,
)

GROUP = str(EXAMPLES / "group.yaml")
STEP = "6"  # arreter-dpi-fichiers: stops servers, needs an RSSI and a director


def cli(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), input=input)
    return result.exit_code, result.output


def _journal(db: str, action: str) -> list[JournalRow]:
    store = Store(db)
    with store.session() as s:
        return [e for e in journal.entries(s) if e.action == action]


def _envelope(sealed: service.Created) -> str:
    """What the RSSI types from the sealed envelope: its password, then a code from its TOTP secret."""
    return f"{sealed.password}\n{pyotp.TOTP(sealed.totp_secret or '').now()}\n"


def test_without_login_a_decision_is_refused_with_a_clear_message(db: str) -> None:
    code, out = cli("approve", "1", STEP)
    assert code == 2 and "not logged in" in out and "rempart login" in out and "Traceback" not in out
    code, out = cli("approve", "1", STEP, "--as", "c.martin")
    assert code == 2 and "No such option: --as" in out


def test_login_session_file_whoami_logout(db: str, plan: Path, tmp_path: Path) -> None:
    secret = account(Store(db), "m.durand", plan=plan)
    code, out = cli_login("m.durand", secret)
    assert code == 0 and "logged in as m.durand" in out, out
    path = Path(os.environ["REMPART_SESSION_FILE"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("rps_")
    code, out = cli("whoami")
    assert code == 0 and "m.durand" in out and "clinic_director" in out and "capitouls" in out
    assert "fresh" in out
    token = path.read_text().strip()
    assert cli("logout")[0] == 0 and not path.exists()
    path.write_text(token)  # a copy of the key kept somewhere: revoked on the server, it is worthless
    code, out = cli("whoami")
    assert code == 2 and "session ended" in out


def test_login_with_a_wrong_code_reveals_nothing(db: str, plan: Path) -> None:
    account(Store(db), "c.martin", plan=plan)
    code, out = cli("login", "c.martin", input=f"{PASSWORD}\n000000\n")
    code2, out2 = cli("login", "nobody", input=f"{PASSWORD}\n000000\n")
    assert code == code2 == 2
    assert out.splitlines()[-1] == out2.splitlines()[-1] != ""


def test_an_approval_is_recorded_with_the_authenticated_account(db: str, people: People) -> None:
    code, out = people.run("c.martin", "approve", "1", STEP)
    assert code == 0, out
    given = _journal(db, "approval.given")
    assert [(e.actor, '"account":"c.martin"' in e.payload) for e in given] == [("c.martin", True)]


def test_one_person_cannot_approve_twice_under_two_names(db: str, people: People, plan: Path) -> None:
    assert people.run("c.martin", "approve", "1", STEP)[0] == 0
    code, out = people.run("c.martin", "approve", "1", STEP)
    assert code == 2 and "already approved" in out
    # the sealed break-glass account acts as the RSSI too: it is still the same person
    store = Store(db)
    admin = service.resolve(store, Path(os.environ["REMPART_SESSION_FILE"]).read_text().strip())
    sealed = service.create_break_glass(store, person("c.martin", plan), admin)
    assert sealed.password and sealed.totp_secret
    code, out = cli("login", "break-glass", input=_envelope(sealed))
    assert code == 0 and "BRIS DE GLACE" in out, out
    code, out = cli("approve", "1", STEP)
    assert code == 2 and "c.martin has already approved" in out
    # a second, different authenticated person completes the step
    code, out = people.run("m.durand", "approve", "1", STEP)
    assert code == 0 and "approved by c.martin, m.durand" in out


def test_break_glass_use_is_journaled_and_shown(db: str, people: People, plan: Path) -> None:
    store = Store(db)
    admin = service.resolve(store, Path(os.environ["REMPART_SESSION_FILE"]).read_text().strip())
    sealed = service.create_break_glass(store, person("c.martin", plan), admin)
    assert sealed.totp_secret and sealed.password
    code, _ = cli("login", "break-glass", input=_envelope(sealed))
    assert code == 0
    assert len(_journal(db, "identity.break_glass")) == 1
    code, out = cli("journal", "show")
    assert "identity.break_glass" in out and "BRIS DE GLACE" in out


def test_break_glass_use_is_alerted_over_the_out_of_band_relay(
    db: str, people: People, plan: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(db)
    admin = service.resolve(store, Path(os.environ["REMPART_SESSION_FILE"]).read_text().strip())
    sealed = service.create_break_glass(store, person("c.martin", plan), admin)
    monkeypatch.setenv("REMPART_BREAK_GLASS_NOTIFY", "rssi-perso@secours.example, dg@secours.example")
    with LocalSMTPServer() as server:
        monkeypatch.setenv("REMPART_OOB_SMTP_HOST", server.host)
        monkeypatch.setenv("REMPART_OOB_SMTP_PORT", str(server.port))
        monkeypatch.setenv("REMPART_OOB_SMTP_SECURITY", "none")
        monkeypatch.setenv("REMPART_OOB_SMTP_SENDER", "crise@secours.example")
        code, out = cli("login", "break-glass", input=_envelope(sealed))
    assert code == 0 and "break-glass alert sent" in out, out
    (mail,) = server.received
    assert sorted(mail.recipients) == ["dg@secours.example", "rssi-perso@secours.example"]
    assert "BRIS DE GLACE" in str(mail.message["Subject"])
    assert len(_journal(db, "identity.break_glass_notified")) == 1
    # the relay down: the login still works, and the missed alert is journaled
    service.logout(store, Path(os.environ["REMPART_SESSION_FILE"]).read_text().strip())
    monkeypatch.setenv("REMPART_OOB_SMTP_PORT", "1")
    forget_replay(store, "break-glass")
    code, out = cli("login", "break-glass", input=_envelope(sealed))
    assert code == 0 and "break-glass alert not sent" in out
    assert len(_journal(db, "identity.break_glass_not_notified")) == 1


def test_a_destructive_approval_needs_a_fresh_second_factor(db: str, people: People) -> None:
    people.login("c.martin")
    age_second_factor(Store(db), minutes=6)
    code, out = people.run("c.martin", "approve", "1", STEP)
    assert code == 2 and "second factor from the last 5 minutes" in out and "rempart reauth" in out
    assert _journal(db, "approval.given") == []
    secret = people.secrets["c.martin"]
    forget_replay(Store(db), "c.martin")
    code, out = cli("reauth", input=f"{pyotp.TOTP(secret).now()}\n")
    assert code == 0, out
    assert people.run("c.martin", "approve", "1", STEP)[0] == 0


def test_an_api_token_cannot_approve_a_destructive_step(
    db: str, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMPART_TOKEN", people.token("c.martin"))
    code, out = cli("whoami")
    assert code == 0 and "via token" in out
    code, out = cli("approve", "1", STEP)
    assert code == 2 and "second factor" in out


def test_an_account_of_another_establishment_cannot_act_here(db: str, people: People) -> None:
    code, out = people.run("t.moreau", "approve", "1", STEP)
    assert code == 2 and "may approve only for saint-cyprien, not for establishment capitouls" in out
    code, out = people.run("t.moreau", "t0", "set", "INC-0001", "capitouls", "--at", "2026-03-28T10:00Z")
    assert code == 2 and "acts only for saint-cyprien" in out


def test_an_auditor_reads_but_cannot_approve(db: str, people: People) -> None:
    code, out = people.run("l.petit", "approve", "1", STEP)
    assert code == 2 and "read-only" in out
    assert people.run("l.petit", "run", "show", "1")[0] == 0
    assert people.run("l.petit", "whoami")[0] == 0


def test_accounts_commands_need_an_administrator(db: str, people: People, plan: Path) -> None:
    code, out = people.run("m.durand", "accounts", "disable", "c.martin")
    assert code == 2 and "not an administrator" in out
    code, out = people.run("c.martin", "accounts", "list")
    assert code == 0 and "m.durand" in out and "clinic_director" in out
    code, out = people.run("c.martin", "accounts", "create", "--person", "p.nguyen",
                           input="Tr0mbone-vert-bleu\nTr0mbone-vert-bleu\n")
    assert code == 0 and "account p.nguyen created" in out, out
    code, out = people.run("c.martin", "accounts", "create", "--person", "a.benali", input="azerty\nazerty\n")
    assert code == 2 and "password refused" in out
    code, out = people.run("c.martin", "accounts", "disable", "m.durand")
    assert code == 0
    forget_replay(Store(db), "m.durand")
    code, out = cli_login("m.durand", people.secrets["m.durand"])
    assert code == 2 and "login refused" in out


def test_first_account_enrolment_and_login_through_the_cli(
    tmp_path: Path, plan: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMPART_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    monkeypatch.setenv("REMPART_PLAN", str(plan))
    secret = pyotp.random_base32()
    monkeypatch.setattr(totp, "new_secret", lambda: secret)  # known, so the test can type its codes
    code, out = cli("accounts", "create", "--person", "c.martin", input="azerty\nazerty\n")
    assert code == 2 and "password refused" in out
    code, out = cli("accounts", "create", "--person", "c.martin", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert code == 2 and "first account must be an administrator" in out
    strong = "Correct-horse-Battery-Staple-9"
    code, out = cli("accounts", "create", "--person", "c.martin", "--admin", input=f"{strong}\n{strong}\n")
    assert code == 0 and "account c.martin created" in out, out
    code, out = cli("accounts", "create", "--person", "m.durand", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert code == 2 and "not logged in" in out  # once an account exists, only an admin adds others
    code, out = cli("login", "c.martin", input=f"{strong}\n\n")
    assert code == 2 and "login refused" in out  # no second factor enrolled yet: no way in
    code, out = cli("accounts", "enrol-totp", "c.martin", input=f"wrong\n{pyotp.TOTP(secret).now()}\n")
    assert code == 2 and "enrolment refused" in out
    now = pyotp.TOTP(secret).now()
    code, out = cli("accounts", "enrol-totp", "c.martin", input=f"{strong}\n{now}\n")
    assert code == 0 and f"otpauth://totp/rempart:c.martin?secret={secret}" in out, out
    later = pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30))  # the enrolment's step is spent
    code, out = cli("login", "c.martin", input=f"{strong}\n{later}\n")
    assert code == 0 and "logged in as c.martin" in out, out
    code, out = cli("accounts", "enrol-totp", "c.martin", input=f"{strong}\n{now}\n")
    assert code == 2 and "enrolled already" in out


def test_an_investigator_works_only_on_the_incidents_of_the_account(
    db: str, people: People, plan: Path, tmp_path: Path
) -> None:
    store = Store(db)
    secret = account(store, "e.expert", plan=plan, incidents=("INC-0002",))
    login_as(store, "e.expert", secret)
    people.current = "e.expert"
    log = tmp_path / "fortigate.log"
    log.write_text("date=2026-11-28 srcip=198.51.100.7\n")
    code, out = cli("evidence", "add", "INC-0001", str(log))
    assert code == 2 and "works only on INC-0002, not on INC-0001" in out
    code, out = people.run("c.martin", "evidence", "add", "INC-0001", str(log))  # the RSSI: every incident
    assert code == 0 and "EV-0001" in out


def test_manual_steps_and_rollbacks_are_guarded_too(db: str, people: People) -> None:
    code, out = people.run("t.moreau", "ack", "1", "deconnecter-sauvegardes", "--comment", "fait")
    assert code == 2 and "acts only for saint-cyprien, not for establishment capitouls" in out
    people.login("c.martin")
    age_second_factor(Store(db), minutes=6)
    code, out = people.run("c.martin", "rollback", "1", "fermer-acces-externes")
    assert code == 2 and "second factor from the last 5 minutes" in out
    code, out = people.run("astreinte-dsi", "ack", "1", "deconnecter-sauvegardes", "--comment", "fait")
    assert code == 0 and "fait" in out
