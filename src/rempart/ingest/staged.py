"""Staged event tables: Arrow IPC files that an event store inserts later, all in one statement."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from pyarrow import ipc

from rempart.domain.events import is_core

BATCH_ROWS = 8_192  # rows per record batch of a staged file: DuckDB scans the batches in parallel


def without_empty_fields(table: pa.Table) -> pa.Table:
    """`table` without the fields (non-core columns) that are NULL in every row: they read NULL in the
    store all the same, and carried as empty columns they cost DuckDB a write in every row (the ~110 rule
    fields no Security-Datasets event fills took 15 s of a 60 s hunt)."""
    keep = [
        i for i, name in enumerate(table.column_names)
        if is_core(name) or table.column(i).null_count < table.num_rows
    ]
    return table if len(keep) == table.num_columns else table.select(keep)


def write_staged(table: pa.Table, path: Path | str) -> None:
    """Write `table` to `path` as an LZ4-compressed Arrow IPC file (fast to write and to read back)."""
    with ipc.new_file(path, table.schema, options=ipc.IpcWriteOptions(compression="lz4")) as out:
        out.write_table(table, max_chunksize=BATCH_ROWS)
