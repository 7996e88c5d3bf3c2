"""Two revisions of rempart hunting Security-Datasets, run alternately in one series.

    .venv/bin/python benchmarks/hunt_compare.py fcc5abc HEAD --runs 3

The shared 2-core machine varies by 10-25 % from one minute to the next, so a speed-up is measured by
alternating the two revisions (a fresh process per hunt: file store, warm rule cache, default workers)
and comparing medians, never by two runs taken apart. Each revision is checked out in a temporary git
worktree and imported from there; both must give the same number of alerts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CORPUS = DATA / "security-datasets" / "atomic" / "windows"
SIGMA = DATA / "sigma"
RULES = [SIGMA / "rules" / "windows", SIGMA / "rules-emerging-threats", SIGMA / "rules-threat-hunting"]

CHILD = """
import json, sys, tempfile, time
from pathlib import Path
from rempart.detect.hunt import hunt
from rempart.events import EventStore

if __name__ == "__main__":
    corpus, cache, *rules = sys.argv[1:]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        store = EventStore(Path(tmp) / "events.duckdb")
        result = hunt([Path(corpus)], [Path(r) for r in rules], store=store, cache_dir=Path(cache))
        store.close()
    t = result.timings
    print(json.dumps({"wall": time.perf_counter() - t0, "parse": t.parse, "store": t.store,
                      "detect": t.detect, "alerts": len(result.alerts)}))
"""

# untimed, before the series: each revision compiles the rules into its own part of the cache (the cache key
# holds the pipelines' and backend's versions), so that no measured run pays pySigma's compile time
WARM = """
import sys
from pathlib import Path
from rempart.detect import compile_rules, load_rules

if __name__ == "__main__":
    cache, *rules = sys.argv[1:]
    compile_rules(load_rules([Path(r) for r in rules], cache_dir=Path(cache)), Path(cache))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "rempart-bench-rule-cache")
    args = ap.parse_args()
    if not CORPUS.is_dir():
        sys.exit(f"{CORPUS} not found: this benchmark needs ../shared/data beside the repository")
    with tempfile.TemporaryDirectory(prefix="rempart-compare-") as tmp:
        trees = {}
        for rev in (args.old, args.new):
            tree = Path(tmp) / rev.replace("/", "_")
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), rev],
                           check=True)
            trees[rev] = tree
        child, warm = Path(tmp) / "child.py", Path(tmp) / "warm.py"
        child.write_text(CHILD)
        warm.write_text(WARM)
        results: dict[str, list[dict[str, float]]] = {rev: [] for rev in trees}
        try:
            for tree in trees.values():
                subprocess.run([sys.executable, str(warm), str(args.cache), *map(str, RULES)],
                               env={**os.environ, "PYTHONPATH": str(tree / "src")}, cwd=tmp, check=True)
            for run in range(args.runs):
                for rev, tree in trees.items():
                    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
                    out = subprocess.run(
                        [sys.executable, str(child), str(CORPUS), str(args.cache), *map(str, RULES)],
                        env=env, cwd=tmp, capture_output=True, text=True, check=True,
                    )
                    figures = json.loads(out.stdout.strip().splitlines()[-1])
                    results[rev].append(figures)
                    print(f"run {run + 1} {rev:>12}: " + " ".join(
                        f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items()
                    ), flush=True)
        finally:
            for tree in trees.values():
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                               check=False)
    medians = {rev: statistics.median(r["wall"] for r in runs) for rev, runs in results.items()}
    for rev, median in medians.items():
        alerts = {r["alerts"] for r in results[rev]}
        print(f"{rev:>12}: median {median:.2f} s over {args.runs} runs, alerts {sorted(alerts)}")
    old, new = medians[args.old], medians[args.new]
    print(f"{args.new} / {args.old} = {new / old:.3f} ({(new - old) / old:+.1%})")
    print(f"rerun: .venv/bin/python benchmarks/hunt_compare.py {args.old} {args.new} --runs {args.runs}")


if __name__ == "__main__":
    main()
