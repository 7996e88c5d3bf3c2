"""How many syslog messages per second the receivers take from rsyslogd, per protocol.

    .venv/bin/python benchmarks/syslog_intake.py [--events 200000] [--protocols tcp tls relp udp]

rsyslogd (imfile → omfwd octet-counted TCP, TLS with gtls, omrelp; omfwd UDP) forwards ``--events`` lines of
a file to a receiver in this process, whose sink only counts: this measures the receivers, not the journal
(``benchmarks/journal.py``). Prints, per protocol, events/s from the first accepted record to the last,
this process's CPU seconds per 10,000 events, and the number of accept calls (the batches a journal
would see). rsyslogd runs on the other core; on a 2-core machine shared with others, figures vary.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.serve.shippers import make_pki  # noqa: E402

from rempart.serve.contracts import IntakeRecord, Sender  # noqa: E402
from rempart.serve.metrics import IntakeMetrics  # noqa: E402
from rempart.serve.syslog import SyslogInput, start_input  # noqa: E402

RELP_WINDOW = 128  # omrelp's default; --relp-window sets it


class CountingSink:
    def __init__(self) -> None:
        self.count = 0
        self.calls = 0
        self.first = 0.0
        self.last = 0.0

    async def accept(self, records: Sequence[IntakeRecord]) -> None:
        now = time.perf_counter()
        if not self.count:
            self.first = now
        self.count += len(records)
        self.calls += 1
        self.last = now


class Everyone:
    def by_token(self, token: str, address: str) -> Sender | None:
        return None

    def by_address(self, address: str) -> Sender | None:
        return Sender("bench", "toulouse", address)

    def by_certificate(self, subject: str, address: str) -> Sender | None:
        return Sender("bench-cert", "toulouse", address)


def config(folder: Path, protocol: str, port: int, events: int, pki_dir: Path) -> Path:
    source = folder / "source.log"
    line = "sshd[4242]: Failed password for invalid user admin from 203.0.113.7 port {} ssh2\n"
    source.write_text("".join(line.format(40000 + n % 20000) for n in range(events)))
    (folder / "work").mkdir()
    ca, cert, key = pki_dir / "ca.crt", pki_dir / "client.crt", pki_dir / "client.key"
    actions = {
        "tcp": f'type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp" TCP_Framing="octet-counted"',
        "tls": f'type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp" TCP_Framing="octet-counted" '
               'StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name" '
               'StreamDriverPermittedPeers="localhost"',
        "relp": f'type="omrelp" target="127.0.0.1" port="{port}" windowSize="{RELP_WINDOW}" '
                'queue.type="LinkedList" queue.dequeueBatchSize="1024"',
        "udp": f'type="omfwd" target="127.0.0.1" port="{port}" protocol="udp"',
    }
    conf = folder / "rsyslog.conf"
    conf.write_text(f"""
global(workDirectory="{folder / 'work'}" defaultNetstreamDriverCAFile="{ca}"
       defaultNetstreamDriverCertFile="{cert}" defaultNetstreamDriverKeyFile="{key}")
module(load="imfile" mode="inotify")
module(load="omrelp")
template(name="t" type="string" string="<14>1 2026-12-03T10:00:00Z clinic-srv app - - - %msg%")
ruleset(name="fwd") {{ action({actions[protocol]} template="t") }}
input(type="imfile" file="{source}" tag="app" ruleset="fwd")
""")
    return conf


async def run(protocol: str, events: int, pki_dir: Path) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tls = protocol == "tls"
        spec = SyslogInput(name=f"bench-{protocol}", protocol=protocol, port=0,  # type: ignore[arg-type]
                           tls_cert=pki_dir / "server.crt" if tls else None,
                           tls_key=pki_dir / "server.key" if tls else None)
        sink = CountingSink()
        receiver = await start_input(spec, sink, Everyone(), IntakeMetrics())
        conf = config(folder, protocol, receiver.port, events, pki_dir)
        cpu = time.process_time()
        process = subprocess.Popen(["rsyslogd", "-n", "-f", str(conf), "-i", str(folder / "pid")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            idle_since = time.monotonic()
            seen = 0
            while sink.count < events and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                if sink.count != seen:
                    seen, idle_since = sink.count, time.monotonic()
                elif sink.count and time.monotonic() - idle_since > 3:
                    break  # UDP: what was lost will not come
        finally:
            process.send_signal(signal.SIGTERM)
            while process.poll() is None:
                await asyncio.sleep(0.02)
            await receiver.close()
        cpu = time.process_time() - cpu
        span = max(sink.last - sink.first, 1e-9)
        return (f"{protocol:5} {sink.count:>8,} of {events:,} received  {sink.count / span:>9,.0f} events/s  "
                f"{cpu / max(sink.count, 1) * 10_000:.2f} CPU s per 10,000  {sink.calls:,} accept calls")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--protocols", nargs="+", default=["tcp", "tls", "relp", "udp"],
                        choices=["tcp", "tls", "relp", "udp"])
    parser.add_argument("--relp-window", type=int, default=RELP_WINDOW, help="omrelp windowSize")
    args = parser.parse_args()
    globals()["RELP_WINDOW"] = args.relp_window
    if shutil.which("rsyslogd") is None:
        sys.exit("rsyslogd is needed (Debian packages rsyslog, rsyslog-gnutls, rsyslog-relp)")
    with tempfile.TemporaryDirectory() as pki:
        make_pki(Path(pki))
        for protocol in args.protocols:
            print(asyncio.run(run(protocol, args.events, Path(pki))), flush=True)
    print(f"rerun: .venv/bin/python benchmarks/syslog_intake.py --events {args.events} "
          f"--protocols {' '.join(args.protocols)} --relp-window {args.relp_window}")


if __name__ == "__main__":
    main()
