"""Hunting the same logs twice into one event store: the second hunt stores nothing and gives the same
alerts; what identifying the files by content costs, and what the second hunt takes.

    .venv/bin/python benchmarks/hunt_again.py                 # Security-Datasets atomic/windows
    .venv/bin/python benchmarks/hunt_again.py --corpus evtx   # evtx-attack-samples

Rules: every SigmaHQ Windows rule + emerging threats + threat hunting, compiled-rule cache warmed first
(the same as benchmarks/hunt.py). The event store is a DuckDB file.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from hunt import CORPORA, RULES, warm_cache  # type: ignore[import-not-found]


def main() -> None:
    from rempart.detect.hunt import hunt
    from rempart.events import EventStore
    from rempart.events.sources import file_digest
    from rempart.ingest import iter_files

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", choices=sorted(CORPORA), default="atomic")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "rempart-bench-rule-cache")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()}")
    warm_cache(args.cache)
    corpus = CORPORA[args.corpus]
    files = [p for p in iter_files([corpus]) if p.is_file()]
    t0 = time.perf_counter()
    for p in files:
        file_digest(p)
    size = sum(p.stat().st_size for p in files)
    took = time.perf_counter() - t0
    print(f"SHA-256 of the {len(files)} files ({size / 1e6:.0f} MB on disk): {took:.2f} s")
    with tempfile.TemporaryDirectory() as tmp, EventStore(Path(tmp) / "events.duckdb") as store:
        runs = []
        for n in (1, 2):
            c0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            result = hunt([corpus], RULES, store=store, cache_dir=args.cache, workers=args.workers)
            wall = time.perf_counter() - t0
            c1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu = c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime
            runs.append(result)
            t = result.timings
            print(f"hunt {n}: {wall:.1f} s wall ({cpu:.1f} s CPU in this process); {result.events:,} events "
                  f"stored, {len(result.sources.known)} files found in the store "
                  f"({result.sources.stored_events:,} events); {len(result.alerts):,} alerts; store now "
                  f"{store.count():,} rows; parse {t.parse:.1f} s | store {t.store:.1f} s | "
                  f"detect {t.detect:.1f} s")
        same = sorted((a.rule_id, str(a.events)) for a in runs[0].alerts) == sorted(
            (a.rule_id, str(a.events)) for a in runs[1].alerts)
        print(f"same alerts on both hunts: {same}")
    print(f"rerun: .venv/bin/python benchmarks/hunt_again.py --corpus {args.corpus} --workers {args.workers}")


if __name__ == "__main__":
    main()
