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
from evtx import PyEvtxParser

from rempart.ingest.columns import flatten_dict, table_from_rows
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
        data = source.stream.read()
        short = _truncation(data)
        if short:
            ctx.fail(source, short)
        rows: list[dict[str, str | None]] = []
        raws: list[str] = []
        numbers: list[int] = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                parser = PyEvtxParser(io.BytesIO(data), number_of_threads=1, skip_errors=True)
                for record in parser.records_json():
                    self._add(record, rows, raws, numbers, source, ctx)
                    if len(rows) >= ctx.batch_size:
                        yield self._batch(rows, raws, numbers, ctx)
                        rows, raws, numbers = [], [], []
            except (RuntimeError, OSError, ValueError) as exc:
                ctx.fail(source, f"corrupt EVTX, read stopped after {len(numbers)} records: {exc}")
        problems = [str(w.message) for w in caught]
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            ctx.fail(source, f"corrupt EVTX, {len(problems)} parts skipped: {problems[0][:200]}{more}")
        if rows:
            yield self._batch(rows, raws, numbers, ctx)

    @staticmethod
    def _add(
        record: Any,
        rows: list[dict[str, str | None]],
        raws: list[str],
        numbers: list[int],
        source: Source,
        ctx: ReaderContext,
    ) -> None:
        number = int(record.get("event_record_id") or 0)
        try:
            event = orjson.loads(record["data"])
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            ctx.quarantine(
                source, number, f"undecodable EVTX record: {exc}", str(record.get("data", ""))[:200]
            )
            return
        row = flatten_dict(event, {})
        system_id = row.get("Event.System.EventRecordID")  # what Windows tools show; the header's may differ
        if system_id and system_id.isdigit():
            number = int(system_id)
        if not any(k.endswith("SystemTime") for k in row) and record.get("timestamp"):
            row["Event.System.TimeCreated.#attributes.SystemTime"] = str(record["timestamp"])
        rows.append(row)
        raws.append(orjson.dumps(event).decode())
        numbers.append(number)

    @staticmethod
    def _batch(
        rows: list[dict[str, str | None]], raws: list[str], numbers: list[int], ctx: ReaderContext
    ) -> Batch:
        return windows_batch(
            table_from_rows(rows), pa.array(raws, pa.string()), pa.array(numbers, pa.int64()), ctx
        )


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
