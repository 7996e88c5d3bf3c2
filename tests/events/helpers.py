"""Event batches built by hand, as the readers build them (core columns + one string column per field)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from rempart.domain.events import CORE_SCHEMA

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def events_table(rows: list[dict[str, Any]], source: str = "test.log") -> pa.Table:
    """Rows of {field: value}; core columns get defaults (`_ts` one second apart from T0)."""
    fields: list[str] = []
    for row in rows:
        for key in row:
            if not key.startswith("_") and key not in fields:
                fields.append(key)
    defaults: dict[str, Any] = {
        "_host": "host1", "_product": "windows", "_service": "security", "_format": "test",
        "_source": source, "_establishment": None, "_asset": None,
    }
    columns: dict[str, list[Any]] = {}
    for name in CORE_SCHEMA.names:
        if name == "_ts":
            columns[name] = [r.get("_ts", T0 + timedelta(seconds=i)) for i, r in enumerate(rows)]
        elif name == "_record":
            columns[name] = [r.get("_record", i + 1) for i, r in enumerate(rows)]
        else:
            columns[name] = [r.get(name, defaults[name]) for r in rows]
    arrays = [pa.array(columns[n], type=CORE_SCHEMA.field(n).type) for n in CORE_SCHEMA.names]
    names = list(CORE_SCHEMA.names)
    for f in fields:
        arrays.append(pa.array([None if r.get(f) is None else str(r[f]) for r in rows], type=pa.string()))
        names.append(f)
    arrays.append(pa.array([r.get("_raw", repr(r)) for r in rows], type=pa.string()))
    names.append("_raw")
    return pa.Table.from_arrays(arrays, names=names)
