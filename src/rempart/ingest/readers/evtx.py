"""Windows EVTX files, through the ``evtx`` package (Rust, ``PyEvtxParser``): each record's JSON is
flattened by :mod:`rempart.ingest.windows` (``Event.System`` and ``Event.EventData`` / ``UserData`` children
at the top level, EVTX / Sigma names). ``_record`` is the EventRecordID; ``_raw`` the record as JSON.

A corrupt chunk or record is skipped by the parser (``skip_errors``) and reported; a file whose header is
unreadable is reported as failed. Archive members are read into memory (EVTX files are at most a few
hundred MB), so nothing is extracted to disk.
"""

from __future__ import annotations

import io
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


class EvtxReader(Reader):
    name = "evtx"
    extensions = (".evtx",)

    def sniff(self, head: bytes, filename: str) -> int:
        return 100 if head.startswith(MAGIC) else 0

    def read(self, source: Source, ctx: ReaderContext) -> Iterator[Batch]:
        data = source.stream.read()
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


registry.register(EvtxReader)
