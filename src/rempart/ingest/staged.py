"""Staged event tables: Arrow IPC files that an event store inserts later, all in one statement."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from pyarrow import ipc

BATCH_ROWS = 8_192  # rows per record batch of a staged file: DuckDB scans the batches in parallel


def write_staged(table: pa.Table, path: Path | str) -> None:
    """Write `table` to `path` as an LZ4-compressed Arrow IPC file (fast to write and to read back)."""
    with ipc.new_file(path, table.schema, options=ipc.IpcWriteOptions(compression="lz4")) as out:
        out.write_table(table, max_chunksize=BATCH_ROWS)
