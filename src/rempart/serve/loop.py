"""The live loop: journal → readers → event store → streaming detection → incidents and automatic steps.

Records are taken from the journal in micro-batches, bounded by count and by time since the first one
waited (``batch_seconds``): a quiet clinic's event is detected within that time, a busy one's in batches
big enough to be cheap. Each batch is stored in one DuckDB transaction, then evaluated by the
:class:`~rempart.detect.stream.StreamDetector`, then its alerts go to the responder; only then is the
batch's last offset committed with the detector's state.

A crash between any two of these is replayed without doing anything twice:
- events are stored with their journal offset as ``_record`` (see :mod:`rempart.serve.decode`); records
  the store holds already (offset up to the highest stored) are not stored again, but their rows are
  evaluated again from the checkpointed detector state;
- an alert raised again on replay is the same alert (same rule, events and time): the case store keeps
  it once (:mod:`rempart.serve.respond_live`), so no incident grows and no plan step runs twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from rempart.detect.plan import DetectionPlan
from rempart.detect.stream import StreamDetector
from rempart.domain.alerts import Alert
from rempart.domain.events import RECORD, SOURCE
from rempart.events.store import TABLE, EventStore
from rempart.inventory import Resolver
from rempart.serve.contracts import IntakeRecord
from rempart.serve.decode import LIVE, Decoded, decode
from rempart.serve.journal import SegmentJournal
from rempart.serve.metrics import IntakeMetrics

OnAlerts = Callable[[list[Alert]], object]
TICK_SECONDS = 60.0  # how often the responder looks at steps waiting past their escalation


@dataclass
class BatchResult:
    first_offset: int
    last_offset: int
    records: int
    events: int
    alerts: list[Alert]
    seconds: float
    replayed: int = 0  # records the store held already (a replay after a crash)


@dataclass
class LiveStats:
    batches: int = 0
    events: int = 0
    alerts: int = 0
    quarantined: int = 0
    last_batch: BatchResult | None = None
    recent_seconds: list[float] = field(default_factory=list)


class LiveLoop:
    def __init__(
        self,
        journal: SegmentJournal,
        store: EventStore,
        plan: DetectionPlan,
        *,
        resolver: Resolver | None,
        metrics: IntakeMetrics,
        on_alerts: OnAlerts | None = None,
        on_tick: Callable[[], object] | None = None,
        lateness_seconds: float = 60.0,
        batch_records: int = 10_000,
        batch_seconds: float = 0.2,
    ) -> None:
        self.journal, self.store, self.plan = journal, store, plan
        self.resolver, self.metrics, self.on_alerts, self.on_tick = resolver, metrics, on_alerts, on_tick
        self.batch_records, self.batch_seconds = batch_records, batch_seconds
        # no new record for this long (wall clock): the matches held for the lateness are evaluated
        self.idle_seconds = max(lateness_seconds, 0.2)
        self.fields = plan.fields
        done, state = journal.checkpoint()
        lateness = timedelta(seconds=lateness_seconds)
        self.detector = (StreamDetector.restore(plan, store, state, lateness=lateness) if state
                         else StreamDetector(plan, store, lateness=lateness))
        self.done = done  # the last offset processed (journal offsets start at 1; 0: none)
        self.stored_upto = self._stored_upto()
        self.stats = LiveStats()

    def _stored_upto(self) -> int:
        """The highest journal offset whose events the event store holds (0: none)."""
        if self.store.column(SOURCE) is None:
            return 0
        rows = self.store.query(
            f"SELECT max({RECORD}) FROM {TABLE} WHERE starts_with({SOURCE}, ?)", [LIVE]
        )
        return 0 if rows[0][0] is None else int(rows[0][0])

    def process(self, batch: Sequence[tuple[int, bytes]]) -> BatchResult:
        """Store and evaluate one batch of journal records (in offset order), then commit its end."""
        t0 = time.perf_counter()
        stage = self._stages(t0)
        records = [(offset, IntakeRecord.decode(data)) for offset, data in batch]
        fresh = [(o, r) for o, r in records if o > self.stored_upto]
        replayed = len(records) - len(fresh)
        first_row = self._next_rowid()
        events = 0
        if fresh:
            decoded = decode(fresh, self.resolver, self.fields)
            stage("decode")
            for table in decoded.tables:
                events += self.store.append(table)
            self.store.flush()
            self._count(decoded)
            self.stored_upto = fresh[-1][0]
            stage("store")
        rows = self._rows_of_replay(records[0][0]) if replayed else (first_row, first_row + events)
        alerts = self.detector.process(*rows) if rows[1] > rows[0] else []
        stage("detect")
        if alerts and self.on_alerts is not None:
            self.on_alerts(alerts)
            stage("respond")
        last = records[-1][0]
        self.journal.commit(last, self.detector.state())
        stage("commit")
        self.done = last
        seconds = time.perf_counter() - t0
        result = BatchResult(records[0][0], last, len(records), events, alerts, seconds, replayed)
        self._note(result)
        return result

    def settle(self) -> list[Alert]:
        """The stream went quiet: evaluate the correlation matches held for the lateness now, since no
        event is coming to move the watermark (a brute force that ends the traffic is still reported)."""
        alerts = self.detector.flush()
        if alerts and self.on_alerts is not None:
            self.on_alerts(alerts)
        self.journal.commit(self.done, self.detector.state())
        for alert in alerts:
            self.metrics.alerts.labels(str(alert.level)).inc()
        self.stats.alerts += len(alerts)
        return alerts

    def _stages(self, start: float) -> Callable[[str], None]:
        """A clock for one batch: each call observes the seconds since the previous one under `name`."""
        last = [start]

        def stage(name: str) -> None:
            now = time.perf_counter()
            self.metrics.stage_seconds.labels(name).observe(now - last[0])
            last[0] = now

        return stage

    def _rows_of_replay(self, first_offset: int) -> tuple[int, int]:
        """The rowids of the events of a replayed batch: those stored from its first offset on."""
        rows = self.store.query(
            f"SELECT min(rowid), max(rowid) FROM {TABLE} WHERE starts_with({SOURCE}, ?) AND {RECORD} >= ?",
            [LIVE, first_offset],
        )
        low, high = rows[0]
        return (0, 0) if low is None else (int(low), int(high) + 1)

    def _next_rowid(self) -> int:
        rows = self.store.query(f"SELECT coalesce(max(rowid) + 1, 0) FROM {TABLE}")
        return int(rows[0][0])

    def _count(self, decoded: Decoded) -> None:
        for (name, est), n in decoded.quarantined.items():
            self.metrics.quarantined.labels(name, est).inc(n)
            self.stats.quarantined += n
        for (name, est), n in decoded.foreign.items():
            self.metrics.flagged.labels(name, est).inc(n)

    def _note(self, result: BatchResult) -> None:
        self.stats.batches += 1
        self.stats.events += result.events
        self.stats.alerts += len(result.alerts)
        self.stats.last_batch = result
        self.stats.recent_seconds = [*self.stats.recent_seconds[-99:], result.seconds]
        self.metrics.batch_seconds.observe(result.seconds)
        for alert in result.alerts:
            self.metrics.alerts.labels(str(alert.level)).inc()

    async def run(self, stop: asyncio.Event) -> None:
        """Process batches until ``stop`` is set and what was journaled before it is processed."""
        ticked = last = time.monotonic()
        settled = True
        while True:
            batch = await self._next_batch(stop)
            if batch:
                await asyncio.to_thread(self.process, batch)
                last, settled = time.monotonic(), False
            elif not settled and time.monotonic() - last >= self.idle_seconds:
                await asyncio.to_thread(self.settle)
                settled = True
            if self.on_tick is not None and time.monotonic() - ticked >= TICK_SECONDS:
                ticked = time.monotonic()
                await asyncio.to_thread(self.on_tick)  # never alongside a batch: one run, one writer
            self.metrics.journal_lag.set(max(self.journal.end_offset - self.done, 0))
            if stop.is_set() and self.journal.end_offset <= self.done:
                return

    async def _next_batch(self, stop: asyncio.Event) -> list[tuple[int, bytes]]:
        """Up to ``batch_records`` records, waiting at most ``batch_seconds`` once the first is there."""
        if self.journal.end_offset <= self.done:
            if stop.is_set():
                return []
            await self.journal.wait(self.done, timeout=min(0.5, self.idle_seconds))
            if self.journal.end_offset <= self.done:
                return []
        deadline = time.monotonic() + self.batch_seconds
        while (self.journal.end_offset - self.done < self.batch_records and not stop.is_set()
               and (left := deadline - time.monotonic()) > 0):
            await self.journal.wait(self.journal.end_offset, timeout=left)
        return self.journal.read_from(self.done + 1, self.batch_records)
