"""Hunt speed: events/s, peak memory, and the parse / store / detect split, on two public corpora.

    .venv/bin/python benchmarks/hunt.py               # both corpora
    .venv/bin/python benchmarks/hunt.py --corpus atomic
    .venv/bin/python benchmarks/hunt.py --corpus evtx

(a) ``security-datasets/atomic/windows`` (≈665k Windows events, JSON lines in zip / tar.gz) against every
SigmaHQ Windows rule + emerging threats + threat hunting; (b) ``evtx-attack-samples``, with the ratio of
the whole hunt to merely parsing the same files with the ``evtx`` package. Each measured run is a fresh
process (honest peak memory) with the compiled-rule cache warmed beforehand; the cold compile time is
printed too. The event store is a DuckDB file, as ``rempart hunt`` uses by default.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SIGMA = DATA / "sigma"
RULES = [SIGMA / "rules" / "windows", SIGMA / "rules-emerging-threats", SIGMA / "rules-threat-hunting"]
CORPORA = {
    "atomic": DATA / "security-datasets" / "atomic" / "windows",
    "evtx": DATA / "evtx-attack-samples",
}


def warm_cache(cache: Path) -> dict[str, float | int]:
    from rempart.detect import compile_rules, load_rules

    t0 = time.perf_counter()
    plan = compile_rules(load_rules(RULES, cache_dir=cache), cache)
    return {"seconds": time.perf_counter() - t0, "rules": len(plan.rules),
            "failed": len(plan.failures) + len(plan.load_errors)}


def evtx_parse_only(root: Path) -> tuple[float, int]:
    from evtx import PyEvtxParser

    t0 = time.perf_counter()
    n = 0
    for path in sorted(root.rglob("*.evtx")):
        try:
            for _ in PyEvtxParser(str(path)).records_json():
                n += 1
        except (OSError, RuntimeError):
            continue  # a corrupt sample is skipped by both sides
    return time.perf_counter() - t0, n


def run_once(corpus: str, cache: Path, memory: bool, workers: int) -> dict[str, object]:
    """One measured hunt in this process (the parent starts one process per run)."""
    from rempart.detect.hunt import hunt
    from rempart.events import EventStore

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        store = EventStore(":memory:" if memory else Path(tmp) / "events.duckdb")
        result = hunt([CORPORA[corpus]], RULES, store=store, cache_dir=cache, workers=workers)
        t_close = time.perf_counter()
        store.close()
        close_s = time.perf_counter() - t_close
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the parsing workers, once joined
    out: dict[str, object] = {
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "worker_cpu_s": children.ru_utime + children.ru_stime,
        "corpus": corpus, "store": ":memory:" if memory else "file", "workers": workers,
        "events": result.events, "wall": wall,
        "rules_s": result.timings.rules, "parse_s": result.timings.parse,
        "store_s": result.timings.store, "detect_s": result.timings.detect, "close_s": close_s,
        "alerts": len(result.alerts), "rules": len(result.plan.rules),
        "skipped_files": len(result.report.failed), "quarantined": result.report.quarantined_count,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        # parsing workers: the largest one (the total is at most main + workers x this)
        "worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }
    if corpus == "evtx":
        parse_only, n = evtx_parse_only(CORPORA[corpus])
        out["evtx_parse_only_s"] = parse_only
        out["evtx_parse_only_records"] = n
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", choices=["atomic", "evtx", "both"], default="both")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "rempart-bench-rule-cache")
    ap.add_argument("--runs", type=int, default=1, help="measured runs per corpus (the best is kept)")
    ap.add_argument("--store", choices=["file", "memory"], default="file",
                    help="event store: a DuckDB file (rempart hunt's default) or in memory")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                    help="parsing processes; several values are measured in the same run (e.g. 1 2)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_once(args.child, args.cache, args.store == "memory", args.workers[0])))
        return
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()}")
    warm = warm_cache(args.cache)
    print(f"rules: {warm['rules']} compiled, {warm['failed']} failed; "
          f"load+compile with the cache as found: {warm['seconds']:.1f} s")
    corpora = ["atomic", "evtx"] if args.corpus == "both" else [args.corpus]
    for corpus, workers in [(c, w) for c in corpora for w in args.workers]:
        best: dict[str, object] | None = None
        for _ in range(args.runs):
            proc = subprocess.run(
                [sys.executable, __file__, "--child", corpus, "--cache", str(args.cache),
                 "--store", args.store, "--workers", str(workers)],
                check=True, capture_output=True, text=True,
            )
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            if best is None or float(res["wall"]) < float(best["wall"]):  # type: ignore[arg-type]
                best = res
        assert best is not None
        report(best)
    print(f"load average after: {os.getloadavg()}")
    print(f"rerun: .venv/bin/python benchmarks/hunt.py --corpus {args.corpus} --store {args.store} "
          f"--workers {' '.join(map(str, args.workers))}")


def report(r: dict[str, object]) -> None:
    ev, wall = int(r["events"]), float(r["wall"])  # type: ignore[arg-type]
    print(f"\n[{r['corpus']}, {r['store']} store, {r['workers']} parsing process(es)] {ev:,} events, "
          f"{r['rules']} rules, {r['alerts']:,} alerts, "
          f"{r['skipped_files']} files skipped, {r['quarantined']} records quarantined")
    print(f"  end to end: {wall:.2f} s = {ev / wall:,.0f} events/s; peak memory {r['peak_rss_mb']:.0f} MB"
          f" (largest parsing worker {r['worker_rss_mb']:.0f} MB)")
    cpu = float(r["cpu_s"])  # type: ignore[arg-type]
    workers_cpu = float(r["worker_cpu_s"])  # type: ignore[arg-type]
    print(f"  CPU: hunting process {cpu:.1f} s + parsing workers {workers_cpu:.1f} s = "
          f"{(cpu + workers_cpu) / wall:.2f} cores busy on average")
    print(f"  split: rules (cache) {r['rules_s']:.2f} s | parse {r['parse_s']:.2f} s | "
          f"store {r['store_s']:.2f} s (inserting the staged batches) | detect {r['detect_s']:.2f} s | "
          f"close {r['close_s']:.2f} s")
    if "evtx_parse_only_s" in r:
        po = float(r["evtx_parse_only_s"])  # type: ignore[arg-type]
        print(f"  evtx package parse only: {po:.2f} s for {r['evtx_parse_only_records']:,} records; "
              f"whole hunt / parse only = {wall / po:.1f}x")


if __name__ == "__main__":
    main()
