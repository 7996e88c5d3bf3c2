"""Reading many files on several processes: parsing is CPU-bound Python and Arrow work, and files are
independent, so each worker reads whole files (or a share of the chunks of a big EVTX file,
:data:`SPLIT_BYTES` each: its chunks are self-contained, and one 2 GB ``Security.evtx`` keeps every worker
busy) and sends their event tables back (:func:`read_parallel`), or writes them to Arrow IPC files that an
event store inserts later (:func:`stage_parallel`): then the tables never travel through the parent
process, which stays free for the workers.

Workers are started with ``spawn`` (not ``fork``): the caller may have threads running (the event store's
writer), and a forked child could inherit one of their locks held forever. Results come back in the order
of the files (and shares), so a parallel run yields the same events in the same order as a sequential
one, and at most ``2 × workers`` files or shares are in flight so that memory stays bounded when the
consumer is slower.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections import deque
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa

from rempart.domain.inventory import Group
from rempart.ingest.readers.evtx import CHUNK_BYTES, HEADER_BYTES, MAGIC, chunk_window
from rempart.ingest.report import IngestReport
from rempart.ingest.sources import iter_files
from rempart.ingest.staged import without_empty_fields, write_staged
from rempart.inventory import Resolver

# set in each worker by _init: what every file of the run is read with
_settings: dict[str, object] = {}
SPLIT_BYTES = 16 << 20  # a plain EVTX file of twice this or more is read in shares of this size

Window = tuple[int, int | None] | None  # the chunks of a file a task reads (see chunk_window); None: all


Transform = Callable[[pa.Table], pa.Table]


def _init(group: Group | None, zone: str | None, fields: list[str] | None, batch_size: int,
          reference_year: int | None, transform: Transform | None = None) -> None:
    _settings.update(
        resolver=Resolver(group, zone) if group is not None or zone is not None else None,
        fields=fields,
        batch_size=batch_size,
        reference_year=reference_year,
        transform=transform,
    )


def _read_one(path: str, explicit: bool, window: Window = None) -> tuple[list[pa.Table], IngestReport]:
    from rempart.ingest.pipeline import read_paths

    report = IngestReport()
    with contextlib.ExitStack() as stack:
        if window is not None:
            stack.enter_context(chunk_window(*window))
        tables = list(
            read_paths(
                [Path(path)],
                _settings["resolver"],  # type: ignore[arg-type]
                fields=_settings["fields"],  # type: ignore[arg-type]
                batch_size=_settings["batch_size"],  # type: ignore[arg-type]
                report=report,
                reference_year=_settings["reference_year"],  # type: ignore[arg-type]
                explicit=explicit,
            )
        )
    return tables, report


def _stage_one(path: str, explicit: bool, prefix: str, window: Window = None
               ) -> tuple[list[tuple[str, int]], IngestReport]:
    """Read one file (or its chunks of `window`) and write its tables as LZ4-compressed Arrow IPC files
    ``<prefix>-<n>.arrow``."""
    tables, report = _read_one(path, explicit, window)
    transform: Transform | None = _settings["transform"]  # type: ignore[assignment]
    staged = []
    for n, read in enumerate(tables):
        table = without_empty_fields(transform(read) if transform is not None else read)
        target = f"{prefix}-{n:04d}.arrow"
        write_staged(table, target)
        staged.append((target, table.num_rows))
    return staged, report


def stage_parallel(
    paths: Sequence[Path],
    resolver: Resolver | None,
    *,
    folder: Path,
    fields: Collection[str] | None,
    report: IngestReport,
    workers: int,
    transform: Transform | None = None,
    batch_size: int = 65536,
    on_progress: Callable[[int], None] | None = None,
    reference_year: int | None = None,
    named: Collection[Path] | None = None,
) -> list[tuple[Path, int]]:
    """Read ``paths`` on ``workers`` processes, as :func:`read_paths` would, each table written to an
    Arrow IPC file in ``folder`` (after ``transform``, a picklable callable, when given).
    ``named``: the files the user named (an unknown format is a failure, not ignored); by default
    those of ``paths`` that are not folders.

    Returns the files with their row counts, in the order in which ``read_paths`` would have yielded
    their tables.
    """
    def task(pool: ProcessPoolExecutor, path: Path, explicit: bool, n: int, window: Window
             ) -> Future[tuple[list[tuple[str, int]], IngestReport]]:
        return pool.submit(_stage_one, str(path), explicit, str(folder / f"{n:06d}"), window)

    out: list[tuple[Path, int]] = []
    init = _settings_for(resolver, fields, batch_size, reference_year, transform)
    for staged in _in_order(paths, report, on_progress, workers, init, task, named):
        out.extend((Path(name), rows) for name, rows in staged)
    return out


def read_parallel(
    paths: Sequence[Path],
    resolver: Resolver | None,
    *,
    fields: Collection[str] | None,
    batch_size: int,
    on_progress: Callable[[int], None] | None,
    report: IngestReport,
    reference_year: int | None,
    workers: int,
) -> Iterator[pa.Table]:
    init = _settings_for(resolver, fields, batch_size, reference_year, None)
    for tables in _in_order(paths, report, on_progress, workers, init,
                            lambda pool, path, explicit, n, window: pool.submit(_read_one, str(path),
                                                                                explicit, window)):
        yield from tables


def _settings_for(resolver: Resolver | None, fields: Collection[str] | None, batch_size: int,
                  reference_year: int | None, transform: Transform | None) -> tuple[Any, ...]:
    """The arguments of :func:`_init`, picklable: each worker rebuilds its resolver from the group."""
    group = resolver.group if resolver is not None else None
    zone = resolver.default_zone if resolver is not None else None
    return (group, zone, list(fields) if fields is not None else None, batch_size, reference_year, transform)


def _in_order(
    paths: Sequence[Path],
    report: IngestReport,
    on_progress: Callable[[int], None] | None,
    workers: int,
    init: tuple[Any, ...],
    task: Callable[[ProcessPoolExecutor, Path, bool, int, Window], Future[tuple[Any, IngestReport]]],
    named: Collection[Path] | None = None,
) -> Iterator[Any]:
    """Run ``task`` for each file, or share of a big EVTX file, on a pool of ``workers`` processes (set up
    with ``init``); results in the order of the files, each one's report merged into ``report`` as its
    result is taken."""
    named = set(named) if named is not None else {p for p in paths if not p.is_dir()}
    items: list[tuple[Path, Window, int]] = []  # a file, its chunks read by the task, their bytes
    for path in iter_files(paths):
        if path.exists():
            items.extend(_shares(path))
        else:
            report.fail(str(path), "no such file or directory")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init, initargs=init) as pool:
        pending: deque[tuple[int, Future[tuple[Any, IngestReport]]]] = deque()
        queue = iter(enumerate(items))
        for n, (path, window, _) in queue:
            pending.append((n, task(pool, path, path in named, n, window)))
            if len(pending) >= 2 * workers:
                break
        while pending:
            n, future = pending.popleft()
            result, sub = future.result()
            nxt = next(queue, None)
            if nxt is not None:
                m, (path, window, _) = nxt
                pending.append((m, task(pool, path, path in named, m, window)))
            report.merge(sub)
            if on_progress is not None:
                on_progress(items[n][2])
            yield result


def _shares(path: Path) -> list[tuple[Path, Window, int]]:
    """`path` as the tasks that read it: itself, or shares of :data:`SPLIT_BYTES` of a big plain EVTX file
    (an archive or a compressed file cannot be entered in the middle)."""
    size = path.stat().st_size
    if size < 2 * SPLIT_BYTES or path.suffix.lower() != ".evtx":
        return [(path, None, size)]
    with path.open("rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            return [(path, None, size)]
    per = SPLIT_BYTES // CHUNK_BYTES
    chunks = (size - HEADER_BYTES) // CHUNK_BYTES
    starts = list(range(0, chunks, per))
    shares: list[tuple[Path, Window, int]] = [(path, (a, a + per), per * CHUNK_BYTES) for a in starts[:-1]]
    done = sum(s[2] for s in shares)
    return [*shares, (path, (starts[-1], None), size - done)]
