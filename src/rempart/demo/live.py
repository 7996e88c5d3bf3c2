"""Demo, detection in live mode: ``rempart serve`` runs in this process and the generated logs reach it
over real protocols, as the clinics' shippers would send them.

- each clinic's Windows events (Winlogbeat NDJSON) are POSTed gzipped to the HTTP input with that
  clinic's token, as NXLog ``om_http`` or Fluent Bit would;
- its Linux servers' auth.log and its FortiGate's lines go over one syslog TCP connection per clinic,
  octet-counted (RFC 6587) as rsyslog's ``omfwd`` sends them.

The days of logs are sent in time order, one simulated half hour at a time (three days in a few seconds):
the server detects each slice as it arrives, so the incident opens as soon as the attack's events are in.
"""

from __future__ import annotations

import asyncio
import gzip
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from rempart.domain.alerts import Alert
from rempart.serve.config import DetectConfig, Inputs, JournalConfig, ServeConfig
from rempart.serve.http import HttpInput
from rempart.serve.senders import NetworkCredential, SendersConfig, TokenCredential, new_token
from rempart.serve.server import Server, shutdown, start
from rempart.serve.syslog import SyslogInput

SLICE = timedelta(minutes=30)
PAUSE = 0.02  # seconds between two slices: three days in about three seconds of sending


@dataclass
class Shipped:
    events: int = 0
    http_requests: int = 0
    syslog_messages: int = 0
    seconds: float = 0.0
    mark_sent: float | None = None  # monotonic time when the first line at or after `mark` was sent


def demo_config(workdir: Path, group_path: Path, events_db: Path, rules: list[Path],
                establishments: list[str]) -> tuple[ServeConfig, dict[str, str]]:
    """serve.yaml for the demo, built in memory: loopback inputs on free ports, a token per clinic."""
    tokens: dict[str, str] = {}
    creds = []
    for est in establishments:
        secret, digest = new_token()
        tokens[est] = secret
        creds.append(TokenCredential(name=f"{est}-winlogbeat", establishment=est, sha256=digest))
    config = ServeConfig(
        group=group_path,
        events=events_db,
        journal=JournalConfig(path=workdir / "journal", min_free_mb=16),
        detect=DetectConfig(rules=rules, cache=workdir / "rule-cache", batch_ms=100),
        inputs=Inputs(syslog=[SyslogInput(name="syslog-tcp", protocol="tcp", host="127.0.0.1", port=0)],
                      http=[HttpInput(name="http", host="127.0.0.1", port=0)]),
        # every clinic's syslog comes from this machine in the demo: one group-wide loopback credential
        senders=SendersConfig(tokens=creds, networks=[
            NetworkCredential(name="demo-loopback", networks=["127.0.0.0/8"])]),
    )
    return config, tokens


async def run_live(config: ServeConfig, tokens: dict[str, str],
                   timed: list[tuple[datetime, Path, str]],
                   on_alerts: Callable[[list[Alert]], None], mark: datetime) -> tuple[Server, Shipped]:
    """Start the server, ship every line, wait until all is detected, stop the server. ``mark``: the
    time of the first event whose sending is timed (the attack's first)."""
    server = await start(config, on_alerts=on_alerts)
    try:
        shipped = await _ship(server, tokens, timed, mark)
        while server.loop.done < server.journal.end_offset:  # every journaled record detected
            await asyncio.sleep(0.02)
    finally:
        await shutdown(server)
    return server, shipped


def _address(server: Server, name: str) -> tuple[str, int]:
    host, port = server.listening[name].split()[1].rsplit(":", 1)
    return host, int(port)


async def _ship(server: Server, tokens: dict[str, str], timed: list[tuple[datetime, Path, str]],
                mark: datetime) -> Shipped:
    shipped = Shipped()
    started = time.monotonic()
    http_host, http_port = _address(server, "http")
    syslog_host, syslog_port = _address(server, "syslog-tcp")
    streams: dict[str, asyncio.StreamWriter] = {}
    # the shippers' own threads: the server's journal and detection use the loop's default executor
    posting = ThreadPoolExecutor(max_workers=8, thread_name_prefix="demo-shipper")
    loop = asyncio.get_running_loop()
    i = 0
    try:
        while i < len(timed):
            end = timed[i][0] + SLICE
            windows: dict[str, list[str]] = {}
            lines: dict[str, list[str]] = {}
            marked = False
            while i < len(timed) and timed[i][0] < end:
                when, path, line = timed[i]
                marked = marked or when >= mark
                est = path.parent.name
                (windows if ".ndjson" in path.name else lines).setdefault(est, []).append(line)
                i += 1
            for est, items in lines.items():
                if est not in streams:
                    _, streams[est] = await asyncio.open_connection(syslog_host, syslog_port)
                frames = b"".join(b"%d %s" % (len(m), m) for m in (x.encode() for x in items))
                streams[est].write(frames)
                await streams[est].drain()
                shipped.syslog_messages += len(items)
            posts = [loop.run_in_executor(posting, _post, http_host, http_port, tokens[est], items)
                     for est, items in windows.items()]
            if marked and shipped.mark_sent is None:
                shipped.mark_sent = time.monotonic()
            await asyncio.gather(*posts)
            shipped.http_requests += len(posts)
            shipped.events += sum(map(len, windows.values())) + sum(map(len, lines.values()))
            await asyncio.sleep(PAUSE)
    finally:
        posting.shutdown(wait=True)
        for writer in streams.values():
            writer.close()
            await writer.wait_closed()
    shipped.seconds = time.monotonic() - started
    return shipped


def _post(host: str, port: int, token: str, lines: list[str]) -> None:
    body = gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=1)
    request = urllib.request.Request(
        f"http://{host}:{port}/ingest", data=body, method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson",
                 "Content-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
