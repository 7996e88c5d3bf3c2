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

import io
import struct
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.json as pj
from evtx import PyEvtxParser

from rempart.ingest.columns import flatten_dict, flatten_structs, table_from_rows
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
        # column work costs per batch, not per record); a pool is yielded once it is full (see EventPool).
        pool: EventPool = ctx.pending.setdefault(self.name, EventPool())
        header = source.stream.read(HEADER_BYTES)
        if len(header) < HEADER_BYTES:
            ctx.fail(source, f"truncated EVTX: {len(header):,} bytes, not even the {HEADER_BYTES:,}-byte "
                             "file header")
            return
        announced = _announced_chunks(header)
        if announced is None:
            ctx.fail(source, "corrupt EVTX file header (size, version or block size wrong); its chunks were "
                             "read anyway")
        problems: list[str] = []
        whole = 0
        while chunk := source.stream.read(CHUNK_BYTES):  # bounded reads: never the whole file at once
            if len(chunk) < CHUNK_BYTES:
                break
            for record in _chunk_records(chunk, whole, source, ctx, problems):
                _add(record, pool, source, ctx)
                if pool.full(ctx.batch_size):
                    yield from pool.drain(ctx)
            whole += 1
        size = HEADER_BYTES + whole * CHUNK_BYTES + len(chunk)
        if chunk or (announced is not None and whole < announced):
            _cut(source, ctx, announced, whole, size)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            ctx.fail(source, f"corrupt EVTX, {len(problems)} problems (the records around them were read): "
                             f"{problems[0][:200]}{more}")

    def flush(self, ctx: ReaderContext) -> Iterator[Batch]:
        pool: EventPool | None = ctx.pending.pop(self.name, None)
        if pool is not None:
            yield from pool.drain(ctx)


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


def _add(record: dict[str, Any], pool: EventPool, source: Source, ctx: ReaderContext) -> None:
    """One record into the pool, or into the quarantine with its reason: it costs at most itself."""
    header_id = record.get("event_record_id")
    number = header_id if isinstance(header_id, int) else 0
    try:
        event = orjson.loads(record["data"])
        system = event["Event"]["System"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        text = str(record.get("data", ""))[:200]
        ctx.quarantine(source, _fits(number), f"undecodable EVTX record: {exc}", text)
        return
    if isinstance(system, dict):
        system_id = system.get("EventRecordID")  # what Windows tools show; the header's may differ
        if isinstance(system_id, int):
            number = system_id
        if "TimeCreated" not in system and record.get("timestamp"):
            # rare: no TimeCreated in the record; the record header's time stands in for it
            system["TimeCreated"] = {"#attributes": {"SystemTime": str(record["timestamp"])}}
    if _fits(number) is None:
        ctx.quarantine(source, _fits(header_id), f"corrupt EVTX record: EventRecordID {number} is not a "
                                                 "64-bit record number", str(record.get("data", "")))
        return
    try:
        pool.add(event, number, source.name)
    except Exception as exc:  # noqa: BLE001 - a value that will not serialise costs its record only
        ctx.quarantine(source, number, f"corrupt EVTX record: {type(exc).__name__}: {exc}",
                       str(record.get("data", "")))


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
