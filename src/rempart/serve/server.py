"""``rempart serve``: the receivers, the journal, the live loop and the responder in one process.

Start-up order: the journal is opened (its torn tail cut, damaged segments quarantined), the detection plan
compiled, what the journal holds beyond the last checkpoint replayed, and only then do the receivers listen,
so a sender is acknowledged by a server that can detect. SIGTERM (or SIGINT) stops the receivers first
(each finishes what it has read, so nothing read is left unacknowledged), then the loop processes what was
journaled and commits, then the stores close.

A status file (``status.json`` in the journal folder, rewritten every second) lets ``rempart serve status``
report on a running server without touching its stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from rempart.detect.compile import compile_rules
from rempart.detect.plan import DetectionPlan
from rempart.detect.rules import load_rules
from rempart.detect.tuning import load_tuning
from rempart.domain.alerts import Alert, Level
from rempart.domain.inventory import Group
from rempart.events.store import EventStore
from rempart.inventory import Resolver, load_group
from rempart.serve import http as http_input
from rempart.serve import syslog
from rempart.serve.config import ServeConfig
from rempart.serve.contracts import Backpressure
from rempart.serve.journal import JournalSink, SegmentJournal
from rempart.serve.loop import LiveLoop
from rempart.serve.metrics import IntakeMetrics
from rempart.serve.respond_live import ApproverChannels, LiveResponder
from rempart.serve.senders import SenderDirectory
from rempart.serve.tail import FileTail

STATUS_FILE = "status.json"
AT_MOST_ONCE = ("udp", "tcp")  # no application acknowledgement: what the network loses is lost


class _Closable(Protocol):
    async def close(self) -> None: ...


@dataclass
class Server:
    config: ServeConfig
    journal: SegmentJournal
    store: EventStore
    plan: DetectionPlan
    loop: LiveLoop
    metrics: IntakeMetrics
    group: Group
    started: float = field(default_factory=time.time)
    receivers: list[_Closable] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    listening: dict[str, str] = field(default_factory=dict)  # input → "proto host:port"
    responder: LiveResponder | None = None

    def status(self) -> dict[str, Any]:
        j = self.journal.stats()
        last = self.loop.stats.last_batch
        return {
            "pid": os.getpid(),
            "started": self.started,
            "written": time.time(),
            "inputs": self.listening,
            "at_most_once": [n for n, how in self.listening.items() if how.split()[0] in AT_MOST_ONCE],
            "journal": {"end": j.end_offset, "checkpoint": j.checkpoint_offset, "lag": j.lag,
                        "segments": j.segments, "bytes": j.bytes, "quarantined": j.quarantined},
            "events": self.loop.stats.events,
            "batches": self.loop.stats.batches,
            "alerts": self.loop.stats.alerts,
            "quarantined": self.loop.stats.quarantined,
            "last_batch_seconds": last.seconds if last else None,
            "rules": len(self.plan.rules),
        }

    def write_status(self) -> None:
        path = self.journal.directory / STATUS_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.status()), encoding="utf-8")
        os.replace(tmp, path)


def compile_plan(config: ServeConfig) -> DetectionPlan:
    tuning = load_tuning(config.detect.tuning) if config.detect.tuning else None
    rules = load_rules(config.detect.rules, cache_dir=config.detect.cache, tuning=tuning)
    return compile_rules(rules, config.detect.cache)


def responder_for(config: ServeConfig, group: Group) -> LiveResponder | None:
    """The live responder of serve.yaml's plan (None without a plan: detection only)."""
    if config.plan is None:
        return None
    from rempart.adapters import registry
    from rempart.adapters.smtp import SMTPRelay, load_relay_settings
    from rempart.adapters.webhook import WebhookAdapter
    from rempart.respond.plan import load_plan
    from rempart.settings import Settings
    from rempart.store.db import Store

    loaded = load_plan(config.plan, group)
    adapters = registry.build(registry.load_config(config.adapters) if config.adapters else None)
    a = config.approvers
    channels = ApproverChannels(
        mail=dict(a.mail), transport=SMTPRelay(load_relay_settings(a.relay)) if a.relay else None,
        webhook=WebhookAdapter() if a.webhook_url else None, webhook_url=a.webhook_url)
    cases = Store(config.cases or Settings().case_store_url)
    return LiveResponder(cases, loaded, group, adapters, channels,
                         min_level=Level.parse(config.detect.min_level),
                         adapters_source=str(config.adapters) if config.adapters else None)


async def start(config: ServeConfig, *, on_alerts: Callable[[list[Alert]], object] | None = None,
                plan: DetectionPlan | None = None) -> Server:
    """Open the stores, replay the journal, then listen. Each batch's alerts go to ``on_alerts`` when
    given (the demo), else to the live responder of serve.yaml's plan (incidents, automatic steps)."""
    group = load_group(config.group)
    responder = None
    if on_alerts is None:
        responder = responder_for(config, group)
        on_alerts = responder.handle if responder is not None else None
    j = config.journal
    journal = SegmentJournal(j.path, segment_bytes=j.segment_mb * (1 << 20), retain_bytes=j.retain_mb << 20,
                             min_free_bytes=j.min_free_mb << 20, max_lag=j.max_lag_records)
    store = EventStore(config.events)
    metrics = IntakeMetrics()
    if plan is None:
        plan = await asyncio.to_thread(compile_plan, config)
    loop = LiveLoop(journal, store, plan, resolver=Resolver(group), metrics=metrics, on_alerts=on_alerts,
                    on_tick=responder.escalations if responder is not None else None,
                    lateness_seconds=config.detect.lateness_s, batch_records=config.detect.batch_records,
                    batch_seconds=config.detect.batch_ms / 1000)
    server = Server(config, journal, store, plan, loop, metrics, group, responder=responder)
    while journal.end_offset > loop.done:  # replay before anyone is acknowledged again
        await asyncio.to_thread(loop.process, journal.read_from(loop.done + 1, loop.batch_records))
    sink = JournalSink(journal)
    senders = SenderDirectory(config.senders)
    for spec in config.inputs.syslog:
        receiver = await syslog.start_input(spec, sink, senders, metrics)
        server.receivers.append(receiver)
        server.listening[spec.name] = f"{spec.protocol} {spec.host}:{_port(receiver, spec.port)}"
    for hspec in config.inputs.http:
        app = http_input.create_app(hspec, sink, senders, metrics, healthy=lambda: _writable(journal))
        http_server = http_input.HttpServer(app, hspec)
        await http_server.start()
        server.receivers.append(_HttpClosable(http_server))
        server.listening[hspec.name] = f"http {hspec.host}:{http_server.port}"
    for tspec in config.inputs.files:
        tail = FileTail(tspec, sink, j.path / f"tail-{tspec.name}.json")
        server.tasks.append(asyncio.create_task(tail.run(server.stop)))
        server.listening[tspec.name] = f"files {', '.join(tspec.paths)}"
    server.tasks.append(asyncio.create_task(loop.run(server.stop)))
    server.tasks.append(asyncio.create_task(_status_writer(server)))
    return server


def _writable(journal: SegmentJournal) -> bool:
    """For /healthz: whether the journal can take records (a lagging detector is not unhealthy)."""
    try:
        journal.room(0)
    except Backpressure as exc:
        return not exc.reason.startswith("journal")
    return True


def _port(receiver: object, configured: int) -> int:
    return int(getattr(receiver, "port", configured) or configured)


class _HttpClosable:
    def __init__(self, server: http_input.HttpServer) -> None:
        self.server = server

    async def close(self) -> None:
        await self.server.stop()


async def _status_writer(server: Server) -> None:
    while not server.stop.is_set():
        await asyncio.to_thread(server.write_status)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.stop.wait(), 1.0)


async def shutdown(server: Server) -> None:
    """Stop listening (finishing what was read), let the loop process what was journaled, close."""
    for receiver in server.receivers:
        await receiver.close()
    server.stop.set()
    results = await asyncio.gather(*server.tasks, return_exceptions=True)
    server.write_status()
    server.store.close()
    server.journal.close()
    if server.responder is not None:
        server.responder.close()
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def serve_forever(server: Server) -> None:
    """Run until SIGTERM or SIGINT, then :func:`shutdown`."""
    ended = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, ended.set)
    waiter = asyncio.create_task(ended.wait())
    # a task that ends before the signal has failed (the loop, a tail): stop cleanly, then say why
    await asyncio.wait([waiter, *server.tasks], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    await shutdown(server)
