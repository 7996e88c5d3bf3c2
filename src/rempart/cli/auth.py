"""Who runs a command: the session `rempart login` left, or the API token in REMPART_TOKEN.

Commands never take a person's name: they ask :func:`acting` for the authenticated
:class:`~rempart.domain.actors.Actor` and hand it (or its person id) to the services.
"""

from __future__ import annotations

import getpass
import os
import socket
from pathlib import Path

from rempart.detect.incidents import get_incident
from rempart.domain.actors import Actor
from rempart.errors import StateError
from rempart.identities import service as identities
from rempart.identities.authorize import (
    check_group_wide,
    check_incident,
    check_patient_data,
    check_scope,
    check_writes,
)
from rempart.store.db import Store


def session_file() -> Path:
    """REMPART_SESSION_FILE, else ~/.config/rempart/session: per user, never in the shared data folder."""
    explicit = os.environ.get("REMPART_SESSION_FILE")
    if explicit:
        return Path(explicit)
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "rempart" / "session"


def source() -> str:
    """Where a CLI login comes from, for the per-source delays and the journal."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"cli:{user}@{socket.gethostname()}"


def save_token(token: str) -> Path:
    path = session_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)  # an older file may have been wider
    return path


def saved_token() -> str | None:
    env = os.environ.get("REMPART_TOKEN")
    if env:
        return env.strip()
    path = session_file()
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def forget_token() -> None:
    session_file().unlink(missing_ok=True)


def acting(store: Store, *, writes: bool = True) -> Actor:
    """The authenticated actor; a read-only account (auditor) is refused any command that changes things."""
    token = saved_token()
    if token is None:
        raise StateError(
            "not logged in: every action is recorded with an authenticated account",
            hint="run `rempart login` (or set REMPART_TOKEN to a personal API token)",
        )
    actor = identities.resolve(store, token)
    if writes:
        check_writes(actor)
    return actor


def acting_for(store: Store, establishment: str) -> str:
    """The person acting, refused unless their scope covers ``establishment``."""
    actor = acting(store)
    check_scope(actor, establishment)
    return actor.who


def acting_on(store: Store, incident: str, *, writes: bool = True) -> str:
    """The person acting, refused unless the account may work on ``incident`` (an outside investigator's
    account is scoped to the incidents it was opened for, a clinic's account to its establishments)."""
    actor = acting(store, writes=writes)
    with store.session() as s:
        row = get_incident(s, incident)
        check_incident(actor, row.ref, row.establishment)
    return actor.who


# Reading the case store needs an account too: whoever can open the file is not thereby allowed to read
# it (the checks themselves are shared with the console: identities.authorize).


def reading(store: Store) -> Actor:
    """The authenticated actor of a command that only reads the case store (auditors included)."""
    return acting(store, writes=False)


def reading_incident(store: Store, ref: str | int) -> Actor:
    """The reader of incident ``ref``, refused when it is outside their scope."""
    actor = reading(store)
    with store.session() as s:
        row = get_incident(s, ref)
        check_incident(actor, row.ref, row.establishment)
    return actor


def reading_for(store: Store, establishment: str) -> Actor:
    """The reader of one establishment's data (forms, snapshots), refused outside their scope."""
    actor = reading(store)
    check_scope(actor, establishment)
    return actor


def seeing_patients(store: Store, establishment: str, what: str, *, writes: bool = True) -> Actor:
    """The account about to see ``establishment``'s patients (``what``: a kit, a report…), refused to roles
    that do not need to. The service journals the access once it is done."""
    actor = acting(store, writes=writes)
    check_patient_data(actor, establishment, what)
    return actor


def group_wide(store: Store, what: str) -> Actor:
    """A reader whose scope is the whole group: ``what`` mixes every establishment and incident."""
    actor = reading(store)
    check_group_wide(actor, what)
    return actor
