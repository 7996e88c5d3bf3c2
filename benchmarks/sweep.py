"""IOC sweep and exfiltration assessment speed on the demo's generated fleet.

    .venv/bin/python benchmarks/sweep.py              # 3 days × 13 clinics, then ×10
    .venv/bin/python benchmarks/sweep.py --days 7 --copies 20

Generates the demo's logs (real formats), ingests them with the real readers into a DuckDB event store,
then times a sweep with 4 and 50 indicators and an exfiltration assessment of every clinic; then
duplicates the events ``copies`` times inside DuckDB and times the 50-indicator sweep again.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rempart.demo.generate import generate
from rempart.events.store import EventStore
from rempart.ingest.pipeline import read_paths
from rempart.ingest.report import IngestReport
from rempart.inventory import Resolver, load_group
from rempart.investigate import eventdb, exfil, sweep
from rempart.investigate.indicators import Indicator, IndicatorKind

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--copies", type=int, default=10)
    args = ap.parse_args()
    group = load_group(ROOT / "examples" / "group.yaml")
    iocs = [Indicator(IndicatorKind.IP, f"198.51.100.{i}", "bench") for i in range(30)]
    iocs += [Indicator(IndicatorKind.DOMAIN, f"evil{i}.example", "bench") for i in range(10)]
    iocs += [Indicator(IndicatorKind.HASH, f"{i:02x}" * 32, "bench") for i in range(10)]
    with tempfile.TemporaryDirectory() as tmp:
        out, db = Path(tmp) / "logs", Path(tmp) / "events.duckdb"
        start = datetime(2026, 3, 1, tzinfo=UTC)
        generate(group, out, "saint-cyprien", "203.0.113.66", start, days=args.days)
        store, report = EventStore(db), IngestReport()
        for table in read_paths([out], Resolver(group), report=report):
            store.append(table)
        store.close()
        con = eventdb.connect(db)
        n = report.total_events
        for k in (4, 50):
            t = time.perf_counter()
            sweep.sweep(con, iocs[:k], group)
            print(f"sweep: {n:,} events, {k} indicators: {time.perf_counter() - t:.2f} s")
        end = start + timedelta(days=args.days)
        t = time.perf_counter()
        a = exfil.assess(con, group, [e.id for e in group.establishments], (end - timedelta(hours=24), end))
        took = time.perf_counter() - t
        print(f"exfil: {len(a.hosts)} hosts of {len(group.establishments)} clinics: {took:.2f} s")
        con.execute("CREATE TEMP TABLE base AS SELECT * FROM events")
        for i in range(1, args.copies):
            shifted = f"_record + {i} * 100000000 AS _record"
            con.execute(f"INSERT INTO events SELECT * REPLACE ({shifted}) FROM base")
        t = time.perf_counter()
        sweep.sweep(con, iocs, group)
        print(f"sweep: {n * args.copies:,} events, 50 indicators: {time.perf_counter() - t:.2f} s")
        con.close()


if __name__ == "__main__":
    main()
