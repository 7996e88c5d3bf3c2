"""The case store on a real PostgreSQL server, started by the test in a temporary folder."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from rempart.detect.incidents import get_incident, open_incidents
from rempart.domain.alerts import Alert, EventRef, Level
from rempart.store import journal
from rempart.store.db import Store
from tests.conftest import need
from tests.store.test_journal import append_at_once


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / name).exists():
            return str(base / name)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    need(
        initdb is not None and pg_ctl is not None, "PostgreSQL server binaries (initdb, pg_ctl) not installed"
    )
    assert initdb and pg_ctl
    # not under pytest's tmp folder: it is private to root and the postgres user must enter it
    base = Path(tempfile.mkdtemp(prefix="rempart-pg-"))
    os.chmod(base, 0o777)
    data = base / "data"
    port = _free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"] if shutil.which("runuser") else []
        need(bool(as_user), "running as root without runuser to start PostgreSQL")
        subprocess.run(["id", "postgres"], check=False, capture_output=True)
    subprocess.run(
        [*as_user, initdb, "-D", str(data), "-U", "rempart", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *as_user,
            pg_ctl,
            "-D",
            str(data),
            "-o",
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1",
            "-l",
            str(base / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        yield f"postgresql+psycopg2://rempart@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], check=False, capture_output=True
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REMPART_KEYS_DIR", str(tmp_path / "keys"))
    return tmp_path / "keys"


@pytest.mark.postgres
def test_migrations_incidents_and_journal_on_postgresql(pg_url: str, keys: Path) -> None:
    store = Store(pg_url)
    try:
        t = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
        alerts = [Alert("r1", "x", Level.HIGH, t, "h1", "capitouls", events=[EventRef("f", 1)])]
        (row,) = open_incidents(store, alerts)
        with store.session() as s:
            assert get_incident(s, row.ref).first_seen == t
            journal.append(s, "alice", "apply", "run/1", {"k": 1})
            journal.append(s, "bob", "verify", "run/1", {"k": 2})
        with store.session() as s:
            assert journal.verify(s) == []
    finally:
        store.close()


@pytest.mark.postgres
def test_journal_appends_from_two_processes_and_truncation_on_postgresql(
    pg_url: str, keys: Path, tmp_path: Path
) -> None:
    store = Store(pg_url)
    try:
        with store.session() as s:
            s.execute(text("DELETE FROM journal"))  # the server is shared by this module's tests
        (keys / "journal.anchor").unlink(missing_ok=True)
        with store.session() as s:
            journal.append(s, "alice", "apply", "run/1", {})
        append_at_once(pg_url, tmp_path / "go", 30)
        with store.session() as s:
            assert [r.seq for r in journal.entries(s)] == list(range(1, 62))
            assert journal.verify(s) == []
            s.execute(text("DELETE FROM journal WHERE seq > 50"))
        with store.session() as s:
            assert [str(p) for p in journal.verify(s)] == [
                "tail truncated after entry 50 (the anchor says 61)"
            ]
    finally:
        store.close()
