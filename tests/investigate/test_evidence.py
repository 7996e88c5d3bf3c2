"""The evidence locker detects a modified or missing file, and keeps the chain of custody."""

from __future__ import annotations

from pathlib import Path

import pytest

from rempart.detect.incidents import get_incident
from rempart.errors import InputError
from rempart.investigate import evidence
from rempart.store import journal
from rempart.store.db import Store
from tests.investigate.conftest import make_incident
from tests.investigate.fleet import utc


def test_register_handover_verify_and_detect_change(store: Store, tmp_path: Path) -> None:
    make_incident(store, "capitouls", utc(2026, 6, 1, 12, 0))
    f = tmp_path / "fortigate.log"
    f.write_text("date=2026-06-01 srcip=10.11.1.30 dstip=185.220.101.5 sentbyte=900000000\n")
    g = tmp_path / "memoire.dmp"
    g.write_bytes(b"\x00" * 4096)
    with store.session() as s:
        inc = get_incident(s, "INC-0001")
        ev = evidence.register(s, inc, f, "c.martin", "journal pare-feu")
        ev2 = evidence.register(s, inc, g, "c.martin")
        assert ev.ref == "EV-0001" and ev2.ref == "EV-0002"
        assert ev.sha256 == __import__("hashlib").sha256(f.read_bytes()).hexdigest()
        with pytest.raises(InputError, match=r"held by c\.martin"):
            evidence.handover(s, inc, ev, "mallory", "mallory")
        evidence.handover(s, inc, ev, "c.martin", "expert-judiciaire", "remise sous scellé")
        assert evidence.verify(s, inc, ev, "expert-judiciaire").ok
    f.write_text("date=2026-06-01 srcip=10.11.1.30 dstip=185.220.101.5 sentbyte=9\n")  # tampered
    g.unlink()
    with store.session() as s:
        inc = get_incident(s, "INC-0001")
        ev = evidence.get(s, "ev-0001")
        v = evidence.verify(s, inc, ev, "expert-judiciaire")
        assert not v.ok and v.reason == "content changed since registration" and v.found != v.expected
        missing = evidence.verify(s, inc, evidence.get(s, "EV-0002"), "expert-judiciaire")
        assert not missing.ok and missing.found is None and "missing" in missing.reason
        chain = [(c.action, c.actor, c.recipient) for c in ev.custody]
        assert chain == [
            ("registered", "c.martin", None),
            ("handover", "c.martin", "expert-judiciaire"),
            ("verified", "expert-judiciaire", None),
            ("altered", "expert-judiciaire", None),
        ]
        assert ev.custodian == "expert-judiciaire"
        assert journal.verify(s) == []
        assert "evidence.altered" in [e.action for e in journal.entries(s, "INC-0001/evidence/EV-0001")]


def test_registering_a_missing_file_names_it(store: Store, tmp_path: Path) -> None:
    make_incident(store, "capitouls", utc(2026, 6, 1, 12, 0))
    with store.session() as s, pytest.raises(InputError, match="not found"):
        evidence.register(s, get_incident(s, "INC-0001"), tmp_path / "absent.log", "c.martin")
