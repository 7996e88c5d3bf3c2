"""Tampering with the journal as an attacker who can rewrite the SQLite file (and knows the algorithm,
but not the key), then the real `rempart journal verify`: every kind of break is named, exit status 1."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rempart.cli.respond_cmd import standalone
from rempart.store import journal
from rempart.store.db import Store
from rempart.store.journal_seal import Content, JournalKey

ENTRIES = 6


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A case store of ENTRIES entries written through the API; the key and anchor on 'another volume'."""
    base = tmp_path_factory.mktemp("journal")
    db = base / "data" / "cases.sqlite"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REMPART_KEYS_DIR", str(base / "keys-volume"))
        store = Store(f"sqlite:///{db}")
        for i in range(1, ENTRIES + 1):
            with store.session() as s:
                journal.append(
                    s, "bob" if i == 2 else "alice", "apply", f"run/1/step/{i}", {"argv": ["nft"], "i": i}
                )
        store.close()
    return base


@pytest.fixture
def case(written: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of that case store, for one attack (the path of its SQLite file)."""
    shutil.copytree(written, tmp_path, dirs_exist_ok=True)
    db = tmp_path / "data" / "cases.sqlite"
    monkeypatch.setenv("REMPART_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("REMPART_KEYS_DIR", str(tmp_path / "keys-volume"))
    monkeypatch.setenv("COLUMNS", "250")
    yield db


def verify() -> tuple[int, str]:
    result = CliRunner().invoke(standalone(), ["journal", "verify"])
    return result.exit_code, result.output


def attack(db: Path, *sql: str, params: tuple[object, ...] = ()) -> None:
    con = sqlite3.connect(db)
    with con:
        for statement in sql:
            con.execute(statement, params if "?" in statement else ())
    con.close()


def row(db: Path, seq: int) -> dict[str, object]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    found = con.execute("SELECT * FROM journal WHERE seq = ?", (seq,)).fetchone()
    con.close()
    return dict(found)


def rehash(db: Path, seq: int, prev_hash: str) -> str:
    """What an attacker without the key can do: recompute an entry's hash (and link) from its content."""
    new_hash = content_of(row(db, seq), prev_hash, str(row(db, seq)["key_id"])).content_hash()
    attack(db, "UPDATE journal SET prev_hash = ?, hash = ? WHERE seq = ?", params=(prev_hash, new_hash, seq))
    return new_hash


def broken(out: str) -> list[str]:
    return [line.removeprefix("broken ") for line in out.splitlines() if line.startswith("broken ")]


def test_untouched_journal_is_intact(case: Path) -> None:
    code, out = verify()
    assert code == 0, out
    assert f"journal intact: {ENTRIES} entries" in out and f"{ENTRIES} authenticated" in out


def test_edited_field_is_named(case: Path) -> None:
    attack(case, "UPDATE journal SET payload = replace(payload, 'nft', 'rm') WHERE seq = 3")
    code, out = verify()
    assert code == 1
    assert broken(out) == ["entry 3 edited: payload changed after it was written"]


def test_edited_timestamp_is_named(case: Path) -> None:
    attack(case, "UPDATE journal SET at = datetime(at, '-2 hours') WHERE seq = 4")
    code, out = verify()
    assert code == 1
    assert broken(out) == ["entry 4 edited: at (its time) changed after it was written"]


def test_deleted_middle_entry_is_missing(case: Path) -> None:
    attack(case, "DELETE FROM journal WHERE seq = 3")
    code, out = verify()
    assert code == 1
    assert broken(out) == ["entry 3 missing (deleted)"]


def test_swapped_entries_are_named(case: Path) -> None:
    attack(
        case,
        "UPDATE journal SET seq = -1 WHERE seq = 3",
        "UPDATE journal SET seq = 3 WHERE seq = 4",
        "UPDATE journal SET seq = 4 WHERE seq = -1",
    )
    code, out = verify()
    assert code == 1
    assert broken(out) == ["entries 3 and 4 swapped"]


def test_renumbered_entries_are_named(case: Path) -> None:
    # entry 3 deleted and the later ones renumbered so that no gap shows
    attack(
        case,
        "DELETE FROM journal WHERE seq = 3",
        *(f"UPDATE journal SET seq = {n - 1} WHERE seq = {n}" for n in (4, 5, 6)),
    )
    code, out = verify()
    assert code == 1
    problems = broken(out)
    assert "entry 3 missing (deleted)" in problems
    assert problems == [
        "entries 3..5 hold what was written as entries 4..6 (reordered or renumbered)",
        "entry 3 missing (deleted)",
    ]


def test_rotated_sequence_numbers_are_named(case: Path) -> None:
    attack(
        case,
        "UPDATE journal SET seq = -5 WHERE seq = 5",
        "UPDATE journal SET seq = 5 WHERE seq = 4",
        "UPDATE journal SET seq = 4 WHERE seq = 3",
        "UPDATE journal SET seq = 3 WHERE seq = -5",
    )
    code, out = verify()
    assert code == 1
    assert broken(out) == [
        "entry 3 holds what was written as entry 5 (reordered or renumbered)",
        "entries 4..5 hold what was written as entries 3..4 (reordered or renumbered)",
    ]


def test_truncated_tail_is_detected_by_the_anchor(case: Path) -> None:
    attack(case, "DELETE FROM journal WHERE seq > 4")
    code, out = verify()
    assert code == 1
    assert broken(out) == [f"tail truncated after entry 4 (the anchor says {ENTRIES})"]


def test_deleting_every_entry_is_detected(case: Path) -> None:
    attack(case, "DELETE FROM journal")
    code, out = verify()
    assert code == 1
    assert broken(out) == [
        f"all {ENTRIES} entries deleted (the anchor says there were {ENTRIES}), "
        "unless the anchor belongs to another case store"
    ]


def test_forged_append_with_recomputed_hash(case: Path) -> None:
    last = row(case, ENTRIES)
    # a copy of the last entry turned into an approval, hash recomputed; MACs copied (the key is unknown)
    attack(
        case,
        "INSERT INTO journal "
        "(seq, at, actor, action, subject, payload, prev_hash, hash, key_id, mac, field_macs) "
        "SELECT seq + 1, at, 'mallory', 'approve', subject, payload, hash, 'x', key_id, mac, field_macs "
        f"FROM journal WHERE seq = {ENTRIES}",
    )
    rehash(case, ENTRIES + 1, str(last["hash"]))
    code, out = verify()
    assert code == 1
    assert broken(out)[0] == f"entry {ENTRIES + 1} appended without the key (its MAC is not valid)"


def test_forged_append_without_a_mac(case: Path) -> None:
    last = row(case, ENTRIES)
    attack(
        case,
        "INSERT INTO journal (seq, at, actor, action, subject, payload, prev_hash, hash) "
        f"VALUES ({ENTRIES + 1}, '2026-12-01 10:00:00', 'mallory', 'approve', 'run/1', '{{}}', ?, 'h')",
        params=(last["hash"],),
    )
    code, out = verify()
    assert code == 1
    assert broken(out) == [
        f"entry {ENTRIES + 1} appended without the key (it has no MAC, yet entry 1 has one)"
    ]


def test_macs_stripped_to_pass_as_a_journal_from_before_the_key(case: Path) -> None:
    # a downgrade: every MAC removed and the old unkeyed hashes recomputed, entry 2 rewritten at will
    attack(case, "UPDATE journal SET actor = 'alice' WHERE seq = 2")
    prev = journal.GENESIS
    for n in range(1, ENTRIES + 1):
        r = row(case, n)
        digest = journal._legacy_digest(
            n, row_at(r), str(r["actor"]), str(r["action"]), str(r["subject"]), str(r["payload"]), prev
        )
        attack(
            case,
            "UPDATE journal SET prev_hash = ?, hash = ?, mac = NULL, field_macs = NULL, key_id = NULL "
            "WHERE seq = ?",
            params=(prev, digest, n),
        )
        prev = digest
    code, out = verify()
    assert code == 1
    assert broken(out) == [
        f"entry {n}: its MAC was removed (the anchor recorded it as authenticated)"
        for n in range(1, ENTRIES + 1)
    ]


def test_rechained_rewrite_of_an_actor(case: Path) -> None:
    attack(case, "UPDATE journal SET actor = 'alice' WHERE seq = 2")
    prev = str(row(case, 1)["hash"])
    for n in range(2, ENTRIES + 1):  # every later hash recomputed, as the old verify could not tell
        prev = rehash(case, n, prev)
    code, out = verify()
    assert code == 1
    problems = broken(out)
    assert problems[0] == "entry 2 edited: actor changed after it was written"
    assert problems[1:] == [
        f"entries 3..{ENTRIES} re-chained: their links to the entries before them (prev_hash) were rewritten "
        "without the key"
    ]


def test_text_moved_between_fields_is_seen(case: Path) -> None:
    # values may hold the old separator: 'a\x1fb' + 'c' and 'a' + 'b\x1fc' joined the same way
    store = Store(f"sqlite:///{case}")
    with store.session() as s:
        journal.append(s, "ops\x1fapprove", "reopen", "vpn", {})
    store.close()
    n = ENTRIES + 1
    before = row(case, n)
    attack(case, f"UPDATE journal SET actor = 'ops', action = 'approve\x1freopen' WHERE seq = {n}")
    after = row(case, n)
    legacy = [
        journal._legacy_digest(n, row_at(r), str(r["actor"]), str(r["action"]), "vpn", "{}", "p")
        for r in (before, after)
    ]
    assert legacy[0] == legacy[1]  # the attack the separator-joined encoding could not see
    code, out = verify()
    assert code == 1
    assert broken(out) == [f"entry {n} edited: actor, action changed after it was written"]


def row_at(r: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(r["at"])).replace(tzinfo=UTC)


def content_of(r: dict[str, object], prev_hash: str, key_id: str) -> Content:
    text = {k: str(r[k]) for k in ("actor", "action", "subject", "payload")}
    return Content(int(str(r["seq"])), row_at(r), prev_hash=prev_hash, key_id=key_id, **text)


def test_replaced_key_file_is_named(case: Path, tmp_path: Path) -> None:
    key = tmp_path / "keys-volume" / "journal.key"
    key.write_bytes(os.urandom(32))
    code, out = verify()
    assert code == 1
    assert "is not the key that wrote this journal" in out and "the key file was replaced" in out


def test_key_and_entries_deleted_together(case: Path, tmp_path: Path) -> None:
    (tmp_path / "keys-volume" / "journal.key").unlink()
    attack(case, "DELETE FROM journal")
    code, out = verify()
    assert code == 1
    assert (
        "journal key" in out
        and "missing, yet the anchor" in out
        and f"records entries up to {ENTRIES}" in out
    )


def test_rekeyed_journal_is_betrayed_by_the_anchor(case: Path, tmp_path: Path) -> None:
    # the attacker replaces the key and re-authenticates every entry with it; the anchor is append-only
    new = JournalKey(tmp_path / "keys-volume" / "journal.key", os.urandom(32))
    new.path.write_bytes(new.secret)
    prev = "0" * 64
    for n in range(1, ENTRIES + 1):
        attack(case, "UPDATE journal SET key_id = ? WHERE seq = ?", params=(new.key_id, n))
        prev = rehash(case, n, prev)
        c = content_of(row(case, n), prev, new.key_id)
        attack(
            case,
            "UPDATE journal SET mac = ?, field_macs = ? WHERE seq = ?",
            params=(c.mac(new), c.field_macs(new), n),
        )
    code, out = verify()
    assert code == 1
    assert "the key file was replaced and the journal re-authenticated" in out


def test_anchor_rolled_back_is_detected(case: Path, tmp_path: Path) -> None:
    anchor = tmp_path / "keys-volume" / "journal.anchor"
    lines = anchor.read_bytes().splitlines(keepends=True)
    anchor.write_bytes(b"".join(lines[:6]))  # written + committed for entries 1..3
    code, out = verify()
    assert code == 1
    assert broken(out) == [
        f"anchor {anchor} rolled back: it ends at entry 3, the journal goes on to entry {ENTRIES} "
        f"(entries 4..{ENTRIES} not in it)"
    ]


def test_deleted_anchor_is_detected(case: Path, tmp_path: Path) -> None:
    anchor = tmp_path / "keys-volume" / "journal.anchor"
    anchor.unlink()
    code, out = verify()
    assert code == 1
    assert broken(out)[0].startswith(f"anchor {anchor} missing: nothing proves the journal was not truncated")


def test_forged_anchor_line_is_detected(case: Path, tmp_path: Path) -> None:
    anchor = tmp_path / "keys-volume" / "journal.anchor"
    with anchor.open("ab") as fh:  # an attacker trying to make the anchor agree with a forged entry
        fh.write(b'{"journal":"x","key":"y","m":"0","mac":"00","seq":7,"state":"committed"}\n')
    code, out = verify()
    assert code == 1
    assert broken(out) == [f"anchor {anchor} line(s) {2 * ENTRIES + 1} altered or not written by rempart"]


def test_a_copy_of_the_anchor_catches_what_the_local_one_cannot(case: Path, tmp_path: Path) -> None:
    anchor = tmp_path / "keys-volume" / "journal.anchor"
    copy = tmp_path / "other-host" / "journal.anchor"
    copy.parent.mkdir()
    copy.write_bytes(anchor.read_bytes())
    # an attacker holding the case store and the keys folder cuts both back to entry 4 (the limit of a
    # local anchor: it must be append-only or copied away)
    attack(case, "DELETE FROM journal WHERE seq > 4")
    anchor.write_bytes(b"".join(anchor.read_bytes().splitlines(keepends=True)[:8]))
    assert verify()[0] == 0
    result = CliRunner().invoke(standalone(), ["journal", "verify", "--anchor", str(copy)])
    assert result.exit_code == 1
    assert broken(result.output) == [f"tail truncated after entry 4 (the anchor says {ENTRIES})"]
    missing = CliRunner().invoke(standalone(), ["journal", "verify", "--anchor", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "no anchor file here" in missing.output
