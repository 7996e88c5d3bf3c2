"""EVTX hunt speed against bare ``evtx`` parsing of the same file, in the same run (issue 17, item 1).

    .venv/bin/python benchmarks/evtx_speed.py                        # a 300 MB Security-like file
    .venv/bin/python benchmarks/evtx_speed.py --size 1000 --like sysmon --workers 1 2
    .venv/bin/python benchmarks/evtx_speed.py --samples-hunt-only    # the samples hunt, start to exit

(Not ``benchmarks/evtx.py``: a script's folder comes first on ``sys.path``, and a file of that name there
would hide the ``evtx`` package from every benchmark beside it, this one included.)

The big file is built as :mod:`evtx_memory` builds its files (its builder, imported): the 64 KiB chunks of
one sample, taken round and round behind a valid file header, until the size is reached. ``--like``
chooses the sample: ``security`` (``LM_5145_Remote_FileCopy.evtx``, 869 Security records in 10 full
chunks, about 85 per chunk, as a domain controller's ``Security.evtx``), ``sysmon``
(``PanacheSysmon_vs_AtomicRedTeam01.evtx``, 565 Sysmon records of 12 event ids) or ``mixed`` (every sample
chunk: 200 files of many channels, often part-filled chunks; the worst case for grouping). Repeated chunks
repeat record numbers; nothing in a hunt depends on their being unique.

Each figure is a fresh child process, its peak RSS from ``os.wait4`` (the largest of the child and the
parsing workers it waited for): ``bare`` is ``PyEvtxParser(path, number_of_threads=1).records_json()``
counted; ``ingest`` is ``read_paths`` on the file in one process; ``hunt`` is ``python -m rempart hunt``
on the file, start to exit, with every SigmaHQ Windows rule + emerging threats + threat hunting and a rule
cache warmed beforehand, events in a ``:memory:`` store, alerts as JSON lines to ``/dev/null``; once per
``--workers`` value. Then the whole ``evtx-attack-samples`` hunt (209 files) and ``rempart hunt --help``,
start to exit, ``--runs`` times each (best and median).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evtx_memory import ROOT, SAMPLES, build, sample_chunks

SIGMA = ROOT.parent / "shared" / "data" / "sigma"
RULES = [SIGMA / "rules" / "windows", SIGMA / "rules-emerging-threats", SIGMA / "rules-threat-hunting"]
LIKE = {
    "security": SAMPLES / "Lateral Movement" / "LM_5145_Remote_FileCopy.evtx",
    "sysmon": SAMPLES / "AutomatedTestingTools" / "PanacheSysmon_vs_AtomicRedTeam01.evtx",
    "mixed": SAMPLES,
}
BARE = """
import sys
from evtx import PyEvtxParser
print(sum(1 for _ in PyEvtxParser(sys.argv[1], number_of_threads=1).records_json()))
"""
INGEST = """
import sys
from pathlib import Path
from rempart.ingest import IngestReport, read_paths
print(sum(t.num_rows for t in read_paths([Path(sys.argv[1])], report=IngestReport())))
"""
ENV = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "HOME": tempfile.gettempdir()}


def run(command: list[str]) -> dict[str, float | str]:
    """`command` in a child process: its wall time, CPU time (its own and its workers'), peak RSS and
    standard output."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=ENV,
                             cwd=ROOT)
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):  # 1: records quarantined, still a hunt
        raise SystemExit(f"failed ({os.waitstatus_to_exitcode(status)}): {' '.join(command)}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024,
            "out": out}


def hunt_command(path: Path, cache: Path, workers: int | None) -> list[str]:
    rules = [arg for r in RULES for arg in ("--rules", str(r))]
    more = ["--workers", str(workers)] if workers else []
    return [sys.executable, "-m", "rempart", "hunt", str(path), *rules, "--cache-dir", str(cache),
            "--events-db", ":memory:", "--db", f"sqlite:///{cache / 'cases.db'}", "--format", "jsonl", *more]


def big_file(args: argparse.Namespace, cache: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="rempart-evtx-speed-"))
    try:
        chunks = sample_chunks(LIKE[args.like])
        path = folder / f"{args.like}-{args.size}.evtx"
        count = build(path, args.size, chunks)
        size = path.stat().st_size / (1 << 20)
        print(f"{path.name}: {size:.0f} MB, {count:,} chunks from {len(chunks)} sample chunks "
              f"({LIKE[args.like].relative_to(SAMPLES.parent)})")
        bare = run([sys.executable, "-c", BARE, str(path)])
        records = int(str(bare["out"]).split()[-1])
        print(f"{'':>22} {'s':>7} {'records/s':>10} {'per CPU-s':>10} {'x bare':>7} {'peak RSS MB':>12}")

        def line(name: str, got: dict[str, float | str]) -> None:
            wall, cpu = float(got["wall"]), float(got["cpu"])
            print(f"{name:>22} {wall:>7.2f} {records / wall:>10,.0f} {records / cpu:>10,.0f} "
                  f"{wall / float(bare['wall']):>7.1f} {float(got['peak_mb']):>12.0f}", flush=True)

        line("bare evtx, 1 thread", bare)
        ingest = run([sys.executable, "-c", INGEST, str(path)])
        assert int(str(ingest["out"]).split()[-1]) == records, "ingest lost records"
        line("rempart ingest", ingest)
        for workers in args.workers:
            (cache / "cases.db").unlink(missing_ok=True)
            got = run(hunt_command(path, cache, workers))
            line(f"hunt, {workers} worker(s)", got)
        print(f"{records:,} records; hunt = python -m rempart hunt, start to exit, "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def samples_hunt(args: argparse.Namespace, cache: Path) -> None:
    for name, command in (
        ("rempart hunt --help", [sys.executable, "-m", "rempart", "hunt", "--help"]),
        ("hunt evtx-attack-samples", hunt_command(SAMPLES, cache, None)),
    ):
        walls = []
        for _ in range(args.runs):
            (cache / "cases.db").unlink(missing_ok=True)
            walls.append(float(run(command)["wall"]))
        print(f"{name:>26}: best {min(walls):.2f} s, median {statistics.median(walls):.2f} s "
              f"({args.runs} runs, start to exit)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=300, help="MB of the big file")
    parser.add_argument("--like", choices=sorted(LIKE), default="security")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="parsing processes of the hunt")
    parser.add_argument("--runs", type=int, default=5, help="runs of the samples hunt and of --help")
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "rempart-bench-rule-cache")
    parser.add_argument("--src", type=Path, default=ROOT / "src",
                        help="the rempart sources measured (another checkout's, for a before/after)")
    parser.add_argument("--samples-hunt-only", action="store_true")
    parser.add_argument("--big-file-only", action="store_true")
    args = parser.parse_args()
    ENV["PYTHONPATH"] = str(args.src)
    print(f"rempart from {args.src}")
    args.cache.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    print(f"warming the rule cache in {args.cache} …", flush=True)
    run([*hunt_command(LIKE["security"], args.cache, 1)])
    if not args.samples_hunt_only:
        big_file(args, args.cache)
    if not args.big_file_only:
        samples_hunt(args, args.cache)
    only = " --samples-hunt-only" if args.samples_hunt_only else ""
    only += " --big-file-only" if args.big_file_only else ""
    only += f" --src {args.src}" if args.src != ROOT / "src" else ""
    print(f"total {time.perf_counter() - start:.0f} s; rerun: .venv/bin/python benchmarks/evtx_speed.py "
          f"--size {args.size} --like {args.like} --workers {' '.join(map(str, args.workers))} "
          f"--runs {args.runs}{only}")


if __name__ == "__main__":
    main()
