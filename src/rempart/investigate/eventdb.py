"""Read access to the DuckDB event store, written against the normalised event contract.

The investigation only reads the ``events`` table: core columns (``_ts``, ``_host``, ``_establishment`` …)
plus one VARCHAR column per original field. A field that no ingested batch carried has no column at all,
so every query first asks which columns exist.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from rempart.errors import InputError, Location
from rempart.events.store import field_sql as store_field_sql

EVENTS = "events"


def connect(path: str | Path) -> duckdb.DuckDBPyConnection:
    """Open the event store read-write (DuckDB refuses mixed modes on one file within a process)."""
    try:
        return duckdb.connect(str(path))
    except duckdb.IOException as exc:  # another process (an ingest) holds the file
        raise InputError(
            f"cannot open the event store: {exc}",
            Location(str(path)),
            hint="wait for the running ingest to finish, then try again",
        ) from None


def columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The columns of the events table, in order; empty when nothing was ever ingested."""
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [EVENTS],
    ).fetchall()
    return [str(r[0]) for r in rows]


def field_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Original-field columns (not the underscore-prefixed core columns)."""
    return [c for c in columns(con) if not c.startswith("_")]


def has_events(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(columns(con))


def to_us(when: datetime) -> int:
    """Microseconds since the epoch: queries compare ``epoch_us(_ts)``, the same for naive and aware."""
    return int(when.astimezone(UTC).timestamp() * 1_000_000)


def from_us(value: int | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value / 1_000_000, UTC)


def field_sql(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """SQL reading one field: its column, else its value in ``_raw`` (see :func:`events.store.field_sql`)."""
    return store_field_sql({c.lower(): c for c in columns(con)}, name)
