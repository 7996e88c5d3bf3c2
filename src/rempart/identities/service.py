"""Accounts, logins, sessions and API tokens: what every interface calls to know who is acting.

Failures a user sees reveal nothing: an unknown account, a disabled one, a wrong password and a wrong or
replayed code all get the same message, and an unknown account costs the same hashing time. Each login
with the sealed break-glass account is journaled (``identity.break_glass``) so that `rempart journal
show` flags it.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from rempart.domain.actors import READ_ONLY_ROLES, Actor
from rempart.errors import StateError
from rempart.identities import passwords, throttle, tokens, totp
from rempart.store import journal
from rempart.store.db import Store
from rempart.store.models.identities import AccountRow, ApiTokenRow, SessionRow

IDLE_TIMEOUT = timedelta(minutes=30)  # OWASP: 15–30 min for ordinary applications
ABSOLUTE_TIMEOUT = timedelta(hours=12)  # one crisis shift
BREAK_GLASS = "break-glass"
REFUSED = "login refused: wrong account name, password or code"


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Login:
    actor: Actor
    token: str  # the session secret: give it to the user once, store only its digest
    must_change_password: bool


@dataclass(frozen=True)
class PersonRef:
    """A person of plan.yaml, as identities needs it (the plan itself is read by the caller)."""

    id: str
    name: str
    roles: tuple[str, ...]
    establishments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Created:
    name: str
    password: str | None  # set when rempart chose it (reset, break-glass): shown once
    totp_secret: str | None  # break-glass: sealed with the password


def _account(s: Session, name: str) -> AccountRow | None:
    return s.scalars(select(AccountRow).where(AccountRow.name == name)).one_or_none()


def _get(s: Session, name: str) -> AccountRow:
    row = _account(s, name)
    if row is None:
        raise StateError(f"no account '{name}'", hint="rempart accounts list")
    return row


def _actor(row: AccountRow, second_factor_at: datetime | None, via: str) -> Actor:
    return Actor(
        account=row.name,
        person_id=row.person_id,
        name=row.display_name,
        roles=tuple(row.roles),
        establishments=tuple(row.establishments),
        incidents=tuple(row.incidents or ()),
        second_factor_at=second_factor_at,
        via="break-glass" if row.break_glass else via,
        admin=row.admin,
    )


def has_accounts(store: Store) -> bool:
    with store.session() as s:
        return s.scalars(select(AccountRow.id).limit(1)).first() is not None


def create(
    store: Store,
    person: PersonRef,
    password: str,
    by: Actor | None,
    *,
    admin: bool = False,
    incidents: tuple[str, ...] = (),
) -> Created:
    """Bind ``person`` of the plan to a new account (one per person: no shared accounts).

    Every account but a read-only auditor's must enrol TOTP before it can log in (attesting has no role
    of its own in the recovery policy, so any account that acts may attest). ``by`` None only for the
    very first account, which must be an administrator."""
    passwords.check(password, admin=admin, names=(person.id, person.name))
    with store.session() as s:
        if by is None and s.scalars(select(AccountRow.id).limit(1)).first() is not None:
            raise StateError("accounts exist already: log in as an administrator first", hint="rempart login")
        if by is None and not admin:
            raise StateError("the first account must be an administrator", hint="add --admin")
        if _account(s, person.id) is not None:
            raise StateError(f"person {person.id} has an account already", hint="rempart accounts reset")
        row = AccountRow(
            name=person.id,
            person_id=person.id,
            display_name=person.name,
            roles=list(person.roles),
            establishments=list(person.establishments),
            incidents=list(incidents),
            password_hash=passwords.hash_password(password),
            totp_required=admin or not set(person.roles) <= READ_ONLY_ROLES,
            admin=admin,
            created_at=now(),
        )
        s.add(row)
        journal.append(s, by.account if by else person.id, "account.created", f"account/{person.id}",
                       {"person": person.id, "roles": list(person.roles), "admin": admin,
                        "incidents": list(incidents)})
    return Created(person.id, None, None)


def create_break_glass(store: Store, person: PersonRef, by: Actor) -> Created:
    """The sealed account for when the usual way in is down: bound to ``person`` (usually the RSSI),
    with a long random password and a TOTP secret printed once, to be sealed in an envelope."""
    password = secrets.token_urlsafe(24)
    secret = totp.new_secret()
    with store.session() as s:
        if _account(s, BREAK_GLASS) is not None:
            raise StateError(
                "the break-glass account exists already", hint="rempart accounts reset break-glass"
            )
        s.add(
            AccountRow(
                name=BREAK_GLASS,
                person_id=person.id,
                display_name=f"{person.name} (bris de glace)",
                roles=list(person.roles),
                establishments=list(person.establishments),
                incidents=[],
                password_hash=passwords.hash_password(password),
                totp_secret=secret,
                totp_required=True,
                break_glass=True,
                created_at=now(),
            )
        )
        journal.append(s, by.account, "account.break_glass_created", f"account/{BREAK_GLASS}",
                       {"person": person.id})
    return Created(BREAK_GLASS, password, secret)


def may_enrol_totp(store: Store, name: str, password: str, source: str, at: datetime | None = None) -> bool:
    """Whether ``name`` may enrol a first factor itself: right password, no second factor yet. Throttled
    like a login, or it would be a side door for guessing passwords."""
    at = at or now()
    keys = throttle.keys(name, source)
    with store.session() as s:
        left = throttle.wait_left(s, keys, at)
        if left > timedelta(0):
            raise StateError(f"too many failed attempts: try again in {math.ceil(left.total_seconds())} s")
        row = _account(s, name)
        if row is None:
            passwords.dummy_verify(password)
            ok = False
        else:
            ok = passwords.verify_password(row.password_hash, password)
            ok = ok and row.totp_secret is None and row.disabled_at is None
        if ok:
            throttle.succeeded(s, keys)
        else:
            throttle.failed(s, keys, at)
        return ok


def start_totp(store: Store, name: str) -> str:
    """A new TOTP secret for ``name``, pending until :func:`confirm_totp` sees a valid code from it."""
    secret = totp.new_secret()
    with store.session() as s:
        _get(s, name).totp_pending = secret
    return secret


def confirm_totp(store: Store, name: str, code: str, by: str, at: datetime | None = None) -> None:
    at = at or now()
    with store.session() as s:
        row = _get(s, name)
        if row.totp_pending is None:
            raise StateError(
                f"no TOTP enrolment under way for {name}", hint=f"rempart accounts enrol-totp {name}"
            )
        step = totp.accepted_step(row.totp_pending, code, at, None)
        if step is None:
            raise StateError("that code is not the current one of the new secret: check the phone's clock")
        row.totp_secret, row.totp_pending, row.totp_last_step = row.totp_pending, None, step
        journal.append(s, by, "account.totp_enrolled", f"account/{name}", {})


def _revoke_all(s: Session, row: AccountRow, at: datetime, keep: str | None = None) -> None:
    kept = tokens.digest(keep) if keep else None
    live = select(SessionRow).where(SessionRow.account_id == row.id, SessionRow.revoked_at.is_(None))
    for sess in s.scalars(live):
        if sess.token_hash != kept:
            sess.revoked_at = at


def disable(store: Store, name: str, by: Actor) -> None:
    with store.session() as s:
        row = _get(s, name)
        row.disabled_at = now()
        _revoke_all(s, row, row.disabled_at)
        for tok in s.scalars(select(ApiTokenRow).where(ApiTokenRow.account_id == row.id)):
            tok.revoked_at = tok.revoked_at or row.disabled_at
        journal.append(s, by.account, "account.disabled", f"account/{name}", {})


def reset(store: Store, name: str, by: Actor, *, totp_too: bool = False) -> Created:
    """A new random password (shown once, to be changed at the first login); sessions revoked."""
    password = secrets.token_urlsafe(18)
    with store.session() as s:
        row = _get(s, name)
        row.password_hash = passwords.hash_password(password)
        row.must_change_password = not row.break_glass
        row.disabled_at = None
        secret = None
        if totp_too:
            row.totp_secret, row.totp_pending, row.totp_last_step = None, None, None
            if row.break_glass:
                secret = row.totp_secret = totp.new_secret()
        _revoke_all(s, row, now())
        journal.append(s, by.account, "account.reset", f"account/{name}", {"totp": totp_too})
    return Created(name, password, secret)


def change_password(
    store: Store, actor: Actor, old: str, new: str, current_session: str | None = None
) -> None:
    """A new password; every session but ``current_session`` is revoked."""
    with store.session() as s:
        row = _get(s, actor.account)
        if not passwords.verify_password(row.password_hash, old):
            raise StateError("the current password is wrong")
        passwords.check(new, admin=row.admin, names=(row.name, row.display_name))
        row.password_hash = passwords.hash_password(new)
        row.must_change_password = False
        _revoke_all(s, row, now(), keep=current_session)  # whoever knew the old password is out
        journal.append(s, actor.account, "account.password_changed", f"account/{row.name}", {})


def accounts(store: Store) -> list[AccountRow]:
    with store.session() as s:
        return list(s.scalars(select(AccountRow).order_by(AccountRow.name)))


def _second_factor(s: Session, row: AccountRow, code: str, at: datetime) -> bool:
    if row.totp_secret is None:
        return False
    step = totp.accepted_step(row.totp_secret, code, at, row.totp_last_step)
    if step is None:
        return False
    row.totp_last_step = step
    return True


def login(
    store: Store, name: str, password: str, code: str, source: str, at: datetime | None = None
) -> Login:
    """Check password and code together and open a server-side session."""
    at = at or now()
    keys = throttle.keys(name, source)
    with store.session() as s:
        left = throttle.wait_left(s, keys, at)
    if left > timedelta(0):
        raise StateError(f"too many failed attempts: try again in {math.ceil(left.total_seconds())} s")
    with store.session() as s:
        row = _account(s, name)
        if row is None:
            passwords.dummy_verify(password)
            ok = False
        else:
            ok = passwords.verify_password(row.password_hash, password) and row.disabled_at is None
            totp_ok = _second_factor(s, row, code, at) if ok and row.totp_secret else False
            if ok and row.totp_secret is None and row.totp_required:
                # refused as any failure, so a stranger learns nothing; the holder is told by the admin
                ok = False
            elif ok and row.totp_secret is not None:
                ok = totp_ok
        if not ok or row is None:
            throttle.failed(s, keys, at)
            journal.append(s, name[:64] or "?", "login.refused", f"account/{name[:64]}", {"source": source})
            refused = True
        else:
            refused = False
            throttle.succeeded(s, keys)
            if passwords.needs_rehash(row.password_hash):
                row.password_hash = passwords.hash_password(password)
            token = tokens.new(tokens.SESSION_PREFIX)
            second = at if row.totp_secret else None
            s.add(SessionRow(token_hash=tokens.digest(token), account_id=row.id, created_at=at,
                             last_seen_at=at, second_factor_at=second, source=source))
            if row.break_glass:
                journal.append(s, row.name, "identity.break_glass", f"account/{row.name}",
                               {"person": row.person_id, "source": source, "warning": "BRIS DE GLACE"})
            else:
                journal.append(s, row.name, "login", f"account/{row.name}", {"source": source})
            result = Login(_actor(row, second, "session"), token, row.must_change_password)
    if refused:  # committed above: the failure counts even though we raise
        raise StateError(REFUSED, hint="after a few failures each attempt waits longer")
    return result


def _session_row(s: Session, token: str) -> SessionRow | None:
    return s.scalars(select(SessionRow).where(SessionRow.token_hash == tokens.digest(token))).first()


def _live_token(s: Session, row: AccountRow, label: str) -> ApiTokenRow | None:
    live = select(ApiTokenRow).where(
        ApiTokenRow.account_id == row.id, ApiTokenRow.label == label, ApiTokenRow.revoked_at.is_(None)
    )
    return s.scalars(live).first()


def _live_session(s: Session, token: str, at: datetime) -> tuple[SessionRow, AccountRow]:
    sess = _session_row(s, token)
    expired = StateError("not logged in, or the session ended", hint="rempart login")
    if sess is None or sess.revoked_at is not None:
        raise expired
    if at - sess.last_seen_at > IDLE_TIMEOUT or at - sess.created_at > ABSOLUTE_TIMEOUT:
        sess.revoked_at = at
        raise expired
    row = s.get(AccountRow, sess.account_id)
    if row is None or row.disabled_at is not None:
        raise expired
    return sess, row


def resolve(store: Store, token: str, at: datetime | None = None) -> Actor:
    """The actor behind a session or API token; the session's idle clock restarts."""
    at = at or now()
    if token.startswith(tokens.API_PREFIX):
        return _resolve_api(store, token, at)
    error: StateError | None = None
    with store.session() as s:
        try:
            sess, row = _live_session(s, token, at)
        except StateError as exc:  # commit the expiry, then refuse
            error = exc
        else:
            sess.last_seen_at = at
            actor = _actor(row, sess.second_factor_at, "session")
    if error is not None:
        raise error
    return actor


def reauth(store: Store, token: str, code: str, at: datetime | None = None) -> Actor:
    """Refresh the session's second factor (a destructive approval needs one under 5 minutes old)."""
    at = at or now()
    ok = False
    with store.session() as s:
        sess, row = _live_session(s, token, at)
        if _second_factor(s, row, code, at):
            sess.second_factor_at = sess.last_seen_at = at
            ok = True
            journal.append(s, row.name, "login.second_factor", f"account/{row.name}", {})
            actor = _actor(row, at, "session")
    if not ok:
        raise StateError("code refused (wrong, expired or already used)", hint="wait for the next code")
    return actor


def logout(store: Store, token: str) -> bool:
    with store.session() as s:
        sess = _session_row(s, token)
        if sess is None or sess.revoked_at is not None:
            return False
        sess.revoked_at = now()
        row = s.get(AccountRow, sess.account_id)
        journal.append(s, row.name if row else "?", "logout", f"account/{row.name if row else '?'}", {})
        return True


def create_token(store: Store, actor: Actor, label: str) -> str:
    """A personal API token acting with the account's roles, never with a second factor: it cannot
    approve a destructive step. Shown once; only its digest is kept."""
    token = tokens.new(tokens.API_PREFIX)
    with store.session() as s:
        row = _get(s, actor.account)
        if _live_token(s, row, label) is not None:
            raise StateError(f"you have a token named '{label}' already", hint="rempart token revoke")
        s.add(ApiTokenRow(token_hash=tokens.digest(token), account_id=row.id, label=label, created_at=now()))
        journal.append(s, actor.account, "token.created", f"account/{row.name}", {"label": label})
    return token


def revoke_token(store: Store, actor: Actor, label: str) -> None:
    with store.session() as s:
        row = _get(s, actor.account)
        tok = _live_token(s, row, label)
        if tok is None:
            raise StateError(f"you have no live token named '{label}'")
        tok.revoked_at = now()
        journal.append(s, actor.account, "token.revoked", f"account/{row.name}", {"label": label})


def _resolve_api(store: Store, token: str, at: datetime) -> Actor:
    with store.session() as s:
        tok = s.scalars(select(ApiTokenRow).where(ApiTokenRow.token_hash == tokens.digest(token))).first()
        row = s.get(AccountRow, tok.account_id) if tok is not None and tok.revoked_at is None else None
        if tok is None or row is None or row.disabled_at is not None:
            raise StateError("that API token is unknown or revoked", hint="REMPART_TOKEN")
        tok.last_used_at = at
        return _actor(row, None, "token")


def record_break_glass_notice(store: Store, actor: Actor, recipients: list[str], error: str | None) -> None:
    """Journal that the out-of-band alert of a break-glass login was sent (or why it was not)."""
    with store.session() as s:
        journal.append(
            s,
            actor.account,
            "identity.break_glass_notified" if error is None else "identity.break_glass_not_notified",
            f"account/{actor.account}",
            {"to": recipients, "error": error},
        )
