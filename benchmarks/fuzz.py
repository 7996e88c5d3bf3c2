"""Fuzz the ingest readers and containers: mutated real samples read through the public pipeline, each in a
watchdog (time and memory limits), counting per format the crashes, hangs, memory blow-ups and the events
lost that lay wholly before the first damaged byte. Target: 0 of each.

    nice -n 19 .venv/bin/python benchmarks/fuzz.py --format syslog,evtx --cases 5000 --seed 1 --save /tmp/fz
    .venv/bin/python benchmarks/fuzz.py --format all --cases 300 --json
    .venv/bin/python benchmarks/fuzz.py --format winjson --seed 1 --only 417     # one case again
    .venv/bin/python benchmarks/fuzz.py --replay /tmp/fz/winjson/lost-417/events_array.json

Cases (``benchmarks/fuzz_cases.py``): the seeds of ``tests/ingest/fixtures`` and ``rules/samples`` (EVTX:
files of ../shared/data/evtx-attack-samples, read at run time), each in a container (plain, .gz, .zip, .tar,
.tar.gz, a zip in a .tar.gz, UTF-16) with its content or its container bytes mutated. The first cases of
a format are every seed in every container, unmutated. A case runs in a long-lived worker process
(restarted when it dies): over ``--timeout`` seconds it is a hang; an allocation refused by the address
space limit (``--memory`` MiB, or 50x the input, above the worker's own) or a MemoryError is a memory
blow-up; a death by a signal or an exception out of ``read_paths`` is a crash. An exception a reader
raised and the pipeline caught is listed as a reader error (information: it is not a crash, but the
rest of that file is lost). Exit status 1 when any count is non-zero.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import re
import resource
import select
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_cases import (  # the helpers live beside this script
    FORMATS,
    INTACT,
    REPO,
    Case,
    Seed,
    SeedsMissing,
    evtx_record_ends,
    json_document_ends,
    line_ends,
    load_seeds,
    make_case,
    xml_event_ends,
)

KINDS = ("crash", "hang", "memory", "lost")
SAVED_PER_CLASS = 5  # failing cases written per kind, mutator and container
_MEMORY_MARKERS = ("MemoryError", "memory allocation of", "bad_alloc", "Cannot allocate memory",
                   "out of memory", "ArrowMemoryError", "OutOfMemory")
_READER_ERROR = re.compile(r"reader \w+ stopped: (\w+: .*)")  # what the pipeline says of a reader's exception
Key = tuple[str, int, str]  # (_format, _record, digest of _raw)


# --- the worker: runs in the child ---------------------------------------------------------------------

def _send(fd: int, obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    os.write(fd, struct.pack("<Q", len(data)))
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _recv(fd: int) -> Any:
    head = _read_exactly(fd, 8)
    if head is None:
        return None
    body = _read_exactly(fd, struct.unpack("<Q", head)[0])
    return None if body is None else pickle.loads(body)


def _read_exactly(fd: int, n: int) -> bytes | None:
    parts, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _vm_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def digest(raw: str | None) -> str:
    return hashlib.blake2b((raw or "").encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def _read_case(path: Path, budget: int) -> dict[str, Any]:
    from rempart.ingest import IngestReport, read_paths

    report = IngestReport()
    events: list[Key] = []
    escaped: BaseException | None = None
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    start = time.perf_counter()
    resource.setrlimit(resource.RLIMIT_AS, (_vm_bytes() + budget, hard))
    try:
        for table in read_paths([path], report=report):
            formats = table.column("_format").to_pylist()
            records = table.column("_record").to_pylist()
            raws = table.column("_raw").to_pylist()
            rows = zip(formats, records, raws, strict=True)
            events.extend((f, r if r is not None else -1, digest(x)) for f, r, x in rows)
    except BaseException as exc:  # noqa: BLE001 - anything out of the public call is what we look for
        escaped = exc
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
    seconds = time.perf_counter() - start
    trace = None
    if escaped is not None:
        trace = "".join(traceback.format_exception(escaped))[-4000:]
    return {
        "events": events,
        "failed": [str(f)[:400] for f in report.failed[:50]],
        "quarantined": report.quarantined_count,
        "quarantine": [str(q)[:300] for q in report.quarantined[:5]],
        "escaped": type(escaped).__name__ if escaped is not None else None,
        "trace": trace,
        "seconds": seconds,
    }


def _probe(kind: str, budget: int) -> dict[str, Any]:
    """Misbehaviour on demand, for the harness's own tests: the watchdog must see each one."""
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    resource.setrlimit(resource.RLIMIT_AS, (_vm_bytes() + budget, hard))
    try:
        if kind == "hang":
            time.sleep(3600)
        elif kind == "abort":
            os.abort()
        elif kind == "alloc":  # more than the tests' budget of 256 MiB, less than the machine's memory
            blob = bytearray(512 << 20)
            del blob
        elif kind == "raise":
            raise RuntimeError("probe")
    except BaseException as exc:  # noqa: BLE001 - same as a case
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
        return {"events": [], "failed": [], "quarantined": 0, "escaped": type(exc).__name__,
                "trace": "".join(traceback.format_exception(exc)), "seconds": 0.0}
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
    return {"events": [], "failed": [], "quarantined": 0, "escaped": None, "trace": None, "seconds": 0.0}


def worker_main() -> None:
    out = os.dup(1)
    os.dup2(2, 1)  # whatever prints goes to the worker's log, not into the protocol
    inp = sys.stdin.fileno()
    import faulthandler

    faulthandler.enable()  # a segfault leaves the Python stack in the worker's log
    import rempart.ingest  # noqa: F401 - the imports and thread pools are made before the first case

    _send(out, {"ready": os.getpid()})
    while (message := _recv(inp)) is not None:
        if message["op"] == "read":
            _send(out, _read_case(Path(message["path"]), message["budget"]))
        elif message["op"] == "probe":
            _send(out, _probe(message["kind"], message["budget"]))


# --- the watchdog: runs in the parent ------------------------------------------------------------------

@dataclass
class Outcome:
    kind: str | None  # one of KINDS, or None when the case is fine
    detail: str = ""
    events: list[Key] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    reader_errors: list[str] = field(default_factory=list)
    quarantine: list[str] = field(default_factory=list)  # the first records quarantined
    seconds: float = 0.0
    trace: str | None = None


class Worker:
    """One long-lived child process reading cases; restarted after a hang or a death."""

    def __init__(self, workdir: Path, timeout: float, memory_mb: int, nice: int) -> None:
        self.workdir = workdir
        self.timeout = timeout
        self.memory = memory_mb << 20
        self.nice = nice
        self.log = workdir / "worker.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def _start(self) -> None:
        env = dict(os.environ)
        src = _rempart_root()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
        nice = self.nice

        def setup() -> None:
            if nice:
                os.nice(nice)

        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--worker"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env, preexec_fn=setup,  # noqa: PLW1509 - before any thread
            )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout.fileno()], [], [], 180)
        hello = _recv(self.proc.stdout.fileno()) if ready else None
        if not hello:
            self.stop()
            raise RuntimeError(f"fuzz worker did not start; see {self.log}")

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    stream.close()
            self.proc = None

    def run(self, message: dict[str, Any], input_bytes: int) -> Outcome:
        if self.proc is None:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        message["budget"] = max(self.memory, 50 * input_bytes)
        log_start = self.log.stat().st_size
        started = time.perf_counter()
        try:
            _send(self.proc.stdin.fileno(), message)
        except BrokenPipeError:
            return self._died(log_start, started)
        ready, _, _ = select.select([self.proc.stdout.fileno()], [], [], self.timeout)
        if not ready:
            self.stop()
            self.restarts += 1
            seconds = time.perf_counter() - started
            return Outcome("hang", f"no answer after {self.timeout:g} s", seconds=seconds)
        result = _recv(self.proc.stdout.fileno())
        if result is None:
            return self._died(log_start, started)
        return _classify(result)

    def _died(self, log_start: int, started: float) -> Outcome:
        assert self.proc is not None
        code = self.proc.wait()
        self.stop()
        self.restarts += 1
        with open(self.log, "rb") as log:
            log.seek(log_start)
            tail = log.read()[-3000:].decode("utf-8", "replace")
        how = f"killed by signal {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        kind = "memory" if any(m in tail for m in _MEMORY_MARKERS) else "crash"
        return Outcome(kind, f"worker {how}: {tail.strip()[-600:]}", seconds=time.perf_counter() - started,
                       trace=tail)


def _classify(result: dict[str, Any]) -> Outcome:
    failed = result["failed"]
    errors = [m.group(1)[:200] for f in failed if (m := _READER_ERROR.search(f))]
    outcome = Outcome(None, events=result["events"], failed=failed, reader_errors=errors,
                      quarantine=result.get("quarantine", []), seconds=result["seconds"],
                      trace=result["trace"])
    if result["escaped"]:
        memory = result["escaped"] in ("MemoryError", "ArrowMemoryError")
        outcome.kind = "memory" if memory else "crash"
        last = (result["trace"] or "").strip().splitlines()[-1:]
        outcome.detail = f"{result['escaped']} escaped read_paths: {' '.join(last)[:300]}"
    elif memory_failures := [f for f in failed if any(m in f for m in _MEMORY_MARKERS)]:
        outcome.kind = "memory"
        outcome.detail = f"reported as a failed file: {memory_failures[0][:300]}"
    return outcome


def _rempart_root() -> str:
    import importlib.util

    spec = importlib.util.find_spec("rempart")
    if spec is None or spec.origin is None:
        return str(REPO / "src")
    return str(Path(spec.origin).resolve().parents[1])


# --- the campaign --------------------------------------------------------------------------------------

@dataclass
class Failure:
    case: Case
    kind: str
    detail: str
    missing: list[Key]
    outcome: Outcome


@dataclass
class FormatResult:
    fmt: str
    cases: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    reader_errors: int = 0
    lost_events: int = 0  # over the 'lost' cases: the events before the damage that were not read
    seconds: float = 0.0
    slowest: tuple[float, str] = (0.0, "")
    failures: list[Failure] = field(default_factory=list)
    saved: Counter[str] = field(default_factory=Counter)  # class -> failing cases written by --save
    by_mutator: Counter[str] = field(default_factory=Counter)  # 'kind mutator[container]' -> cases
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.skipped is None and not any(self.counts[k] for k in KINDS)

    def as_json(self) -> dict[str, Any]:
        return {
            "format": self.fmt, "cases": self.cases, **{k: self.counts[k] for k in KINDS},
            "lost_events": self.lost_events, "reader_errors": self.reader_errors,
            "seconds": round(self.seconds, 2),
            "slowest": {"seconds": round(self.slowest[0], 2), "case": self.slowest[1]},
            "by_mutator": dict(self.by_mutator.most_common()), "skipped": self.skipped,
            "failures": [{"case": f.case.label, "index": f.case.index, "kind": f.kind, "detail": f.detail,
                          "missing": len(f.missing), "container": f.case.container, "target": f.case.target,
                          "mutators": f.case.mutators, "reader_errors": f.outcome.reader_errors}
                         for f in self.failures],
        }


class Baseline:
    """What the unmutated seed gives, and where each of its records ends."""

    def __init__(self, fmt: str, seed: Seed, outcome: Outcome) -> None:
        if outcome.kind is not None or not outcome.events:
            raise RuntimeError(f"seed {seed.label} does not read cleanly: {outcome.kind} {outcome.detail} "
                               f"{outcome.failed[:3]}")
        wrong = {k[0] for k in outcome.events} - {fmt}
        if wrong:
            raise RuntimeError(f"seed {seed.label} is read as {sorted(wrong)}, not {fmt}")
        self.spans = list(zip(outcome.events, _record_ends(fmt, seed, outcome.events), strict=True))

    def expected(self, damage: int) -> set[Key]:
        return {key for key, end in self.spans if end <= damage}


def _record_ends(fmt: str, seed: Seed, events: list[Key]) -> list[int]:
    """The end of each event's record in the seed: by line number for the line formats (``_record`` is the
    line), in order for the others (an EVTX or XML event, a JSON document's item)."""
    document = json_document_ends(seed.data) if fmt == "winjson" else None
    if fmt == "evtx":
        ends = evtx_record_ends(seed.data)
    elif fmt == "winxml":
        ends = xml_event_ends(seed.data)
    elif document is not None:
        ends = document
    else:
        lines = line_ends(seed.data)
        return [lines[record] for _, record, _ in events]
    if len(ends) != len(events):
        raise RuntimeError(f"seed {seed.label}: {len(events)} events for {len(ends)} records found in it")
    return ends


def run_campaign(
    formats: Iterable[str],
    *,
    cases: int,
    seed: int = 1,
    timeout: float = 10.0,
    memory_mb: int = 1024,
    huge_mb: int = 3,
    jobs: int = 1,
    nice: int = 0,
    only: list[int] | None = None,
    save: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[FormatResult]:
    workroot = Path(tempfile.mkdtemp(prefix="rempart-fuzz-"))
    workers = [Worker(_mkdir(workroot / f"w{i}"), timeout, memory_mb, nice) for i in range(max(1, jobs))]
    results = []
    try:
        for fmt in formats:
            results.append(_run_format(fmt, cases, seed, huge_mb << 20, workers, only, save, progress))
    finally:
        for worker in workers:
            worker.stop()
        shutil.rmtree(workroot, ignore_errors=True)
    return results


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _run_format(
    fmt: str,
    count: int,
    master: int,
    huge: int,
    workers: list[Worker],
    only: list[int] | None,
    save: Path | None,
    progress: Callable[[str], None] | None,
) -> FormatResult:
    result = FormatResult(fmt)
    try:
        seeds = load_seeds(fmt)
    except SeedsMissing as exc:
        result.skipped = str(exc)
        return result
    baselines = {s.name: Baseline(fmt, s, _run_one(workers[0], s.name, s.data)) for s in seeds}
    indices = only if only is not None else list(range(count))
    lock = threading.Lock()
    queue = list(reversed(indices))
    started = time.perf_counter()
    errors: list[BaseException] = []

    def drain(worker: Worker) -> None:
        try:
            _drain(worker)
        except BaseException as exc:  # noqa: BLE001 - a harness bug: raised again by the caller
            errors.append(exc)
            with lock:
                queue.clear()

    def _drain(worker: Worker) -> None:
        while True:
            with lock:
                if not queue:
                    return
                index = queue.pop()
            case = make_case(fmt, index, seeds, master, huge)
            outcome = _run_one(worker, case.name, case.data)
            missing: list[Key] = []
            if outcome.kind is None:
                missing = sorted(baselines[case.seed.name].expected(case.damage) - set(outcome.events))
                if missing:
                    outcome.kind = "lost"
                    where = "with no damaged byte" if case.damage == INTACT else (
                        f"before the first damaged byte ({case.damage:,})")
                    outcome.detail = (f"{len(missing)} events {where} not read; records "
                                      f"{[m[1] for m in missing[:8]]}; {_what_was_said(fmt, outcome)}")
            with lock:
                _record(result, case, outcome, missing, save)
                if progress is not None and result.cases % 500 == 0:
                    failing = sum(result.counts.values())
                    progress(f"{fmt}: {result.cases}/{len(indices)} cases, {failing} failing")

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    result.seconds = time.perf_counter() - started
    return result


def _what_was_said(fmt: str, outcome: Outcome) -> str:
    """Why the events went missing, as far as the report and the events tell."""
    read_as = sorted({k[0] for k in outcome.events} - {fmt})
    said = [f"read as {', '.join(read_as)}"] if read_as else []
    if outcome.failed:
        said.append("the report says: " + outcome.failed[0].split(": ", 1)[-1][:200])
    if outcome.quarantine:
        said.append("first quarantined: " + outcome.quarantine[0].split(": ", 1)[-1][:200])
    return "; ".join(said) or "nothing reported"


def _run_one(worker: Worker, name: str, data: bytes) -> Outcome:
    folder = _mkdir(worker.workdir / "case")
    path = folder / name
    path.write_bytes(data)
    try:
        return worker.run({"op": "read", "path": str(path)}, len(data))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _record(
    result: FormatResult, case: Case, outcome: Outcome, missing: list[Key], save: Path | None
) -> None:
    result.cases += 1
    if outcome.seconds > result.slowest[0]:
        result.slowest = (outcome.seconds, case.label)
    if outcome.reader_errors:
        result.reader_errors += 1
        result.by_mutator[f"reader_error {'+'.join(case.mutators)}[{case.container}]"] += 1
    if outcome.kind is None:
        return
    result.counts[outcome.kind] += 1
    result.lost_events += len(missing)
    kind = f"{outcome.kind} {'+'.join(case.mutators)}[{case.container}]"
    result.by_mutator[kind] += 1
    failure = Failure(case, outcome.kind, outcome.detail, missing, outcome)
    result.failures.append(failure)
    if save is not None and result.saved[kind] < SAVED_PER_CLASS:  # a few of each: huge lines weigh MBs
        result.saved[kind] += 1
        _save(save, failure)


def _save(root: Path, failure: Failure) -> None:
    case, outcome = failure.case, failure.outcome
    folder = _mkdir(root / case.fmt / f"{failure.kind}-{case.index}")
    (folder / case.name).write_bytes(case.data)
    lines = [
        f"case: {case.label}", f"seed: {case.seed.label}", f"kind: {failure.kind}", f"what: {failure.detail}",
        f"first damaged byte of the content: {'none' if case.damage == INTACT else f'{case.damage:,}'}",
        f"missing (format, record, raw digest): {failure.missing[:50]}",
        f"events read: {len(outcome.events)}", "files reported as failed:",
        *[f"  {f}" for f in outcome.failed],
        f"reader errors: {outcome.reader_errors}", "first records quarantined:",
        *[f"  {q}" for q in outcome.quarantine], f"seconds: {outcome.seconds:.2f}",
        f"replay: {_python()} benchmarks/fuzz.py --replay {shlex.quote(str(folder / case.name))}",
    ]
    if outcome.trace:
        lines += ["trace:", outcome.trace]
    (folder / "what.txt").write_text("\n".join(lines) + "\n", encoding="utf-8", errors="backslashreplace")


def _python() -> str:
    try:
        return os.path.relpath(sys.executable, Path.cwd())
    except ValueError:
        return sys.executable


# --- output --------------------------------------------------------------------------------------------

def print_table(results: list[FormatResult], command: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="ingest fuzzing (memory: blow-ups; lost: cases losing events that lay before the "
                        "first damaged byte; reader errors: information)")
    # lost: cases that lost events lying wholly before the first damaged byte; events: how many
    for column in ("format", "cases", "crashes", "hangs", "memory", "lost", "events", "reader errors", "s"):
        table.add_column(column, justify="left" if column == "format" else "right")
    for r in results:
        if r.skipped:
            table.add_row(r.fmt, "skipped", "", "", "", "", "", "", "")
            continue
        table.add_row(r.fmt, f"{r.cases:,}", *(str(r.counts[k]) for k in KINDS), f"{r.lost_events:,}",
                      str(r.reader_errors), f"{r.seconds:.1f}")
    console = Console()
    console.print(table)
    for r in results:
        if r.skipped:
            console.print(f"{r.fmt}: skipped: {r.skipped}")
        for f in r.failures[:5]:
            console.print(f"  {f.kind}: {f.case.label}: {f.detail[:200]}", markup=False, highlight=False)
        if len(r.failures) > 5:
            console.print(f"  … and {len(r.failures) - 5} more {r.fmt} failures (--save DIR keeps them all)")
    console.print(f"rerun: {command}", markup=False, highlight=False)


def _replay(paths: list[Path], timeout: float, memory_mb: int) -> int:
    workroot = Path(tempfile.mkdtemp(prefix="rempart-fuzz-"))
    worker = Worker(workroot, timeout, memory_mb, 0)
    status = 0
    try:
        for path in paths:
            outcome = worker.run({"op": "read", "path": str(path.resolve())}, path.stat().st_size)
            formats = Counter(k[0] for k in outcome.events)
            print(f"{path}: {outcome.kind or 'no crash, hang or memory blow-up'} {outcome.detail}".rstrip())
            print(f"  {len(outcome.events)} events {dict(formats)} in {outcome.seconds:.2f} s")
            for failed in outcome.failed[:10]:
                print(f"  failed: {failed}")
            for record in outcome.quarantine:
                print(f"  quarantined: {record}")
            if outcome.trace:
                print(outcome.trace)
            status |= outcome.kind is not None
    finally:
        worker.stop()
        shutil.rmtree(workroot, ignore_errors=True)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--format", default="all", help=f"comma-separated, or all ({','.join(FORMATS)})")
    parser.add_argument("--cases", type=int, default=300, help="cases per format")
    parser.add_argument("--seed", type=int, default=1, help="master seed: the same cases for the same seed")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per case before it is a hang")
    parser.add_argument("--memory", type=int, default=1024, help="MiB per case (or 50x the input, if more)")
    parser.add_argument("--huge", type=int, default=3, help="MiB of the huge lines")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--nice", type=int, default=10, help="niceness of the workers")
    parser.add_argument("--only", help="comma-separated case numbers, to run those cases again")
    parser.add_argument("--save", type=Path, help=f"write failing cases here (input bytes + what.txt), the "
                        f"first {SAVED_PER_CLASS} of each kind, mutator and container")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--replay", type=Path, nargs="+", help="read these files in the watchdog and say how")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main()
        return 0
    if args.replay:
        return _replay(args.replay, args.timeout, args.memory)
    formats = list(FORMATS) if args.format == "all" else [f.strip() for f in args.format.split(",")]
    unknown = set(formats) - set(FORMATS)
    if unknown:
        parser.error(f"unknown format {sorted(unknown)}: choose among {', '.join(FORMATS)}")
    only = [int(i) for i in args.only.split(",")] if args.only else None
    words = argv if argv is not None else sys.argv[1:]
    command = " ".join([shlex.quote(_python()), "benchmarks/fuzz.py", *map(shlex.quote, words)])
    results = run_campaign(
        formats, cases=args.cases, seed=args.seed, timeout=args.timeout, memory_mb=args.memory,
        huge_mb=args.huge, jobs=args.jobs, nice=args.nice, only=only, save=args.save,
        progress=None if args.json else lambda m: print(m, file=sys.stderr),
    )
    if args.json:
        print(json.dumps({"results": [r.as_json() for r in results], "rerun": command}, indent=2))
    else:
        print_table(results, command)
    return 0 if all(r.ok or r.skipped for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
