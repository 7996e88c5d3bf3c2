"""What the event store holds of each log file, so that hunting or ingesting the same logs again stores
nothing twice.

A file is known by the SHA-256 of its bytes on disk (of the archive, for the members of an archive): the
same file copied to another folder, or collected twice, is the same source. The ``sources`` table of the
event store has one row per file stored: its digest and size, its name when read, the events stored from
it, the highest ``_record`` among them, and whether it was read whole. That row is written in the same
DuckDB transaction as the file's events (:meth:`EventStore.flush`), so a run killed at any point has
stored both or neither. Every event stored this way carries the row's id in ``_source_id``.

Planning a run (:func:`plan_sources`):

- a file whose content is in the table, read whole, is not read again: its events are in the store;
- a file that starts with the bytes of the last one stored under the same name (a log appended since),
  or whose content was stored only in part (a reader stopped in the middle), is read again, and only its
  records after the highest ``_record`` already stored are kept (:class:`SourceTagger`); records
  without a number are kept, since nothing tells them apart;
- any other file is new; two files of the same content in one run are read once.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from rempart.domain.events import RECORD, SOURCE

if TYPE_CHECKING:
    import duckdb

SOURCES = "sources"
SOURCE_ID = "_source_id"
CHUNK = 1 << 20
HASH_THREADS = min(4, os.cpu_count() or 1)

SOURCES_DDL = f"""
CREATE TABLE IF NOT EXISTS {SOURCES} (
    id BIGINT PRIMARY KEY,
    digest VARCHAR NOT NULL,     -- SHA-256 of the file's bytes on disk
    size BIGINT NOT NULL,
    name VARCHAR NOT NULL,       -- the path it was read from (the _source of its events, before any '!')
    events BIGINT NOT NULL,      -- events stored from it by this row (not by the rows it extends)
    last_record BIGINT,          -- the highest _record stored from this file, this row or those it extends
    extends BIGINT,              -- the row of the same file's first bytes, stored before
    complete BOOLEAN NOT NULL,   -- read to the end without a reader failure
    committed TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
)"""


@dataclass(frozen=True)
class StoredSource:
    """One row of ``sources``."""

    id: int
    digest: str
    size: int
    name: str
    events: int
    last_record: int | None
    extends: int | None
    complete: bool


@dataclass(frozen=True)
class NewSource:
    """A file this run reads and stores, under the id its ``sources`` row will have."""

    id: int
    path: Path
    digest: str
    size: int
    extends: StoredSource | None = None  # its first bytes, or all of it read in part, stored before

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def skip_upto(self) -> int | None:
        """Records up to this one are in the store already."""
        return self.extends.last_record if self.extends is not None else None


@dataclass
class SourcePlan:
    """What a run reads, and which events of the store it holds already."""

    new: list[NewSource] = field(default_factory=list)
    known: list[tuple[Path, StoredSource]] = field(default_factory=list)  # stored whole: not read
    copies: list[tuple[Path, Path]] = field(default_factory=list)  # (copy, the file of this run it repeats)
    stored_ids: set[int] = field(default_factory=set)  # rows of the store that hold events of this run
    stored_events: int = 0  # events of the known files, in the store already
    stored_rows: int = 0  # events of the rows `stored_ids`: those of the known files, and the first
    #                       records of the files read again

    @property
    def read(self) -> list[Path]:
        return [s.path for s in self.new]


def file_digest(path: Path, marks: Collection[int] = ()) -> tuple[str, dict[int, str]]:
    """The SHA-256 of the file's bytes, and that of its first ``n`` bytes for each ``n`` in ``marks``
    (computed in the same pass)."""
    whole = hashlib.sha256()
    at: dict[int, str] = {}
    pending = sorted(m for m in set(marks) if m > 0)
    done = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK if not pending else min(CHUNK, pending[0] - done))
            if not chunk:
                break
            whole.update(chunk)
            done += len(chunk)
            if pending and done == pending[0]:
                at[pending.pop(0)] = whole.copy().hexdigest()
    if 0 in marks:
        at[0] = hashlib.sha256().hexdigest()
    return whole.hexdigest(), at


def _row(r: tuple[object, ...]) -> StoredSource:
    return StoredSource(int(r[0]), str(r[1]), int(r[2]), str(r[3]), int(r[4]),  # type: ignore[call-overload]
                        None if r[5] is None else int(r[5]),  # type: ignore[call-overload]
                        None if r[6] is None else int(r[6]), bool(r[7]))  # type: ignore[call-overload]


_COLUMNS = "id, digest, size, name, events, last_record, extends, complete"


def stored_sources(con: duckdb.DuckDBPyConnection) -> dict[int, StoredSource]:
    return {s.id: s for s in map(_row, con.execute(f"SELECT {_COLUMNS} FROM {SOURCES}").fetchall())}


def plan_sources(con: duckdb.DuckDBPyConnection, files: Iterable[Path]) -> SourcePlan:
    """Sort ``files`` into those to read (new, grown, or stored in part) and those stored whole."""
    rows = stored_sources(con)
    latest: dict[str, StoredSource] = {}  # digest → its last row
    by_name: dict[str, list[StoredSource]] = {}
    for s in sorted(rows.values(), key=lambda s: s.id):
        latest[s.digest] = s
        by_name.setdefault(s.name, []).append(s)
    plan = SourcePlan()
    next_id = max(rows, default=0) + 1
    this_run: dict[str, NewSource] = {}
    known_ids: set[int] = set()  # two copies stored as one count once
    unique = list(dict.fromkeys(files))  # a file named twice is read once
    sizes = [p.stat().st_size for p in unique]
    before = [[s for s in by_name.get(str(p), []) if s.size < n] for p, n in zip(unique, sizes, strict=True)]
    # hashlib lets go of the GIL: the files are hashed side by side (482 MB/s a core here, SHA-NI)
    with ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="digest") as pool:
        digests = list(pool.map(file_digest, unique, [{s.size for s in e} for e in before]))
    for path, size, earlier, (digest, prefixes) in zip(unique, sizes, before, digests, strict=True):
        stored = latest.get(digest)
        if stored is not None and stored.complete:
            plan.known.append((path, stored))
            known_ids.update(_chain(rows, stored.id))
            continue
        if digest in this_run:  # a copy of a file this run reads already
            plan.copies.append((path, this_run[digest].path))
            continue
        base = stored or next((s for s in reversed(earlier) if prefixes.get(s.size) == s.digest), None)
        if base is not None:
            plan.stored_ids.update(_chain(rows, base.id))
        source = NewSource(next_id, path, digest, size, base)
        this_run[digest] = source
        plan.new.append(source)
        next_id += 1
    plan.stored_ids |= known_ids
    plan.stored_events = sum(rows[i].events for i in known_ids)
    plan.stored_rows = sum(rows[i].events for i in plan.stored_ids)
    return plan


def _chain(rows: dict[int, StoredSource], start: int) -> list[int]:
    out: list[int] = []
    current: int | None = start
    while current is not None and current in rows and current not in out:
        out.append(current)
        current = rows[current].extends
    return out


class SourceTagger:
    """Gives each event the id of its file's ``sources`` row (``_source_id``), and drops the records of a
    grown or partly stored file that the store has already. Picklable: parsing workers apply it too."""

    def __init__(self, sources: Sequence[NewSource]) -> None:
        self.ids = {s.name: s.id for s in sources}
        self.upto = {s.id: s.skip_upto for s in sources if s.skip_upto is not None}

    def id_of(self, source: str | None) -> int | None:
        """The file a ``_source`` comes from: itself, or the archive before a ``!``."""
        if source is None:
            return None
        found = self.ids.get(source)
        cut = source.find("!")
        while found is None and cut >= 0:
            found = self.ids.get(source[:cut])
            cut = source.find("!", cut + 1)
        return found

    def __call__(self, table: pa.Table) -> pa.Table:
        if SOURCE not in table.column_names or not self.ids:
            return table
        names = table.column(SOURCE)
        distinct = pc.unique(names)
        ids = [self.id_of(v) for v in distinct.to_pylist()]
        per_row = pc.take(pa.array(ids, pa.int64()), pc.index_in(names, value_set=distinct))
        table = table.append_column(SOURCE_ID, per_row)
        limits = [self.upto.get(i) if i is not None else None for i in ids]
        if any(v is not None for v in limits) and RECORD in table.column_names:
            upto = pc.take(pa.array(limits, pa.int64()), pc.index_in(names, value_set=distinct))
            record = table.column(RECORD)
            keep = pc.or_kleene(pc.or_kleene(pc.is_null(upto), pc.is_null(record)),
                                pc.greater(record, upto))
            table = table.filter(pc.fill_null(keep, True))
        return table
