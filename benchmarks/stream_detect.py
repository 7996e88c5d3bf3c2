"""Streaming detection: per-batch cost of StreamDetector against plan.evaluate on the same batches.

    nice .venv/bin/python benchmarks/stream_detect.py                  # batches of 500, 2,000, 10,000
    nice .venv/bin/python benchmarks/stream_detect.py --sizes 500 --batches 4

The events of ``evtx-attack-samples`` (hunted once to read them) are appended to a fresh in-memory store
batch after batch, as the live loop does, and after each append one evaluator runs over the new rows:
``StreamDetector.process(first, last)`` with the literal prefilter (:mod:`rempart.detect.prefilter`),
the same without it ("bind every rule": every rule that may match the batch's scopes and event ids is
bound), or ``plan.evaluate(store, first_row=first)`` (the hunt's path), with every SigmaHQ Windows rule
+ emerging threats + threat hunting (the rules of benchmarks/hunt.py). All run in the same process on the
same batches; their alerts and the rules each binds per batch are printed. The
corpus is replayed from its start as often as a size needs (rowids keep growing).

Measured and left out (2026-12-03): persistent scope tables refilled per batch with every statement
prepared once (``PREPARE``/``EXECUTE`` on one cursor) made batches 2x *slower* than today's path
(p50 1.35 s against 0.58 s for 500 events): DuckDB still builds each rule's expressions at every execution,
and the prepared path loses the side-by-side cursors. One projection per query of a scope's rules
instead of a UNION ALL of filters gained about a tenth, and is kept.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from hunt import CORPORA, RULES  # noqa: E402


def corpus_table(cache: Path) -> tuple[pa.Table, object]:
    from rempart.detect.hunt import hunt
    from rempart.events import EventStore
    from rempart.events.store import TABLE

    store = EventStore()
    result = hunt([CORPORA["evtx"]], RULES, store=store, cache_dir=cache, workers=1)
    sql = f"SELECT * EXCLUDE (_source_id) FROM {TABLE} ORDER BY rowid"
    table = store.connection.sql(sql).to_arrow_table()
    store.close()
    return table, result.plan


def batches(table: pa.Table, size: int, count: int) -> list[pa.Table]:
    out: list[pa.Table] = []
    start = 0
    while len(out) < count:
        part = table.slice(start % table.num_rows, size)
        while part.num_rows < size:  # wrap around the corpus
            part = pa.concat_tables([part, table.slice(0, size - part.num_rows)])
        out.append(part)
        start += size
    return out


def run(plan: object, parts: list[pa.Table], evaluator: str) -> tuple[list[float], int, int]:
    from rempart.detect.plan import DetectionPlan
    from rempart.detect.stream import StreamDetector
    from rempart.events import EventStore

    assert isinstance(plan, DetectionPlan)
    plan.prefilter = evaluator != "bind every rule"
    store = EventStore()
    det = StreamDetector(plan, store)
    times, alerts, first, bound = [], 0, 0, 0
    for part in parts:
        store.append(part)
        store.flush()
        last = first + part.num_rows
        t0 = time.perf_counter()
        if evaluator != "plan.evaluate":
            found = det.process(first, last)
        else:
            found = plan.evaluate(store, first_row=first) if first else plan.evaluate(store)
        times.append(time.perf_counter() - t0)
        alerts += len(found)
        bound += plan.rules_bound
        first = last
    store.close()
    plan.prefilter = True
    return times, alerts, bound


EVALUATORS = ("stream", "bind every rule", "plan.evaluate")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 10000])
    ap.add_argument("--batches", type=int, default=6, help="batches measured per size and evaluator")
    ap.add_argument("--evaluators", nargs="+", default=list(EVALUATORS), choices=EVALUATORS)
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "rempart-bench-rule-cache")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()}")
    table, plan = corpus_table(args.cache)
    print(f"corpus: {table.num_rows:,} events of evtx-attack-samples; {len(plan.rules)} rules")  # type: ignore[attr-defined]
    for size in args.sizes:
        parts = batches(table, size, args.batches)
        for evaluator in args.evaluators:
            times, alerts, bound = run(plan, parts, evaluator)
            ms = [t * 1000 for t in times]
            print(f"  batch {size:>6,} x {len(parts)} | {evaluator:<15} | p50 {pct(ms, .5):8.1f} ms "
                  f"p99 {pct(ms, .99):8.1f} ms | mean {statistics.mean(ms):8.1f} ms | "
                  f"{size * len(parts) / sum(times):9,.0f} events/s | {alerts:,} alerts | "
                  f"{bound / len(parts):,.0f} rules bound per batch")
    print(f"load average after: {os.getloadavg()}")
    sizes = " ".join(map(str, args.sizes))
    print(f"rerun: nice .venv/bin/python benchmarks/stream_detect.py --sizes {sizes} "
          f"--batches {args.batches}")


if __name__ == "__main__":
    main()
