"""Crash test under load: ``kill -9`` of ``rempart serve`` at random moments, a restart each time.

    .venv/bin/python benchmarks/live_crash.py --kills 10 --rate 2000 --seconds 60 [--all-rules] [--json]

Two runs of the same deterministic load (HTTP NDJSON only, acknowledged by a 2xx; the same events, ids and
event times in both, shadow-copy deletions injected in several clinics): one uninterrupted, one where the
server is killed ``--kills`` times at random moments (uniform between ``--min-gap`` and ``--max-gap``
seconds of uptime) and restarted each time while the load keeps sending (a request refused while it is
down is sent again). Then, from the stores:
- acknowledged = stored: every acknowledged id is in the DuckDB event store; duplicates are counted, those of
  requests the load had to send again (the first may have been journaled when the server died before
  answering: at-least-once, by the client) apart from the others;
- the alerts of the case store (rule, host, event time) are the same set as the uninterrupted run's;
- no plan step applied twice (``applies`` of every step ≤ 1), one plan run per incident.
No root needed: the plan's adapters are the dummy (the crash is what is tested, not nftables).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from array import array
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import live  # noqa: E402

from rempart.domain.inventory import Group  # noqa: E402
from rempart.inventory import load_group  # noqa: E402

SOME_RULES = [live.SIGMA_RULES / "windows" / "process_creation", ROOT / "rules"]


def intrusions(group: Group, seconds: float, n: int) -> list[dict[str, Any]]:
    clinics = [e.id for e in group.establishments][:n]
    out = []
    for i, clinic in enumerate(clinics):
        hosts = live.clinic_hosts(group)[clinic]["servers"]
        fs = [h for h in hosts if "-fs" in h] or hosts
        out.append(
            {
                "kind": "windows",
                "clinic": clinic,
                "host": fs[0],
                "at": seconds * (0.1 + 0.8 * i / max(1, n - 1)),
            }
        )
    return out


def one_run(
    folder: Path, group: Group, args: argparse.Namespace, base_time: float, kills: int, rng: random.Random
) -> dict[str, Any]:
    folder.mkdir()
    rules = None if args.all_rules else SOME_RULES
    run = live.write_config(folder, group, {}, args.lateness, dummy=True, rules=rules)
    run.start()
    spec = live.load_spec(
        folder, run, group, args.rate, args.seconds, intrusions(group, args.seconds, args.intrusions), None
    )
    s = json.loads(spec.read_text())
    s.update({"deterministic": True, "base_time": base_time})
    spec.write_text(json.dumps(s))
    load = live.start_load(spec)
    killed, restart_s = 0, []
    try:
        while killed < kills and load.poll() is None:
            time.sleep(rng.uniform(args.min_gap, args.max_gap))
            if load.poll() is not None:
                break
            run.kill()
            killed += 1
            t = time.time()
            run.start()
            restart_s.append(time.time() - t)
            print(f"  kill -9 #{killed}, back in {restart_s[-1]:.1f} s", file=sys.stderr)
        load.wait()
        # the held correlations settle once the stream is quiet; then a clean stop
        time.sleep(max(1.0, args.lateness * 2))
        run.stop()
    finally:
        if run.proc is not None:
            run.kill()
        if load.poll() is None:
            load.kill()
            load.wait()
    if load.returncode != 0:
        raise RuntimeError(f"the load process failed (exit {load.returncode})")
    result, acked = live.load_result(spec)
    resent = array("q")
    resent.frombytes(Path(s["acked_ids"]).with_suffix(".resent").read_bytes())
    stored, counts = live.stored_ids(folder / "events.duckdb")
    lost, duplicated = live.tally(acked, counts)
    resent_set = set(resent)
    dup_resent = sum(n - 1 for i, n in counts.items() if n > 1 and i in resent_set)
    alerts, steps = case_store(run.cases_url)
    return {
        "kills": killed,
        "restart_s": restart_s,
        "sent": result["sent"],
        "acknowledged": result["acknowledged"],
        "stored": stored,
        "lost": lost,
        "duplicated": duplicated,
        "duplicated_resent": dup_resent,
        "duplicated_by_server": duplicated - dup_resent,
        "resent_requests": result["http_retries"],
        "alerts": alerts,
        **steps,
        "cpu_s": run.cpu_s,
        "peak_rss_mb": run.peak_rss_mb,
    }


def case_store(url: str) -> tuple[Counter[tuple[str, str, str]], dict[str, Any]]:
    from sqlalchemy import func, select

    from rempart.store.db import Store
    from rempart.store.models.core import AlertRow
    from rempart.store.models.respond import PlanRunRow, PlanStepRow

    store = Store(url)
    try:
        with store.session() as s:
            alerts = Counter(
                (r.rule_id, r.host or "", r.time.isoformat()) for r in s.execute(select(AlertRow)).scalars()
            )
            applies = [a for (a,) in s.execute(select(PlanStepRow.applies)).all()]
            runs = s.execute(
                select(PlanRunRow.incident_id, func.count()).group_by(PlanRunRow.incident_id)
            ).all()
    finally:
        store.close()
    return alerts, {
        "steps": len(applies),
        "steps_applied": sum(1 for a in applies if a >= 1),
        "steps_applied_twice": sum(1 for a in applies if a > 1),
        "incidents_run_twice": sum(1 for _, n in runs if n > 1),
        "plan_runs": sum(n for _, n in runs),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--seconds", type=float, default=60, help="of load, at the rate (the events sent)")
    parser.add_argument("--intrusions", type=int, default=6)
    parser.add_argument("--min-gap", type=float, default=1.0)
    parser.add_argument("--max-gap", type=float, default=4.0)
    parser.add_argument("--lateness", type=float, default=0.5)
    parser.add_argument("--all-rules", action="store_true", help="SigmaHQ's whole set (slower restarts)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    group = load_group(ROOT / "examples" / "group.yaml")
    base = Path(tempfile.mkdtemp(prefix="rempart-crash-"))
    base_time = time.time() - 3600  # the same event times in both runs
    try:
        print("uninterrupted run …", file=sys.stderr)
        ref = one_run(base / "reference", group, args, base_time, 0, random.Random(args.seed))
        print(f"run with {args.kills} kill -9 …", file=sys.stderr)
        crash = one_run(base / "crash", group, args, base_time, args.kills, random.Random(args.seed))
    finally:
        if args.keep:
            print(f"folders kept: {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    same_alerts = set(ref["alerts"]) == set(crash["alerts"])
    missing = len(set(ref["alerts"]) - set(crash["alerts"]))
    extra = len(set(crash["alerts"]) - set(ref["alerts"]))
    back = sorted(crash["restart_s"]) or [0.0]
    print(
        f"crash test: {crash['kills']} kill -9 under {args.rate:,.0f} events/s "
        f"(back to listening: p50 {back[len(back) // 2]:.1f} s, max {back[-1]:.1f} s)"
    )
    print(f"  {'':<36}{'uninterrupted':>14}{'killed':>12}")
    for name, key in (
        ("events sent", "sent"),
        ("acknowledged", "acknowledged"),
        ("stored", "stored"),
        ("lost (acked, not stored)", "lost"),
        ("requests refused or cut, sent again", "resent_requests"),
        ("duplicated, request sent again", "duplicated_resent"),
        ("duplicated, otherwise", "duplicated_by_server"),
        ("plan runs", "plan_runs"),
        ("steps applied", "steps_applied"),
        ("steps applied twice", "steps_applied_twice"),
        ("incidents whose plan ran twice", "incidents_run_twice"),
    ):
        print(f"  {name:<36}{ref[key]:>14,}{crash[key]:>12,}")
    print(
        f"  {'alerts (rule, host, time)':<36}{len(ref['alerts']):>14,}{len(crash['alerts']):>12,}"
        f"   {'same set' if same_alerts else f'DIFFER: {missing} missing, {extra} extra'}"
    )
    ok = (
        crash["kills"] >= args.kills
        and crash["lost"] == 0
        and crash["duplicated_by_server"] == 0
        and same_alerts
        and crash["steps_applied_twice"] == 0
        and crash["incidents_run_twice"] == 0
        and ref["lost"] == 0
    )
    print(
        ("passed" if ok else "FAILED")
        + f"; rerun: .venv/bin/python benchmarks/live_crash.py --kills {args.kills} "
        f"--rate {args.rate:.0f} --seconds {args.seconds:.0f}" + (" --all-rules" if args.all_rules else "")
    )
    if args.json:
        print(
            json.dumps(
                {
                    "kills": crash["kills"],
                    "rate": args.rate,
                    "seconds": args.seconds,
                    **{
                        k: crash[k]
                        for k in (
                            "sent",
                            "acknowledged",
                            "stored",
                            "lost",
                            "duplicated",
                            "duplicated_resent",
                            "duplicated_by_server",
                            "steps_applied",
                            "steps_applied_twice",
                            "incidents_run_twice",
                        )
                    },
                    "alerts": sum(crash["alerts"].values()),
                    "alerts_reference": sum(ref["alerts"].values()),
                    "same_alerts": same_alerts,
                }
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
