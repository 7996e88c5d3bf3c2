from __future__ import annotations

from sqlalchemy import text

from rempart.store import journal
from rempart.store.db import Store


def _fill(store: Store, n: int = 5) -> None:
    for i in range(n):
        with store.session() as s:
            journal.append(s, "alice", "apply", f"run/1/step/{i}", {"argv": ["nft", "-j", "-f", "-"], "i": i})


def test_intact_journal_verifies(store: Store) -> None:
    _fill(store)
    with store.session() as s:
        assert journal.verify(s) == []
        assert [e.seq for e in journal.entries(s)] == [1, 2, 3, 4, 5]


def test_altered_payload_is_named(store: Store) -> None:
    _fill(store)
    with store.engine.begin() as c:
        c.execute(text("UPDATE journal SET payload = replace(payload, 'nft', 'rm') WHERE seq = 3"))
    with store.session() as s:
        problems = journal.verify(s)
    assert [p.seq for p in problems] == [3]
    assert "altered" in str(problems[0])


def test_removed_entry_is_detected(store: Store) -> None:
    _fill(store)
    with store.engine.begin() as c:
        c.execute(text("DELETE FROM journal WHERE seq = 2"))
    with store.session() as s:
        problems = journal.verify(s)
    assert problems and problems[0].seq == 3
    assert "missing" in str(problems[0])


def test_rewritten_chain_still_fails_on_the_next_entry(store: Store) -> None:
    _fill(store)
    # an attacker recomputing entry 2's own hash cannot keep entry 3's link (the first hex digit is
    # changed, whatever it was: a hash already starting with 'f' once made this test pass 15 times in 16)
    with store.engine.begin() as c:
        c.execute(
            text(
                "UPDATE journal SET actor = 'mallory', "
                "hash = CASE WHEN substr(hash, 1, 1) = 'f' THEN 'e' ELSE 'f' END || substr(hash, 2) WHERE seq = 2"
            )
        )
    with store.session() as s:
        seqs = {p.seq for p in journal.verify(s)}
    assert {2, 3} <= seqs
