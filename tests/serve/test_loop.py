"""The live loop: journal → readers → store → detection; a replay after a crash stores and alerts once."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rempart.detect.compile import compile_rules
from rempart.detect.plan import DetectionPlan
from rempart.detect.rules import load_rules
from rempart.domain.alerts import Alert
from rempart.events.store import TABLE, EventStore
from rempart.inventory import Resolver, load_group
from rempart.serve.contracts import IntakeRecord, Sender
from rempart.serve.journal import SegmentJournal
from rempart.serve.loop import LiveLoop
from rempart.serve.metrics import IntakeMetrics

ROOT = Path(__file__).resolve().parents[2]
BRUTE_FORCE = "9a4e2f61-7b3c-4d5e-8f6a-1b2c3d4e5f02"
SENDER = Sender("cap-lan", "capitouls", "10.11.1.20:40000")


@pytest.fixture(scope="module")
def plan() -> DetectionPlan:
    return compile_rules(load_rules([ROOT / "rules"]))


def _failures(start: datetime, n: int, ip: str = "203.0.113.7") -> list[bytes]:
    return [(f"<38>{(start + timedelta(seconds=i)).strftime('%b %d %H:%M:%S')} tls-cap-dpi01 sshd[{i}]: "
             f"Failed password for invalid user admin from {ip} port {40000 + i} ssh2").encode()
            for i in range(n)]


def _journal(path: Path, lines: list[bytes]) -> SegmentJournal:
    journal = SegmentJournal(path, min_free_bytes=0)
    journal.append([IntakeRecord("syslog-tcp", "syslog", SENDER, time.time(), line).encode()
                    for line in lines])
    return journal


def _loop(journal: SegmentJournal, store: EventStore, plan: DetectionPlan, alerts: list[Alert],
          batch: int, lateness: float = 0.0) -> LiveLoop:
    group = load_group(ROOT / "examples" / "group.yaml")
    return LiveLoop(journal, store, plan, resolver=Resolver(group), metrics=IntakeMetrics(),
                    on_alerts=alerts.extend, batch_records=batch, lateness_seconds=lateness)


def _drain(loop: LiveLoop) -> None:
    while loop.journal.end_offset > loop.done:
        loop.process(loop.journal.read_from(loop.done + 1, loop.batch_records))


def test_events_are_stored_with_their_offsets_and_detected(tmp_path: Path, plan: DetectionPlan) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    journal = _journal(tmp_path / "journal", _failures(start, 12))
    store = EventStore(tmp_path / "events.duckdb")
    alerts: list[Alert] = []
    loop = _loop(journal, store, plan, alerts, batch=100)
    _drain(loop)
    offsets = [r[0] for r in store.query(f"SELECT _record FROM {TABLE} ORDER BY _record")]
    assert offsets == list(range(1, 13))
    # the failures alone are silent (the correlation's member); ten from one address within 5 min: one alert
    assert [a.rule_id for a in alerts] == [BRUTE_FORCE]
    assert journal.checkpoint()[0] == 12
    assert {r[0] for r in store.query(f"SELECT _establishment FROM {TABLE}")} == {"capitouls"}
    stages = {s.labels["stage"]: s.value for m in loop.metrics.stage_seconds.collect() for s in m.samples
              if s.name.endswith("_count")}
    assert stages == {"decode": 1, "store": 1, "detect": 1, "respond": 1, "commit": 1}


def test_a_replay_after_a_crash_stores_nothing_twice(tmp_path: Path, plan: DetectionPlan) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    journal = _journal(tmp_path / "journal", _failures(start, 30))
    store = EventStore(tmp_path / "events.duckdb")
    alerts: list[Alert] = []
    loop = _loop(journal, store, plan, alerts, batch=10)
    batch = journal.read_from(1, 10)
    loop.process(batch)
    # a crash after the events were stored, before the checkpoint: the stored rows are there, the
    # checkpoint still says 10
    loop.journal.commit = lambda offset, state=b"": None  # type: ignore[method-assign]
    loop.process(journal.read_from(11, 10))
    assert journal.checkpoint()[0] == 10
    store.close()
    journal.close()
    journal = SegmentJournal(tmp_path / "journal", min_free_bytes=0)
    store = EventStore(tmp_path / "events.duckdb")
    again: list[Alert] = []
    loop = _loop(journal, store, plan, again, batch=10)
    assert loop.done == 10 and loop.stored_upto == 20
    _drain(loop)
    counts = store.query(f"SELECT _record, count(*) FROM {TABLE} GROUP BY 1 HAVING count(*) > 1")
    assert counts == []
    assert store.count() == 30
    assert journal.checkpoint()[0] == 30


@pytest.mark.parametrize("batch", [1, 3, 7])
def test_a_correlation_spans_micro_batches_and_restarts(tmp_path: Path, plan: DetectionPlan,
                                                        batch: int) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    journal = _journal(tmp_path / "journal", _failures(start, 12))
    store = EventStore(tmp_path / "events.duckdb")
    alerts: list[Alert] = []
    loop = _loop(journal, store, plan, alerts, batch=batch)
    loop.process(journal.read_from(1, batch))
    loop.process(journal.read_from(loop.done + 1, batch))
    store.close()
    journal.close()  # a restart: the correlation window comes back from the checkpoint's state
    journal = SegmentJournal(tmp_path / "journal", min_free_bytes=0)
    store = EventStore(tmp_path / "events.duckdb")
    loop = _loop(journal, store, plan, alerts, batch=batch)
    _drain(loop)
    assert [a.rule_id for a in alerts] == [BRUTE_FORCE]
    assert len(alerts[0].events) >= 10


def test_a_quiet_stream_still_reports_what_the_lateness_held(tmp_path: Path, plan: DetectionPlan) -> None:
    """With a lateness, a correlation waits for later events to move the watermark; when none come, the
    loop evaluates what it holds once the stream has been quiet for the lateness."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    journal = _journal(tmp_path / "journal", _failures(start, 12))
    store = EventStore(tmp_path / "events.duckdb")
    alerts: list[Alert] = []
    loop = _loop(journal, store, plan, alerts, batch=5, lateness=0.3)

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(loop.run(stop))
        deadline = time.monotonic() + 10
        while not alerts and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        await task

    asyncio.run(run())
    assert [a.rule_id for a in alerts] == [BRUTE_FORCE]
    held = journal.checkpoint()
    journal.close()
    store.close()
    # the flush is in the checkpoint: a restart does not report it again
    journal = SegmentJournal(tmp_path / "journal", min_free_bytes=0)
    store = EventStore(tmp_path / "events.duckdb")
    again: list[Alert] = []
    loop = _loop(journal, store, plan, again, batch=5, lateness=0.3)
    assert journal.checkpoint() == held
    loop.settle()
    assert again == []
