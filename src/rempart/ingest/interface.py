"""The reader interface: what a log format plugs into ingest (plaso-style: interface, registry, context).

How to write a reader:
1. Add one module in ``rempart/ingest/readers/``, with a subclass of :class:`Reader`.
2. Give it a ``name`` (the ``_format`` value), the file ``extensions`` it claims and a :meth:`Reader.sniff`
   that scores the first bytes of a stream (0 = not mine).
3. Implement :meth:`Reader.read`: yield :class:`Batch` objects — the log's own fields as string columns
   (already canonical via ``ctx.canon``), plus the core values the reader knows (time, host, service,
   record numbers, the raw text). Never raise for a bad record: ``ctx.quarantine(...)`` it and go on.
4. Register it with ``@registry.register`` at the bottom of the module. ``tests/ingest/test_registry.py``
   fails when a module of the folder registers nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from rempart.ingest.fields import FieldCanon
from rempart.ingest.report import IngestReport
from rempart.ingest.sources import Source

MAX_HELD_CHARS = 32 << 20  # lines of one file held for another reader to try; beyond, quarantined at once
MAX_LINE_BYTES = 1 << 20  # 1 MiB: a longer "line" is garbage or an unsplit dump, quarantined


@dataclass
class Batch:
    """What a reader yields: aligned arrays, one row per kept event."""

    fields: dict[str, pa.Array]  # canonical field name -> string array
    ts: pa.Array  # timestamp[us, UTC]; NULL rows are quarantined by the pipeline ('no timestamp')
    host: pa.Array  # string
    service: pa.Array  # string
    record: pa.Array  # int64
    raw: pa.Array  # string: the original record text
    product: str
    attribution_hints: list[pa.Array] = field(default_factory=list)  # more host/IP columns to try
    sources: pa.Array | None = None  # per-row source names when a batch spans files; None = this file
    # bool: rows whose time was written with no zone (RFC 3164 syslog…); ``ts`` holds its wall clock as if
    # UTC until the pipeline, knowing the host, reads it in the host's zone (see Resolver.zone). None = none
    local: pa.Array | None = None

    @property
    def num_rows(self) -> int:
        return len(self.raw)


@dataclass
class ReaderContext:
    """The narrow view of the run that a reader gets."""

    report: IngestReport
    canon: FieldCanon
    wanted: frozenset[str] | None  # lower-cased field names to keep; None = every field
    batch_size: int
    reference_year: int | None = None  # for year-less syslog timestamps; None = the file's mtime year
    pending: dict[str, Any] = field(default_factory=dict)  # a reader's state for this run (see flush)
    # while a line reader reads a file: the (line, reason, text) of its lines that it could not read, for
    # another line reader to try before they are quarantined (see rempart.ingest.pipeline)
    held: list[tuple[int, str, str]] | None = None
    held_chars: int = 0

    def quarantine(self, source: Source, record: int | None, reason: str, data: bytes | str = b"") -> None:
        held = self.held
        # beyond MAX_HELD_CHARS (a file of garbage must not fill memory), quarantined at once
        if held is not None and record is not None and isinstance(data, str) and (
            self.held_chars + len(data) <= MAX_HELD_CHARS
        ):
            held.append((record, reason, data))
            self.held_chars += len(data)
            return
        self.report.quarantine(source.name, record, reason, data)

    def hold(self, on: bool) -> list[tuple[int, str, str]]:
        """Start holding the lines a reader cannot read (`on`), or stop; returns those held so far."""
        held = self.held or []
        self.held, self.held_chars = ([] if on else None), 0
        return held

    def keep(self, name: str) -> bool:
        """Whether the (canonical) field ``name`` becomes a column."""
        return self.wanted is None or name.lower() in self.wanted

    def fail(self, source: Source, reason: str) -> None:
        self.report.fail(source.name, reason)


class Reader(ABC):
    name: str = ""
    extensions: tuple[str, ...] = ()  # lower-case suffixes, archive suffixes removed ('.evtx', '.json')
    # one record per line, whatever the lines around it (syslog, FortiGate, auditd): a line of a file that
    # this reader cannot read is offered to the other such readers (a FortiGate line forwarded into a
    # syslog file) before it is quarantined. Its lines come from ``iter_text_lines``.
    per_line: bool = False

    @abstractmethod
    def sniff(self, head: bytes, filename: str) -> int:
        """Score 0–100 how likely the stream starting with ``head`` is in this format (0 = not at all)."""

    @abstractmethod
    def read(self, source: Source, ctx: ReaderContext) -> Iterator[Batch]:
        """Yield the events of ``source``; quarantine bad records instead of raising. A reader may keep
        the events of small files in ``ctx.pending`` to yield them together (``Batch.sources`` then
        names each row's file); :meth:`flush` yields what is left at the end of the run."""

    def flush(self, ctx: ReaderContext) -> Iterator[Batch]:
        return iter(())


ReaderFactory = Callable[[], Reader]
