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
- a field that was not materialised at ingest (see ``read_paths(fields=…)``) is still in ``_raw``;
  :meth:`EventStore.field_sql` gives an expression reading it either way.

Events are appended as Arrow batches, columnar, straight from the readers.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from rempart.domain.events import CORE_SCHEMA, is_core

TABLE = "events"
# At least one DuckDB row group (122,880 rows): a larger insert is written straight to the database file;
# a smaller one goes to the write-ahead log first and is written a second time at checkpoint.
FLUSH_ROWS = 131_072
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
    """Events in DuckDB: a file by default (``Settings().event_store_path``), ``":memory:"`` on request."""

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
        self._new_columns: dict[str, tuple[str, str]] = {}  # lower-case name → (spelling, type) to add
        # one writer thread: DuckDB converts and writes a batch while the readers parse the next one
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="event-store")
        self._inflight: Future[None] | None = None
        self._writer_con = self._con.cursor()  # its own connection to the same database
        self._columns: dict[str, str] = {}  # lower-case name → the column's spelling
        self._load_columns()
        if not self._columns:
            core = ", ".join(f"{quote_ident(f.name)} {_duck_type(f.type)}" for f in CORE_SCHEMA)
            self._con.execute(f"CREATE TABLE {TABLE} ({core}, {RAW} VARCHAR)")
            self._load_columns()

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
        """Append one batch of events; returns the number of rows added.

        Batches of one schema are gathered and written together (one INSERT per ~FLUSH_ROWS rows):
        many small inserts, each a commit, cost far more than the rows themselves.
        """
        if table.num_rows == 0:
            return 0
        # Every column a batch names is declared, even when empty here. A column added to a filled table
        # makes DuckDB rewrite the whole table at the next checkpoint (8 s for Security-Datasets), but
        # declaring up front every field the rules name costs more: each insert writes the columns no
        # event fills, 15 s there (benchmarks/hunt.py). So readers name only the fields their events have.
        for name in table.column_names:
            key = name.lower()
            if key not in self._columns and key not in self._new_columns:
                dtype = table.schema.field(name).type
                self._new_columns[key] = (name, _duck_type(dtype) if is_core(name) else "VARCHAR")
        # A batch materialises every field the rules name, mostly empty for any one log: columns that
        # are NULL throughout are left out here (they read NULL in the table all the same), which spares
        # DuckDB converting millions of empty cells.
        empty = [
            i for i, name in enumerate(table.column_names)
            if not is_core(name) and table.column(i).null_count == table.num_rows
        ]
        if empty:
            table = table.remove_column(empty[0]) if len(empty) == 1 else table.drop_columns(
                [table.column_names[i] for i in empty])
        self._pending.append(table)
        self._pending_rows += table.num_rows
        if self._pending_rows >= FLUSH_ROWS:
            self._submit()
        return int(table.num_rows)

    def _submit(self) -> None:
        self._wait()
        pending = self._pending
        table = pa.concat_tables(pending, promote_options="default") if len(pending) > 1 else pending[0]
        self._pending, self._pending_rows = [], 0
        new, self._new_columns = self._new_columns, {}
        self._inflight = self._writer.submit(self._insert, table, new)

    def _wait(self) -> None:
        if self._inflight is not None:
            inflight, self._inflight = self._inflight, None
            inflight.result()  # a failed write raises here, in the caller's thread

    def flush(self) -> None:
        """Write every appended batch (and wait for it)."""
        if self._pending:
            self._submit()
        self._wait()

    def _insert(self, table: pa.Table, new: dict[str, tuple[str, str]]) -> None:
        for key, (name, kind) in new.items():
            if key not in self._columns:
                self._writer_con.execute(f"ALTER TABLE {TABLE} ADD COLUMN {quote_ident(name)} {kind}")
                self._columns[key] = name
        groups: dict[str, list[str]] = {}
        for name in table.column_names:
            groups.setdefault(name.lower(), []).append(name)
        # DuckDB would itself rename a second spelling (ProcessID_1): read columns by position instead
        position = {name: f"c{i}" for i, name in enumerate(table.column_names)}
        table = table.rename_columns(list(position.values()))
        select = []
        for key, names in groups.items():
            target = self._columns[key]
            parts = [self._cast(position[n], table.schema.field(position[n]).type, n) for n in names]
            expr = parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"
            select.append(f"{expr} AS {quote_ident(target)}")
        self._writer_con.register("_incoming", table)
        try:
            self._writer_con.execute(f"INSERT INTO {TABLE} BY NAME SELECT {', '.join(select)} FROM _incoming")
        finally:
            self._writer_con.unregister("_incoming")

    @staticmethod
    def _cast(expr: str, dtype: pa.DataType, name: str) -> str:
        if is_core(name) or pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
            return expr
        return f"CAST({expr} AS VARCHAR)"

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
            self._writer_con.close()
            self._con.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
