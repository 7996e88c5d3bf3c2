"""Text-line readers' common ground: clean lines with their numbers, and rows → :class:`Batch`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import pyarrow as pa

from rempart.ingest.columns import TS_TYPE, shape, table_from_rows
from rempart.ingest.interface import MAX_LINE_BYTES, Batch, ReaderContext
from rempart.ingest.jsonl import iter_line_chunks
from rempart.ingest.sources import Source

T = TypeVar("T")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def iter_text_lines(source: Source, ctx: ReaderContext, allow: str = "") -> Iterator[tuple[int, str]]:
    """(line number, text) of every non-blank line; over-long lines and binary garbage are quarantined.
    `allow`: control characters that the format itself uses (auditd's \\x1d), not taken for garbage."""
    ignore = str.maketrans("", "", allow)
    for chunk in iter_line_chunks(source.stream, source, ctx):
        for offset, line in enumerate(chunk.data.split(b"\n")):
            if not line.strip():
                continue
            number = chunk.first_line + offset
            if source.lines is not None:  # some lines of a file, read again: numbered as in the file
                number = source.lines[number - 1]
            if len(line) > MAX_LINE_BYTES:
                reason = f"over-long line ({len(line):,} bytes > {MAX_LINE_BYTES:,})"
                ctx.quarantine(source, number, reason, line[:200])
                continue
            try:
                text = line.decode("utf-8").rstrip("\r")
            except UnicodeDecodeError:
                ctx.quarantine(source, number, "binary data (not UTF-8 text)", line[:200])
                continue
            if _CONTROL.search(text.translate(ignore) if allow else text):
                ctx.quarantine(source, number, "binary data (control characters)", line[:200])
                continue
            yield number, text


def first_lines(head: bytes, count: int = 5) -> list[str]:
    """The first `count` lines of `head` that are not blank, as text, for a reader's sniff."""
    return [x.decode("utf-8", "replace") for x in head.split(b"\n")[: count + 1] if x.strip()][:count]


def share_score(base: int, items: Sequence[T], fits: Callable[[T], bool]) -> int:
    """`base` scaled by the share of `items` (a stream's first lines or records) that have the format's shape:
    the format most of them have wins, so that one line of another shape (a FortiGate line forwarded into
    auth.log, a bad first line) neither chooses the reader nor hides the file's format."""
    hits = sum(1 for item in items if fits(item))
    return max(1, base * hits // len(items)) if hits else 0


def unreadable(exc: Exception) -> str:
    """The quarantine reason for a record a reader could not read (the guard around each record: a bug or
    an input nobody foresaw costs that record, never its file)."""
    return f"record not readable ({type(exc).__name__}: {str(exc)[:200]})"


@dataclass
class RowBuffer:
    """Accumulates parsed lines; :meth:`batch` turns them into a :class:`Batch` (fields as given)."""

    product: str
    rows: list[dict[str, str | None]] = field(default_factory=list)
    ts: list[datetime] = field(default_factory=list)
    hosts: list[str | None] = field(default_factory=list)
    services: list[str | None] = field(default_factory=list)
    records: list[int] = field(default_factory=list)
    raws: list[str] = field(default_factory=list)
    local: list[bool] = field(default_factory=list)  # ts written with no zone (see Batch.local)

    def add(
        self, row: dict[str, str | None], ts: datetime, host: str | None, service: str, record: int, raw: str,
        *, local: bool = False,
    ) -> None:
        self.local.append(local)
        self.rows.append(row)
        self.ts.append(ts)
        self.hosts.append(host)
        self.services.append(service)
        self.records.append(record)
        self.raws.append(raw)

    def __len__(self) -> int:
        return len(self.rows)

    def batch(self, ctx: ReaderContext, hint_fields: tuple[str, ...] = ()) -> Batch:
        table = table_from_rows(self.rows)
        cols = shape(zip(table.column_names, table.columns, strict=True), _same, ctx)
        hints = [pa.array([r.get(name) for r in self.rows], pa.string()) for name in hint_fields]
        out = Batch(
            cols,
            pa.array(self.ts, TS_TYPE),
            pa.array(self.hosts, pa.string()),
            pa.array(self.services, pa.string()),
            pa.array(self.records, pa.int64()),
            pa.array(self.raws, pa.string()),
            self.product,
            hints,
            local=pa.array(self.local, pa.bool_()) if any(self.local) else None,
        )
        self.rows, self.ts, self.hosts, self.services, self.records, self.raws = [], [], [], [], [], []
        self.local = []
        return out


def _same(name: str) -> str:
    return name
