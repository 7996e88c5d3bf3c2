"""The event store: one DuckDB table, ``events``, that every later stage may query with SQL.

Contract of the ``events`` table (keep it stable: investigate's IOC sweep and exfiltration assessment
read it directly):

- the core columns of :mod:`rempart.domain.events` — ``_ts`` (TIMESTAMPTZ, UTC), ``_host``,
  ``_product``, ``_service``, ``_format``, ``_source``, ``_record`` (BIGINT), ``_establishment``,
  ``_asset`` — and ``_raw``, the original record text;
- one ``VARCHAR`` column per original field, named as Sigma names it (``EventID``, ``Channel``,
  ``Image``, ``CommandLine``, ``remip`` …). Column names are case-insensitive, as in DuckDB: a field
  that arrives as ``ProcessID`` after ``ProcessId`` lands in the ``ProcessId`` column (the first
  spelling seen wins), never in a ``ProcessID_1``. Columns are added as new fields appear; older rows
  read NULL there, which is also how a field that an event lacks reads;
- ``_source_id`` (BIGINT): the row of the ``sources`` table for the file the event was stored from
  (:mod:`rempart.events.sources`; NULL for events appended without one);
- a field that was not materialised at ingest (see ``read_paths(fields=…)``) is still in ``_raw``;
  :meth:`EventStore.field_sql` gives an expression reading it either way.

Events are appended as Arrow batches, columnar, straight from the readers, staged, and inserted together
(:class:`EventStore`).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from pyarrow import ipc

from rempart.domain.events import CORE_SCHEMA, RECORD, is_core
from rempart.events.sources import SOURCE_ID, SOURCES, SOURCES_DDL, NewSource
from rempart.ingest.staged import without_empty_fields, write_staged

TABLE = "events"
FLUSH_ROWS = 131_072  # rows per staged file
MEMORY_LIMIT = "2GB"
RAW = "_raw"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def field_sql(columns: Mapping[str, str], name: str) -> str | None:
    """SQL reading one field from ``events``: its column where it has one, else its value in ``_raw``
    (a JSON key, or a FortiGate-style ``key=value``). Ingest materialises only the fields the rules
    name, so the rest is reached through ``_raw``. ``columns`` maps lower-case names to column names.
    None when the table has neither the column nor ``_raw``.
    """
    parts = [quote_ident(columns[name.lower()])] if name.lower() in columns else []
    if RAW in columns:
        key = name.replace('"', "")
        parts.append(f"json_extract_string(try_cast({RAW} AS JSON), '$.\"{key}\"')")
        parts.append(f"nullif(regexp_extract({RAW}, '(^|\\s){_regex_literal(key)}=\"?([^\"\\s]*)', 2), '')")
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def _regex_literal(text: str) -> str:
    return "".join("\\" + c if not c.isalnum() and c != "_" else c for c in text)


def _duck_type(dtype: pa.DataType) -> str:
    if pa.types.is_timestamp(dtype):
        return "TIMESTAMPTZ"
    if pa.types.is_integer(dtype):
        return "BIGINT"
    return "VARCHAR"


class EventStore:
    """Events in DuckDB: a file by default (``Settings().event_store_path``), ``":memory:"`` on request.

    Appended batches are *staged* before they are written: gathered into Arrow IPC files (LZ4) beside the
    database, then inserted into ``events`` in one statement by :meth:`flush` (which :attr:`connection`,
    :meth:`count` and every read call first). Adding a column to a filled DuckDB table makes DuckDB rewrite
    the whole table at the next checkpoint, and a hunt meets new fields all along its files: inserted as
    they came, the 677k events of Security-Datasets were written twice (13 s of inserts, then 8 s at close).
    Staged, the columns are all known before the first row is written: one insert, 9 s, and no rewrite.
    """

    def __init__(self, path: str | Path = ":memory:") -> None:
        target = str(path)
        if target != ":memory:":
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        self.path = target
        self._con = duckdb.connect(target)
        self._con.execute("SET enable_progress_bar = false")  # the CLI draws its own
        self._con.execute("SET preserve_insertion_order = false")  # rowids still follow appends
        if target != ":memory:":
            self._con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")  # a file store spills, not swells
            # Log text (a Security event's Message, a PowerShell payload, _raw) is long and varied, and
            # DuckDB only tries ZSTD on strings of 4 kB on average: below that it stored them uncompressed.
            # From 256 bytes, the 677k events of Security-Datasets take 0.5 GB instead of 5 GB, store no
            # slower and scan as fast (measured: benchmarks/hunt.py); short fields keep DuckDB's choice.
            self._con.execute("SET zstd_min_string_length = 256")
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._staging = _Staging(None if target == ":memory:" else Path(target))
        # one writer thread: it compresses a staged file while the readers parse the next batches
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="event-store")
        self._inflight: Future[None] | None = None
        self._columns: dict[str, str] = {}  # lower-case name → the column's spelling
        self._load_columns()
        if not self._columns:
            core = ", ".join(f"{quote_ident(f.name)} {_duck_type(f.type)}" for f in CORE_SCHEMA)
            self._con.execute(f"CREATE TABLE {TABLE} ({core}, {RAW} VARCHAR)")
            self._load_columns()
        self._spelling: dict[str, str] = dict(self._columns)  # ... and of the fields staged, not yet columns
        self._con.execute(SOURCES_DDL)

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection, with every appended batch written."""
        self.flush()
        return self._con

    def _load_columns(self) -> None:
        rows = self._con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND schema_name = 'main'",
            [TABLE],
        ).fetchall()
        self._columns = {r[0].lower(): r[0] for r in rows}

    @property
    def columns(self) -> dict[str, str]:
        """Lower-case name → column name, for every column of ``events``."""
        self.flush()
        return dict(self._columns)

    def column(self, field: str) -> str | None:
        self.flush()
        return self._columns.get(field.lower())

    def field_sql(self, field: str) -> str:
        """SQL reading `field` for each event (see :func:`field_sql`); NULL when nothing can hold it."""
        self.flush()
        return field_sql(self._columns, field) or "NULL"

    def append(self, table: pa.Table) -> int:
        """Stage one batch of events; returns the number of rows added (written at the next :meth:`flush`)."""
        if table.num_rows == 0:
            return 0
        table = self._conform(table)
        self._pending.append(table)
        self._pending_rows += table.num_rows
        if self._pending_rows >= FLUSH_ROWS:
            self._wait()
            self._inflight = self._writer.submit(self._staging.write, self._take_pending())
        return int(table.num_rows)

    def _conform(self, table: pa.Table) -> pa.Table:
        """The batch as ``events`` stores it: one column per field under the store's spelling (the
        first seen: ``ProcessID`` after ``ProcessId`` lands in ``ProcessId``), fields as text, and
        without the fields that are NULL throughout."""
        table = without_empty_fields(table)
        columns = table.column_names  # a new list at each call of the property: read once
        groups: dict[str, list[int]] = {}
        for i, name in enumerate(columns):
            groups.setdefault(name.lower(), []).append(i)
        names, arrays = [], []
        for key, positions in groups.items():
            first = columns[positions[0]]
            name = first if is_core(first) else self._spelling.setdefault(key, first)
            parts = [self._text(table.column(i), columns[i]) for i in positions]
            names.append(name)
            arrays.append(parts[0] if len(parts) == 1 else pc.coalesce(*parts))
        return pa.table(arrays, names=names)

    @staticmethod
    def _text(column: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
        if is_core(name) or pa.types.is_string(column.type):
            return column
        return column.cast(pa.string())

    def _take_pending(self) -> pa.Table:
        pending = self._pending
        self._pending, self._pending_rows = [], 0
        return pa.concat_tables(pending, promote_options="default") if len(pending) > 1 else pending[0]

    def _wait(self) -> None:
        if self._inflight is not None:
            inflight, self._inflight = self._inflight, None
            inflight.result()  # a failed write raises here, in the caller's thread

    def staging_folder(self) -> Path:
        """The folder where batches wait to be inserted; other writers may put Arrow IPC files there
        and hand them over with :meth:`stage_files` (see :func:`rempart.ingest.stage_parallel`)."""
        return self._staging.folder()

    def stage_files(self, files: Iterable[Path]) -> None:
        """Add Arrow IPC files of event batches (core columns, text fields) to what :meth:`flush` inserts."""
        if self._pending:
            self._wait()
            self._staging.write(self._take_pending())  # rows keep the order they were given in
        self._staging.files.extend(files)

    def discard(self) -> None:
        """Drop every batch appended or staged since the last :meth:`flush` (after a failed hunt: what
        it stored is then all or nothing)."""
        with contextlib.suppress(OSError):  # the failure being cleaned up after
            self._wait()
        self._pending, self._pending_rows = [], 0
        self._staging.clear()

    def flush(self, sources: Sequence[NewSource] = (), incomplete: Collection[int] = ()) -> None:
        """Write every appended batch (and wait for it), and record ``sources`` (the files they came from,
        ``incomplete`` the ids of those not read whole) in the same transaction: a run killed at any point
        has stored a file's events and its ``sources`` row, or neither."""
        self._wait()
        if not self._pending and not self._staging.files and not sources:
            return
        pending = self._take_pending() if self._pending else None
        if self._staging.files and pending is not None:
            self._staging.write(pending)
            pending = None
        self._con.begin()
        try:
            if pending is not None:
                self._insert(pending)
            elif self._staging.files:
                scanner = self._staging.scanner()
                if scanner is not None:
                    self._insert(scanner)
                else:  # files that spell one field differently: each brought to the store's spelling
                    for path in self._staging.files:
                        self._insert(self._conform(ipc.open_file(path).read_all()))
            if sources:
                self._record_sources(sources, set(incomplete))
            self._con.commit()
        except BaseException:
            self._con.rollback()
            self._load_columns()  # the columns this insert added are gone with it
            self._spelling = dict(self._columns)
            raise
        finally:
            self._staging.clear()

    def _record_sources(self, sources: Sequence[NewSource], incomplete: set[int]) -> None:
        counts: dict[int, tuple[int, int | None]] = {}
        if SOURCE_ID.lower() in self._columns:
            rows = self._con.execute(
                f"SELECT {SOURCE_ID}, count(*), max({RECORD}) FROM {TABLE} WHERE {SOURCE_ID} >= ? "
                "GROUP BY 1", [min(s.id for s in sources)],
            ).fetchall()
            counts = {int(r[0]): (int(r[1]), None if r[2] is None else int(r[2])) for r in rows}
        values = []
        for s in sources:
            events, last = counts.get(s.id, (0, None))
            if s.skip_upto is not None:
                last = s.skip_upto if last is None else max(last, s.skip_upto)
            values.append([s.id, s.digest, s.size, s.name, events, last,
                           s.extends.id if s.extends else None, s.id not in incomplete])
        self._con.executemany(
            f"INSERT INTO {SOURCES} (id, digest, size, name, events, last_record, extends, complete) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", values,
        )

    def _insert(self, incoming: pa.Table | ds.Scanner) -> None:
        schema = incoming.projected_schema if isinstance(incoming, ds.Scanner) else incoming.schema
        for field in schema:  # every column before the first row: no table rewrite later
            key = field.name.lower()
            if key not in self._columns:
                kind = _duck_type(field.type) if is_core(field.name) else "VARCHAR"
                self._con.execute(f"ALTER TABLE {TABLE} ADD COLUMN {quote_ident(field.name)} {kind}")
                self._columns[key] = field.name
                self._spelling.setdefault(key, field.name)
        self._con.register("_incoming", incoming)
        try:
            self._con.execute(f"INSERT INTO {TABLE} BY NAME SELECT * FROM _incoming")
        finally:
            self._con.unregister("_incoming")

    def count(self) -> int:
        rows = self.connection.execute(f"SELECT count(*) FROM {TABLE}").fetchall()
        return int(rows[0][0])

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql, params or []).fetchall()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._writer.shutdown()
            self._staging.clear()
            self._con.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Staging:
    """Event batches waiting to be inserted, as LZ4-compressed Arrow IPC files in a folder beside the
    database (``events.duckdb.staging``), or in the system's temporary folder for an in-memory store."""

    def __init__(self, database: Path | None) -> None:
        self._database = database
        self._folder: Path | None = None
        self.files: list[Path] = []
        if database is not None:  # what a run that was killed left behind was never inserted
            shutil.rmtree(self._folder_for(database), ignore_errors=True)

    @staticmethod
    def _folder_for(database: Path) -> Path:
        return database.with_name(database.name + ".staging")

    def folder(self) -> Path:
        if self._folder is None:
            if self._database is None:
                self._folder = Path(tempfile.mkdtemp(prefix="rempart-staging-"))
            else:
                self._folder = self._folder_for(self._database)
                self._folder.mkdir(exist_ok=True)
        return self._folder

    def write(self, table: pa.Table) -> None:
        path = self.folder() / f"main-{len(self.files):06d}.arrow"
        write_staged(table, path)
        self.files.append(path)

    def scanner(self) -> ds.Scanner | None:
        """Every staged file as one scan over the union of their columns (NULL where one lacks a column);
        None when two files spell a field differently (``ProcessId``, ``ProcessID``). A short read-ahead
        keeps memory down (3.3 GB → 2.8 GB at the peak of a Security-Datasets hunt) and is no slower."""
        schema = pa.unify_schemas([ipc.open_file(f).schema for f in self.files], promote_options="permissive")
        if len({name.lower() for name in schema.names}) < len(schema.names):
            return None
        dataset = ds.dataset([str(f) for f in self.files], schema=schema, format="ipc")
        return ds.Scanner.from_dataset(dataset, batch_readahead=2, fragment_readahead=1)

    def clear(self) -> None:
        for path in self.files:
            path.unlink(missing_ok=True)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
        self._folder, self.files = None, []
