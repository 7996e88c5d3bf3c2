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
_READ_OPTIONS = pj.ReadOptions(block_size=16 << 20, use_threads=False)  # one file's records: small


class EvtxReader(Reader):
    name = "evtx"
    extensions = (".evtx",)

    def sniff(self, head: bytes, filename: str) -> int:
        return 100 if head.startswith(MAGIC) else 0

    def read(self, source: Source, ctx: ReaderContext) -> Iterator[Batch]:
        data = source.stream.read()
        short = _truncation(data)
        if short:
            ctx.fail(source, short)
        events: list[dict[str, Any]] = []
        raws: list[bytes] = []
        numbers: list[int] = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                parser = PyEvtxParser(io.BytesIO(data), number_of_threads=1, skip_errors=True)
                for record in parser.records_json():
                    self._add(record, events, raws, numbers, source, ctx)
                    if len(events) >= ctx.batch_size:
                        yield _batch(events, raws, numbers, ctx)
                        events, raws, numbers = [], [], []
            except (RuntimeError, OSError, ValueError) as exc:
                ctx.fail(source, f"corrupt EVTX, read stopped after {len(numbers)} records: {exc}")
        problems = [str(w.message) for w in caught]
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            ctx.fail(source, f"corrupt EVTX, {len(problems)} parts skipped: {problems[0][:200]}{more}")
        if events:
            yield _batch(events, raws, numbers, ctx)

    @staticmethod
    def _add(
        record: Any,
        events: list[dict[str, Any]],
        raws: list[bytes],
        numbers: list[int],
        source: Source,
        ctx: ReaderContext,
    ) -> None:
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
        events.append(event)
        raws.append(orjson.dumps(event))
        numbers.append(number)


def _batch(events: list[dict[str, Any]], raws: list[bytes], numbers: list[int], ctx: ReaderContext) -> Batch:
    """Records to a batch: Arrow's JSON reader flattens them in C++; records whose shapes disagree
    (``EventID`` plain in one, with ``Qualifiers`` in another) take the per-record Python path."""
    raw = pa.array(raws, pa.binary()).cast(pa.string())
    records = pa.array(numbers, pa.int64())
    try:
        table = flatten_structs(pj.read_json(io.BytesIO(b"\n".join(raws)), read_options=_READ_OPTIONS))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        table = table_from_rows([flatten_dict(e, {}) for e in events])
    if table.num_rows != len(raws):
        table = table_from_rows([flatten_dict(e, {}) for e in events])
    return windows_batch(table, raw, records, ctx)


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
