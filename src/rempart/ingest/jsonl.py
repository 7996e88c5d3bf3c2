"""JSON-lines parsing, fast and exact: Arrow's C++ JSON reader on big blocks of whole lines, and a per-line
path only for the blocks it refuses, so each bad line is quarantined with its own line number.

A block is refused when a line is not valid JSON, when a field changes type between lines (Arrow types
columns; ``"ProcessId": 4`` then ``"ProcessId": "0x1e7c"``), when a line is over-long or not UTF-8, or nests
deeper than :data:`MAX_DEPTH`. A block refused for a bad line is halved and retried down to
:data:`MIN_FAST_BYTES` before falling back to lines, so the good lines around it stay on the fast path.
A block refused only because a field changes type goes to the per-line path whole: its lines mix shapes
(events of several exporters in one live batch), its halves mix them too, and every retry would parse it
once more.

Depth is checked before Arrow sees the bytes: its JSON reader recurses once per level and overflows the
stack (a segfault, exit 139) somewhere past 9,000 levels. A line cannot nest deeper than its length, so only
lines longer than :data:`ARROW_SAFE_DEPTH` have their brackets counted (a few per block: the cost is a
fraction of a percent of the parse); the exact depth is then read from the schema Arrow gives, and on the
per-line path from the line itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from typing import Any, BinaryIO

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
MAX_DEPTH = 64  # a record nested deeper is quarantined: real logs nest a few levels, Windows ones up to 6
ARROW_SAFE_DEPTH = 4096  # under half the ~9,000 levels where Arrow's JSON reader overflows its stack
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


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
    if isinstance(block, JsonBlock):
        yield block
        return
    data, first_line = chunk.data, chunk.first_line
    if block is not _MIXED_TYPES and len(data) > MIN_FAST_BYTES:
        middle = data.find(b"\n", len(data) // 2)
        if 0 <= middle < len(data) - 1:
            head = LineChunk(data[: middle + 1], first_line)
            yield from parse_chunk(head, source, ctx)
            yield from parse_chunk(LineChunk(data[middle + 1 :], first_line + head.newlines), source, ctx)
            return
    yield from _slow(data, first_line, source, ctx)


_MIXED_TYPES = object()  # _fast's answer for a block refused only because a field changes type


def _fast(piece: LineChunk) -> JsonBlock | object | None:
    chunk, first_line = piece.data, piece.first_line
    try:
        lines = piece.lines
        lengths = pc.binary_length(lines)
        if pc.max(lengths).as_py() > MAX_LINE_BYTES or _may_overflow_arrow(chunk, lengths):
            return None
        text = lines.cast(pa.string())  # validates UTF-8
        if b"\r" in chunk:
            text = pc.utf8_rtrim(text, characters="\r")
        # empty lines are skipped by the JSON reader; a whitespace-only line makes the counts differ
        # below and sends the block to the exact per-line path
        keep = pc.greater(pc.binary_length(text), 0)
        table = pj.read_json(pa.BufferReader(chunk), read_options=_READ_OPTIONS)  # no copy, no GIL
    except pa.ArrowInvalid as exc:
        return _MIXED_TYPES if " changed from " in str(exc) else None
    except pa.ArrowNotImplementedError:
        return None
    blanks = len(keep) - (pc.sum(keep).as_py() or 0)
    if blanks == 1 and not keep[-1].as_py():  # the usual case: only the '' after the last newline
        kept, records = text.slice(0, len(text) - 1), pa.array(range(first_line, first_line + len(text) - 1))
    else:
        index = pc.indices_nonzero(keep)
        kept, records = text.take(index), pc.add(index.cast(pa.int64()), first_line)
    if table.num_rows != len(kept) or 1 + _nesting(table.schema) > MAX_DEPTH:
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
        elif too_deep(stripped):
            reason = f"nested deeper than {MAX_DEPTH} levels"
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


def _may_overflow_arrow(data: bytes, lengths: pa.Array) -> bool:
    """Whether a line of `data` (split into `lengths`) may nest deep enough to crash Arrow's JSON reader."""
    long = pc.indices_nonzero(pc.greater(lengths, ARROW_SAFE_DEPTH))
    if not len(long):
        return False
    steps = pc.add(lengths.cast(pa.int64()), 1)  # each line and its newline
    starts = pc.subtract(pc.cumulative_sum(steps), steps)
    for start, length in zip(starts.take(long).to_pylist(), lengths.take(long).to_pylist(), strict=True):
        end = start + length
        if data.count(b"{", start, end) + data.count(b"[", start, end) > ARROW_SAFE_DEPTH:
            return True
    return False


def _nesting(schema: pa.Schema) -> int:
    """How many levels of structs and lists the deepest column of `schema` holds (0 for plain values)."""
    deepest = 0
    todo = [(f.type, 0) for f in schema]  # a loop, not recursion: the schema may nest thousands deep
    while todo:
        kind, depth = todo.pop()
        deepest = max(deepest, depth)
        if pa.types.is_struct(kind):
            todo.extend((kind.field(i).type, depth + 1) for i in range(kind.num_fields))
        elif pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
            todo.append((kind.value_type, depth + 1))
    return deepest


def json_depth(data: bytes) -> int:
    """How deep the JSON text `data` nests (brackets inside strings not counted); linear in its length."""
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKET)
    return max(accumulate(_STEP[b] for b in brackets), default=0)


def too_deep(data: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text `data` nests deeper than `limit`; counting comes first, as it is cheap."""
    return (len(data) > limit and data.count(b"{") + data.count(b"[") > limit
            and json_depth(data) > limit)


def iter_json_blocks(source: Source, ctx: ReaderContext) -> Iterator[JsonBlock]:
    """Every JSON-lines block of ``source``, no larger than ``ctx.batch_size`` rows."""
    for chunk in iter_line_chunks(source.stream, source, ctx):
        for block in parse_chunk(chunk, source, ctx):
            for start in range(0, block.table.num_rows, ctx.batch_size):
                end = start + ctx.batch_size
                yield JsonBlock(
                    block.table.slice(start, ctx.batch_size), block.raw[start:end], block.records[start:end]
                )


_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*+"|[][{}:,]', re.DOTALL)


@lru_cache(maxsize=4)  # every JSON reader's sniff asks for the same head
def leading_keys(head: bytes, records: int = 5, depth: int = 4) -> tuple[frozenset[str], ...]:
    """The key paths (``Event.System.EventID``, up to `depth` names) of the first `records` JSON objects of
    `head`: objects one after another (JSON lines, concatenated dumps) or the items of a top-level array;
    the last may be cut short by the end of `head`. Read from the structure alone, never by looking for a
    name in the bytes, so that a value can never pass for a key (``"TargetUserName": "\\"__CURSOR"``).
    JSON lines are read line by line, so that a broken first line does not hide the others."""
    by_line = _keys_by_line(head, records, depth)
    if by_line:
        return by_line
    scan = _KeyScan(depth)
    for match in _TOKEN.finditer(head):
        if scan.token(match.group()) and len(scan.records) >= records:
            break
    if scan.keys is not None:
        scan.records.append(frozenset(scan.keys))
    return tuple(scan.records)


class _KeyScan:
    """The keys of the records of a JSON text, token by token (strings and brackets; nothing else matters)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.records: list[frozenset[str]] = []
        self.keys: set[str] | None = None  # those of the record being read
        self.stack: list[str | None] = []  # per open container: its keys' path prefix; None: not an object
        self.root = 0  # the depth of the stack around the record being read
        self.key = ""  # the last key read: the path of the value that follows
        self.expect_key = False

    def token(self, token: bytes) -> bool:
        """Take one token; True when it ended a record."""
        if token[:1] == b'"':
            if self.expect_key and self.keys is not None and self.stack[-1] is not None:
                self.key = self.stack[-1] + token[1:-1].decode("utf-8", "replace")
                if self.key.count(".") < self.depth:
                    self.keys.add(self.key)
            self.expect_key = False
        elif token == b"{":
            self._open_object()
        elif token == b"[":
            self.stack.append(None)
            self.expect_key = False
        elif token == b",":
            self.expect_key = bool(self.stack) and self.stack[-1] is not None
        elif token != b":":  # a closing bracket
            if self.stack:
                self.stack.pop()
            self.expect_key = False
            if self.keys is not None and len(self.stack) == self.root:
                self.records.append(frozenset(self.keys))
                self.keys = None
                return True
        return False

    def _open_object(self) -> None:
        if self.keys is None and (not self.stack or self.stack == [None]):  # a record: at the top, or an item
            self.keys, self.root = set(), len(self.stack)
            self.stack.append("")
        elif self.keys is not None and self.stack[-1] is not None and self.key:
            self.stack.append(self.key + ".")
        else:
            self.stack.append(None)
        self.expect_key, self.key = True, ""


def _keys_by_line(head: bytes, records: int, depth: int) -> tuple[frozenset[str], ...]:
    """The key paths of the whole lines of `head` that are JSON objects (none for a document)."""
    out = []
    for line in head.split(b"\n")[:-1][: records * 2]:
        try:
            obj = orjson.loads(line) if line.strip() else None  # never too deep: orjson stops at 1,024
        except orjson.JSONDecodeError:
            continue
        if not isinstance(obj, dict):
            continue
        keys: set[str] = set()
        todo: list[tuple[str, dict[str, Any]]] = [("", obj)]
        while todo:
            prefix, node = todo.pop()
            for key, value in node.items():
                path = prefix + key
                keys.add(path)
                if isinstance(value, dict) and path.count(".") < depth - 1:
                    todo.append((path + ".", value))
        out.append(frozenset(keys))
        if len(out) >= records:
            break
    return tuple(out)
