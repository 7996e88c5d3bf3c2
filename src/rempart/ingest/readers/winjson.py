"""Windows events as JSON: JSON lines (one event per line) or JSON documents (an object, an array of
objects, or objects one after another — the pretty-printed SigmaHQ regression samples), in any layout
:mod:`rempart.ingest.windows` maps to EVTX names (flat, Winlogbeat 6.x / ≥ 7, EVTX-as-JSON).

Sample (Security-Datasets, flat layout)::

    {"@timestamp":"2020-10-29T08:23:20.533Z","Channel":"security","EventID":4688,
     "Hostname":"WORKSTATION5.theshire.local","NewProcessName":"C:\\ProgramData\\SharpView.exe",…}
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import orjson
import pyarrow as pa

from rempart.ingest.columns import flatten_dict, table_from_rows
from rempart.ingest.interface import Batch, Reader, ReaderContext
from rempart.ingest.jsonl import MAX_DEPTH, iter_json_blocks, leading_keys
from rempart.ingest.lines import share_score
from rempart.ingest.registry import registry
from rempart.ingest.sources import Source
from rempart.ingest.windows import windows_batch

MAX_DOCUMENT_BYTES = 512 << 20  # a whole-document JSON file larger than this is refused, not loaded
# names of a Windows event's keys, at any level of its first records (``Event.System.EventID``, ``winlog``)
_MARKERS = frozenset({"EventID", "event_id", "Channel", "log_name", "winlog", "EventRecordID"})


class WinJsonReader(Reader):
    name = "winjson"
    extensions = (".json", ".jsonl", ".ndjson", ".log")

    def sniff(self, head: bytes, filename: str) -> int:
        if head.lstrip()[:1] not in (b"{", b"["):
            return 0
        return share_score(60, leading_keys(head), _is_windows)

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
        rows, raws, numbers = [], [], []
        for number, line, item, span in _documents(data, source, ctx):
            reason = _unfit(item, span, line)
            if reason is None:
                try:
                    raw = orjson.dumps(item).decode()
                    row = flatten_dict(item, {})
                except (orjson.JSONEncodeError, RecursionError) as exc:
                    why = _SURROGATE if "surrogate" in str(exc) else f"not readable ({exc})"
                    reason = f"{why} (line {line})"
            if reason is not None:
                ctx.quarantine(source, number, reason, span[:200])
                continue
            rows.append(row)
            raws.append(raw)
            numbers.append(number)
        for start in range(0, len(rows), ctx.batch_size):
            end = start + ctx.batch_size
            yield windows_batch(
                table_from_rows(rows[start:end]),
                pa.array(raws[start:end], pa.string()),
                pa.array(numbers[start:end], pa.int64()),
                ctx,
            )


def _is_windows(keys: frozenset[str]) -> bool:
    return bool(_MARKERS & {k.rsplit(".", 1)[-1] for k in keys})


_SURROGATE = "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff): not Unicode text"
_BAD_BYTES = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of bytes that are not UTF-8
_NEXT_ITEM = re.compile(r"\n[ \t]*(?=\{)|\}\s*,\s*(?=\{)")  # where an item may start after a broken one
_DOCUMENT_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*+"|[][{}]', re.DOTALL)


def _unfit(item: Any, span: str, line: int) -> str | None:
    """Why an item of a document (`span`, from `line`) is no event, before it is flattened; None when it
    may be one."""
    if not isinstance(item, dict):
        return f"not a JSON object (line {line})"
    bad = _BAD_BYTES.search(span)
    if bad is not None:
        return f"binary data (not UTF-8 text) at line {line + span.count(chr(10), 0, bad.start())}"
    if _nesting(item) > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels (line {line})"
    return None


def _nesting(value: Any) -> int:
    deepest = 0
    todo = [(value, 1)]  # a loop, not recursion
    while todo:
        node, depth = todo.pop()
        deepest = max(deepest, depth)
        if depth <= MAX_DEPTH:
            children = node.values() if isinstance(node, dict) else node
            todo.extend((v, depth + 1) for v in children if isinstance(v, dict | list))
    return deepest


def _documents(data: bytes, source: Source, ctx: ReaderContext) -> Iterator[tuple[int, int, Any, str]]:
    """(item number, line, value, its text) of each JSON value of a file: one array's items, or objects
    written one after another (pretty-printed dumps often concatenate them). Each item costs at most itself:
    one that is not JSON, or nests too deep for the parser, is quarantined with its line and reading goes on
    at the next line that opens an object."""
    text = data.decode("utf-8", "surrogateescape")  # bytes that are not UTF-8 are found per item, by line
    decoder = json.JSONDecoder()
    pos, line, counted, number = 0, 1, 0, 0
    in_array = False
    while True:
        while pos < len(text) and (text[pos].isspace() or (in_array and text[pos] == ",")):
            pos += 1
        if pos >= len(text):
            return
        if text[pos] == "[" and not in_array and number == 0:
            in_array, pos = True, pos + 1
            continue
        if text[pos] == "]" and in_array:
            in_array, pos = False, pos + 1
            continue
        line += text.count("\n", counted, pos)
        counted = pos
        number += 1
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            reason = f"invalid JSON document at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ctx.quarantine(source, number, reason, text[exc.pos : exc.pos + 200])
            resume = _NEXT_ITEM.search(text, max(exc.pos, pos + 1))
            pos = resume.end() if resume else len(text)
            continue
        except RecursionError:
            end = _end_of_value(text, pos)
            ctx.quarantine(source, number, f"nested deeper than {MAX_DEPTH} levels (line {line})",
                           text[pos : pos + 200])
            pos = end
            continue
        yield number, line, value, text[pos:end]
        pos = end


def _end_of_value(text: str, pos: int) -> int:
    """Where the JSON value opening at `pos` ends (the end of `text` when it never does); linear."""
    depth = 0
    for match in _DOCUMENT_TOKEN.finditer(text, pos):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
        elif token in ("]", "}"):
            depth -= 1
        if depth <= 0:
            return match.end()
    return len(text)


registry.register(WinJsonReader)
