"""Journaled records → normalised event tables, through the same readers as ``rempart hunt``.

The records of one input and one sender credential are joined into lines, as a file of those lines would
hold them (a syslog message's line breaks escaped ``#012`` as rsyslog writes them to a file; a JSON event on
one line), and read by :func:`rempart.ingest.read_sources`: the reader is chosen from the lines' shape, bad
lines are quarantined with their reason, events are attributed by their host. So a hunt over a file of the
same lines gives the same events.

Live events differ from a file's in three columns only: ``_source`` is ``live:INPUT/CREDENTIAL``, ``_record``
is the record's offset in the intake journal (unique: replaying the journal finds what is stored already),
and ``_sender`` / ``_sender_establishment`` say which credential brought it. An event whose host the
inventory places in another establishment than its credential's keeps that establishment and is flagged
(:data:`FOREIGN`); an event whose host the inventory does not know is the credential's establishment's.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from rempart.domain.events import ESTABLISHMENT, RECORD, SOURCE
from rempart.ingest import IngestReport, read_sources
from rempart.ingest.sources import Source
from rempart.inventory import Resolver
from rempart.serve.contracts import IntakeRecord

LIVE = "live:"
SENDER = "_sender"
SENDER_ESTABLISHMENT = "_sender_establishment"
FOREIGN = "_foreign_host"  # 'true' when the host's establishment is not the sender's


@dataclass
class Decoded:
    tables: list[pa.Table]
    report: IngestReport
    events: Counter[tuple[str, str]] = field(default_factory=Counter)  # (input, establishment) → events
    quarantined: Counter[tuple[str, str]] = field(default_factory=Counter)
    foreign: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def rows(self) -> int:
        return sum(t.num_rows for t in self.tables)


def source_name(record: IntakeRecord) -> str:
    return f"{LIVE}{record.input}/{record.sender.credential}"


def as_line(record: IntakeRecord) -> bytes | None:
    """The record as one line of a file, or None when it holds nothing (an empty message)."""
    data = record.payload
    if record.kind == "json":
        stripped = data.strip()
        if not stripped:
            return None
        if b"\n" in stripped or b"\r" in stripped:
            try:  # a pretty-printed object: the same object on one line
                return orjson.dumps(orjson.loads(stripped))
            except orjson.JSONDecodeError:
                return stripped.replace(b"\r", b" ").replace(b"\n", b" ")  # the reader says why it is bad
        return stripped
    data = data.rstrip(b"\r\n\x00")
    if not data.strip():
        return None
    return data.replace(b"\r", b"#015").replace(b"\n", b"#012")


def decode(records: Sequence[tuple[int, IntakeRecord]], resolver: Resolver | None,
           fields: set[str] | None = None) -> Decoded:
    """The events of ``records`` (journal offset, record), grouped by input and sender, in offset order
    within each group."""
    report = IngestReport()
    groups: dict[tuple[str, str, str], list[tuple[int, IntakeRecord]]] = {}
    for offset, record in records:
        groups.setdefault((record.input, record.sender.credential, record.kind), []).append((offset, record))
    decoded = Decoded([], report)
    for (name, credential, kind), members in groups.items():
        establishment = members[0][1].sender.establishment
        key = (name, establishment or "-")
        offsets: list[int] = []
        lines: list[bytes] = []
        for offset, record in members:
            line = as_line(record)
            if line is None:
                report.quarantine(source_name(record), offset, "empty message")
                decoded.quarantined[key] += 1
                continue
            offsets.append(offset)
            lines.append(line)
        if not lines:
            continue
        label = f"{LIVE}{name}/{credential}"
        suffix = ".jsonl" if kind == "json" else ".log"
        stream = io.BufferedReader(io.BytesIO(b"\n".join(lines) + b"\n"))
        source = Source(label, Path(f"live/{name}/{credential}{suffix}"), None,
                        max(r.received for _, r in members), stream)
        before = report.quarantined_count
        kept = len(report.quarantined)
        by_line = pa.array(offsets, pa.int64())
        for table in read_sources([source], resolver, fields=fields, report=report):
            decoded.tables.append(_live_columns(table, by_line, credential, establishment, decoded, key))
        for i in range(kept, len(report.quarantined)):  # line numbers of the joined lines → offsets
            q = report.quarantined[i]
            if q.source == label and q.record is not None and 1 <= q.record <= len(offsets):
                report.quarantined[i] = replace(q, record=offsets[q.record - 1])
        decoded.quarantined[key] += report.quarantined_count - before
    return decoded


def _live_columns(table: pa.Table, by_line: pa.Array, credential: str, establishment: str | None,
                  decoded: Decoded, key: tuple[str, str]) -> pa.Table:
    n = table.num_rows
    line = pc.subtract(table.column(RECORD), 1)
    table = table.set_column(table.schema.get_field_index(RECORD), RECORD, by_line.take(line))
    table = table.set_column(table.schema.get_field_index(SOURCE), SOURCE,
                             pa.array([f"{LIVE}{key[0]}/{credential}"] * n, pa.string()))
    est = table.column(ESTABLISHMENT)
    if establishment is not None:
        foreign = pc.fill_null(pc.not_equal(est, establishment), False)
        flagged = int(pc.sum(foreign.cast(pa.int64())).as_py() or 0)
        if flagged:
            decoded.foreign[key] += flagged
            table = table.append_column(FOREIGN, pc.if_else(foreign, "true", pa.scalar(None, pa.string())))
        table = table.set_column(table.schema.get_field_index(ESTABLISHMENT), ESTABLISHMENT,
                                 pc.fill_null(est, establishment))
    table = table.append_column(SENDER, pa.array([credential] * n, pa.string()))
    table = table.append_column(SENDER_ESTABLISHMENT, pa.array([establishment] * n, pa.string()))
    decoded.events[key] += n
    return table
