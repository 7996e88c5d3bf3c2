"""Streaming detection: the same alerts as a hunt's single pass, batch after batch, across a restart."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rempart.detect import DetectionPlan
from rempart.detect.stream import StreamDetector
from rempart.domain.alerts import Alert
from rempart.events import EventStore
from tests.detect.helpers import plan_for
from tests.events.helpers import T0, events_table

BASE = """title: VPN {what}
id: 10000000-0000-4000-8000-00000000000{n}
name: vpn_{name}
status: test
level: {level}
logsource:
  product: fortigate
  service: vpn
detection:
  sel:
    action: {action}
  condition: sel
"""


def corr(n: int, kind: str, rules: list[str], extra: str) -> str:
    listed = "".join(f"    - {r}\n" for r in rules)
    return (f"title: correlation {n} {kind}\nid: 20000000-0000-4000-8000-00000000000{n}\nname: corr_{n}\n"
            f"status: test\nlevel: high\ncorrelation:\n  type: {kind}\n  rules:\n{listed}{extra}")


RULES = {
    "fail.yml": BASE.format(what="failure", n=1, name="fail", level="low", action="ssl-login-fail"),
    "ok.yml": BASE.format(what="success", n=2, name="ok", level="low", action="tunnel-up"),
    "admin.yml": BASE.format(what="admin", n=3, name="admin", level="high", action="admin-login"),
    "c1.yml": corr(1, "event_count", ["vpn_fail"], "  group-by: [remip]\n  timespan: 60s\n"
                   "  condition:\n    gte: 4\n"),
    "c2.yml": corr(2, "value_count", ["vpn_fail"], "  group-by: [remip]\n  timespan: 90s\n"
                   "  condition:\n    field: user\n    gte: 3\n"),
    "c3.yml": corr(3, "temporal", ["vpn_fail", "vpn_ok"], "  group-by: [user]\n  timespan: 120s\n"),
    "c4.yml": corr(4, "temporal_ordered", ["vpn_fail", "vpn_ok"], "  group-by: [user]\n  timespan: 120s\n"),
    # chained: a correlation over another's alerts
    "c5.yml": corr(5, "event_count", ["corr_1"], "  group-by: [remip]\n  timespan: 10m\n"
                   "  condition:\n    gte: 2\n"),
}


def generated(n: int, seed: int) -> list[dict[str, Any]]:
    """VPN events a few seconds apart (distinct times), failures bunched by address and user."""
    rng = random.Random(seed)
    rows, t = [], 0.0
    for _ in range(n):
        t += rng.uniform(0.5, 12.0)
        action = rng.choices(["ssl-login-fail", "tunnel-up", "admin-login", "other"], [6, 2, 1, 1])[0]
        rows.append({"_product": "fortigate", "_service": "vpn", "_ts": T0 + timedelta(seconds=round(t, 3)),
                     "action": action, "user": f"u{rng.randrange(4)}",
                     "remip": f"203.0.113.{rng.randrange(3)}"})
    for i, row in enumerate(rows):
        row["_record"] = i + 1
    return rows


def key(alerts: list[Alert]) -> list[tuple[Any, ...]]:
    return sorted((a.rule_id, a.time, a.host, tuple((e.source, e.record) for e in a.events),
                   tuple(sorted(a.details.items()))) for a in alerts)


def store_of(rows: list[dict[str, Any]]) -> EventStore:
    store = EventStore()
    store.append(events_table(rows))
    return store


def streamed(plan: DetectionPlan, store: EventStore, size: int, lateness: timedelta = timedelta(0)
             ) -> list[Alert]:
    det = StreamDetector(plan, store, lateness=lateness)
    total = store.count()
    alerts: list[Alert] = []
    for first in range(0, total, size):
        alerts += det.process(first, min(first + size, total))
    return alerts + det.flush()


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> DetectionPlan:
    plan = plan_for(tmp_path_factory.mktemp("rules"), RULES)
    assert not plan.failures and not plan.load_errors
    return plan


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return generated(200, seed=7)


@pytest.fixture(scope="module")
def expected(plan: DetectionPlan, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    with store_of(rows) as store:
        alerts = plan.evaluate(store)
    assert not plan.runtime_failures
    fired = {a.rule_id for a in alerts}
    # every kind of correlation fires on these events, or the comparison proves little
    assert {f"20000000-0000-4000-8000-00000000000{n}" for n in range(1, 6)} <= fired
    return key(alerts)


@pytest.mark.parametrize("size", [1, 7, 100, 10_000])
def test_batches_of_any_size_give_the_alerts_of_one_pass(
        plan: DetectionPlan, rows: list[dict[str, Any]], expected: list[tuple[Any, ...]], size: int) -> None:
    with store_of(rows) as store:
        assert key(streamed(plan, store, size)) == expected


@pytest.mark.parametrize("size", [1, 13])
def test_events_shuffled_within_the_lateness_give_the_same_alerts(
        plan: DetectionPlan, rows: list[dict[str, Any]], expected: list[tuple[Any, ...]], size: int) -> None:
    lateness = timedelta(seconds=45)
    rng = random.Random(size)
    # each event arrives less than the lateness after it happened, so none is too late
    arrived = sorted(rows, key=lambda r: r["_ts"] + timedelta(seconds=rng.uniform(0, 44)))
    assert arrived != rows
    with store_of(arrived) as store:
        det = StreamDetector(plan, store, lateness=lateness)
        alerts: list[Alert] = []
        for first in range(0, len(rows), size):
            alerts += det.process(first, min(first + size, len(rows)))
        alerts += det.flush()
        assert det.late_events == 0
    assert key(alerts) == expected


def test_events_later_than_the_lateness_still_alert_on_their_own_but_join_no_window(
        plan: DetectionPlan) -> None:
    fail = {"_product": "fortigate", "_service": "vpn", "action": "ssl-login-fail", "user": "u",
            "remip": "198.51.100.1"}
    late = [{**fail, "_ts": T0 + timedelta(seconds=s)} for s in (100, 101, 102, 1, 2)]
    late.append({**fail, "action": "admin-login", "_ts": T0})
    with store_of(late) as store:
        det = StreamDetector(plan, store, lateness=timedelta(seconds=10))
        first = det.process(0, 3)
        rest = det.process(3, 6) + det.flush()
        assert det.late_events == 2  # the two failures at 1 and 2 s: 4 failures never met in a window
        assert [a.rule_id for a in first + rest] == ["10000000-0000-4000-8000-000000000003"]


def test_a_restored_detector_continues_the_windows_and_repeats_nothing(
        plan: DetectionPlan, rows: list[dict[str, Any]], expected: list[tuple[Any, ...]]) -> None:
    with store_of(rows) as store:
        det = StreamDetector(plan, store, lateness=timedelta(seconds=30))
        half = len(rows) // 2
        alerts = det.process(0, 60) + det.process(60, half)
        blob = det.state()
        again = StreamDetector.restore(plan, store, blob, lateness=timedelta(seconds=30))
        replayed = again.process(60, half)  # the rows of the last batch, replayed after a crash
        alerts += replayed + again.process(half, len(rows)) + again.flush()
    assert replayed == []
    assert key(alerts) == expected


def test_open_windows_are_bounded_by_the_watermark(plan: DetectionPlan, rows: list[dict[str, Any]]) -> None:
    with store_of(rows) as store:
        det = StreamDetector(plan, store)
        det.process(0, len(rows))
        held = sum(len(g.matches) for groups in det.windows.values() for g in groups.values())
        assert det.watermark is not None
        oldest = min(m.ts for groups in det.windows.values() for g in groups.values() for m in g.matches)
    assert held < len(rows) // 2  # all 5 correlations together, of the 200 events
    assert oldest >= det.watermark - timedelta(minutes=10)  # the longest timespan of the plan


def test_restore_refuses_a_state_of_another_version(plan: DetectionPlan, tmp_path: Path) -> None:
    with EventStore() as store, pytest.raises(ValueError, match="version"):
        StreamDetector.restore(plan, store, b'{"version": 99}')


@settings(max_examples=15, deadline=None)
@given(gaps=st.lists(st.integers(1, 40_000), min_size=3, max_size=40), size=st.integers(1, 12),
       jitter=st.lists(st.integers(0, 29_999), min_size=40, max_size=40), seed=st.integers(0, 9))
def test_any_split_and_any_arrival_within_the_lateness_agree_with_one_pass(
        plan: DetectionPlan, gaps: list[int], size: int, jitter: list[int], seed: int) -> None:
    """Times in ms; each event arrives less than the 30 s lateness after it happened."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    t = 0
    for i, gap in enumerate(gaps):
        t += gap
        rows.append({"_product": "fortigate", "_service": "vpn", "_ts": T0 + timedelta(milliseconds=t),
                     "_record": i + 1, "action": rng.choice(["ssl-login-fail"] * 2 + ["tunnel-up"]),
                     "user": f"u{rng.randrange(3)}", "remip": f"203.0.113.{rng.randrange(2)}"})
    with store_of(rows) as store:
        want = key(plan.evaluate(store))
    arrived = sorted(rows, key=lambda r: r["_ts"] + timedelta(milliseconds=jitter[r["_record"] - 1]))
    with store_of(arrived) as store:
        assert key(streamed(plan, store, size, lateness=timedelta(seconds=30))) == want
