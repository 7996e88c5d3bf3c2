"""What the live journal's group commit gives: accepts per second, records per second and fsyncs per second
with 1 and 100 concurrent accepters (each one a connection awaiting `JournalSink.accept`), and how fast the
consumer reads them back.

    .venv/bin/python benchmarks/serve_journal.py [--seconds 5] [--records 1] [--dir /var/lib/rempart]

Each accept carries --records syslog records of about 200 bytes. The journal goes to a fresh temporary folder
inside --dir (default: the system's temporary folder; give the disk `rempart serve` will use, since fsync
costs depend on it) and is removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rempart.serve.contracts import IntakeRecord, Sender  # noqa: E402
from rempart.serve.journal import JournalSink, SegmentJournal  # noqa: E402

LINE = (b"<38>1 2026-12-03T10:02:11.003Z srv-dpi-01 sshd 4711 - - Failed password for invalid user admin "
        b"from 203.0.113.77 port 52144 ssh2")


async def run(journal: SegmentJournal, accepters: int, records: int, seconds: float) -> tuple[int, int, int]:
    sink = JournalSink(journal)
    sender = Sender("rsyslog-capitouls", "capitouls", "10.1.2.3:51514")
    batch = [IntakeRecord("syslog-tcp", "syslog", sender, time.time(), LINE) for _ in range(records)]
    stop = time.perf_counter() + seconds
    accepts = 0

    async def accepter() -> None:
        nonlocal accepts
        while time.perf_counter() < stop:
            await sink.accept(batch)
            accepts += 1

    await asyncio.gather(*(accepter() for _ in range(accepters)))
    return accepts, accepts * records, sink.fsyncs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--records", type=int, default=1, help="records per accept")
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    print(f"journal in {args.dir or tempfile.gettempdir()}, {args.seconds:g} s per case, "
          f"{args.records} record(s) per accept")
    print(f"{'accepters':>9} {'accepts/s':>10} {'records/s':>10} {'fsyncs/s':>9} {'accepts/fsync':>13}")
    for accepters in (1, 100):
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp, \
                SegmentJournal(Path(tmp) / "journal", max_lag=10**12) as journal:
            accepts, recs, fsyncs = asyncio.run(run(journal, accepters, args.records, args.seconds))
            s = args.seconds
            print(f"{accepters:>9} {accepts / s:>10,.0f} {recs / s:>10,.0f} {fsyncs / s:>9,.0f} "
                  f"{accepts / max(fsyncs, 1):>13,.1f}")
            if accepters == 100:
                t0 = time.perf_counter()
                offset, read = 1, 0
                while chunk := journal.read_from(offset, 10_000):
                    read += len(chunk)
                    offset = chunk[-1][0] + 1
                took = time.perf_counter() - t0
                print(f"read back: {read:,} records in {took:.2f} s ({read / took:,.0f} records/s)")
    rerun = " ".join(["benchmarks/serve_journal.py", *sys.argv[1:]])
    print(f"rerun: .venv/bin/python {rerun}")


if __name__ == "__main__":
    main()
