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


def quote(name: str) -> str:
    """A column name as a DuckDB identifier (Zeek names hold dots: ``id.orig_h``)."""
    return '"' + name.replace('"', '""') + '"'


def to_us(when: datetime) -> int:
    """Microseconds since the epoch: queries compare ``epoch_us(_ts)``, the same for naive and aware."""
    return int(when.astimezone(UTC).timestamp() * 1_000_000)


def from_us(value: int | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value / 1_000_000, UTC)


def field_sql(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """SQL reading one field: its column, else its value in ``_raw`` (JSON, or FortiGate-style key=value).

    Ingest may materialise only the fields detection needs; the rest stays in ``_raw``. None when the
    store has neither the column nor ``_raw``.
    """
    by_lower = {c.lower(): c for c in columns(con)}
    parts = [quote(by_lower[name.lower()])] if name.lower() in by_lower else []
    if "_raw" in by_lower:
        key = name.replace('"', "")
        parts.append(f"json_extract_string(try_cast(_raw AS JSON), '$.\"{key}\"')")
        parts.append(f"nullif(regexp_extract(_raw, '(^|\\s){_re(key)}=\"?([^\"\\s]*)', 2), '')")
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def _re(text: str) -> str:
    return "".join("\\" + c if not c.isalnum() and c != "_" else c for c in text)
