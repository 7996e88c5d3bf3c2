from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rempart.detect.incidents import get_incident, group_alerts, open_incidents
from rempart.domain.alerts import Alert, EventRef, Level
from rempart.store import incident_log
from rempart.store.db import Store

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def alert(
    est: str | None,
    minutes: int,
    rule: str = "r1",
    level: Level = Level.HIGH,
    tactics: tuple[str, ...] = ("credential-access",),
    host: str = "h1",
) -> Alert:
    return Alert(
        rule_id=rule,
        title=f"rule {rule}",
        level=level,
        time=T0 + timedelta(minutes=minutes),
        host=host,
        establishment=est,
        tactics=list(tactics),
        events=[EventRef("f.json", minutes)],
    )


def test_alerts_of_one_establishment_within_window_form_one_incident() -> None:
    incidents = group_alerts([alert("a", 0), alert("a", 50), alert("a", 100)], timedelta(hours=1))
    assert len(incidents) == 1
    assert incidents[0].first_seen == T0 and incidents[0].last_seen == T0 + timedelta(minutes=100)


def test_window_slides_from_the_last_alert_and_a_gap_splits() -> None:
    incidents = group_alerts([alert("a", 0), alert("a", 61 + 60), alert("a", 30)], timedelta(hours=1))
    assert [len(i.alerts) for i in incidents] == [2, 1]


def test_establishments_never_share_an_incident() -> None:
    incidents = group_alerts([alert("a", 0), alert("b", 1), alert(None, 2)])
    assert sorted(str(i.establishment) for i in incidents) == ["None", "a", "b"]


def test_incident_summarises_severity_tactics_and_hosts() -> None:
    (inc,) = group_alerts(
        [
            alert("a", 0, "r1", Level.MEDIUM, ("execution",), "h2"),
            alert("a", 5, "r2", Level.CRITICAL, ("impact", "credential-access"), "h1"),
        ]
    )
    assert inc.severity is Level.CRITICAL
    assert inc.tactics == ["execution", "credential-access", "impact"]  # kill-chain order
    assert inc.hosts == ["h1", "h2"]


def test_stored_incidents_are_extended_not_duplicated(store: Store) -> None:
    first = open_incidents(store, [alert("a", 0), alert("a", 10)])
    assert [r.ref for r in first] == ["INC-0001"]
    # the same alerts again change nothing; a later one extends the same incident
    assert open_incidents(store, [alert("a", 0), alert("a", 10)]) == []
    again = open_incidents(store, [alert("a", 20, "r2")])
    assert [r.ref for r in again] == ["INC-0001"]
    with store.session() as s:
        row = get_incident(s, "inc-0001")
        assert len(row.alerts) == 3
        assert row.last_seen == T0 + timedelta(minutes=20)
        log = incident_log.entries(s, row.id)
        assert [e.source for e in log] == ["detect", "detect"]


def test_unknown_incident_gives_a_clear_error(store: Store) -> None:
    import pytest

    from rempart.errors import InputError

    with store.session() as s, pytest.raises(InputError, match="no incident 'INC-0042'"):
        get_incident(s, "INC-0042")
