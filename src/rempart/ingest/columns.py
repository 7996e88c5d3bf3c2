"""Column work shared by the readers: flatten, rename, narrow, stringify, merge, parse times.

All of it runs on whole Arrow columns (C++), never per event per column in Python, except for the rare
nested list values, which are written back as JSON text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from rempart.ingest.interface import ReaderContext

TS_TYPE = pa.timestamp("us", tz="UTC")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # epoch times are added to it as whole µs: exact, unlike floats
_ISO = r"^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d(?:\.\d{1,6})?)\d*\s*(Z|[+-]\d\d:?\d\d)?$"
_HAS_ZONE = r"(Z|[+-]\d\d:?\d\d)$"


def to_string(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Any Arrow column as text: numbers and booleans as written, nested values as JSON."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_string(t):
        return arr
    if pa.types.is_null(t) or pa.types.is_large_string(t) or pa.types.is_integer(t) or pa.types.is_boolean(t):
        return arr.cast(pa.string())
    if pa.types.is_floating(t) or pa.types.is_timestamp(t) or pa.types.is_decimal(t):
        return arr.cast(pa.string())
    return pa.array([None if v is None else orjson.dumps(v).decode() for v in arr.to_pylist()], pa.string())


def flatten_structs(table: pa.Table) -> pa.Table:
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()  # 'parent.child' names
    return table


def shape(
    columns: Iterable[tuple[str, pa.Array | pa.ChunkedArray]],
    rename: Callable[[str], str | None],
    ctx: ReaderContext,
    always: frozenset[str] = frozenset(),
) -> dict[str, pa.Array]:
    """Rename original columns to canonical field names, keep the wanted ones (plus ``always``, lower-case
    names the reader needs for the core columns), cast them to text and merge same-name columns
    (the first non-null value wins, in column order)."""
    groups: dict[str, list[pa.Array | pa.ChunkedArray]] = {}
    for original, arr in columns:
        target = rename(original)
        if target is None:
            continue
        name = ctx.canon(target)
        if name.startswith("_"):
            name = "orig" + name  # a leading '_' is reserved for the core columns ('_path' → 'orig_path')
        if ctx.keep(name) or name.lower() in always:
            groups.setdefault(name, []).append(arr)
    out: dict[str, pa.Array] = {}
    for name, arrs in groups.items():
        texts = [to_string(a) for a in arrs]
        out[name] = texts[0] if len(texts) == 1 else pc.coalesce(*texts)
    return out


def spelled(cols: dict[str, pa.Array], names: Iterable[str]) -> list[str]:
    """The keys of `cols` that are `names`, whatever their case: the first product to bring a name sets
    its spelling for the whole run (FortiGate's ``eventtime`` before NXLog's ``EventTime``)."""
    keys = {k.lower(): k for k in cols}
    return [keys[n.lower()] for n in names if n.lower() in keys]


def first_of(cols: dict[str, pa.Array], names: Iterable[str], length: int) -> pa.Array:
    """Row-wise first non-null value among ``names`` (any case; absent columns skipped), NULLs when none."""
    found = [cols[k] for k in spelled(cols, names)]
    if not found:
        return pa.nulls(length, pa.string())
    return found[0] if len(found) == 1 else pc.coalesce(*found)


def parse_iso(arr: pa.Array) -> pa.Array:
    """ISO-8601 text (``T`` or space, any fraction, ``Z``/offset or none = UTC) to timestamp[us, UTC];
    anything else becomes NULL (and the pipeline quarantines the event for its missing time)."""
    arr = to_string(arr)
    try:
        return arr.cast(TS_TYPE)  # the common case, 'YYYY-MM-DDTHH:MM:SS.fffZ': Arrow's own parser
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass  # some value without a zone, with a space, or not a time at all: normalise them all
    ok = pc.match_substring_regex(arr, _ISO)
    norm = pc.replace_substring_regex(arr, _ISO, r"\1T\2\3")
    norm = pc.if_else(
        pc.match_substring_regex(norm, _HAS_ZONE), norm, pc.binary_join_element_wise(norm, "Z", "")
    )
    norm = pc.if_else(ok, norm, pa.scalar(None, pa.string()))
    return _times_or_null(norm)


def _times_or_null(arr: pa.Array) -> pa.Array:
    """ISO text cast to times, a value Arrow refuses (``10:60:03``, ``02-30``) made NULL rather than failing
    its whole column: the column is halved until the refused values stand alone (a few casts per bad one)."""
    try:
        return arr.cast(TS_TYPE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(arr) <= 1:
            return pa.nulls(len(arr), TS_TYPE)
    half = len(arr) // 2
    return pa.concat_arrays([_times_or_null(arr.slice(0, half)), _times_or_null(arr.slice(half))])


def flatten_dict(obj: dict[str, Any], out: dict[str, str | None], prefix: str = "") -> dict[str, str | None]:
    """A JSON object as 'a.b.c' → text, the Python twin of :func:`flatten_structs` + :func:`to_string`."""
    for key, value in obj.items():
        path = prefix + key
        if isinstance(value, dict):
            if value:
                flatten_dict(value, out, path + ".")
        elif isinstance(value, str) or value is None:
            out[path] = value
        elif isinstance(value, bool):
            out[path] = "true" if value else "false"
        elif isinstance(value, int | float):
            out[path] = str(value)
        else:
            out[path] = orjson.dumps(value).decode()
    return out


def table_from_rows(rows: list[dict[str, str | None]]) -> pa.Table:
    """Flattened rows (possibly with different keys) as one all-string table."""
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    return pa.Table.from_pylist(rows, schema=pa.schema([(k, pa.string()) for k in keys]))
