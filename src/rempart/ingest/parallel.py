"""Reading many files on several processes: parsing is CPU-bound Python and Arrow work, and files are
independent, so each worker reads whole files and sends their event tables back.

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

import pyarrow as pa

from rempart.domain.inventory import Group
from rempart.ingest.report import IngestReport
from rempart.ingest.sources import iter_files
from rempart.inventory import Resolver

# set in each worker by _init: what every file of the run is read with
_settings: dict[str, object] = {}


def _init(group: Group | None, fields: list[str] | None, batch_size: int, reference_year: int | None) -> None:
    _settings.update(
        resolver=Resolver(group) if group is not None else None,
        fields=fields,
        batch_size=batch_size,
        reference_year=reference_year,
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
    named = {p for p in paths if not p.is_dir()}
    files: list[Path] = []
    for path in iter_files(paths):
        if path.exists():
            files.append(path)
        else:
            report.fail(str(path), "no such file or directory")
    group = resolver.group if resolver is not None else None
    context = multiprocessing.get_context("spawn")
    init = (group, list(fields) if fields is not None else None, batch_size, reference_year)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init, initargs=init) as pool:
        pending: deque[tuple[Path, Future[tuple[list[pa.Table], IngestReport]]]] = deque()
        queue = iter(files)
        for path in queue:
            pending.append((path, pool.submit(_read_one, str(path), path in named)))
            if len(pending) >= 2 * workers:
                break
        while pending:
            path, future = pending.popleft()
            tables, sub = future.result()
            nxt = next(queue, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(_read_one, str(nxt), nxt in named)))
            report.merge(sub)
            if on_progress is not None:
                on_progress(path.stat().st_size)
            yield from tables
