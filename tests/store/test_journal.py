"""The journal through its API: key and anchor outside the case store, transactions that roll back,
journals written before the key existed, a missing key, two processes appending at once."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from rempart.errors import StateError
from rempart.store import journal
from rempart.store.db import Store, upgrade
from rempart.store.journal_anchor import FileAnchor
from rempart.store.journal_seal import load_key

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def keys(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path_factory.mktemp("keys-volume")  # not in the case store's folder
    monkeypatch.setenv("REMPART_KEYS_DIR", str(folder))
    return folder


def _fill(store: Store, n: int = 5, start: int = 0) -> None:
    for i in range(start, start + n):
        with store.session() as s:
            journal.append(s, "alice", "apply", f"run/1/step/{i}", {"argv": ["nft", "-j", "-f", "-"], "i": i})


def test_key_and_anchor_are_created_outside_the_case_store(store: Store, keys: Path) -> None:
    _fill(store, 3)
    key = keys / "journal.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32
    assert stat.S_IMODE((keys / "journal.anchor").stat().st_mode) == 0o600
    assert len((keys / "journal.anchor").read_bytes().splitlines()) == 6  # written + committed, each entry
    with store.session() as s:
        report = journal.check(s)
        assert [e.seq for e in journal.entries(s)] == [1, 2, 3]
    assert report.problems == [] and report.notices == [] and report.authenticated == 3


def test_default_key_folder_is_beside_a_sqlite_store_and_verify_says_so(store: Store, tmp_path: Path) -> None:
    _fill(store, 2)
    assert (tmp_path / "keys" / "journal.key").exists()
    with store.session() as s:
        report = journal.check(s)
    assert report.problems == []
    assert len(report.notices) == 1 and "inside the case store's folder" in report.notices[0]


def test_an_anchor_set_apart_from_the_key(
    store: Store, keys: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    anchor = tmp_path.parent / f"{tmp_path.name}-other-volume" / "rempart.anchor"
    monkeypatch.setenv("REMPART_JOURNAL_ANCHOR", str(anchor))
    _fill(store, 2)
    assert len(anchor.read_bytes().splitlines()) == 4 and not (keys / "journal.anchor").exists()
    anchor.write_bytes(b"".join(anchor.read_bytes().splitlines(keepends=True)[:2]))
    with store.session() as s:
        assert [p.kind for p in journal.verify(s)] == ["unanchored"]


def test_verify_inside_the_appending_transaction(store: Store, keys: Path) -> None:
    with store.session() as s:  # a fresh journal: no anchor yet until this transaction commits
        journal.append(s, "alice", "apply", "run/1/step/1", {})
        journal.append(s, "alice", "verify", "run/1/step/1", {})
        assert journal.verify(s) == []
        assert not (keys / "journal.anchor").exists()
    with store.session() as s:
        journal.append(s, "bob", "approve", "run/1/step/2", {})
        assert journal.verify(s) == []
    with store.session() as s:
        assert journal.verify(s) == [] and len(journal.entries(s)) == 3


def test_rolled_back_transactions_leave_no_false_alarm(store: Store, keys: Path) -> None:
    _fill(store, 2)
    with pytest.raises(RuntimeError), store.session() as s:
        journal.append(s, "alice", "apply", "run/1/step/x", {})
        raise RuntimeError("the step failed after it was journaled")
    with store.session() as s:
        savepoint = s.begin_nested()
        journal.append(s, "bob", "approve", "run/1/step/y", {})
        savepoint.rollback()
        journal.append(s, "bob", "approve", "run/1/step/z", {})
    with store.session() as s:
        assert journal.verify(s) == []
        assert [(e.seq, e.subject) for e in journal.entries(s)][-1] == (3, "run/1/step/z")


def test_a_crash_between_commit_and_anchoring_is_not_a_break(store: Store, keys: Path) -> None:
    _fill(store, 3)
    anchor = keys / "journal.anchor"
    lines = anchor.read_bytes().splitlines(keepends=True)
    anchor.write_bytes(b"".join(lines[:-1]))  # the 'committed' record of entry 3 never written
    with store.session() as s:
        assert journal.verify(s) == []


DIES_BEFORE_COMMIT = """
import os, sys
from sqlalchemy import event
from sqlalchemy.orm import Session
from rempart.store import journal
from rempart.store.db import Store
store = Store(sys.argv[1], migrate=False)
# registered after the journal's own listener: the anchor has the entry, the case store never will
event.listen(Session, "before_commit", lambda session: os._exit(9))
with store.session() as s:
    journal.append(s, "alice", "apply", "run/1/step/killed", {})
"""


def test_a_process_killed_between_anchoring_and_commit_leaves_no_false_alarm(
    store: Store, keys: Path
) -> None:
    _fill(store, 3)
    done = subprocess.run([sys.executable, "-c", DIES_BEFORE_COMMIT, store.url], env=_env(), check=False)
    assert done.returncode == 9
    assert len((keys / "journal.anchor").read_bytes().splitlines()) == 7  # entry 4 anchored as written
    with store.session() as s:
        assert journal.verify(s) == []
    _fill(store, 1, start=3)  # entry 4 again, another MAC
    with store.session() as s:
        assert journal.verify(s) == [] and len(journal.entries(s)) == 4


def test_an_anchor_that_cannot_be_written_journals_nothing(
    store: Store, keys: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(store, 1)
    blocked = tmp_path.parent / f"{tmp_path.name}-anchor-is-a-folder"
    blocked.mkdir()
    monkeypatch.setenv("REMPART_JOURNAL_ANCHOR", str(blocked))
    with (
        pytest.raises(StateError, match=r"cannot write the journal anchor .*nothing was journaled"),
        store.session() as s,
    ):
        journal.append(s, "alice", "apply", "run/1/step/2", {})
    monkeypatch.delenv("REMPART_JOURNAL_ANCHOR")
    with store.session() as s:
        assert len(journal.entries(s)) == 1 and journal.verify(s) == []


def test_a_write_torn_by_a_crash_is_noted_not_a_break(store: Store, keys: Path) -> None:
    _fill(store, 2)
    anchor = keys / "journal.anchor"
    with anchor.open("ab") as fh:
        fh.write(b'{"journal":"3f0a","key":')  # the power went out mid-write, before the commit
    _fill(store, 1, start=2)
    with store.session() as s:
        report = journal.check(s)
    assert report.problems == []
    assert report.notices == [f"anchor {anchor} line(s) 5 unreadable: a write cut short by a crash?"]
    records = FileAnchor(anchor).read(load_key(keys / "journal.key"))
    assert records is not None
    assert [(r.seq, r.state) for r in records if r.authentic][-2:] == [(3, "written"), (3, "committed")]


def test_missing_key_refuses_to_journal_rather_than_start_a_new_key(store: Store, keys: Path) -> None:
    _fill(store, 2)
    (keys / "journal.key").unlink()
    with (
        pytest.raises(StateError, match=r"journal key .*journal.key missing: entries up to 2"),
        store.session() as s,
    ):
        journal.append(s, "alice", "apply", "run/1/step/9", {})
    assert not (keys / "journal.key").exists()
    with store.session() as s:
        assert len(journal.entries(s)) == 2
        assert [p.kind for p in journal.verify(s)] == ["key"]


def test_another_folders_key_is_refused_but_a_forged_row_does_not_stop_the_journal(
    store: Store, keys: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(store, 2)
    other = tmp_path.parent / f"{tmp_path.name}-other-keys"
    other.mkdir()
    (other / "journal.key").write_bytes(os.urandom(32))  # another case store's key
    monkeypatch.setenv("REMPART_KEYS_DIR", str(other))
    with (
        pytest.raises(StateError, match=r"is key .*, but entries up to 2 were authenticated with key"),
        store.session() as s,
    ):
        journal.append(s, "alice", "apply", "run/1/step/3", {})
    monkeypatch.setenv("REMPART_KEYS_DIR", str(keys))
    con = sqlite3.connect(store.url.removeprefix("sqlite:///"))
    with con:  # an attacker's row, claiming another key, to make rempart refuse to journal
        con.execute(
            "INSERT INTO journal SELECT 3, at, 'mallory', action, subject, payload, hash, 'f', "
            "'feedfeedfeedfeed', mac, field_macs FROM journal WHERE seq = 2"
        )
    con.close()
    _fill(store, 1, start=3)
    with store.session() as s:
        assert [str(p) for p in journal.verify(s)] == ["entry 3 written with another key (feedfeedfeedfeed)"]
        assert len(journal.entries(s)) == 4


def test_journal_written_before_the_key_is_reported_then_sealed(tmp_path: Path, keys: Path) -> None:
    db = tmp_path / "cases.sqlite"
    old = create_engine(f"sqlite:///{db}")
    upgrade(old, "0001")  # the schema as it was, then entries as they were written
    old.dispose()
    con = sqlite3.connect(db)
    prev = journal.GENESIS
    for n in (1, 2, 3):
        at = datetime(2026, 11, 1, 8, n, tzinfo=UTC)
        digest = journal._legacy_digest(n, at, "alice", "apply", f"run/1/{n}", "{}", prev)
        con.execute(
            "INSERT INTO journal VALUES (?, ?, 'alice', 'apply', ?, '{}', ?, ?)",
            (n, at.replace(tzinfo=None).isoformat(" "), f"run/1/{n}", prev, digest),
        )
        prev = digest
    con.commit()
    store = Store(f"sqlite:///{db}")  # migration 0007_journal: the old rows keep no MAC
    with store.session() as s:
        report = journal.check(s)
    assert report.problems == []
    assert report.notices == [
        "entries 1..3 were written before the journal had a key: not authenticated; "
        "the next entry will seal their chain"
    ]
    _fill(store, 1)
    with store.session() as s:
        report = journal.check(s)
    assert report.problems == [] and report.notices[0].startswith(
        "entries 1..3 were written before the journal had a key: not authenticated before entry 4, "
        "whose MAC seals their chain"
    )
    # an unkeyed entry rewritten and its chain recomputed: the sealing entry no longer follows
    row = con.execute("SELECT at, prev_hash FROM journal WHERE seq = 3").fetchone()
    at = datetime.fromisoformat(row[0]).replace(tzinfo=UTC)
    forged = journal._legacy_digest(3, at, "mallory", "apply", "run/1/3", "{}", row[1])
    con.execute("UPDATE journal SET actor = 'mallory', hash = ? WHERE seq = 3", (forged,))
    con.commit()
    con.close()
    with store.session() as s:
        assert [str(p) for p in journal.verify(s)] == [
            "entry 4 does not follow entry 3: the entries before it were rewritten"
        ]
    store.close()


APPENDER = """
import sys, time
from pathlib import Path
from rempart.store import journal
from rempart.store.db import Store
url, actor, go, n = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
store = Store(url, migrate=False)
while not go.exists():
    time.sleep(0.005)
for i in range(n):
    with store.session() as s:
        journal.append(s, actor, "apply", f"run/{actor}/{i}", {"i": i})
store.close()
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def append_at_once(url: str, go: Path, n: int) -> None:
    """Two processes appending N entries each, released at the same moment."""
    env = _env()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, url, actor, str(go), str(n)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for actor in ("alice", "bob")
    ]
    time.sleep(1.0)  # both started and waiting
    go.touch()
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err


def test_two_processes_appending_at_once_do_not_fork_the_chain(
    store: Store, keys: Path, tmp_path: Path
) -> None:
    _fill(store, 1)  # the key exists and the schema is migrated before the race
    append_at_once(store.url, tmp_path / "go", 40)
    with store.session() as s:
        rows = journal.entries(s)
        assert journal.verify(s) == []
    assert [r.seq for r in rows] == list(range(1, 82))
    assert {r.actor for r in rows} == {"alice", "bob"}
