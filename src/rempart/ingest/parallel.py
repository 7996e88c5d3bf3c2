"""Reading many files on several processes: parsing is CPU-bound Python and Arrow work, and files are
independent, so each worker reads whole files and sends their event tables back (:func:`read_parallel`),
or writes them to Arrow IPC files that an event store inserts later (:func:`stage_parallel`): then the
tables never travel through the parent process, which stays free for the workers.

Workers are started with ``spawn`` (not ``fork``): the caller may have threads running (the event store's
writer), and a forked child could inherit one of their locks held forever. Results come back in the order
of the files, so a parallel run yields the same tables in the same order as a sequential one, and at most
``2 × workers`` files are in flight so that memory stays bounded when the consumer is slower.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa

from rempart.domain.inventory import Group
from rempart.ingest.report import IngestReport
from rempart.ingest.sources import iter_files
from rempart.ingest.staged import without_empty_fields, write_staged
from rempart.inventory import Resolver

# set in each worker by _init: what every file of the run is read with
_settings: dict[str, object] = {}


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


def _read_one(path: str, explicit: bool) -> tuple[list[pa.Table], IngestReport]:
    from rempart.ingest.pipeline import read_paths

    report = IngestReport()
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


def _stage_one(path: str, explicit: bool, prefix: str) -> tuple[list[tuple[str, int]], IngestReport]:
    """Read one file and write its tables as LZ4-compressed Arrow IPC files ``<prefix>-<n>.arrow``."""
    tables, report = _read_one(path, explicit)
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
    def task(pool: ProcessPoolExecutor, path: Path, explicit: bool, n: int
             ) -> Future[tuple[list[tuple[str, int]], IngestReport]]:
        return pool.submit(_stage_one, str(path), explicit, str(folder / f"{n:06d}"))

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
                            lambda pool, path, explicit, n: pool.submit(_read_one, str(path), explicit)):
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
    task: Callable[[ProcessPoolExecutor, Path, bool, int], Future[tuple[Any, IngestReport]]],
    named: Collection[Path] | None = None,
) -> Iterator[Any]:
    """Run ``task`` for each file on a pool of ``workers`` processes (set up with ``init``); results in
    the order of the files, each file's report merged into ``report`` as its result is taken."""
    named = set(named) if named is not None else {p for p in paths if not p.is_dir()}
    files: list[Path] = []
    for path in iter_files(paths):
        if path.exists():
            files.append(path)
        else:
            report.fail(str(path), "no such file or directory")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init, initargs=init) as pool:
        pending: deque[tuple[Path, Future[tuple[Any, IngestReport]]]] = deque()
        queue = iter(enumerate(files))
        for n, path in queue:
            pending.append((path, task(pool, path, path in named, n)))
            if len(pending) >= 2 * workers:
                break
        while pending:
            path, future = pending.popleft()
            result, sub = future.result()
            nxt = next(queue, None)
            if nxt is not None:
                pending.append((nxt[1], task(pool, nxt[1], nxt[1] in named, nxt[0])))
            report.merge(sub)
            if on_progress is not None:
                on_progress(path.stat().st_size)
            yield result
