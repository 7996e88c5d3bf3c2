"""`rempart login / logout / whoami / reauth`, `rempart accounts …`, `rempart token …`.

Thin: prompt, call ``rempart.identities.service``, print. Secrets rempart chooses (reset passwords, the
break-glass envelope, API tokens) are printed once and never stored in clear.
"""

from __future__ import annotations

import os
from email.message import EmailMessage
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rempart.adapters.smtp import SMTPRelay, load_relay_settings
from rempart.cli.auth import acting, forget_token, save_token, saved_token, source
from rempart.cli.console import console, report_errors
from rempart.cli.options import open_case_store
from rempart.domain.actors import Actor
from rempart.errors import RempartError, StateError
from rempart.identities import service as identities
from rempart.identities import totp
from rempart.respond.plan import load_plan
from rempart.store.db import Store

accounts_app = typer.Typer(help="Accounts bound to the plan's people (administrators).", no_args_is_help=True)
token_app = typer.Typer(help="Personal API tokens (for scripts: REMPART_TOKEN).", no_args_is_help=True)

PlanFile = Annotated[Path, typer.Option("--plan", "-p", envvar="REMPART_PLAN", help="plan.yaml")]


def _person(plan: Path, person_id: str) -> identities.PersonRef:
    loaded = load_plan(plan, None)
    person = loaded.plan.person(person_id)
    if person is None:
        raise StateError(
            f"'{person_id}' is not a person of {plan}",
            hint=f"known: {', '.join(p.id for p in loaded.plan.people)}",
        )
    return identities.PersonRef(person.id, person.name, tuple(person.roles), tuple(person.establishments))


def _admin(store: Store) -> Actor:
    """An administrator with a fresh second factor: account changes are as sensitive as approvals."""
    actor = acting(store)
    if not actor.admin:
        raise StateError(f"{actor.account} is not an administrator of accounts")
    if not actor.fresh_second_factor(identities.now()):
        raise StateError(
            "managing accounts needs a second factor from the last 5 minutes", hint="rempart reauth"
        )
    return actor


def _new_password(prompt: str = "password") -> str:
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=True))


@accounts_app.command("create")
@report_errors
def create(
    person: Annotated[str, typer.Option("--person", help="the id of the person under people: in the plan")],
    plan: PlanFile,
    admin: Annotated[bool, typer.Option("--admin", help="may create, disable and reset accounts")] = False,
    incident: Annotated[
        list[str] | None,
        typer.Option("--incident", help="only this incident (repeat; an outside investigator's account)"),
    ] = None,
) -> None:
    """Create the account of PERSON (the very first one, an --admin, needs no login)."""
    store = open_case_store()
    by = _admin(store) if identities.has_accounts(store) else None
    ref = _person(plan, person)
    identities.create(store, ref, _new_password(), by, admin=admin, incidents=tuple(incident or ()))
    console.print(f"[green]ok[/green] account {ref.id} created for {ref.name} ({', '.join(ref.roles)})")
    console.print(f"next, on their phone: rempart accounts enrol-totp {ref.id}")


@accounts_app.command("enrol-totp")
@report_errors
def enrol_totp(account: str) -> None:
    """Enrol the authenticator app of ACCOUNT (its password first; once, or after a reset --totp)."""
    store = open_case_store()
    password = str(typer.prompt("password", hide_input=True))
    if not identities.may_enrol_totp(store, account, password, source()):
        raise StateError(
            "enrolment refused: wrong account or password, or a second factor is enrolled already",
            hint="an administrator can run `rempart accounts reset ACCOUNT --totp`",
        )
    secret = identities.start_totp(store, account)
    console.print("add this account to the authenticator app (scan or type it):")
    console.print(totp.provisioning_uri(secret, account), markup=False, soft_wrap=True)
    console.print(f"secret: {secret}", markup=False)
    code = str(typer.prompt("code shown by the app"))
    identities.confirm_totp(store, account, code, account)
    console.print(f"[green]ok[/green] second factor enrolled for {account}; now: rempart login")


@accounts_app.command("list")
@report_errors
def list_accounts() -> None:
    """Accounts, the person and roles each is bound to, second factor, state."""
    store = open_case_store()
    acting(store, writes=False)
    table = Table(show_edge=False)
    for col in ("account", "person", "roles", "establishments", "TOTP", "admin", "state"):
        table.add_column(col)
    for r in identities.accounts(store):
        table.add_row(
            r.name,
            r.person_id or "",
            ", ".join(r.roles),
            ", ".join(r.establishments) or "all",
            "yes" if r.totp_secret else ("required" if r.totp_required else "no"),
            "yes" if r.admin else "",
            "disabled" if r.disabled_at else ("break-glass (sealed)" if r.break_glass else "active"),
        )
    console.print(table)


@accounts_app.command("disable")
@report_errors
def disable(account: str) -> None:
    """Disable ACCOUNT: its sessions and API tokens stop at once."""
    store = open_case_store()
    identities.disable(store, account, _admin(store))
    console.print(f"[green]ok[/green] {account} disabled, its sessions and tokens revoked")


@accounts_app.command("reset")
@report_errors
def reset(
    account: str,
    with_totp: Annotated[
        bool, typer.Option("--totp", help="also remove the second factor (lost phone)")
    ] = False,
) -> None:
    """Give ACCOUNT a one-time password (changed at its next login); sessions revoked."""
    store = open_case_store()
    out = identities.reset(store, account, _admin(store), totp_too=with_totp)
    console.print(
        f"one-time password for {account} (shown once, give it in person): {out.password}", markup=False
    )
    if out.totp_secret:
        console.print(f"new TOTP secret (seal it with the password): {out.totp_secret}", markup=False)
    elif with_totp:
        console.print(f"then: rempart accounts enrol-totp {account}")


@accounts_app.command("break-glass")
@report_errors
def break_glass(
    person: Annotated[
        str, typer.Option("--person", help="who the sealed account acts as (usually the RSSI)")
    ],
    plan: PlanFile,
) -> None:
    """Create the sealed break-glass account; its secrets are printed once, to be sealed in an envelope."""
    store = open_case_store()
    out = identities.create_break_glass(store, _person(plan, person), _admin(store))
    console.print("[bold]break-glass account[/bold] — print, seal in an envelope, keep in the safe:")
    console.print(
        f"account: {out.name}\npassword: {out.password}\nTOTP secret: {out.totp_secret}", markup=False
    )
    if out.totp_secret:
        console.print(totp.provisioning_uri(out.totp_secret, out.name), markup=False, soft_wrap=True)
    console.print(
        "every login with it is journaled as identity.break_glass and flagged in `rempart journal show`"
    )


@report_errors
def login(
    account: Annotated[str | None, typer.Argument(help="your account (default: asked)")] = None,
) -> None:
    """Log in with password and second factor; the session key goes to a file only you can read."""
    store = open_case_store()
    name = account or str(typer.prompt("account"))
    password = str(typer.prompt("password", hide_input=True))
    code = str(typer.prompt("code (authenticator app)", default="", show_default=False))
    done = identities.login(store, name, password, code, source())
    path = save_token(done.token)
    if done.actor.via == "break-glass":
        console.print("[bold red]BRIS DE GLACE[/bold red]: this login is journaled and flagged")
        _alert_break_glass(store, done.actor)
    if done.must_change_password:
        console.print("this password was given to you once: choose yours now")
        identities.change_password(store, done.actor, password, _new_password("new password"), done.token)
    console.print(f"[green]ok[/green] logged in as {_describe(done.actor)} (session key in {path})")


def _alert_break_glass(store: Store, actor: Actor) -> None:
    """Tell the people in REMPART_BREAK_GLASS_NOTIFY at once, over the out-of-band relay (the group's
    mail may be the thing that is down). Never blocks the login: a failed alert is journaled too."""
    wanted = os.environ.get("REMPART_BREAK_GLASS_NOTIFY", "")
    recipients = [a.strip() for a in wanted.split(",") if a.strip()]
    if not recipients:
        console.print("[yellow]REMPART_BREAK_GLASS_NOTIFY is not set: nobody was alerted by mail[/yellow]")
        return
    error: str | None = None
    try:
        relay = SMTPRelay(load_relay_settings())
        msg = EmailMessage()
        msg["From"], msg["To"] = relay.sender, ", ".join(recipients)
        msg["Subject"] = f"[rempart] BRIS DE GLACE : connexion au compte de secours ({actor.who})"
        msg.set_content(
            f"Le compte de secours « {actor.account} » (rattaché à {actor.name}) vient d'être utilisé "
            f"le {identities.now():%d/%m/%Y à %H:%M} UTC depuis {source()}.\n"
            "Si ce n'est pas prévu, désactivez-le : rempart accounts disable break-glass\n"
        )
        relay.send(msg)
    except RempartError as exc:
        error = str(exc)
        console.print(f"[red]break-glass alert not sent[/red]: {error}")
    identities.record_break_glass_notice(store, actor, recipients, error)
    if error is None:
        console.print(f"break-glass alert sent to {', '.join(recipients)}")


def _describe(actor: Actor) -> str:
    scope = ", ".join(actor.establishments) or "the whole group"
    return f"{actor.account} — {actor.name} ({', '.join(actor.roles)}; {scope})"


@report_errors
def logout() -> None:
    """End the session on the server and forget its key here."""
    token = saved_token()
    if token is None:
        console.print("not logged in")
        return
    revoked = identities.logout(open_case_store(), token)
    forget_token()
    console.print("[green]ok[/green] logged out" if revoked else "the session had already ended")


@report_errors
def whoami() -> None:
    """The account this shell acts as, its roles and scope, and how fresh its second factor is."""
    actor = acting(open_case_store(), writes=False)
    console.print(_describe(actor))
    at = identities.now()
    if actor.second_factor_at is None:
        console.print(f"via {actor.via}; no second factor: it cannot approve a destructive step")
    else:
        age = int((at - actor.second_factor_at).total_seconds() // 60)
        fresh = "fresh" if actor.fresh_second_factor(at) else "too old to approve: rempart reauth"
        console.print(f"via {actor.via}; second factor {age} min ago ({fresh})")


@report_errors
def reauth() -> None:
    """Type a new code: a destructive approval needs a second factor from the last 5 minutes."""
    token = saved_token()
    if token is None:
        raise StateError("not logged in", hint="rempart login")
    actor = identities.reauth(open_case_store(), token, str(typer.prompt("code (authenticator app)")))
    console.print(f"[green]ok[/green] second factor refreshed for {actor.account}")


@token_app.command("create")
@report_errors
def token_create(label: str) -> None:
    """A personal API token named LABEL (shown once; acts with your roles, never as a second factor)."""
    store = open_case_store()
    token = identities.create_token(store, acting(store), label)
    console.print(f"REMPART_TOKEN={token}", markup=False)
    console.print("shown once: only its hash is kept. Revoke: rempart token revoke " + label)


@token_app.command("revoke")
@report_errors
def token_revoke(label: str) -> None:
    """Revoke your API token LABEL."""
    store = open_case_store()
    identities.revoke_token(store, acting(store, writes=False), label)
    console.print(f"[green]ok[/green] token {label} revoked")


def register(app: typer.Typer) -> None:
    for name, func in (("login", login), ("logout", logout), ("whoami", whoami), ("reauth", reauth)):
        app.command(name)(func)
    app.add_typer(accounts_app, name="accounts")
    app.add_typer(token_app, name="token")
