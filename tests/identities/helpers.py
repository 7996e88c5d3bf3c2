"""Accounts for the plan's people, and logging in as them through the real CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
from sqlalchemy import select, update
from typer.testing import CliRunner, Result

from rempart.cli.app import app
from rempart.domain.actors import Actor
from rempart.identities import service
from rempart.respond.plan import load_plan
from rempart.store.db import Store
from rempart.store.models.identities import AccountRow, SessionRow
from tests.conftest import EXAMPLES

PASSWORD = "Correct-horse-Battery-9"
PLAN = EXAMPLES / "plan.yaml"


def person(person_id: str, plan: Path = PLAN) -> service.PersonRef:
    p = load_plan(plan, None).plan.person(person_id)
    assert p is not None, person_id
    return service.PersonRef(p.id, p.name, tuple(p.roles), tuple(p.establishments))


def account(
    store: Store, person_id: str, *, admin: bool = False, plan: Path = PLAN, incidents: tuple[str, ...] = ()
) -> str:
    """Create ``person_id``'s account with PASSWORD and an enrolled TOTP; returns the TOTP secret."""
    first = not service.has_accounts(store)
    by = None if first else Actor("setup", None, admin=True)
    service.create(store, person(person_id, plan), PASSWORD, by, admin=admin or first, incidents=incidents)
    secret = service.start_totp(store, person_id)
    service.confirm_totp(store, person_id, pyotp.TOTP(secret).now(), person_id)
    with store.session() as s:  # enrolment used the current step; logins in tests may come at once
        s.execute(update(AccountRow).where(AccountRow.name == person_id).values(totp_last_step=None))
    return secret


def cli_login(person_id: str, secret: str) -> tuple[int, str]:
    code = pyotp.TOTP(secret).now()
    result = CliRunner().invoke(app, ["login", person_id], input=f"{PASSWORD}\n{code}\n")
    return result.exit_code, result.output


def forget_replay(store: Store, person_id: str) -> None:
    """Let the same TOTP step be used again (tests log in several times within 30 s)."""
    with store.session() as s:
        s.execute(update(AccountRow).where(AccountRow.name == person_id).values(totp_last_step=None))


def age_second_factor(store: Store, minutes: int) -> None:
    """Make every session's second factor ``minutes`` old."""
    when = datetime.now(UTC) - timedelta(minutes=minutes)
    with store.session() as s:
        for row in s.scalars(select(SessionRow)):
            row.second_factor_at = when


def login_as(store: Store, person_id: str, secret: str) -> None:
    """Log in through the CLI (so the session file holds this person's session)."""
    forget_replay(store, person_id)
    code, out = cli_login(person_id, secret)
    assert code == 0, out


def actor(person_id: str, plan: Path = PLAN) -> Actor:
    """An authenticated actor as a service receives it, with a fresh second factor (service-level tests)."""
    p = load_plan(plan, None).plan.person(person_id)
    if p is None:  # an account whose person left the plan
        return Actor(person_id, person_id, second_factor_at=datetime.now(UTC))
    return Actor(p.id, p.id, p.name, tuple(p.roles), tuple(p.establishments), datetime.now(UTC), "session")


class People:
    """The plan's people with their accounts in one case store; ``run`` logs one in, then runs a command."""

    def __init__(self, url: str, plan: Path = PLAN) -> None:
        self.url, self.plan = url, plan
        self.secrets: dict[str, str] = {}
        self.current: str | None = None

    def login(self, person_id: str) -> None:
        store = Store(self.url)
        try:
            if person_id not in self.secrets:
                self.secrets[person_id] = account(store, person_id, plan=self.plan)
            login_as(store, person_id, self.secrets[person_id])
        finally:
            store.close()
        self.current = person_id

    def invoke(self, person_id: str, *args: str, input: str | None = None) -> Result:
        if self.current != person_id:
            self.login(person_id)
        return CliRunner().invoke(app, list(args), input=input)

    def run(self, person_id: str, *args: str, input: str | None = None) -> tuple[int, str]:
        result = self.invoke(person_id, *args, input=input)
        return result.exit_code, result.output

    def token(self, person_id: str, label: str = "tests") -> str:
        """A personal API token of ``person_id`` (for commands run in another process)."""
        store = Store(self.url)
        try:
            if person_id not in self.secrets:
                self.secrets[person_id] = account(store, person_id, plan=self.plan)
            return service.create_token(store, actor(person_id, self.plan), label)
        finally:
            store.close()
