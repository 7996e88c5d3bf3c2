"""Every clock against its rule: T0 at various times, across midnight and both 2026 DST changes.

Expected deadlines are written out by hand in Paris local time from the legal rule, never recomputed
with the code under test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rempart.domain.inventory import Group
from rempart.notify import service
from rempart.notify.catalogue import Period
from rempart.notify.clocks import add_period, format_local, format_remaining
from rempart.notify.obligations import Clock, ClockStatus
from rempart.store.db import Store
from tests.notify.conftest import OPENED, add_finding, make_incident

PARIS = ZoneInfo("Europe/Paris")


def paris(text: str) -> datetime:
    """A Paris wall-clock time, '2026-03-28 10:00' (fold=0: the first one if repeated)."""
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "period", "expected"),
    [
        # elapsed hours, plain day
        (utc("2026-11-28 13:03"), "PT72H", utc("2026-12-01 13:03")),
        # across midnight, Paris time
        (paris("2026-11-28 23:30"), "PT24H", paris("2026-11-29 23:30")),
        (paris("2026-11-28 23:30"), "PT2H", paris("2026-11-29 01:30")),
        # spring forward, Sunday 29 March 2026 02:00 → 03:00: 24 elapsed hours read 11:00 the next day
        (paris("2026-03-28 10:00"), "PT24H", paris("2026-03-29 11:00")),
        (paris("2026-03-28 10:00"), "PT72H", paris("2026-03-31 11:00")),
        (paris("2026-03-29 01:30"), "PT1H", paris("2026-03-29 03:30")),
        # fall back, Sunday 25 October 2026 03:00 → 02:00: 24 elapsed hours read 09:00 the next day
        (paris("2026-10-24 10:00"), "PT24H", paris("2026-10-25 09:00")),
        (paris("2026-10-24 10:00"), "PT72H", paris("2026-10-27 09:00")),
        # months: same Paris wall-clock time, clamped to the month's last day
        (paris("2026-01-31 15:00"), "P1M", paris("2026-02-28 15:00")),
        (paris("2026-03-15 10:00"), "P1M", paris("2026-04-15 10:00")),  # CET → CEST: same local time
        (paris("2026-10-10 10:00"), "P1M", paris("2026-11-10 10:00")),  # CEST → CET: same local time
        (paris("2026-11-30 09:00"), "P3M", paris("2027-02-28 09:00")),
        (paris("2026-12-15 09:00"), "P1M", paris("2027-01-15 09:00")),  # across the new year
        # a month ending in the spring gap: 02:30 does not exist, read with the winter offset → 03:30 CEST
        (paris("2026-01-29 02:30"), "P2M", utc("2026-03-29 01:30")),
        # a month ending in the repeated autumn hour: the first 02:30 (CEST, UTC+2) is the earlier instant
        (utc("2026-09-25 00:30"), "P1M", utc("2026-10-25 00:30")),
    ],
)
def test_add_period(start: datetime, period: str, expected: datetime) -> None:
    assert add_period(start, Period.parse(period)) == expected.astimezone(UTC)


def test_local_display_names_the_offset() -> None:
    assert format_local(utc("2026-03-29 09:00")) == "29/03/2026 11:00 (UTC+02:00)"
    assert format_local(utc("2026-10-25 08:00")) == "25/10/2026 09:00 (UTC+01:00)"


def test_remaining_is_french_and_flags_overdue() -> None:
    assert format_remaining(timedelta(hours=2, minutes=5)) == "2 h 05 min"
    assert format_remaining(timedelta(days=2, hours=3)) == "2 j 03 h 00 min"
    assert format_remaining(-timedelta(minutes=90)) == "dépassé de 1 h 30 min"


@pytest.mark.parametrize("text", ["72H", "PT", "P1Y", "PT1.5H", "P-1D"])
def test_bad_periods_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Period.parse(text)


def _clocks(store: Store, group: Group, iid: int, now: datetime) -> dict[tuple[str, str], Clock]:
    return {(c.obligation.id, c.stage.id): c for c in service.compute_clocks(store, iid, group, now=now)}


# T0 → expected due of each stage that starts at T0, in Paris time, for the default catalogue
T0_CASES = {
    "afternoon": (
        paris("2026-11-28 14:03"),
        {
            ("csp_signalement", "declaration"): "2026-11-28 16:03",
            ("cnil_violation", "initial"): "2026-12-01 14:03",
            ("nis2_anssi", "early_warning"): "2026-11-29 14:03",
            ("nis2_anssi", "notification"): "2026-12-01 14:03",
            ("police_complaint", "complaint"): "2026-12-01 14:03",
            ("partners", "information"): "2026-11-29 14:03",
            ("eigs", "part1"): "2026-11-29 14:03",
        },
    ),
    "before_midnight": (
        paris("2026-12-31 23:10"),
        {
            ("csp_signalement", "declaration"): "2027-01-01 01:10",
            ("cnil_violation", "initial"): "2027-01-03 23:10",
            ("nis2_anssi", "early_warning"): "2027-01-01 23:10",
            ("police_complaint", "complaint"): "2027-01-03 23:10",
        },
    ),
    "spring_forward": (
        paris("2026-03-28 10:00"),
        {
            ("csp_signalement", "declaration"): "2026-03-28 12:00",
            ("cnil_violation", "initial"): "2026-03-31 11:00",
            ("nis2_anssi", "early_warning"): "2026-03-29 11:00",
            ("nis2_anssi", "notification"): "2026-03-31 11:00",
            ("police_complaint", "complaint"): "2026-03-31 11:00",
        },
    ),
    "in_the_night_of_the_change": (
        paris("2026-03-29 01:30"),
        {
            ("csp_signalement", "declaration"): "2026-03-29 04:30",  # 2 elapsed hours: 01:30 CET → 04:30 CEST
            ("nis2_anssi", "early_warning"): "2026-03-30 02:30",
        },
    ),
    "fall_back": (
        paris("2026-10-24 10:00"),
        {
            ("csp_signalement", "declaration"): "2026-10-24 12:00",
            ("cnil_violation", "initial"): "2026-10-27 09:00",
            ("nis2_anssi", "early_warning"): "2026-10-25 09:00",
            ("police_complaint", "complaint"): "2026-10-27 09:00",
        },
    ),
}


@pytest.mark.parametrize("case_name", sorted(T0_CASES))
def test_clocks_from_t0(case_name: str, store: Store, group: Group) -> None:
    t0, expected = T0_CASES[case_name]
    iid = make_incident(store, opened=OPENED)
    service.set_t0(store, iid, "capitouls", t0, "cellule-crise", group, note="appel du directeur")
    service.record_fact(store, iid, "eigs", "oui", "cellule-crise")
    clocks = _clocks(store, group, iid, now=t0 + timedelta(minutes=1))
    for key, due in expected.items():
        assert clocks[key].due == paris(due).astimezone(UTC), key
        assert clocks[key].status == ClockStatus.DUE, key


def test_default_t0_is_the_opening_of_the_incident(store: Store, group: Group) -> None:
    iid = make_incident(store)
    clocks = _clocks(store, group, iid, now=OPENED)
    assert clocks["cnil_violation", "initial"].start == OPENED


def test_overdue_is_flagged_and_done_stops_the_clock(store: Store, group: Group) -> None:
    iid = make_incident(store)
    now = OPENED + timedelta(hours=25)
    clocks = _clocks(store, group, iid, now)
    assert clocks["nis2_anssi", "early_warning"].status == ClockStatus.OVERDUE
    assert clocks["nis2_anssi", "early_warning"].remaining(now) == -timedelta(hours=1)
    assert clocks["cnil_violation", "initial"].status == ClockStatus.DUE
    service.record_filing(
        store,
        iid,
        "nis2_anssi",
        "early_warning",
        group,
        channel="portal",
        reference="MonEspaceNIS2 #4471",
        author="rssi",
        at=now,
    )
    clocks = _clocks(store, group, iid, now + timedelta(hours=1))
    assert clocks["nis2_anssi", "early_warning"].status == ClockStatus.DONE
    assert clocks["nis2_anssi", "early_warning"].done_late


def test_nis2_final_report_runs_one_month_after_the_notification(store: Store, group: Group) -> None:
    iid = make_incident(store)
    clocks = _clocks(store, group, iid, OPENED)
    final = clocks["nis2_anssi", "final_report"]
    assert final.status == ClockStatus.WAITING
    assert final.due == paris("2027-01-01 14:03").astimezone(UTC)  # provisional: from the 72 h due
    notified = paris("2026-11-30 09:15")
    service.record_filing(
        store,
        iid,
        "nis2_anssi",
        "notification",
        group,
        channel="portal",
        reference="MonEspaceNIS2 #4480",
        author="rssi",
        at=notified,
    )
    final = _clocks(store, group, iid, notified)["nis2_anssi", "final_report"]
    assert final.status == ClockStatus.DUE
    assert final.due == paris("2026-12-30 09:15").astimezone(UTC)


def test_eigs_part2_three_months_after_part1(store: Store, group: Group) -> None:
    iid = make_incident(store)
    service.record_fact(store, iid, "eigs", "oui", "cellule-crise")
    service.record_filing(
        store,
        iid,
        "eigs",
        "part1",
        group,
        channel="portal",
        reference="EIGS-1",
        author="qualite",
        at=paris("2026-11-30 10:00"),
    )
    part2 = _clocks(store, group, iid, paris("2026-12-01 10:00"))["eigs", "part2"]
    assert part2.due == paris("2027-02-28 10:00").astimezone(UTC)


def test_resolution_notice_waits_for_the_resolution(store: Store, group: Group) -> None:
    iid = make_incident(store)
    clocks = _clocks(store, group, iid, OPENED)
    assert clocks["csp_signalement", "resolution"].status == ClockStatus.WAITING
    service.record_resolution(store, iid, paris("2026-12-20 18:00"), "direction")
    clock = _clocks(store, group, iid, paris("2026-12-21 19:00"))["csp_signalement", "resolution"]
    assert clock.due == paris("2026-12-21 18:00").astimezone(UTC)
    assert clock.status == ClockStatus.OVERDUE


def test_a_newer_finding_calls_for_a_complementary_cnil_notification(store: Store, group: Group) -> None:
    iid = make_incident(store)
    first = add_finding(store, iid, "data_theft", False, "Pas d'exfiltration", OPENED + timedelta(hours=5))
    key = ("cnil_violation", "complementary")
    assert _clocks(store, group, iid, OPENED + timedelta(hours=6))[key].status == ClockStatus.NOT_NEEDED
    service.record_filing(
        store,
        iid,
        "cnil_violation",
        "initial",
        group,
        channel="portal",
        reference="CNIL-1",
        author="dpo",
        at=OPENED + timedelta(hours=6),
    )
    assert _clocks(store, group, iid, OPENED + timedelta(hours=7))[key].status == ClockStatus.NOT_NEEDED
    found = OPENED + timedelta(days=5)
    add_finding(
        store,
        iid,
        "data_theft",
        True,
        "Exfiltration de 3,4 Go vers 198.51.100.7",
        found,
        supersedes=first,
        version=2,
    )
    clock = _clocks(store, group, iid, found + timedelta(hours=1))[key]
    assert clock.status == ClockStatus.DUE
    assert clock.due == found + timedelta(hours=72)
    assert "data_theft v2" in clock.note
    service.record_filing(
        store,
        iid,
        "cnil_violation",
        "complementary",
        group,
        channel="portal",
        reference="CNIL-2",
        author="dpo",
        at=found + timedelta(hours=2),
    )
    assert _clocks(store, group, iid, found + timedelta(hours=3))[key].status == ClockStatus.DONE


def test_triggers_follow_the_inventory(store: Store, group: Group) -> None:
    small = make_incident(store, establishment="atlantique", ref="INC-0002")  # 45 staff: not NIS2
    ids = {c.obligation.id for c in service.compute_clocks(store, small, group, now=OPENED)}
    assert "nis2_anssi" not in ids and "certfr_ose" not in ids and "eigs" not in ids
    assert {"csp_signalement", "police_complaint", "cnil_violation"} <= ids
    big = make_incident(store, ref="INC-0003")
    ids = {c.obligation.id for c in service.compute_clocks(store, big, group, now=OPENED)}
    assert "nis2_anssi" in ids and "processor_controller" not in ids
    service.record_fact(store, big, "personal_data", "non", "dpo")
    ids = {c.obligation.id for c in service.compute_clocks(store, big, group, now=OPENED)}
    assert "cnil_violation" not in ids and "breach_register" not in ids


def test_t0_per_establishment_adds_an_entity(store: Store, group: Group) -> None:
    iid = make_incident(store)
    service.set_t0(store, iid, "saint-cyprien", paris("2026-11-29 08:00"), "rssi", group)
    clocks = service.compute_clocks(store, iid, group, now=paris("2026-11-29 09:00"))
    per = {(c.establishment, c.obligation.id, c.stage.id): c for c in clocks}
    assert per["capitouls", "nis2_anssi", "early_warning"].due == OPENED + timedelta(hours=24)
    assert per["saint-cyprien", "nis2_anssi", "early_warning"].due == paris("2026-11-30 08:00").astimezone(
        UTC
    )
