"""What the HTTP intake takes: events per second through POST /ingest (NDJSON) and POST /_bulk (gzip, as
Beats send it), and the latency of one request, with the server in a process of its own.

    .venv/bin/python benchmarks/http_intake.py --seconds 10 --batch 500 --clients 2

The sink here only counts (no journal, no fsync): the figure is the receiver's own ceiling, the part of
issue 15's 25,000 events/s that parsing HTTP and JSON costs. Events are 300-byte Winlogbeat-like documents.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import multiprocessing
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import httpx  # noqa: E402

from rempart.serve.contracts import IntakeRecord, Sender  # noqa: E402
from rempart.serve.http import HttpInput, HttpServer, create_app  # noqa: E402
from rempart.serve.metrics import IntakeMetrics  # noqa: E402

TOKEN = "bench-token"


class CountingSink:
    def __init__(self) -> None:
        self.count = 0

    async def accept(self, records: Sequence[IntakeRecord]) -> None:
        self.count += len(records)


class OneToken:
    def by_token(self, token: str, address: str) -> Sender | None:
        return Sender("bench", "clinic-a", address) if token == TOKEN else None

    def by_address(self, address: str) -> Sender | None:
        return None

    def by_certificate(self, subject: str, address: str) -> Sender | None:
        return None


def serve(ports: multiprocessing.Queue[int], stop: multiprocessing.Queue[int]) -> None:
    async def main() -> None:
        sink = CountingSink()
        config = HttpInput(port=0, max_body_bytes=64 * 1024 * 1024, max_decompressed_bytes=256 * 1024 * 1024)
        server = HttpServer(create_app(config, sink, OneToken(), IntakeMetrics()), config)
        await server.start()
        ports.put(server.port)
        await asyncio.to_thread(stop.get)
        await server.stop()
        ports.put(sink.count)

    asyncio.run(main())


def document(i: int) -> dict[str, object]:
    return {"@timestamp": "2026-12-03T10:00:00.000Z",
            "event": {"code": "4625", "provider": "Microsoft-Windows-Security-Auditing"},
            "host": {"name": "dc01.clinic-a.example"},
            "winlog": {"channel": "Security", "record_id": i,
                       "event_data": {"TargetUserName": "admin", "IpAddress": "203.0.113.7", "LogonType": "3",
                                      "Status": "0xc000006d"}}}


def run(url: str, path: str, body: bytes, headers: dict[str, str], batch: int, seconds: float,
        clients: int) -> tuple[int, list[float]]:
    latencies: list[float] = []
    sent = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
            while time.monotonic() < deadline:
                start = time.perf_counter()
                response = http.post(path, content=body)
                elapsed = time.perf_counter() - start
                response.raise_for_status()
                with lock:
                    latencies.append(elapsed)
                    sent[0] += batch

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sent[0], latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="per endpoint")
    parser.add_argument("--batch", type=int, default=500, help="events per request")
    parser.add_argument("--clients", type=int, default=2, help="concurrent senders")
    args = parser.parse_args()
    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    stop: multiprocessing.Queue[int] = multiprocessing.Queue()
    process = multiprocessing.Process(target=serve, args=(ports, stop))
    process.start()
    url = f"http://127.0.0.1:{ports.get(timeout=30)}"
    docs = [json.dumps(document(i)).encode() for i in range(args.batch)]
    ndjson = b"\n".join(docs) + b"\n"
    action = b'{"create":{"_index":"winlogbeat-8.19.0"}}\n'
    bulk = gzip.compress(b"".join(action + d + b"\n" for d in docs), 1)  # Beats' default level
    auth = {"Authorization": f"Bearer {TOKEN}"}
    cases = [("POST /ingest (NDJSON)", "/ingest", ndjson, {**auth, "Content-Type": "application/x-ndjson"}),
             ("POST /_bulk (gzip)", "/_bulk", bulk, {**auth, "Content-Encoding": "gzip",
                                                      "Content-Type": "application/x-ndjson"})]
    total = 0
    print(f"{args.batch} events a request ({len(ndjson) // args.batch} bytes each), {args.clients} clients, "
          f"{args.seconds:g} s per endpoint, server in its own process, counting sink (no journal)")
    try:
        for label, path, body, headers in cases:
            sent, latencies = run(url, path, body, headers, args.batch, args.seconds, args.clients)
            total += sent
            cuts = statistics.quantiles(latencies, n=100)
            print(f"{label}: {sent / args.seconds:,.0f} events/s, {len(latencies)} requests, "
                  f"p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms")
    finally:
        stop.put(0)
        kept = ports.get(timeout=30)
        process.join(30)
    print(f"events the sink took: {kept:,} of {total:,} sent")
    print(f"rerun: .venv/bin/python benchmarks/http_intake.py --seconds {args.seconds:g} "
          f"--batch {args.batch} --clients {args.clients}")


if __name__ == "__main__":
    main()
