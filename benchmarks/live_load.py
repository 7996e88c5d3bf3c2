"""The load process of ``benchmarks/live.py`` and ``benchmarks/live_crash.py``: realistic mixed traffic.

    python benchmarks/live_load.py SPEC.json      (SPEC written by live.py: where to send, rate, intrusions)

Windows events (Security-Datasets' JSON, hosts rewritten to the clinics of examples/group.yaml, times set
to now) go as NDJSON over several HTTP connections (``POST /ingest``, a clinic's token in ``Authorization:
Bearer``); Linux syslog goes over TCP with RFC 6587 octet counting. Every event carries a unique id (the
JSON field ``bench_id``, the syslog PID) so that the server's store can be checked for losses and
duplicates. Intrusions are injected at the spec's times: an SSH brute force (``threshold`` failed logins
from one address on a clinic's server, over syslog; the same lines also go to fail2ban's log file) or a
shadow-copy deletion on a file server (Sysmon, over HTTP). For each, the wall-clock time just before the
event that completes the detection was sent is recorded.

"Acknowledged" means: an HTTP 2xx for the request that carried it, or, for plain TCP syslog (at most once
by nature), written to the socket.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import tarfile
import time
import zipfile
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
ATOMIC = DATA / "security-datasets" / "atomic" / "windows"
TICK = 0.02  # pacing step: events due are sent every 20 ms
HTTP_BATCH = 500  # events per POST at most
SYSLOG_SHARE = 0.3  # of the background
INTRUSION_IDS = 1_000_000_000
_DROP = ("host", "EventTime", "EventReceivedTime", "UtcTime", "TimeCreated")
_LINUX_PROGRAMS = (
    ("CRON", "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"),
    ("systemd", "Started Session 4242 of User exploitation."),
    ("sshd", "Accepted publickey for exploitation from 10.11.1.20 port 50122 ssh2: ED25519 SHA256:x"),
    (
        "sudo",
        "exploitation : TTY=pts/0 ; PWD=/home/exploitation ; USER=root ; COMMAND=/usr/bin/systemctl status",
    ),
    ("kernel", "nf_conntrack: table full, dropping packet"),
)


def background_events(limit: int, seed: int = 7) -> list[dict[str, Any]]:
    """Up to ``limit`` JSON events from Security-Datasets' Windows archives (zip and tar.gz of JSON lines)."""
    out: list[dict[str, Any]] = []
    archives = sorted([*ATOMIC.rglob("*.zip"), *ATOMIC.rglob("*.tar.gz")])
    random.Random(seed).shuffle(archives)
    per_archive = max(200, limit // max(1, len(archives)) + 1)
    for path in archives:
        taken = 0
        for line in _archive_lines(path):
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, dict) and "EventID" in event:
                for key in _DROP:
                    event.pop(key, None)
                out.append(event)
                taken += 1
                if taken >= per_archive or len(out) >= limit:
                    break
        if len(out) >= limit:
            break
    return out


def _archive_lines(path: Path) -> Iterator[bytes]:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if name.endswith(".json"):
                    with z.open(name) as f:
                        yield from f
    else:
        with tarfile.open(path) as t:
            for member in t:
                member_file = (
                    t.extractfile(member) if member.isfile() and member.name.endswith(".json") else None
                )
                if member_file is not None:
                    yield from member_file


_HOST, _TIME, _ID = b"\x01host\x01", b"\x01time\x01", b'"\x01id\x01"'


def template(event: dict[str, Any]) -> bytes:
    """The event's JSON line with placeholders for its host, time and unique id."""
    return orjson.dumps(
        {**event, "Hostname": "\x01host\x01", "@timestamp": "\x01time\x01", "bench_id": "\x01id\x01"}
    ).replace(b"\\u0001", b"\x01")


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def syslog_line(t: float, host: str, program: str, pid: int, message: str) -> bytes:
    """RFC 5424 with a UTC timestamp: the event time is unambiguous (RFC 3164 has no year and no zone)."""
    return f"<38>1 {iso(t)} {host} {program} {pid} - - {message}".encode()


def fail2ban_line(t: float, host: str, pid: int, message: str) -> str:
    """The same failed login as auth.log holds it (fail2ban's sshd filter reads this shape)."""
    return f"{datetime.fromtimestamp(t).strftime('%b %d %H:%M:%S')} {host} sshd[{pid}]: {message}\n"


def sysmon_shadow_delete(t: float, host: str, uid: int) -> dict[str, Any]:
    """Sysmon process creation of ``vssadmin delete shadows`` (SigmaHQ: shadow copies deletion, high)."""
    return {
        "@timestamp": iso(t),
        "Hostname": host,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "SourceName": "Microsoft-Windows-Sysmon",
        "EventID": 1,
        "bench_id": uid,
        "Image": r"C:\Windows\System32\vssadmin.exe",
        "OriginalFileName": "VSSADMIN.EXE",
        "CommandLine": "vssadmin.exe delete shadows /all /quiet",
        "User": r"HORIZON\bench",
        "ParentImage": r"C:\Windows\System32\cmd.exe",
        "ProcessId": "8012",
    }


@dataclass
class Counts:
    http_sent: int = 0
    http_acked: int = 0
    syslog_sent: int = 0
    syslog_written: int = 0
    http_retries: int = 0  # requests told to wait (429/503) or failed, sent again
    http_errors: dict[str, int] = field(default_factory=dict)
    acked: array = field(default_factory=lambda: array("q"))  # type: ignore[type-arg]
    resent: array = field(default_factory=lambda: array("q"))  # type: ignore[type-arg]


class Load:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.rate = float(spec["rate"])
        self.seconds = float(spec["seconds"])
        self.clinics: dict[str, dict[str, list[str]]] = spec["clinics"]
        self.tokens: dict[str, str] = spec["tokens"]
        self.counts = Counts()
        self.next_id = 1
        self.next_intrusion = 0
        self.deterministic = bool(spec.get("deterministic", False))
        self.rng = random.Random(11)
        self.templates = [template(e) for e in background_events(int(spec.get("background", 50_000)))]
        self.http_queue: asyncio.Queue[tuple[str, list[int], bytes] | None] = asyncio.Queue(
            maxsize=4 * int(spec.get("connections", 4))
        )
        self.syslog_queue: asyncio.Queue[tuple[list[int], bytes] | None] = asyncio.Queue(maxsize=64)
        self.intrusions: list[dict[str, Any]] = [dict(i) for i in spec.get("intrusions", [])]
        self.fail2ban_log = Path(spec["fail2ban_log"]) if spec.get("fail2ban_log") else None
        self.start = 0.0
        self.stopped = False

    def uid(self) -> int:
        n = self.next_id
        self.next_id += 1
        return n

    def intrusion_uid(self) -> int:
        """Intrusion events have ids of their own: the background's ids do not depend on when they came."""
        self.next_intrusion += 1
        return INTRUSION_IDS + self.next_intrusion

    # -- what is sent ------------------------------------------------------------------------------
    def windows_batch(self, clinic: str, n: int, now: float) -> tuple[list[int], bytes]:
        if self.deterministic:  # event times from the ids: two runs give the same events, alerts, times
            now = float(self.spec["base_time"]) + (self.next_id - 1) / self.rate
        hosts = [h.encode() for h in self.clinics[clinic]["workstations"] + self.clinics[clinic]["servers"]]
        stamp = iso(now).encode()
        ids, lines = [], []
        for _ in range(n):  # templates, not dumps: the load process must leave the cores to the server
            uid = self.uid()
            ids.append(uid)
            lines.append(
                self.rng.choice(self.templates)
                .replace(_HOST, self.rng.choice(hosts), 1)
                .replace(_TIME, stamp, 1)
                .replace(_ID, str(uid).encode(), 1)
            )
        return ids, b"\n".join(lines) + b"\n"

    def syslog_batch(self, n: int, now: float) -> tuple[list[int], bytes]:
        ids, frames = [], []
        for _ in range(n):
            clinic = self.rng.choice(list(self.clinics))
            host = self.rng.choice(self.clinics[clinic]["servers"])
            program, message = self.rng.choice(_LINUX_PROGRAMS)
            uid = self.uid()
            ids.append(uid)
            frames.append(_octet(syslog_line(now, host, program, uid, message)))
        return ids, b"".join(frames)

    # -- senders -----------------------------------------------------------------------------------
    async def http_worker(self, client: httpx.AsyncClient) -> None:
        while (item := await self.http_queue.get()) is not None:
            clinic, ids, body = item
            await self.post(client, clinic, ids, body)

    async def post(self, client: httpx.AsyncClient, clinic: str, ids: list[int], body: bytes) -> bool:
        headers = {"Authorization": f"Bearer {self.tokens[clinic]}", "Content-Type": "application/x-ndjson"}
        self.counts.http_sent += len(ids)
        tries = 0
        while True:
            tries += 1
            if tries == 2:  # sent again: the first may have been journaled before the answer was lost
                self.counts.resent.extend(ids)
            try:
                r = await client.post("/ingest", content=body, headers=headers)
            except httpx.HTTPError as exc:  # server down (crash test): send again once it is back
                self._error(type(exc).__name__)
                if self.stopped:
                    return False
                await asyncio.sleep(0.2)
                continue
            if 200 <= r.status_code < 300:
                self.counts.http_acked += len(ids)
                self.counts.acked.extend(ids)
                return True
            self._error(str(r.status_code))
            if r.status_code in (429, 503) and not self.stopped:
                await asyncio.sleep(float(r.headers.get("Retry-After", "0.5") or 0.5))
                continue
            return False

    def _error(self, what: str) -> None:
        self.counts.http_retries += 1
        self.counts.http_errors[what] = self.counts.http_errors.get(what, 0) + 1

    async def syslog_worker(self) -> None:
        host, port = self.spec["syslog"]
        writer: asyncio.StreamWriter | None = None
        while (item := await self.syslog_queue.get()) is not None:
            ids, data = item
            writer = await self.syslog_write(writer, host, port, ids, data)
        if writer is not None:  # drain() leaves up to the high-water mark buffered: flush it before exit
            writer.close()
            await writer.wait_closed()

    async def syslog_write(
        self, writer: asyncio.StreamWriter | None, host: str, port: int, ids: list[int], data: bytes
    ) -> asyncio.StreamWriter | None:
        self.counts.syslog_sent += len(ids)
        for _ in range(50):
            try:
                if writer is None:
                    _, writer = await asyncio.open_connection(host, port)
                writer.write(data)
                await writer.drain()
                self.counts.syslog_written += len(ids)
                self.counts.acked.extend(ids)
                return writer
            except OSError:
                writer = None
                if self.stopped:
                    break
                await asyncio.sleep(0.2)
        return writer

    # -- intrusions --------------------------------------------------------------------------------
    async def intrude(
        self, client: httpx.AsyncClient, syslog: list[asyncio.StreamWriter | None], intrusion: dict[str, Any]
    ) -> None:
        clinic = intrusion["clinic"]
        if intrusion["kind"] == "ssh":
            host, ip = intrusion["host"], intrusion["attacker_ip"]
            threshold = int(intrusion["threshold"])
            for i in range(threshold):
                uid = self.intrusion_uid()
                now = time.time()
                message = f"Failed password for invalid user admin from {ip} port {40000 + i} ssh2"
                if i == threshold - 1:
                    intrusion["sent_at"] = now
                if self.fail2ban_log is not None:
                    with self.fail2ban_log.open("a") as f:
                        f.write(fail2ban_line(now, host, uid, message))
                        f.flush()
                    if i == threshold - 1:
                        intrusion["fail2ban_written_at"] = time.time()
                syslog[0] = await self.syslog_write(
                    syslog[0],
                    str(self.spec["syslog"][0]),
                    int(self.spec["syslog"][1]),
                    [uid],
                    _octet(syslog_line(now, host, "sshd", uid, message)),
                )
        else:
            uid = self.intrusion_uid()
            now = time.time()
            intrusion["sent_at"] = now
            when = float(self.spec["base_time"]) + float(intrusion["at"]) if self.deterministic else now
            body = orjson.dumps(sysmon_shadow_delete(when, intrusion["host"], uid)) + b"\n"
            await self.post(client, clinic, [uid], body)
        intrusion["acked_at"] = time.time()

    # -- the run -----------------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        connections = int(self.spec.get("connections", 4))
        limits = httpx.Limits(max_connections=connections + 1, max_keepalive_connections=connections + 1)
        async with httpx.AsyncClient(base_url=self.spec["http"], limits=limits, timeout=30.0) as client:
            workers = [asyncio.create_task(self.http_worker(client)) for _ in range(connections)]
            syslog_task = asyncio.create_task(self.syslog_worker())
            intrusion_syslog: list[asyncio.StreamWriter | None] = [None]
            pending = sorted(self.intrusions, key=lambda i: float(i["at"]))
            injected: list[asyncio.Task[None]] = []
            self.start = time.time()
            due_total = 0.0
            clinics = list(self.clinics)
            turn = 0
            total = self.rate * self.seconds
            while True:
                elapsed = time.time() - self.start
                if (
                    (elapsed >= self.seconds)
                    if not self.deterministic
                    else (due_total >= total and not pending)
                ):
                    break
                while pending and float(pending[0]["at"]) <= elapsed:
                    injected.append(
                        asyncio.create_task(self.intrude(client, intrusion_syslog, pending.pop(0)))
                    )
                target = self.rate * elapsed
                n = int(target - due_total)
                if self.deterministic:  # whole batches, HTTP only: the same events whatever the timing
                    n = min(n - n % HTTP_BATCH, int(total - due_total))
                if n > 0:
                    due_total += n
                    now = time.time()
                    n_sys = (
                        0
                        if self.deterministic
                        else sum(1 for _ in range(n) if self.rng.random() < SYSLOG_SHARE)
                    )
                    if n_sys:
                        await self.syslog_queue.put(self.syslog_batch(n_sys, now))
                    left = n - n_sys
                    while left > 0:  # one clinic per request: its token matches its hosts
                        clinic = clinics[turn % len(clinics)]
                        turn += 1
                        k = min(left, HTTP_BATCH)
                        left -= k
                        ids, body = self.windows_batch(clinic, k, now)
                        await self.http_queue.put((clinic, ids, body))
                await asyncio.sleep(max(0.0, TICK - (time.time() - self.start - elapsed)))
            sent_for = time.time() - self.start
            for task in injected:
                await task
            for _ in workers:
                await self.http_queue.put(None)
            await self.syslog_queue.put(None)
            self.stopped = bool(self.spec.get("stop_retrying_at_end", False))
            for task in [*workers, syslog_task]:
                await task
            if intrusion_syslog[0] is not None:
                intrusion_syslog[0].close()
                await intrusion_syslog[0].wait_closed()
        c = self.counts
        Path(self.spec["acked_ids"]).write_bytes(c.acked.tobytes())
        Path(self.spec["acked_ids"]).with_suffix(".resent").write_bytes(c.resent.tobytes())
        return {
            "seconds": sent_for,
            "sent": c.http_sent + c.syslog_sent,
            "acknowledged": c.http_acked + c.syslog_written,
            "http_sent": c.http_sent,
            "http_acked": c.http_acked,
            "syslog_sent": c.syslog_sent,
            "syslog_written": c.syslog_written,
            "http_retries": c.http_retries,
            "http_errors": c.http_errors,
            "last_id": self.next_id - 1,
            "intrusions": self.intrusions,
            "started": self.start,
        }


def _octet(message: bytes) -> bytes:
    return str(len(message)).encode() + b" " + message


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    result = asyncio.run(Load(spec).run())
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
