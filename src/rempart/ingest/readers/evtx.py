"""Windows EVTX files, through the ``evtx`` package (Rust, ``PyEvtxParser``): each record's JSON is
flattened by :mod:`rempart.ingest.windows` (``Event.System`` and ``Event.EventData`` / ``UserData`` children
at the top level, EVTX / Sigma names). ``_record`` is the EventRecordID (``Event.System``'s, else the
record header's);
``_raw`` the record as JSON.

A corrupt chunk or record is skipped by the parser (``skip_errors``) and reported; a file whose header is
unreadable is reported as failed. Archive members are read into memory (EVTX files are at most a few
hundred MB), so nothing is extracted to disk.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
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
HEADER_BYTES = 4096
CHUNK_BYTES = 65536


class EvtxReader(Reader):
    name = "evtx"
    extensions = (".evtx",)

    def sniff(self, head: bytes, filename: str) -> int:
        return 100 if head.startswith(MAGIC) else 0

    def read(self, source: Source, ctx: ReaderContext) -> Iterator[Batch]:
        # Records of consecutive files are pooled (most EVTX files hold a few dozen records, and the
        # column work costs per batch, not per record); a pool is yielded once it reaches batch_size.
        pool: EventPool = ctx.pending.setdefault(self.name, EventPool())
        data = source.stream.read()
        short = _truncation(data)
        if short:
            ctx.fail(source, short)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            before = len(pool)
            try:
                parser = PyEvtxParser(io.BytesIO(data), number_of_threads=1, skip_errors=True)
                for record in parser.records_json():
                    self._add(record, pool, source, ctx)
                    if len(pool) >= ctx.batch_size:
                        yield from pool.drain(ctx)
                        before = 0
            except (RuntimeError, OSError, ValueError) as exc:
                read = len(pool) - before
                ctx.fail(source, f"corrupt EVTX, read stopped after {read} records of this part: {exc}")
        problems = [str(w.message) for w in caught]
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            ctx.fail(source, f"corrupt EVTX, {len(problems)} parts skipped: {problems[0][:200]}{more}")

    def flush(self, ctx: ReaderContext) -> Iterator[Batch]:
        pool: EventPool | None = ctx.pending.pop(self.name, None)
        if pool is not None:
            yield from pool.drain(ctx)

    @staticmethod
    def _add(record: Any, pool: EventPool, source: Source, ctx: ReaderContext) -> None:
        number = int(record.get("event_record_id") or 0)
        try:
            event = orjson.loads(record["data"])
            system = event["Event"]["System"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            text = str(record.get("data", ""))[:200]
            ctx.quarantine(source, number, f"undecodable EVTX record: {exc}", text)
            return
        if isinstance(system, dict):
            system_id = system.get("EventRecordID")  # what Windows tools show; the header's may differ
            if isinstance(system_id, int):
                number = system_id
            if "TimeCreated" not in system and record.get("timestamp"):
                # rare: no TimeCreated in the record; the record header's time stands in for it
                system["TimeCreated"] = {"#attributes": {"SystemTime": str(record["timestamp"])}}
        pool.add(event, number, source.name)


@dataclass
class EventPool:
    """Windows events as EVTX renders them to JSON (``{"Event": {"System": …, "EventData": …}}``), from
    the files of a run, turned into batches together (see :meth:`EvtxReader.read`)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    raws: list[bytes] = field(default_factory=list)  # the records as read, for _raw
    parse: list[bytes] = field(default_factory=list)  # the same with types settled, for Arrow
    numbers: list[int] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.events)

    def add(self, event: dict[str, Any], number: int, source: str) -> None:
        self.raws.append(orjson.dumps(event))
        _settle_types(event)
        self.events.append(event)
        self.parse.append(orjson.dumps(event))
        self.numbers.append(number)
        self.sources.append(source)

    def drain(self, ctx: ReaderContext) -> Iterator[Batch]:
        yield from _batches(self.events, self.raws, self.parse, self.numbers, self.sources, ctx)
        self.events, self.raws, self.parse, self.numbers, self.sources = [], [], [], [], []


def _batches(
    events: list[dict[str, Any]],
    raws: list[bytes],
    parse: list[bytes],
    numbers: list[int],
    sources: list[str],
    ctx: ReaderContext,
) -> Iterator[Batch]:
    """Records to batches: Arrow's JSON reader flattens them in C++. Records whose shapes disagree
    (``EventID`` plain in one file, with ``Qualifiers`` in another) make it refuse: the pool is then
    halved, down to small groups that take the per-record Python path."""
    table = _arrow_table(parse)
    if table is None and len(raws) > 64:
        h = len(raws) // 2
        yield from _batches(events[:h], raws[:h], parse[:h], numbers[:h], sources[:h], ctx)
        yield from _batches(events[h:], raws[h:], parse[h:], numbers[h:], sources[h:], ctx)
        return
    if table is None:
        table = table_from_rows([flatten_dict(e, {}) for e in events])
    batch = windows_batch(
        table, pa.array(raws, pa.binary()).cast(pa.string()), pa.array(numbers, pa.int64()), ctx
    )
    batch.sources = pa.array(sources, pa.string())
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


def _truncation(data: bytes) -> str | None:
    """Why the file is shorter than its header says (the parser itself stops silently at the cut)."""
    if len(data) < HEADER_BYTES:
        return f"truncated EVTX: {len(data):,} bytes, not even the {HEADER_BYTES:,}-byte file header"
    header_size, _, major, block, chunks = struct.unpack_from("<IHHHH", data, 32)
    if (header_size, major, block) != (128, 3, HEADER_BYTES):
        return "corrupt EVTX file header (size, version or block size wrong); its chunks were read anyway"
    expected = HEADER_BYTES + chunks * CHUNK_BYTES
    if len(data) < expected:
        whole = (len(data) - HEADER_BYTES) // CHUNK_BYTES
        return (
            f"truncated EVTX: {len(data):,} bytes where the header announces {chunks} chunks "
            f"({expected:,} bytes); the records of the {whole} whole chunks are kept"
        )
    return None


registry.register(EvtxReader)
