"""A real uvicorn serving the HTTP intake on loopback, in a thread of its own, with a sink that keeps
records in a list (it stands for the journal) and can be told to push back."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from rempart.serve.contracts import IntakeRecord, Sender
from rempart.serve.http import HttpInput, HttpServer, create_app
from rempart.serve.metrics import IntakeMetrics

TOKEN = "tok-clinic-a"
GROUP_TOKEN = "tok-soc"


@dataclass
class ListSink:
    records: list[IntakeRecord] = field(default_factory=list)
    pushback: list[Exception] = field(default_factory=list)  # raised, one per call, before accepting
    calls: int = 0
    delay: float = 0.0  # seconds each accept takes (an fsync on a slow disk)

    async def accept(self, records: Sequence[IntakeRecord]) -> None:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.pushback:
            raise self.pushback.pop(0)
        self.records.extend(records)

    def documents(self) -> list[dict[str, object]]:
        return [json.loads(record.payload) for record in self.records]


class TokenSenders:
    def __init__(self) -> None:
        self.tokens = {TOKEN: ("clinic-a-winlogbeat", "clinic-a"), GROUP_TOKEN: ("soc", None)}

    def by_token(self, token: str, address: str) -> Sender | None:
        found = self.tokens.get(token)
        return Sender(found[0], found[1], address) if found else None

    def by_address(self, address: str) -> Sender | None:
        return None

    def by_certificate(self, subject: str, address: str) -> Sender | None:
        return None


@dataclass
class Running:
    url: str
    sink: ListSink
    metrics: IntakeMetrics
    health: list[bool]

    def rejected(self, reason: str, establishment: str = "clinic-a") -> float:
        labels = {"input": "http", "establishment": establishment, "reason": reason}
        value = self.metrics.registry.get_sample_value("rempart_events_rejected_total", labels)
        return value or 0.0

    def accepted(self, establishment: str = "clinic-a") -> float:
        value = self.metrics.registry.get_sample_value(
            "rempart_events_accepted_total", {"input": "http", "establishment": establishment})
        return value or 0.0


@contextmanager
def serving(**settings: object) -> Iterator[Running]:
    config = HttpInput.model_validate({"port": 0, **settings})
    sink, metrics, health = ListSink(), IntakeMetrics(), [True]
    app = create_app(config, sink, TokenSenders(), metrics, lambda: health[0])
    ready = threading.Event()
    port: list[int] = []
    failure: list[BaseException] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        server = HttpServer(app, config)
        try:
            await server.start()
        except (OSError, SystemExit) as exc:
            failure.append(exc)
            ready.set()
            return
        port.append(server.port)
        ready.set()
        await stop.wait()
        await server.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(10)
    if failure:
        raise failure[0]
    try:
        yield Running(f"http://127.0.0.1:{port[0]}", sink, metrics, health)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
