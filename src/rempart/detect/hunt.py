"""A hunt: read logs, store them, run the rules — the service behind ``rempart hunt`` and the benchmark."""

from __future__ import annotations

import itertools
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from rempart.detect.compile import compile_rules
from rempart.detect.plan import DetectionPlan
from rempart.detect.rules import load_rules
from rempart.detect.tuning import Tuning
from rempart.detect.window import EventWindow
from rempart.domain.alerts import Alert, Level
from rempart.domain.events import SERVICE
from rempart.errors import InputError, Location
from rempart.events.sources import SOURCE_ID, SourcePlan, SourceTagger, plan_sources
from rempart.events.store import TABLE, EventStore
from rempart.ingest import IngestReport, iter_files, read_paths, stage_parallel
from rempart.inventory import Resolver

# Starting worker processes costs about a second; below this much input one process reads it sooner.
PARALLEL_BYTES = 32 << 20
MAX_WORKERS = 4


@dataclass
class Timings:
    """Seconds spent in each phase (parse = reading and normalising the logs)."""

    rules: float = 0.0
    parse: float = 0.0
    store: float = 0.0
    detect: float = 0.0

    @property
    def total(self) -> float:
        return self.rules + self.parse + self.store + self.detect


@dataclass
class HuntResult:
    plan: DetectionPlan
    report: IngestReport
    alerts: list[Alert]
    events: int
    events_by_source: Counter[tuple[str, str]] = field(default_factory=Counter)
    timings: Timings = field(default_factory=Timings)
    sources: SourcePlan = field(default_factory=SourcePlan)  # files read, and those stored before
    tuning: Tuning | None = None


@dataclass
class HuntProgress:
    """Callbacks for progress bars; every one is optional."""

    bytes_total: Callable[[int], None] | None = None
    bytes_read: Callable[[int], None] | None = None
    rules_compiled: Callable[[int, int], None] | None = None
    groups_evaluated: Callable[[int, int], None] | None = None


def total_bytes(paths: Sequence[Path]) -> int:
    size = 0
    for p in paths:
        if p.is_file():
            size += p.stat().st_size
        elif p.is_dir():
            size += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return size


def hunt(
    paths: Sequence[Path],
    rule_dirs: Sequence[Path],
    *,
    store: EventStore,
    resolver: Resolver | None = None,
    cache_dir: Path | None = None,
    min_level: Level = Level.INFORMATIONAL,
    progress: HuntProgress | None = None,
    workers: int | None = None,
    tuning: Tuning | None = None,
    window: EventWindow | None = None,
) -> HuntResult:
    """Hunt `paths` with the rules of `rule_dirs`; only the events of these files are evaluated.

    A file whose content the store holds already is not read or stored again, and its events in the
    store are evaluated with the others, so hunting the same logs twice gives the same alerts and stores
    them once; a log that grew since adds only its new records (:mod:`rempart.events.sources`).

    ``workers``: processes that parse the files; by default (None) one per CPU, up to
    :data:`MAX_WORKERS`, once the input is :data:`PARALLEL_BYTES` or more, else none besides this one.
    Workers write their tables straight to the store's staging folder, so this process stays free; on
    2 cores, 2 workers hunt Security-Datasets about a quarter faster than 1
    (benchmarks/hunt.py --workers 1 2).
    Workers are started with ``spawn``: a script calling this needs the usual ``if __name__ ==
    "__main__":`` guard, or ``workers=1``.
    ``tuning``: the group's filters and overrides (:mod:`rempart.detect.tuning`); ``window``: the time
    range and hosts evaluated (every event read is still stored).
    """
    progress = progress or HuntProgress()
    for d in rule_dirs:
        if not d.exists():
            raise InputError("rules folder not found", Location(d), "give a folder of Sigma .yml rules")
    timings = Timings()
    start = time.perf_counter()
    plan = compile_rules(load_rules(rule_dirs, cache_dir=cache_dir, tuning=tuning), cache_dir,
                         on_progress=progress.rules_compiled)
    timings.rules = time.perf_counter() - start
    size = total_bytes(paths)
    if progress.bytes_total is not None:
        progress.bytes_total(size)
    first_row = _next_rowid(store)
    report = IngestReport()
    t0 = time.perf_counter()
    sources = plan_sources(store.connection, (p for p in iter_files(paths) if p.is_file()))
    timings.parse += time.perf_counter() - t0
    known = sum(p.stat().st_size for p, _ in [*sources.known, *sources.copies])
    if progress.bytes_read is not None and known:
        progress.bytes_read(known)  # done: in the store
    if workers is None:
        workers = min(os.cpu_count() or 1, MAX_WORKERS) if size - known >= PARALLEL_BYTES else 1
    try:
        events = _ingest(paths, resolver, store, plan, report, workers, progress, timings, sources)
    except (OSError, duckdb.IOException) as exc:  # staging or inserting: a full or read-only disk
        store.discard()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(
            f"could not store the events: {reason}",
            Location(getattr(exc, "filename", None) or store.path),
            "free space on that disk or give --events-db a store on another one; nothing of this hunt "
            "was stored, and rerunning it reads the logs again",
        ) from None
    t0 = time.perf_counter()
    stored = sources.stored_ids if store.column(SOURCE_ID) is not None else set()
    if stored and sources.stored_rows + events == store.count():
        first_row, stored = 0, set()  # the hunt's events are the whole store: no row filter to apply
    alerts = plan.evaluate(store, min_level, first_row=first_row, source_ids=stored,
                           on_progress=progress.groups_evaluated, window=window)
    timings.detect = time.perf_counter() - t0
    return HuntResult(plan, report, alerts, events, Counter(report.events), timings, sources, tuning)


def _ingest(paths: Sequence[Path], resolver: Resolver | None, store: EventStore, plan: DetectionPlan,
            report: IngestReport, workers: int, progress: HuntProgress, timings: Timings,
            sources: SourcePlan) -> int:
    """Read the logs into the store; the number of events stored."""
    tagger = SourceTagger(sources.new)
    prepare = _Prepare(tagger, _Narrower(plan.field_services))
    named = {p for p in paths if not p.is_dir()}  # the rest met in folders: an unknown format is ignored
    groups: list[tuple[Sequence[Path], bool | None]] = [(paths, None)]
    listed = list(iter_files(paths))
    skipped = {p for p, _ in sources.known} | {p for p, _ in sources.copies}
    if skipped or len(set(listed)) < len(listed):  # read only the files the store lacks, each once
        paths = [p for p in dict.fromkeys(listed) if p not in skipped]
        groups = [([p for p in paths if p in named], True), ([p for p in paths if p not in named], False)]
    t0 = time.perf_counter()
    if workers > 1:  # the workers write their tables where the store picks them up
        staged = stage_parallel(paths, resolver, folder=store.staging_folder(), fields=plan.fields,
                                report=report, workers=workers, transform=prepare,
                                on_progress=progress.bytes_read, named=named)
        store.stage_files(path for path, _ in staged)
        events = sum(rows for _, rows in staged)
        timings.parse += time.perf_counter() - t0
    else:
        batches = itertools.chain(
            *(read_paths(group, resolver, fields=plan.fields, report=report, on_progress=progress.bytes_read,
                         explicit=explicit) for group, explicit in groups if group)
        )
        events = _read_into(store, batches, prepare, timings)
    incomplete = {i for i in map(tagger.id_of, (f.source for f in report.failed)) if i is not None}
    t0 = time.perf_counter()
    store.flush(sources.new, incomplete)  # one insert of everything staged, and of the sources' rows
    timings.store += time.perf_counter() - t0
    return events


def _read_into(store: EventStore, batches: Iterator[pa.Table], narrow: Callable[[pa.Table], pa.Table],
               timings: Timings) -> int:
    events = 0
    while True:
        t0 = time.perf_counter()
        table = next(batches, None)
        if table is not None:
            table = narrow(table)
        t1 = time.perf_counter()
        timings.parse += t1 - t0
        if table is None:
            return events
        events += store.append(table)
        timings.store += time.perf_counter() - t1


class _Prepare:
    """What a table goes through before it is staged: its events tagged with their file's ``sources``
    row (and those the store has already dropped), then narrowed. Picklable, for the parsing workers."""

    def __init__(self, tagger: SourceTagger, narrow: _Narrower) -> None:
        self.tagger, self.narrow = tagger, narrow

    def __call__(self, table: pa.Table) -> pa.Table:
        return self.narrow(self.tagger(table))


class _Narrower:
    """Blanks a field on the events whose ``_service`` no rule reading it looks at (see
    :attr:`DetectionPlan.field_services`): less text to store, the same alerts."""

    def __init__(self, field_services: dict[str, frozenset[str]]) -> None:
        self.field_services = field_services

    def __call__(self, table: pa.Table) -> pa.Table:
        if not self.field_services or SERVICE not in table.column_names:
            return table
        service = table.column(SERVICE)
        masks: dict[frozenset[str], pa.ChunkedArray] = {}
        for i, name in enumerate(table.column_names):
            allowed = self.field_services.get(name.lower())
            column = table.column(i)
            if allowed is None or column.null_count == len(column):
                continue
            if allowed not in masks:
                masks[allowed] = pc.is_in(service, value_set=pa.array(sorted(allowed), pa.string()))
            stray = pc.and_(pc.is_valid(column), pc.invert(masks[allowed]))
            if pc.any(stray).as_py():  # most fields only ever appear on the services that read them
                blank = pc.if_else(masks[allowed], column, pa.scalar(None, column.type))
                table = table.set_column(i, name, blank)
        return table


def _next_rowid(store: EventStore) -> int:
    rows = store.connection.execute(f"SELECT coalesce(max(rowid) + 1, 0) FROM {TABLE}").fetchall()
    return int(rows[0][0])
