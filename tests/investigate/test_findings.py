"""Findings are versioned: a later one supersedes an earlier one, which stays in the history."""

from __future__ import annotations

from datetime import timedelta

from rempart.detect.incidents import get_incident
from rempart.investigate import findings
from rempart.investigate.findings import FindingKind
from rempart.store import incident_log, journal
from rempart.store.db import Store
from tests.investigate.conftest import make_incident
from tests.investigate.fleet import utc

AT = utc(2026, 6, 1, 12, 0)


def test_a_later_finding_supersedes_the_earlier(store: Store) -> None:
    incident_id = make_incident(store, "capitouls", AT)
    with store.session() as s:
        inc = get_incident(s, "INC-0001")
        first = findings.record_finding(
            s,
            inc,
            FindingKind.DATA_THEFT,
            False,
            "Aucun dépassement.",
            {"window_bytes": 10},
            "analyste",
            at=AT,
        )
        other = findings.record_finding(
            s, inc, FindingKind.PROPAGATION, False, "Pas de propagation.", {}, "analyste", at=AT
        )
        second = findings.record_finding(
            s,
            inc,
            FindingKind.DATA_THEFT,
            True,
            "900 Mo vers 185.220.101.5.",
            {"window_bytes": 900},
            "expert",
            at=AT + timedelta(days=2),
        )
        assert (first.version, second.version) == (1, 2)
        assert second.supersedes_id == first.id and first.supersedes_id is None
        assert second.data["previous"] == {"id": first.id, "version": 1, "positive": False}
        assert second.data["conclusion_changed"] is True
        assert findings.current(s, incident_id, FindingKind.DATA_THEFT) is second
        assert findings.current(s, incident_id, FindingKind.PROPAGATION) is other  # kinds are independent
        assert [f.id for f in findings.history(s, incident_id, "data_theft")] == [first.id, second.id]
        assert {f.id for f in findings.all_current(s, incident_id)} == {second.id, other.id}
        texts = [e.text for e in incident_log.entries(s, incident_id) if e.kind == "finding"]
        assert any("v2 (POSITIF)" in t and "remplace la version 1" in t for t in texts)
        assert journal.verify(s) == []
        assert [e.action for e in journal.entries(s, "INC-0001/finding/")] == ["finding.recorded"] * 3


def test_same_conclusion_is_flagged_unchanged(store: Store) -> None:
    make_incident(store, "capitouls", AT)
    with store.session() as s:
        inc = get_incident(s, "INC-0001")
        findings.record_finding(s, inc, FindingKind.PROPAGATION, False, "a", {}, "x", at=AT)
        again = findings.record_finding(s, inc, FindingKind.PROPAGATION, False, "b", {}, "x", at=AT)
        assert again.version == 2 and again.data["conclusion_changed"] is False
