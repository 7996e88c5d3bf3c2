"""The counters of live intake, exposed on ``/metrics`` (Prometheus text format).

One registry per server, so tests and two servers in one process do not share counts.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class IntakeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("input", "establishment")
        self.received = Counter("rempart_events_received", "Records read from senders", labels,
                                registry=self.registry)
        self.accepted = Counter("rempart_events_accepted", "Records journaled and acknowledged", labels,
                                registry=self.registry)
        self.rejected = Counter("rempart_events_rejected", "Records or requests refused, by reason",
                                (*labels, "reason"), registry=self.registry)
        self.quarantined = Counter("rempart_events_quarantined", "Records a reader could not read",
                                   labels, registry=self.registry)
        self.flagged = Counter("rempart_events_foreign_host",
                               "Events whose host belongs to another establishment than their sender's",
                               labels, registry=self.registry)
        self.alerts = Counter("rempart_alerts", "Alerts raised by live detection", ("level",),
                              registry=self.registry)
        self.journal_lag = Gauge("rempart_journal_lag_records", "Journaled records not yet detected",
                                 registry=self.registry)
        self.batch_seconds = Histogram("rempart_batch_seconds", "Seconds to ingest, store and detect a batch",
                                       buckets=(0.01, 0.05, 0.1, 0.2, 0.5, 1, 2, 5), registry=self.registry)
        # where a batch's time goes: the next cost to cut, read off a running server
        self.stage_seconds = Histogram("rempart_loop_stage_seconds", "Seconds per batch in each loop stage",
                                       ("stage",), buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2),
                                       registry=self.registry)

    def reject(self, input: str, establishment: str | None, reason: str, n: int = 1) -> None:
        self.rejected.labels(input, establishment or "-", reason).inc(n)
