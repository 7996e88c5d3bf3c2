"""Windows events as JSON: JSON lines (one event per line) or JSON documents (an object, an array of
objects, or objects one after another — the pretty-printed SigmaHQ regression samples), in any layout
:mod:`rempart.ingest.windows` maps to EVTX names (flat, Winlogbeat 6.x / ≥ 7, EVTX-as-JSON).

Sample (Security-Datasets, flat layout)::

    {"@timestamp":"2020-10-29T08:23:20.533Z","Channel":"security","EventID":4688,
     "Hostname":"WORKSTATION5.theshire.local","NewProcessName":"C:\\ProgramData\\SharpView.exe",…}
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson
import pyarrow as pa

from rempart.ingest.columns import flatten_dict, table_from_rows
from rempart.ingest.interface import Batch, Reader, ReaderContext
from rempart.ingest.jsonl import iter_json_blocks
from rempart.ingest.registry import registry
from rempart.ingest.sources import Source
from rempart.ingest.windows import windows_batch

MAX_DOCUMENT_BYTES = 512 << 20  # a whole-document JSON file larger than this is refused, not loaded
_MARKERS = (b'"EventID"', b'"event_id"', b'"Channel"', b'"log_name"', b'"winlog"', b'"EventRecordID"')


class WinJsonReader(Reader):
    name = "winjson"
    extensions = (".json", ".jsonl", ".ndjson", ".log")

    def sniff(self, head: bytes, filename: str) -> int:
        start = head.lstrip()[:1]
        if start not in (b"{", b"["):
            return 0
        return 60 if any(m in head for m in _MARKERS) else 0

    def read(self, source: Source, ctx: ReaderContext) -> Iterator[Batch]:
        if self._is_document(source.stream.peek(1 << 16).lstrip()):  # type: ignore[attr-defined]
            yield from self._document(source, ctx)
            return
        for block in iter_json_blocks(source, ctx):
            yield windows_batch(block.table, block.raw, block.records, ctx)

    @staticmethod
    def _is_document(head: bytes) -> bool:
        """One JSON document (array, or an object spread over lines) rather than JSON lines."""
        if head[:1] == b"[":
            return True
        lines = head.split(b"\n")
        if len(lines) == 1:
            return False  # a first line longer than the peek: JSON lines with big events
        complete = [line for line in lines[:-1] if line.strip()][:3]
        for line in complete:  # JSON lines when one of the first lines is an object by itself
            try:
                if isinstance(orjson.loads(line), dict):
                    return False
            except orjson.JSONDecodeError:
                continue
        return True

    def _document(self, source: Source, ctx: ReaderContext) -> Iterator[Batch]:
        data = source.stream.read(MAX_DOCUMENT_BYTES + 1)
        if len(data) > MAX_DOCUMENT_BYTES:
            ctx.fail(source, f"JSON document larger than {MAX_DOCUMENT_BYTES:,} bytes and not JSON lines")
            return
        items = _documents(data, source, ctx)
        rows, raws, numbers = [], [], []
        for number, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                ctx.quarantine(source, number, "not a JSON object", orjson.dumps(item)[:200])
                continue
            rows.append(flatten_dict(item, {}))
            raws.append(orjson.dumps(item).decode())
            numbers.append(number)
        for start in range(0, len(rows), ctx.batch_size):
            end = start + ctx.batch_size
            yield windows_batch(
                table_from_rows(rows[start:end]),
                pa.array(raws[start:end], pa.string()),
                pa.array(numbers[start:end], pa.int64()),
                ctx,
            )


def _documents(data: bytes, source: Source, ctx: ReaderContext) -> list[Any]:
    """The JSON values of a file: one array's items, or one or more objects written one after another
    (pretty-printed dumps often concatenate them). Parsing stops at the first broken one, reported with
    its position; the ones before are kept."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        ctx.quarantine(source, None, f"binary data (not UTF-8 text) at byte {exc.start}", data[:200])
        return []
    decoder = json.JSONDecoder()
    items: list[Any] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            reason = f"invalid JSON document at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ctx.quarantine(source, len(items) + 1, reason, text[exc.pos : exc.pos + 200])
            break
        items.append(value)
    if len(items) == 1 and isinstance(items[0], list):
        return items[0]
    return items


registry.register(WinJsonReader)
