"""Windows EVTX files, through the ``evtx`` package (Rust, ``PyEvtxParser``): each record's JSON is
flattened by :mod:`rempart.ingest.windows` (``Event.System`` and ``Event.EventData`` / ``UserData`` children
at the top level, EVTX / Sigma names). ``_record`` is the EventRecordID (``Event.System``'s, else the
record header's);
``_raw`` the record as JSON.

An EVTX file is a 4 KiB file header and 64 KiB chunks, each self-contained (its own string and template
tables). The file is read one chunk at a time, and each chunk is parsed as a file of its own (a header made
here, then the chunk): memory does not grow with the file (a domain controller's 2 GB ``Security.evtx``
reads in the memory of a 10 MB one), and a failure costs at most its chunk. A chunk without its signature
is quarantined before the native parser sees it, and one whose free-space offset is damaged is mended
(the parser would silently read none of its records, or past its end); a record the parser
cannot read is skipped by it (``skip_errors``) and reported; a record whose values do not fit (an
EventRecordID beyond 64 bits) is quarantined alone. A file whose header is unreadable is reported and its
chunks read anyway; one cut short keeps its whole chunks.
"""

from __future__ import annotations

import contextlib
import io
import re
import struct
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any, BinaryIO

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
from evtx import PyEvtxParser

from rempart.ingest.columns import flatten_dict, flatten_structs, table_from_rows, to_string
from rempart.ingest.interface import Batch, Reader, ReaderContext
from rempart.ingest.registry import registry
from rempart.ingest.sources import Source
from rempart.ingest.windows import windows_batch

MAGIC = b"ElfFile\x00"
CHUNK_MAGIC = b"ElfChnk\x00"
HEADER_BYTES = 4096
CHUNK_BYTES = 65536
CHUNK_HEADER_BYTES = 512  # the chunk header and its string / template offset tables; records follow
POOL_BYTES = 8 << 20  # JSON pooled at most before a batch is made: this, not the file's size, bounds memory
_INT64 = (1 << 63) - 1


class EvtxReader(Reader):
    name = "evtx"
    extensions = (".evtx",)

    def sniff(self, head: bytes, filename: str) -> int:
        return 100 if head.startswith(MAGIC) else 0

    def read(self, source: Source, ctx: ReaderContext) -> Iterator[Batch]:
        # Records of consecutive files are pooled (most EVTX files hold a few dozen records, and the
        # column work costs per batch, not per record); a pool is yielded once it is full (see RecordPool).
        pool: RecordPool = ctx.pending.setdefault(self.name, RecordPool())
        first, stop = _WINDOW[-1] if _WINDOW and source.member is None else (0, None)
        header = source.stream.read(HEADER_BYTES)
        if len(header) < HEADER_BYTES:
            if first == 0:
                ctx.fail(source, f"truncated EVTX: {len(header):,} bytes, not even the {HEADER_BYTES:,}-byte "
                                 "file header")
            return
        announced = _announced_chunks(header)
        if announced is None and first == 0:
            ctx.fail(source, "corrupt EVTX file header (size, version or block size wrong); its chunks were "
                             "read anyway")
        with contextlib.ExitStack() as stack:
            stream: BinaryIO = source.stream
            if first:  # a worker's share of a big file: straight to its first chunk
                stream = stack.enter_context(source.path.open("rb"))
                stream.seek(HEADER_BYTES + first * CHUNK_BYTES)
            yield from self._chunks(stream, source, ctx, pool, announced, first, stop)

    def _chunks(self, stream: BinaryIO, source: Source, ctx: ReaderContext, pool: RecordPool,
                announced: int | None, first: int, stop: int | None) -> Iterator[Batch]:
        problems: list[str] = []
        whole, chunk = first, b""
        while stop is None or whole < stop:
            chunk = stream.read(CHUNK_BYTES)  # bounded reads: never the whole file at once
            if len(chunk) < CHUNK_BYTES:
                break
            for record in _chunk_records(chunk, whole, source, ctx, problems):
                pool.add(record, source.name)
                if pool.full(ctx.batch_size):
                    yield from pool.drain(ctx)
            whole += 1
            chunk = b""
        size = HEADER_BYTES + whole * CHUNK_BYTES + len(chunk)
        if stop is None and (chunk or (announced is not None and whole < announced)):
            _cut(source, ctx, announced, whole, size)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            ctx.fail(source, f"corrupt EVTX, {len(problems)} problems (the records around them were read): "
                             f"{problems[0][:200]}{more}")

    def flush(self, ctx: ReaderContext) -> Iterator[Batch]:
        pool: RecordPool | None = ctx.pending.pop(self.name, None)
        if pool is not None:
            yield from pool.drain(ctx)


# (first chunk, chunk to stop before or None): set by chunk_window in a parsing worker
_WINDOW: list[tuple[int, int | None]] = []


@contextlib.contextmanager
def chunk_window(first: int, stop: int | None) -> Iterator[None]:
    """Within it, a plain EVTX file (not an archive member) is read from its chunk `first` up to, not
    including, `stop` (None: its end): each worker of :mod:`rempart.ingest.parallel` reads its share of a
    big file, chunks being self-contained. The file's header is judged by the share that starts at chunk
    0, a file cut short by the one that reaches its end."""
    _WINDOW.append((first, stop))
    try:
        yield
    finally:
        _WINDOW.pop()


def _cut(source: Source, ctx: ReaderContext, announced: int | None, whole: int, size: int) -> None:
    if announced is None:
        ctx.fail(source, f"truncated EVTX: {size:,} bytes, its last chunk cut short; the records of the "
                         f"{whole} whole chunks are kept")
        return
    expected = HEADER_BYTES + announced * CHUNK_BYTES
    ctx.fail(source, f"truncated EVTX: {size:,} bytes where the header announces {announced} chunks "
                     f"({expected:,} bytes); the records of the {whole} whole chunks are kept")


def _announced_chunks(header: bytes) -> int | None:
    """The number of chunks the file header announces; None when the header is not an EVTX 3 one."""
    header_size, _, major, block, chunks = struct.unpack_from("<IHHHH", header, 32)
    if (header_size, major, block) != (128, 3, HEADER_BYTES):
        return None
    return int(chunks)


def _checked(chunk: bytes) -> tuple[bytes | None, str | None]:
    """The chunk to hand to the parser (None: it is not one) and what was wrong with its header."""
    if chunk[:8] != CHUNK_MAGIC:
        return None, f"no chunk signature (it starts with {chunk[:8]!r})"
    free = struct.unpack_from("<I", chunk, 48)[0]
    if not CHUNK_HEADER_BYTES <= free <= CHUNK_BYTES:
        # the parser reads records up to the free-space offset: a damaged one below the records made it
        # read none, silently; looking up to the chunk's end instead, it stops after the last record
        fixed = bytearray(chunk)
        struct.pack_into("<I", fixed, 48, CHUNK_BYTES)
        return bytes(fixed), f"free-space offset {free:,} outside the chunk, records read up to its end"
    return chunk, None


@cache
def file_header(chunks: int) -> bytes:
    """A sound EVTX file header announcing `chunks` chunks (its CRC-32 right), to put before chunks taken
    from elsewhere: what each chunk is parsed behind, and how the benchmark builds big files."""
    header = bytearray(HEADER_BYTES)
    header[:8] = MAGIC
    # first and last chunk numbers, next record id, header size, minor and major version, block size, count
    last = max(chunks - 1, 0)
    struct.pack_into("<QQQIHHHH", header, 8, 0, last, 1, 128, 1, 3, HEADER_BYTES, chunks & 0xFFFF)
    struct.pack_into("<I", header, 124, zlib.crc32(bytes(header[:120])))
    return bytes(header)


def _chunk_records(chunk: bytes, index: int, source: Source, ctx: ReaderContext, problems: list[str]
                   ) -> list[dict[str, Any]]:
    """The records of one chunk, as the parser gives them; what goes wrong is added to `problems`."""
    if not chunk.strip(b"\x00"):
        return []  # space allocated for chunks not yet written (a file copied while Windows wrote it)
    checked, why = _checked(chunk)
    if checked is None:
        offset = HEADER_BYTES + index * CHUNK_BYTES
        ctx.quarantine(source, None, f"EVTX chunk {index} (at byte {offset:,}) not parsed: {why}; "
                                     "the records it may hold are lost", chunk[:48])
        return []
    if why is not None:
        problems.append(f"chunk {index}: {why}")
    records: list[dict[str, Any]] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            parser = PyEvtxParser(io.BytesIO(file_header(1) + checked), number_of_threads=1, skip_errors=True)
            for record in parser.records_json():
                if isinstance(record, dict):
                    records.append(record)
                else:
                    problems.append(f"chunk {index}: the parser gave {type(record).__name__}, not a record")
        except BaseException as exc:  # the native parser's panics are BaseExceptions: one costs its chunk
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            problems.append(f"chunk {index}: read stopped after {len(records)} records: "
                            f"{type(exc).__name__}: {exc}")
    problems.extend(f"chunk {index}: {w.message}" for w in caught)
    return records


def _add(record: dict[str, Any], pool: EventPool, source: str, ctx: ReaderContext) -> None:
    """One record into the pool, or into the quarantine with its reason: it costs at most itself."""
    checked = _checked_event(record, source, ctx)
    if checked is None:
        return
    event, number = checked
    try:
        pool.add(event, number, source)
    except Exception as exc:  # noqa: BLE001 - a value that will not serialise costs its record only
        ctx.report.quarantine(source, number, f"corrupt EVTX record: {type(exc).__name__}: {exc}",
                              str(record.get("data", "")))


def _checked_event(record: dict[str, Any], source: str, ctx: ReaderContext
                   ) -> tuple[dict[str, Any], int] | None:
    """The record's event, parsed, and its number; None when it is quarantined, with its reason."""
    header_id = record.get("event_record_id")
    number = header_id if isinstance(header_id, int) else 0
    try:
        event = orjson.loads(record["data"])
        system = event["Event"]["System"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        text = str(record.get("data", ""))[:200]
        ctx.report.quarantine(source, _fits(number), f"undecodable EVTX record: {exc}", text)
        return None
    if isinstance(system, dict):
        system_id = system.get("EventRecordID")  # what Windows tools show; the header's may differ
        if isinstance(system_id, int):
            number = system_id
        if "TimeCreated" not in system and record.get("timestamp"):
            # rare: no TimeCreated in the record; the record header's time stands in for it
            system["TimeCreated"] = {"#attributes": {"SystemTime": str(record["timestamp"])}}
    if _fits(number) is None:
        ctx.report.quarantine(source, _fits(header_id), f"corrupt EVTX record: EventRecordID {number} is not "
                                                        "a 64-bit record number", str(record.get("data", "")))
        return None
    return event, number


def _fits(number: object) -> int | None:
    return number if isinstance(number, int) and 0 <= number <= _INT64 else None


@dataclass
class EventPool:
    """Windows events as EVTX renders them to JSON (``{"Event": {"System": …, "EventData": …}}``), from
    the files of a run, turned into batches together (see :meth:`EvtxReader.read`). Only their JSON is
    kept (a parsed event takes ten times its JSON's memory), and a pool is full at ``batch_size`` events or
    :data:`POOL_BYTES` of JSON, whichever comes first."""

    raws: list[bytes] = field(default_factory=list)  # the records as read, for _raw
    parse: list[bytes] = field(default_factory=list)  # the same with types settled, for Arrow
    numbers: list[int] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    size: int = 0  # bytes of JSON held

    def __len__(self) -> int:
        return len(self.raws)

    def full(self, batch_size: int) -> bool:
        return len(self.raws) >= batch_size or self.size >= POOL_BYTES

    def add(self, event: dict[str, Any], number: int, source: str) -> None:
        raw = orjson.dumps(event)
        _settle_types(event)
        settled = orjson.dumps(event)
        self.raws.append(raw)  # appended together, once all is known: the lists stay aligned
        self.parse.append(settled)
        self.numbers.append(number)
        self.sources.append(source)
        self.size += len(raw) + len(settled)

    def drain(self, ctx: ReaderContext) -> Iterator[Batch]:
        raws, parse, numbers, sources = self.raws, self.parse, self.numbers, self.sources
        self.raws, self.parse, self.numbers, self.sources, self.size = [], [], [], [], 0
        yield from _batches(raws, parse, numbers, sources, ctx)


SYSTEM_ID = "Event.System.EventRecordID"
SYSTEM_TIME = "Event.System.TimeCreated.#attributes.SystemTime"


@dataclass
class RecordPool:
    """EVTX records as the parser gives them (its JSON text, compact), from the files of a run, turned
    into batches together (see :meth:`EvtxReader.read`). The text is ``_raw`` as it is, and Arrow's JSON
    reader takes it as it is: records are grouped by what precedes ``Version`` in their text (provider
    and EventID), whose values have the same JSON types, so no group needs its numbers made text first.
    A group Arrow refuses, whose record numbers or times are missing or odd, or with a floating-point
    field (Arrow writes 1.0 as "1", a 64-bit count beyond 2**53 loses digits), takes the per-record path
    (parsed, checked, types settled, as :class:`EventPool` does), which quarantines what is wrong. The
    groups' rows and fields are put back in the order of the records, so that a batch is what one Arrow
    read of them all would have given. Full at ``batch_size`` records or :data:`POOL_BYTES` of text."""

    texts: list[str] = field(default_factory=list)
    headers: list[Any] = field(default_factory=list)  # the record header's number and time
    times: list[Any] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    size: int = 0
    waiting: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # records the parser gave
    # without their text (never seen): the per-record path

    def __len__(self) -> int:
        return len(self.texts) + len(self.waiting)

    def full(self, batch_size: int) -> bool:
        return len(self) >= batch_size or self.size >= POOL_BYTES

    def add(self, record: dict[str, Any], source: str) -> None:
        text = record.get("data")
        if not isinstance(text, str):
            self.waiting.append((record, source))
            return
        self.texts.append(text)
        self.headers.append(record.get("event_record_id"))
        self.times.append(record.get("timestamp"))
        self.sources.append(source)
        # counted twice: the pools of the per-record path, which holds each record's JSON as read and as
        # settled, were that large; the same pools give the same batches
        self.size += 2 * len(text)

    def record(self, i: int) -> dict[str, Any]:
        return {"data": self.texts[i], "event_record_id": self.headers[i], "timestamp": self.times[i]}

    def drain(self, ctx: ReaderContext) -> Iterator[Batch]:
        waiting, self.waiting = self.waiting, []
        if self.texts:
            yield from self._batch(ctx)
        self.texts, self.headers, self.times, self.sources, self.size = [], [], [], [], 0
        if waiting:
            slow = EventPool()
            for record, source in waiting:
                _add(record, slow, source, ctx)
            yield from slow.drain(ctx)

    def _batch(self, ctx: ReaderContext) -> Iterator[Batch]:
        groups: dict[str, list[int]] = {}
        for i, text in enumerate(self.texts):
            end = text.find(',"Version"')
            groups.setdefault(text[:end] if end > 0 else "", []).append(i)
        got = _Groups()
        # the small groups (a few records each of many providers, from files of a few dozen records)
        # tried together first, each alone only if their types disagree: a read costs per call
        small = [g for g in groups.values() if len(g) < SMALL_GROUP]
        rest = [g for g in groups.values() if len(g) >= SMALL_GROUP]
        if len(small) == 1 or (small and not self._take(sorted(i for g in small for i in g), got, ctx,
                                                         settle=False)):
            rest += small
        for group in rest:
            self._take(group, got, ctx)
        tables, numbers, order, raws, first = got.tables, got.numbers, got.order, got.raws, got.first
        if not tables:
            return
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")
        record = numbers[0] if len(numbers) == 1 else pa.concat_arrays(numbers)
        if order != sorted(order):  # back to the order of the records, fields too: the first spelling of
            # a name met (param1, Param1) is the run's (FieldCanon)
            back = pc.sort_indices(pa.array(order, pa.int64()))
            table, record = table.combine_chunks().take(back), record.take(back)
            order = sorted(order)
            table = table.select(_arrow_order(table.column_names, first, len(order)))
        table = _without_null_parents(table)
        raw = [raws[i] if i in raws else _as_written(self.texts[i]) for i in order]
        try:
            batch = windows_batch(table, pa.array(raw, pa.string()), record, ctx)
            batch.sources = pa.array([self.sources[i] for i in order], pa.string())
        except Exception:  # noqa: BLE001 - a value no column takes: the per-record path finds its record
            slow = EventPool()
            for i in order:
                _add(self.record(i), slow, self.sources[i], ctx)
            yield from slow.drain(ctx)
            return
        yield batch

    def _take(self, rows: list[int], got: _Groups, ctx: ReaderContext, settle: bool = True) -> bool:
        """The records `rows` as one table into `got`; False (nothing taken) when Arrow refuses them and
        not `settle`, else they take the per-record path."""
        read = _group_table([self.texts[i] for i in rows], [self.headers[i] for i in rows])
        if read is None:
            if not settle:
                return False
            read, rows = self._settled(rows, got.raws, ctx)
            if read is None:
                return True
        got.tables.append(read[0])
        got.numbers.append(read[1])
        got.order.extend(rows)
        for name, column in zip(read[0].column_names, read[0].columns, strict=True):
            if column.null_count < len(column):
                at = rows[pc.indices_nonzero(pc.is_valid(column))[0].as_py() if column.null_count else 0]
                got.first[name] = min(got.first.get(name, at), at)
        return True

    def _settled(self, rows: list[int], raws: dict[int, str], ctx: ReaderContext
                 ) -> tuple[tuple[pa.Table, pa.Array] | None, list[int]]:
        """The per-record path for a group: each record parsed and checked (or quarantined), its types
        settled (see :func:`_settle_types`); the group's table and numbers, and the rows kept."""
        kept: list[int] = []
        settled: list[bytes] = []
        numbers: list[int] = []
        for i in rows:
            checked = _checked_event(self.record(i), self.sources[i], ctx)
            if checked is None:
                continue
            event, number = checked
            try:
                raw = orjson.dumps(event)
                _settle_types(event)
                settled.append(orjson.dumps(event))
            except Exception as exc:  # noqa: BLE001 - a value that will not serialise costs its record only
                ctx.report.quarantine(self.sources[i], number, f"corrupt EVTX record: {type(exc).__name__}: "
                                      f"{exc}", self.texts[i])
                continue
            raws[i] = raw.decode()
            kept.append(i)
            numbers.append(number)
        if not kept:
            return None, kept
        table = _arrow_table(settled)
        if table is None:
            table = table_from_rows([flatten_dict(orjson.loads(p), {}) for p in settled])
        columns = zip(table.column_names, table.columns, strict=True)
        return (pa.table({name: to_string(c) for name, c in columns}), pa.array(numbers, pa.int64())), kept


SMALL_GROUP = 64  # records: a group smaller is first read with the other small ones


@dataclass
class _Groups:
    """The tables of a pool's groups as they are read, and what puts them back in the records' order."""

    tables: list[pa.Table] = field(default_factory=list)
    numbers: list[pa.Array] = field(default_factory=list)
    order: list[int] = field(default_factory=list)  # the record of each row of the tables, in turn
    raws: dict[int, str] = field(default_factory=dict)  # the records the per-record path wrote again
    first: dict[str, int] = field(default_factory=dict)  # each field's first record with a value


def _arrow_order(names: list[str], first: dict[str, int], rows: int) -> list[int]:
    """The columns in the order Arrow's JSON reader gives them for all the records read at once: a
    struct's fields in the order they are first met, each flattened where its struct is (``Event.System.*``
    before ``Event.EventData.*``). `first`: each column's first record with a value."""
    prefixes: dict[str, tuple[int, int]] = {}  # a path → its first record, its first column
    for j, name in enumerate(names):
        at = first.get(name, rows)
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            prefix = ".".join(parts[:depth])
            seen = prefixes.get(prefix)
            prefixes[prefix] = (at, j) if seen is None else min(seen, (at, j))

    def key(j: int) -> list[tuple[int, int]]:
        parts = names[j].split(".")
        return [prefixes[".".join(parts[:depth])] for depth in range(1, len(parts) + 1)]

    return sorted(range(len(names)), key=key)


def _without_null_parents(table: pa.Table) -> pa.Table:
    """Without the columns of nulls that another group has as a struct (``"Correlation": null`` in one,
    ``{"#attributes": {"ActivityID": …}}`` in another): read at once, they would only be that struct's
    null rows."""
    parents = {n.rsplit(".", depth)[0] for n in table.column_names for depth in range(1, n.count(".") + 1)}
    drop = [n for n in table.column_names if n in parents and table.column(n).null_count == table.num_rows]
    return table.drop_columns(drop) if drop else table


_ESCAPE = re.compile(r"\\(?:\\|u00[0-9a-fA-F]{2})")  # an escaped backslash, or a control character's escape


def _as_written(text: str) -> str:
    """The record's JSON as the per-record path writes it (orjson): the parser's own but for the hex
    digits of control characters' escapes, in lower case there (``\\u000f``, not ``\\u000F``). Both escape
    the same characters, in the same short forms (``\\n``, ``\\t``…)."""
    if "\\u00" not in text:
        return text
    return _ESCAPE.sub(lambda m: m.group(0).lower(), text)


def _group_table(texts: list[str], headers: list[Any]) -> tuple[pa.Table, pa.Array] | None:
    """The records of one group as text columns and their record numbers; None when they need the
    per-record path."""
    payload = "\n".join(texts).encode()
    block = max(1 << 16, min(16 << 20, 1 << len(payload).bit_length()))
    try:
        table = pj.read_json(
            io.BytesIO(payload), read_options=pj.ReadOptions(block_size=block, use_threads=False)
        )
        header = pa.array([h if isinstance(h, int) else 0 for h in headers], pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OverflowError):
        return None
    table = flatten_structs(table)
    names = table.column_names
    if table.num_rows != len(texts) or SYSTEM_ID not in names or SYSTEM_TIME not in names:
        return None
    if any(pa.types.is_floating(t) for t in table.schema.types):
        return None
    system_id = table.column(SYSTEM_ID)
    if table.column(SYSTEM_TIME).null_count or not pa.types.is_int64(system_id.type):
        return None  # no time (the header's stands in), or a record number beyond 63 bits
    system_id = system_id.combine_chunks()
    if pc.min(system_id).as_py() is not None and pc.min(system_id).as_py() < 0:
        return None
    columns = {name: to_string(column) for name, column in zip(names, table.columns, strict=True)}
    return pa.table(columns), pc.coalesce(system_id, header)


def _batches(
    raws: list[bytes],
    parse: list[bytes],
    numbers: list[int],
    sources: list[str],
    ctx: ReaderContext,
) -> Iterator[Batch]:
    """Records to batches: Arrow's JSON reader flattens them in C++. Records whose shapes disagree
    (``EventID`` plain in one file, with ``Qualifiers`` in another) make it refuse: the pool is then
    halved, down to small groups that take the per-record Python path. Records that fail even so are
    halved down to the one at fault, which is quarantined: a record costs at most itself, never the
    other files' events pooled with it."""
    table = _arrow_table(parse)
    if table is None and len(raws) > 64:
        h = len(raws) // 2
        yield from _batches(raws[:h], parse[:h], numbers[:h], sources[:h], ctx)
        yield from _batches(raws[h:], parse[h:], numbers[h:], sources[h:], ctx)
        return
    try:
        if table is None:
            table = table_from_rows([flatten_dict(orjson.loads(p), {}) for p in parse])
        batch = windows_batch(
            table, pa.array(raws, pa.binary()).cast(pa.string()), pa.array(numbers, pa.int64()), ctx
        )
        batch.sources = pa.array(sources, pa.string())
    except Exception as exc:  # noqa: BLE001 - a value no column takes: find its record, keep the others
        if len(raws) == 1:
            ctx.report.quarantine(sources[0], numbers[0], f"EVTX record not turned into columns: "
                                                          f"{type(exc).__name__}: {exc}", raws[0])
            return
        h = len(raws) // 2
        yield from _batches(raws[:h], parse[:h], numbers[:h], sources[:h], ctx)
        yield from _batches(raws[h:], parse[h:], numbers[h:], sources[h:], ctx)
        return
    yield batch


def _settle_types(event: dict[str, Any]) -> None:
    """Give every record of a pool the same JSON shape, so that Arrow reads them in one go: EventData
    numbers as text (``ProcessId`` is 4242 from Sysmon, "0x1f0" from Security) and an ``EventID``
    carrying ``Qualifiers`` split into ``EventID`` and ``EventID_Qualifiers``."""
    body = event.get("Event")
    if not isinstance(body, dict):
        return
    system = body.get("System")
    if isinstance(system, dict):
        eid = system.get("EventID")
        if isinstance(eid, dict):
            system["EventID"] = eid.get("#text")
            qualifiers = eid.get("#attributes", {})
            if isinstance(qualifiers, dict) and "Qualifiers" in qualifiers:
                system["EventID_Qualifiers"] = qualifiers["Qualifiers"]
        for key, value in system.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                system[key] = str(value)
    for section in ("EventData", "UserData"):
        data = body.get(section)
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    data[key] = str(value)


def _arrow_table(raws: list[bytes]) -> pa.Table | None:
    payload = b"\n".join(raws)
    # a block just big enough: the reader allocates it whole, and most pools are small
    block = max(1 << 16, min(16 << 20, 1 << len(payload).bit_length()))
    try:
        table = pj.read_json(
            io.BytesIO(payload), read_options=pj.ReadOptions(block_size=block, use_threads=False)
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return flatten_structs(table) if table.num_rows == len(raws) else None


registry.register(EvtxReader)
