"""Accounts, passwords, TOTP, delays, sessions and API tokens, on a real SQLite case store."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from rempart.domain.actors import Actor
from rempart.errors import StateError
from rempart.identities import passwords, service, throttle, totp
from rempart.store import journal
from rempart.store.db import Store
from rempart.store.models.identities import AccountRow, ApiTokenRow, SessionRow
from tests.identities.helpers import PASSWORD, account, forget_replay, person

T = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)
ADMIN = Actor("admin", None, admin=True)


@pytest.fixture
def cases(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'cases.sqlite'}")


def _code(secret: str, at: datetime) -> str:
    return pyotp.TOTP(secret).at(at)


def test_argon2id_hash_and_rehash_at_login(cases: Store) -> None:
    secret = account(cases, "c.martin")  # hashed with the cheap test profile
    with cases.session() as s:
        stored = s.scalars(select(AccountRow.password_hash)).one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    strong = PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1)
    before = passwords.use_hasher(strong)
    try:
        assert passwords.needs_rehash(stored)
        service.login(cases, "c.martin", PASSWORD, _code(secret, T), "test", at=T)
    finally:
        passwords.use_hasher(before)
    with cases.session() as s:
        rehashed = s.scalars(select(AccountRow.password_hash)).one()
    assert rehashed != stored and "m=1024,t=2" in rehashed


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("Tr0mbone-vert", True),  # 13 characters, four classes
        ("tr0mbonevert!", True),  # three classes
        ("trombonevertx", False),  # one class only
        ("Tr0mb-ne", False),  # too short
        ("le chat boit du the vert", True),  # a passphrase: length over complexity
        ("Azerty123456!", False),  # a common base with digits and a symbol around it
        ("aaaaaaaaaaaaaaaaaaaaaaa", False),  # long but one repeated letter
        ("Martin-2026-xyz", False),  # the person's own name
    ],
)
def test_password_policy(password: str, ok: bool) -> None:
    found = passwords.problems(password, names=("c.martin", "Claire Martin"))
    assert (found == []) is ok, found


def test_administrators_need_sixteen_characters() -> None:
    assert passwords.problems("Tr0mbone-vert") == []
    assert passwords.problems("Tr0mbone-vert", admin=True) != []
    assert passwords.problems("Tr0mbone-vert-bleu", admin=True) == []


def test_weak_password_refused_at_creation(cases: Store) -> None:
    with pytest.raises(StateError, match="password refused"):
        service.create(cases, person("c.martin"), "azerty", None, admin=True)
    assert not service.has_accounts(cases)


def test_totp_accepts_skew_refuses_replay_and_old_codes() -> None:
    secret = totp.new_secret()
    step = pyotp.TOTP(secret).timecode(T)
    assert totp.accepted_step(secret, _code(secret, T), T, None) == step
    assert totp.accepted_step(secret, _code(secret, T - timedelta(seconds=30)), T, None) == step - 1
    assert totp.accepted_step(secret, _code(secret, T + timedelta(seconds=30)), T, None) == step + 1
    assert totp.accepted_step(secret, _code(secret, T - timedelta(seconds=90)), T, None) is None
    assert totp.accepted_step(secret, _code(secret, T), T, last_step=step) is None  # replay
    assert "otpauth://totp/rempart:c.martin?secret=" in totp.provisioning_uri(secret, "c.martin")


def test_login_refuses_a_replayed_code(cases: Store) -> None:
    secret = account(cases, "c.martin")
    service.login(cases, "c.martin", PASSWORD, _code(secret, T), "test", at=T)
    with pytest.raises(StateError, match="wrong account name, password or code"):
        service.login(cases, "c.martin", PASSWORD, _code(secret, T), "test", at=T + timedelta(seconds=5))


def test_failures_reveal_nothing(cases: Store) -> None:
    secret = account(cases, "c.martin")
    messages = set()
    for name, pw, code in (
        ("nobody", PASSWORD, _code(secret, T)),
        ("c.martin", "wrong-Password-1", _code(secret, T)),
        ("c.martin", PASSWORD, "000000" if _code(secret, T) != "000000" else "111111"),
    ):
        with pytest.raises(StateError) as exc:
            service.login(cases, name, pw, code, f"src-{name}-{pw}-{code}", at=T)
        messages.add(str(exc.value))
    assert len(messages) == 1


def test_an_approver_without_second_factor_cannot_log_in(cases: Store) -> None:
    service.create(cases, person("c.martin"), PASSWORD, None, admin=True)
    with pytest.raises(StateError, match="wrong account name, password or code"):
        service.login(cases, "c.martin", PASSWORD, "", "test", at=T)


def test_growing_delays_per_account_and_source_never_a_lock_out(cases: Store) -> None:
    secret = account(cases, "c.martin")
    at = T
    for _ in range(throttle.FREE_ATTEMPTS - 1):  # the first failures cost nothing
        with pytest.raises(StateError, match="wrong"):
            service.login(cases, "c.martin", "bad-Password-1", "", "attacker", at=at)
    waits = []
    for _ in range(5):
        with pytest.raises(StateError, match="wrong"):
            service.login(cases, "c.martin", "bad-Password-1", "", "attacker", at=at)
        # even the right password and code from elsewhere wait: the account's delay applies
        with pytest.raises(StateError, match=r"try again in (\d+) s") as exc:
            service.login(cases, "c.martin", PASSWORD, _code(secret, at), "rssi-laptop", at=at)
        waits.append(int(re.search(r"in (\d+) s", str(exc.value)).group(1)))  # type: ignore[union-attr]
        at += timedelta(minutes=10)  # past every wait: each failure may be tried
    assert waits == [1, 2, 4, 8, 16]
    # the account is never locked: once the wait is over, the right password and code get in
    service.login(cases, "c.martin", PASSWORD, _code(secret, at), "rssi-laptop", at=at)
    # a source that keeps failing is slowed down for every account it tries
    service.create(cases, person("p.nguyen"), PASSWORD, ADMIN)
    for _ in range(throttle.FREE_ATTEMPTS):
        with pytest.raises(StateError, match="wrong"):
            service.login(cases, "x", "bad", "", "scanner", at=at)
    with pytest.raises(StateError, match="try again"):
        service.login(cases, "p.nguyen", "bad", "", "scanner", at=at)


def test_delays_are_kept_in_the_store_for_every_process(cases: Store, tmp_path: Path) -> None:
    account(cases, "c.martin")
    for _ in range(throttle.FREE_ATTEMPTS):
        with pytest.raises(StateError, match="wrong"):
            service.login(cases, "c.martin", "bad", "", "attacker", at=T)
    other = Store(cases.url)  # another process opening the same store
    with pytest.raises(StateError, match="try again"):
        service.login(other, "c.martin", "bad", "", "elsewhere", at=T)


def test_session_idle_and_absolute_timeouts_and_revocation(cases: Store) -> None:
    secret = account(cases, "c.martin")
    done = service.login(cases, "c.martin", PASSWORD, _code(secret, T), "test", at=T)
    with cases.session() as s:
        assert s.scalars(select(SessionRow.token_hash)).one() != done.token  # only a digest is kept
    assert service.resolve(cases, done.token, at=T + timedelta(minutes=29)).person_id == "c.martin"
    # idle: 29 min after the last use is fine, 31 min is not
    assert service.resolve(cases, done.token, at=T + timedelta(minutes=58)).account == "c.martin"
    with pytest.raises(StateError, match="session ended"):
        service.resolve(cases, done.token, at=T + timedelta(minutes=90))
    # absolute: kept busy, it still ends after 12 h
    forget_replay(cases, "c.martin")
    t = T + timedelta(hours=1)
    busy = service.login(cases, "c.martin", PASSWORD, _code(secret, t), "test", at=t)
    for minutes in range(20, 12 * 60, 20):
        service.resolve(cases, busy.token, at=t + timedelta(minutes=minutes))
    with pytest.raises(StateError, match="session ended"):
        service.resolve(cases, busy.token, at=t + timedelta(hours=12, minutes=5))
    # revocation
    forget_replay(cases, "c.martin")
    t2 = T + timedelta(days=1)
    third = service.login(cases, "c.martin", PASSWORD, _code(secret, t2), "test", at=t2)
    assert service.logout(cases, third.token)
    with pytest.raises(StateError, match="session ended"):
        service.resolve(cases, third.token, at=t2)


def test_second_factor_freshness_and_reauth(cases: Store) -> None:
    secret = account(cases, "c.martin")
    done = service.login(cases, "c.martin", PASSWORD, _code(secret, T), "test", at=T)
    later = T + timedelta(minutes=6)
    actor = service.resolve(cases, done.token, at=later)
    assert actor.fresh_second_factor(T + timedelta(minutes=4))
    assert not actor.fresh_second_factor(later)
    refreshed = service.reauth(cases, done.token, _code(secret, later), at=later)
    assert refreshed.fresh_second_factor(later)
    with pytest.raises(StateError, match="already used"):
        service.reauth(cases, done.token, _code(secret, later), at=later)


def test_api_token_hash_only_scoped_to_roles_and_revocable(cases: Store) -> None:
    account(cases, "c.martin")
    account(cases, "m.durand")
    durand = service.resolve  # noqa: F841  (readability: tokens resolve through the same door)
    owner = Actor("m.durand", "m.durand", roles=("clinic_director",), establishments=("capitouls",))
    token = service.create_token(cases, owner, "scripts")
    with cases.session() as s:
        stored = s.scalars(select(ApiTokenRow.token_hash)).one()
    assert token not in stored and len(stored) == 64
    actor = service.resolve(cases, token)
    assert (actor.person_id, actor.roles, actor.establishments, actor.via) == (
        "m.durand", ("clinic_director",), ("capitouls",), "token"
    )
    assert actor.second_factor_at is None  # a token never counts as a second factor
    service.revoke_token(cases, owner, "scripts")
    with pytest.raises(StateError, match="unknown or revoked"):
        service.resolve(cases, token)


def test_disable_revokes_sessions_and_tokens(cases: Store) -> None:
    secret = account(cases, "c.martin")
    account(cases, "m.durand")
    done = service.login(cases, "c.martin", PASSWORD, _code(secret, T), "test", at=T)
    token = service.create_token(cases, done.actor, "cron")
    service.disable(cases, "c.martin", ADMIN)
    for t in (done.token, token):
        with pytest.raises(StateError):
            service.resolve(cases, t, at=T)


def test_one_account_per_person(cases: Store) -> None:
    account(cases, "c.martin")
    with pytest.raises(StateError, match="has an account already"):
        service.create(cases, person("c.martin"), PASSWORD, ADMIN)


def test_reset_gives_a_one_time_password_to_change(cases: Store) -> None:
    secret = account(cases, "c.martin")
    out = service.reset(cases, "c.martin", ADMIN)
    assert out.password
    forget_replay(cases, "c.martin")
    done = service.login(cases, "c.martin", out.password, _code(secret, T), "test", at=T)
    assert done.must_change_password
    with pytest.raises(StateError):
        service.login(cases, "c.martin", PASSWORD, _code(secret, T + timedelta(seconds=30)), "t", at=T)


def test_break_glass_is_sealed_and_every_use_journaled(cases: Store) -> None:
    account(cases, "c.martin")
    sealed = service.create_break_glass(cases, person("c.martin"), ADMIN)
    assert sealed.password and sealed.totp_secret
    with cases.session() as s:
        row = s.scalars(select(AccountRow).where(AccountRow.name == "break-glass")).one()
        assert sealed.password not in row.password_hash
    done = service.login(cases, "break-glass", sealed.password, _code(sealed.totp_secret, T), "t", at=T)
    assert done.actor.via == "break-glass" and done.actor.person_id == "c.martin"
    with cases.session() as s:
        flagged = [e for e in journal.entries(s) if e.action == "identity.break_glass"]
    assert len(flagged) == 1 and "BRIS DE GLACE" in flagged[0].payload


def test_a_new_password_ends_every_other_session(cases: Store) -> None:
    secret = account(cases, "c.martin")
    elsewhere = service.login(cases, "c.martin", PASSWORD, _code(secret, T), "laptop", at=T)
    t = T + timedelta(seconds=30)
    here = service.login(cases, "c.martin", PASSWORD, _code(secret, t), "desk", at=t)
    service.change_password(cases, here.actor, PASSWORD, "Un-tout-autre-secret-42", here.token)
    assert service.resolve(cases, here.token, at=t).account == "c.martin"
    with pytest.raises(StateError, match="session ended"):
        service.resolve(cases, elsewhere.token, at=t)
