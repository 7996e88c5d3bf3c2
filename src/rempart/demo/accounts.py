"""The demo's people log in like everyone else: an account per person of the plan, a password and a
TOTP secret each (written, readable by the user only, to ``accounts.json`` in the demo's keys folder),
then a real login through ``rempart.identities`` whose authenticated actor the services receive.

``actor(ctx, "c.martin")`` gives the logged-in actor of that person (one login per person per demo).
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime, timedelta

from rempart.demo.context import DemoContext
from rempart.domain.actors import Actor
from rempart.identities import service, totp
from rempart.respond.plan import load_plan

ADMIN = "c.martin"  # the group's RSSI administers the accounts


def _credentials_path(ctx: DemoContext) -> os.PathLike[str]:
    return ctx.keys_dir / "accounts.json"


def _save(ctx: DemoContext, creds: dict[str, dict[str, str]]) -> None:
    path = _credentials_path(ctx)
    ctx.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(creds, f, indent=1, ensure_ascii=False)
    os.chmod(path, 0o600)


def _people(ctx: DemoContext) -> dict[str, service.PersonRef]:
    from rempart.demo.respond_step import plan_path

    plan = load_plan(plan_path(ctx), ctx.group).plan
    return {
        p.id: service.PersonRef(p.id, p.name, tuple(p.roles), tuple(p.establishments)) for p in plan.people
    }


def actor(ctx: DemoContext, person_id: str) -> Actor:
    """``person_id``'s authenticated actor: account created on first use, then a password + TOTP login."""
    cache: dict[str, Actor] = ctx.facts.setdefault("accounts.actors", {})
    if person_id in cache and cache[person_id].fresh_second_factor(datetime.now(UTC)):
        return cache[person_id]
    creds: dict[str, dict[str, str]] = ctx.facts.setdefault("accounts.credentials", {})
    if person_id not in creds:
        people = _people(ctx)
        if person_id not in people:
            raise KeyError(f"{person_id} is not a person of the demo's plan")
        first = not service.has_accounts(ctx.store)
        if not first and ADMIN not in creds and person_id != ADMIN:
            actor(ctx, ADMIN)
        by = None if first else cache.get(ADMIN) or actor(ctx, ADMIN)
        password = "-".join(secrets.token_urlsafe(6) for _ in range(4))  # a passphrase of 4 random words
        service.create(ctx.store, people[person_id], password, by, admin=person_id == ADMIN or first)
        secret = service.start_totp(ctx.store, person_id)
        service.confirm_totp(ctx.store, person_id, totp.code_at(secret, datetime.now(UTC)), person_id)
        creds[person_id] = {"password": password, "totp_secret": secret}
        _save(ctx, creds)
        if len(creds) == 1:
            ctx.console.print(
                f"Comptes de la démo (mot de passe et secret TOTP, lisibles par vous seul) : "
                f"{_credentials_path(ctx)}"
            )
    # the enrolment used the current TOTP step: log in with the next one (a replay would be refused)
    code = totp.code_at(creds[person_id]["totp_secret"], datetime.now(UTC) + timedelta(seconds=30))
    done = service.login(ctx.store, person_id, creds[person_id]["password"], code, "demo")
    cache[person_id] = done.actor
    return done.actor


def who(ctx: DemoContext, person_id: str) -> str:
    """The author to record for ``person_id``: its logged-in account's person (logs in on first use; call
    it outside an open store transaction the first time)."""
    cache: dict[str, Actor] = ctx.facts.setdefault("accounts.actors", {})
    return cache[person_id].who if person_id in cache else actor(ctx, person_id).who
