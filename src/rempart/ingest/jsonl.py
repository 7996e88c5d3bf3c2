"""JSON-lines parsing, fast and exact: Arrow's C++ JSON reader on big blocks of whole lines, and a per-line
path only for the blocks it refuses, so each bad line is quarantined with its own line number.

A block is refused when a line is not valid JSON, when a field changes type between lines (Arrow types
columns; ``"ProcessId": 4`` then ``"ProcessId": "0x1e7c"``), when a line is over-long or not UTF-8. A refused
block is halved and retried down to :data:`MIN_FAST_BYTES` before falling back to lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from rempart.ingest.columns import flatten_dict, flatten_structs, table_from_rows
from rempart.ingest.interface import MAX_LINE_BYTES, ReaderContext
from rempart.ingest.sources import Source

CHUNK_BYTES = 16 << 20
MIN_FAST_BYTES = 256 << 10
_READ_OPTIONS = pj.ReadOptions(block_size=4 << 20, use_threads=True)


@dataclass
class JsonBlock:
    table: pa.Table  # original fields, structs flattened to 'a.b' names
    raw: pa.Array  # string: each kept line
    records: pa.Array  # int64: its 1-based line number


@dataclass
class LineChunk:
    """Whole lines of a stream, with the number of the first. The JSON parser splits them into lines with
    Arrow; that split also gives the count of newlines that numbers the next chunk's lines, so the bytes
    are not scanned a second time for it (about a second on Security-Datasets' 1.7 GB)."""

    data: bytes
    first_line: int
    _lines: pa.Array | None = None

    @property
    def lines(self) -> pa.Array:
        """binary: the text between newlines, then what follows the last one ('' after a final newline)."""
        if self._lines is None:
            self._lines = pc.split_pattern(pa.array([self.data], pa.binary()), b"\n").flatten()
        return self._lines

    @property
    def newlines(self) -> int:
        return len(self._lines) - 1 if self._lines is not None else self.data.count(b"\n")


def iter_line_chunks(stream: BinaryIO, source: Source, ctx: ReaderContext) -> Iterator[LineChunk]:
    """Blocks of whole lines with the number of their first line. An over-long line with no end in sight
    is quarantined and skipped without being held in memory."""
    carry = b""
    line_no = 1
    skipping = False
    while data := stream.read(CHUNK_BYTES):
        if skipping:
            cut = data.find(b"\n")
            if cut < 0:
                continue
            data, skipping, line_no = data[cut + 1 :], False, line_no + 1
        cut = data.rfind(b"\n")
        if cut < 0:
            carry += data
            if len(carry) > MAX_LINE_BYTES:
                ctx.quarantine(source, line_no, f"over-long line (> {MAX_LINE_BYTES:,} bytes)", carry[:200])
                carry, skipping = b"", True
            continue
        # one copy of the block: the line begun in the previous read, then this read up to its last newline
        whole = b"".join((carry, memoryview(data)[: cut + 1])) if carry else data[: cut + 1]
        piece, carry = LineChunk(whole, line_no), data[cut + 1 :]
        yield piece
        line_no += piece.newlines
    if carry and not skipping:
        yield LineChunk(carry, line_no)


def parse_chunk(chunk: LineChunk, source: Source, ctx: ReaderContext) -> Iterator[JsonBlock]:
    block = _fast(chunk)
    if block is not None:
        yield block
        return
    data, first_line = chunk.data, chunk.first_line
    if len(data) > MIN_FAST_BYTES:
        middle = data.find(b"\n", len(data) // 2)
        if 0 <= middle < len(data) - 1:
            head = LineChunk(data[: middle + 1], first_line)
            yield from parse_chunk(head, source, ctx)
            yield from parse_chunk(LineChunk(data[middle + 1 :], first_line + head.newlines), source, ctx)
            return
    yield from _slow(data, first_line, source, ctx)


def _fast(piece: LineChunk) -> JsonBlock | None:
    chunk, first_line = piece.data, piece.first_line
    try:
        lines = piece.lines
        if pc.max(pc.binary_length(lines)).as_py() > MAX_LINE_BYTES:
            return None
        text = lines.cast(pa.string())  # validates UTF-8
        if b"\r" in chunk:
            text = pc.utf8_rtrim(text, characters="\r")
        # empty lines are skipped by the JSON reader; a whitespace-only line makes the counts differ
        # below and sends the block to the exact per-line path
        keep = pc.greater(pc.binary_length(text), 0)
        table = pj.read_json(pa.BufferReader(chunk), read_options=_READ_OPTIONS)  # no copy, no GIL
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    blanks = len(keep) - (pc.sum(keep).as_py() or 0)
    if blanks == 1 and not keep[-1].as_py():  # the usual case: only the '' after the last newline
        kept, records = text.slice(0, len(text) - 1), pa.array(range(first_line, first_line + len(text) - 1))
    else:
        index = pc.indices_nonzero(keep)
        kept, records = text.take(index), pc.add(index.cast(pa.int64()), first_line)
    if table.num_rows != len(kept):
        return None
    return JsonBlock(flatten_structs(table), kept, records.cast(pa.int64()))


def _slow(chunk: bytes, first_line: int, source: Source, ctx: ReaderContext) -> Iterator[JsonBlock]:
    rows: list[dict[str, str | None]] = []
    raws: list[str] = []
    numbers: list[int] = []
    for offset, line in enumerate(chunk.split(b"\n")):
        record = first_line + offset
        reason = None
        stripped = line.strip()
        if not stripped:
            continue
        if len(line) > MAX_LINE_BYTES:
            reason = f"over-long line ({len(line):,} bytes > {MAX_LINE_BYTES:,})"
        else:
            try:
                text = stripped.decode("utf-8")
                obj = orjson.loads(text)
                if not isinstance(obj, dict):
                    reason = "not a JSON object"
            except UnicodeDecodeError:
                reason = "binary data (not UTF-8 text)"
            except orjson.JSONDecodeError as exc:
                reason = f"invalid JSON: {exc}"
        if reason is not None:
            ctx.quarantine(source, record, reason, stripped[:200])
            continue
        rows.append(flatten_dict(obj, {}))
        raws.append(text)
        numbers.append(record)
    if rows:
        yield JsonBlock(table_from_rows(rows), pa.array(raws, pa.string()), pa.array(numbers, pa.int64()))


def iter_json_blocks(source: Source, ctx: ReaderContext) -> Iterator[JsonBlock]:
    """Every JSON-lines block of ``source``, no larger than ``ctx.batch_size`` rows."""
    for chunk in iter_line_chunks(source.stream, source, ctx):
        for block in parse_chunk(chunk, source, ctx):
            for start in range(0, block.table.num_rows, ctx.batch_size):
                end = start + ctx.batch_size
                yield JsonBlock(
                    block.table.slice(start, ctx.batch_size), block.raw[start:end], block.records[start:end]
                )
