"""What an ingest run read, skipped and could not attribute.

Exit-status semantics (used by ``rempart ingest`` and ``rempart hunt``): :meth:`IngestReport.exit_code` is
``0`` when every file was read whole and every record kept, and ``1`` when anything was skipped — a record
sent to the quarantine, a file that could not be read, or an archive cut short (what was whole is kept
either way). Files of no log format met while walking a folder or an archive (README, checksums) are
listed as ignored and do not change the exit status, nor do a triage collector's own logs and metadata
(KAPE's, Velociraptor's), which are skipped and counted; a file named explicitly that no reader knows
does. Events whose host is not in the inventory are kept with a NULL establishment; they are counted
but do not change the exit status. Usage errors exit ``2`` through the CLI's error decorator.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

MAX_KEPT_QUARANTINE = 10_000  # beyond this only the count grows: a corrupt 10 GB file must not fill memory
EXCERPT_CHARS = 120


def excerpt(data: bytes | str, limit: int = EXCERPT_CHARS) -> str:
    """A short printable view of a bad record (binary shown with escapes, never more than ``limit``)."""
    text = data.decode("utf-8", "backslashreplace") if isinstance(data, bytes) else data
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text[: limit * 2])
    return text[:limit] + ("…" if len(text) > limit else "")


@dataclass(frozen=True)
class QuarantinedRecord:
    source: str  # file path, 'archive!member' inside an archive
    record: int | None  # line number (1-based) or EVTX record id; None when unknown
    reason: str
    excerpt: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.record}" if self.record is not None else self.source
        return f"{where}: {self.reason} [{self.excerpt}]"


@dataclass(frozen=True)
class FailedFile:
    source: str
    reason: str  # e.g. 'truncated archive: …', 'corrupt EVTX: …', 'no such file'

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass
class IngestReport:
    """Filled in while :func:`rempart.ingest.read_paths` runs; read it once the iterator is exhausted."""

    events: Counter[tuple[str, str]] = field(default_factory=Counter)  # (source, format) -> events kept
    quarantined: list[QuarantinedRecord] = field(default_factory=list)
    quarantined_count: int = 0
    failed: list[FailedFile] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # not logs, met in a folder or archive (README…)
    collector_files: list[str] = field(default_factory=list)  # a triage collector's own logs and metadata
    collections: dict[str, str] = field(default_factory=dict)  # triage collection → its kind and host
    unattributed: int = 0
    unattributed_hosts: Counter[str] = field(default_factory=Counter)  # host (or '(none)') -> events
    files: int = 0
    bytes_read: int = 0

    def quarantine(self, source: str, record: int | None, reason: str, data: bytes | str = b"") -> None:
        self.quarantined_count += 1
        if len(self.quarantined) < MAX_KEPT_QUARANTINE:
            self.quarantined.append(QuarantinedRecord(source, record, reason, excerpt(data)))

    def fail(self, source: str, reason: str) -> None:
        self.failed.append(FailedFile(source, reason))

    def merge(self, other: IngestReport) -> None:
        """Add what another run read (a worker reading some of the files) to this report."""
        self.events.update(other.events)
        self.quarantined_count += other.quarantined_count
        room = MAX_KEPT_QUARANTINE - len(self.quarantined)
        self.quarantined.extend(other.quarantined[: max(room, 0)])
        self.failed.extend(other.failed)
        self.ignored.extend(other.ignored)
        self.collector_files.extend(other.collector_files)
        for name, what in other.collections.items():
            self.collections.setdefault(name, what)
        self.unattributed += other.unattributed
        self.unattributed_hosts.update(other.unattributed_hosts)
        self.files += other.files
        self.bytes_read += other.bytes_read

    @property
    def total_events(self) -> int:
        return sum(self.events.values())

    def events_by_format(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for (_, fmt), n in self.events.items():
            out[fmt] += n
        return out

    @property
    def skipped(self) -> bool:
        return bool(self.quarantined_count or self.failed)

    def exit_code(self) -> int:
        return 1 if self.skipped else 0

    def summary(self, max_items: int = 20) -> str:
        """Plain-text summary for the CLI: totals, per format, then the first problems with their location."""
        lines = [f"{self.total_events:,} events from {self.files} files ({self.bytes_read:,} bytes)"]
        lines += [f"  {fmt}: {n:,}" for fmt, n in sorted(self.events_by_format().items())]
        if self.ignored:
            names = ", ".join(Path(n).name for n in self.ignored[:5])
            more = ", …" if len(self.ignored) > 5 else ""
            lines.append(f"{len(self.ignored)} files ignored, not in a log format ({names}{more})")
        if self.collections:
            lines.append(f"{len(self.collections)} triage collections:")
            lines += [f"  {name}: {what}" for name, what in list(self.collections.items())[:max_items]]
        if self.collector_files:
            names = ", ".join(Path(n.rsplit("!", 1)[-1]).name for n in self.collector_files[:5])
            more = ", …" if len(self.collector_files) > 5 else ""
            lines.append(f"{len(self.collector_files)} files of a triage collector skipped, its own logs "
                         f"and metadata ({names}{more})")
        if self.unattributed:
            hosts = ", ".join(h for h, _ in self.unattributed_hosts.most_common(5))
            lines.append(f"{self.unattributed:,} events not attributed to an establishment (hosts: {hosts})")
        if self.quarantined_count:
            lines.append(f"{self.quarantined_count:,} records quarantined:")
            lines += [f"  {q}" for q in self.quarantined[:max_items]]
            if self.quarantined_count > max_items:
                lines.append(f"  … and {self.quarantined_count - max_items:,} more")
        if self.failed:
            lines.append(f"{len(self.failed)} files not read (in whole or in part):")
            lines += [f"  {f}" for f in self.failed[:max_items]]
        return "\n".join(lines)
