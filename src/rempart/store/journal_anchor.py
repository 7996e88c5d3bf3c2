"""The journal's head, recorded outside the case store, so that truncating the journal or rolling it back
is seen: whoever can rewrite the case store cannot make the anchor forget what was written.

Each append records the entry's sequence number and MAC, fsynced before the transaction commits
(``written``), and again after the commit (``committed``). An entry only ``written`` and absent from the
journal is a transaction that rolled back; an entry ``committed`` and absent was deleted. Each record
carries its own MAC, so the anchor cannot be extended without the key either.

``AnchorSink`` is what the journal needs; ``FileAnchor`` (JSON lines appended to one file, by default
``journal.anchor`` beside the key, ``REMPART_JOURNAL_ANCHOR`` to put it on another volume) is the reference
implementation. A sink to remote syslog or a WORM store would implement the same two methods.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import orjson

from rempart.errors import StateError
from rempart.store.journal_seal import JournalKey, canonical

ANCHOR_FILE = "journal.anchor"
WRITTEN = "written"
COMMITTED = "committed"
TORN = "torn"  # a line that is not a record at all: a write cut short by a crash


@dataclass(frozen=True)
class AnchorRecord:
    journal: str  # the journal's id: the MAC of its first authenticated entry
    seq: int
    mac: str
    key_id: str
    state: str  # WRITTEN or COMMITTED (TORN for an unreadable line)
    line: int = 0  # where it was read (1-based), 0 before it is written
    authentic: bool = True  # its own MAC verified with the current key

    def body(self) -> dict[str, object]:
        return {
            "journal": self.journal,
            "seq": self.seq,
            "mac": self.mac,
            "key": self.key_id,
            "state": self.state,
        }


class AnchorSink(Protocol):
    @property
    def where(self) -> str: ...

    def record(self, records: Sequence[AnchorRecord], key: JournalKey, sync: bool) -> None:
        """Add RECORDS; with SYNC, durable (fsynced or acknowledged) before returning."""

    def read(self, key: JournalKey | None) -> list[AnchorRecord] | None:
        """Every record, each marked authentic or not with KEY; None when the anchor does not exist."""


class FileAnchor:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def where(self) -> str:
        return str(self.path)

    def record(self, records: Sequence[AnchorRecord], key: JournalKey, sync: bool) -> None:
        if not records:
            return
        lines = b"".join(
            canonical({**r.body(), "m": key.mac("anchor", canonical(r.body()))}) + b"\n" for r in records
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            created = not self.path.exists()
            # O_APPEND: processes appending at once never overwrite each other's lines
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    lines = b"\n" + lines  # a line torn by a crash stays apart from the next one
                os.write(fd, lines)
                if sync:
                    os.fdatasync(fd)  # the data and the file's size: what a reader after a crash needs
            finally:
                os.close(fd)
            if created and sync:
                dfd = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
        except OSError as exc:
            raise StateError(
                f"cannot write the journal anchor {self.path}: {exc.strerror}",
                hint="nothing was journaled; make the anchor writable (REMPART_JOURNAL_ANCHOR) and retry",
            ) from None

    def read(self, key: JournalKey | None) -> list[AnchorRecord] | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        out: list[AnchorRecord] = []
        for n, raw in enumerate(data.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                obj = orjson.loads(raw)
                rec = AnchorRecord(
                    str(obj["journal"]),
                    int(obj["seq"]),
                    str(obj["mac"]),
                    str(obj["key"]),
                    str(obj["state"]),
                    n,
                )
                mark = str(obj["m"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                out.append(AnchorRecord("", 0, "", "", TORN, n, authentic=False))
                continue
            ok = key is not None and hmac.compare_digest(key.mac("anchor", canonical(rec.body())), mark)
            out.append(AnchorRecord(rec.journal, rec.seq, rec.mac, rec.key_id, rec.state, n, ok))
        return out
