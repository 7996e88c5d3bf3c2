"""The durable segment journal: receivers write to it before acknowledging, the live loop reads from it.

Layout of a journal folder::

    00000000000000000001.seg   segments, named by the offset of their first record
    checkpoint                 the last offset the consumer fully processed, and its state blob
    quarantine/                damaged segments, each with a ``.reason.txt``
    lock                       held (flock) by the one process that has the journal open

A segment starts with ``MAGIC`` and its first offset; each record is framed as
``length u32 | offset u64 | crc u32 | payload``. The checksum is zlib's CRC32 over the length, the offset and
the payload: it is in the standard library (C, table-driven), it detects every torn write and every burst of
up to 32 flipped bits as well as CRC32C does, and CRC32C would cost a compiled dependency for no gain here
(we guard against torn writes and bit rot, not an adversary; the audit journal's MACs do that). The offset in
each frame lets recovery tell a record from stale bytes.

Offsets are record numbers from 1, global and kept across restarts; 0 means "nothing". A consumer reads
``read_from(checkpoint_offset + 1)`` and, once it has fully processed up to N, calls ``commit(N, state)``.
Readers only ever see records already fsynced.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import errno
import fcntl
import os
import struct
import threading
import time
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rempart.serve.contracts import Backpressure, IntakeRecord

MAGIC = b"RMPJSEG1"
SEGMENT_HEADER = struct.Struct(">8sQ")
FRAME = struct.Struct(">IQI")
CHECKPOINT_MAGIC = b"RMPJCKP1"
CHECKPOINT_HEAD = struct.Struct(">8sQII")
SUFFIX = ".seg"
STRIDE = 64  # one file position kept in memory per STRIDE records: reads skip at most STRIDE - 1 frames
READ_CHUNK = 1 << 20
MiB = 1 << 20
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class JournalError(Exception):
    """The journal cannot be opened or read; the message says which file and what to do."""


@dataclass(frozen=True)
class JournalStats:
    end_offset: int  # the last durable record (0: none yet)
    checkpoint_offset: int  # the last record the consumer fully processed
    lag: int  # end_offset - checkpoint_offset
    segments: int
    bytes: int
    quarantined: int  # damaged segments moved to quarantine/ (ever, as long as they are kept there)
    tail_bytes_cut: int  # torn tail cut when this journal was opened


@dataclass
class _Segment:
    first: int
    path: Path
    count: int = 0
    size: int = SEGMENT_HEADER.size  # durable end, in bytes
    index: array[int] = field(default_factory=lambda: array("Q"))  # position of record first + k*STRIDE

    @property
    def last(self) -> int:
        return self.first + self.count - 1


def _segment_name(first: int) -> str:
    return f"{first:020d}{SUFFIX}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _frame(offset: int, payload: bytes) -> bytes:
    head = struct.pack(">IQ", len(payload), offset)
    return head + zlib.crc32(payload, zlib.crc32(head)).to_bytes(4, "big") + payload


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


RESYNC_CANDIDATES = 64  # after damage, the next this-many offsets are looked for


def _frame_at(data: bytes, q: int, offset: int) -> bool:
    if q < 0 or len(data) - q < FRAME.size:
        return False
    length, got, crc = FRAME.unpack_from(data, q)
    end = q + FRAME.size + length
    if got != offset or end > len(data):
        return False
    return bool(zlib.crc32(data[q + FRAME.size:end], zlib.crc32(data[q:q + 12])) == crc)


def _resync(data: bytes, after: int, last_good: int, upper: int | None) -> tuple[int, int] | None:
    """The first whole frame past byte ``after`` holding one of the offsets following ``last_good``
    (below ``upper``, the next segment's first): (its position, its offset)."""
    for j in range(last_good + 1, last_good + 1 + RESYNC_CANDIDATES):
        if upper is not None and j >= upper:
            break
        needle = j.to_bytes(8, "big")
        at = data.find(needle, after + 5)
        while at != -1:
            if _frame_at(data, at - 4, j):
                return at - 4, j
            at = data.find(needle, at + 1)
    return None


class SegmentJournal:
    """Append-only, checksummed, fsynced segments of opaque records (``IntakeRecord.encode()`` bytes).

    Appends may come from any thread (they serialise on a lock) alongside a reader; the consumer calls
    ``read_from`` and ``commit`` from one thread, since retention closes the files it reads.
    """

    def __init__(self, directory: str | Path, *, segment_bytes: int = 64 * MiB, retain_bytes: int = 0,
                 min_free_bytes: int = 256 * MiB, max_lag: int = 5_000_000,
                 disk_retry_after: float = 5.0, lag_retry_after: float = 1.0) -> None:
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self.retain_bytes = retain_bytes  # processed segments kept (oldest deleted first) beyond this size
        self.min_free_bytes = min_free_bytes
        self.max_lag = max_lag
        self.disk_retry_after = disk_retry_after
        self.lag_retry_after = lag_retry_after
        self._write_lock = threading.Lock()
        self._meta = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._readers: dict[Path, int] = {}
        self._segments: list[_Segment] = []
        self._firsts: list[int] = []
        self.tail_bytes_cut = 0
        self._next_hint = 0
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / "quarantine").mkdir(exist_ok=True)
            self._lock_fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise JournalError(f"journal {self.directory}: cannot create it ({e.strerror}); "
                               "give the service a writable folder") from e
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            os.close(self._lock_fd)
            raise JournalError(f"journal {self.directory}: already open in another process; "
                               "stop the other `rempart serve` first") from e
        for stale in self.directory.glob("*.tmp"):  # a checkpoint or a rewritten segment, never renamed
            stale.unlink()
        try:
            self._checkpoint, self._state = self._load_checkpoint()
            self._recover()
            self._fd = self._open_active()
        except OSError as e:
            os.close(self._lock_fd)
            raise JournalError(f"journal {e.filename or self.directory}: {e.strerror}; check the folder's "
                               "owner, permissions and free space, then start again") from e

    # --- opening -----------------------------------------------------------------------------------------

    def _load_checkpoint(self) -> tuple[int, bytes]:
        path = self.directory / "checkpoint"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return 0, b""
        if len(data) >= CHECKPOINT_HEAD.size:
            magic, offset, size, crc = CHECKPOINT_HEAD.unpack_from(data)
            state = data[CHECKPOINT_HEAD.size:]
            if magic == CHECKPOINT_MAGIC and size == len(state) and \
                    zlib.crc32(state, zlib.crc32(data[:CHECKPOINT_HEAD.size - 4])) == crc:
                return int(offset), state
        # Written by tmp + fsync + rename, a checkpoint is whole or absent; a bad one is outside damage.
        raise JournalError(f"journal {path}: the checkpoint is damaged (bad magic, size or checksum); "
                           "move it aside to replay the whole journal (detection deduplicates replays)")

    def _recover(self) -> None:
        paths = sorted(p for p in self.directory.glob(f"*{SUFFIX}") if p.stem.isdigit())
        done: set[Path] = set()
        for i, path in enumerate(paths):
            if path in done:  # written by the resync of an earlier segment, and scanned with it
                continue
            upper = int(paths[i + 1].stem) if i + 1 < len(paths) else None
            for seg in self._scan(path, last=upper is None, upper=upper, done=done):
                self._segments.append(seg)
        self._segments.sort(key=lambda s: s.first)
        self._firsts = [s.first for s in self._segments]

    def _scan(self, path: Path, *, last: bool, upper: int | None, done: set[Path]) -> list[_Segment]:
        """Check every frame of a segment; cut a torn tail; quarantine a damaged segment, keeping the good
        records before the damage in place and those after it in a new segment."""
        done.add(path)
        first = int(path.stem)
        data = path.read_bytes()
        seg = _Segment(first, path)
        if len(data) < SEGMENT_HEADER.size or SEGMENT_HEADER.unpack_from(data) != (MAGIC, first):
            if last and len(data) <= SEGMENT_HEADER.size:
                # A crash while a new segment was being created: it never held a record.
                path.unlink()
                _fsync_dir(self.directory)
                self._next_hint = max(self._next_hint, first)
                return []
            return self._damaged(path, data, seg, 0, "bad segment header (magic or first offset)",
                                 last=last, upper=upper, done=done)
        pos = SEGMENT_HEADER.size
        problem = ""
        while pos < len(data):
            if len(data) - pos < FRAME.size:
                problem = "torn"
                break
            length, offset, crc = FRAME.unpack_from(data, pos)
            end = pos + FRAME.size + length
            if end > len(data):
                problem = "torn"
                break
            payload = data[pos + FRAME.size:end]
            if offset != first + seg.count or zlib.crc32(payload, zlib.crc32(data[pos:pos + 12])) != crc:
                tail_is_one_frame = end == len(data) or not data[pos:].strip(b"\0")
                problem = "torn" if tail_is_one_frame else (
                    f"record {first + seg.count} at byte {pos}: " +
                    ("wrong offset in frame" if offset != first + seg.count else "bad checksum"))
                break
            if seg.count % STRIDE == 0:
                seg.index.append(pos)
            seg.count += 1
            pos = end
        seg.size = pos
        if problem == "torn" and last:
            # Never fsynced, so never acknowledged: cut it.
            self.tail_bytes_cut += len(data) - pos
            with open(path, "r+b") as f:
                f.truncate(pos)
                os.fsync(f.fileno())
        elif problem:
            why = "incomplete record at the end of a closed segment" if problem == "torn" else problem
            return self._damaged(path, data, seg, pos, why, last=last, upper=upper, done=done)
        return [seg]

    def _damaged(self, path: Path, data: bytes, seg: _Segment, pos: int, why: str, *, last: bool,
                 upper: int | None, done: set[Path]) -> list[_Segment]:
        """Quarantine a copy; keep the records before ``pos`` in place, and the ones after the damage, found
        again by their offsets and checksums, in a new segment named by the first of them."""
        bad = seg.first + seg.count
        found = _resync(data, max(pos, SEGMENT_HEADER.size - 1), bad - 1, upper)
        resumed: tuple[int, int, Path] | None = None
        if found is not None:
            q, j = found
            rest = self.directory / _segment_name(j)
            tmp = rest.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                _write_all(fd, SEGMENT_HEADER.pack(MAGIC, j) + data[q:])
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, rest)
            _fsync_dir(self.directory)
            resumed = (q, j, rest)
        self._quarantine(path, data, pos, bad, why, resumed)
        kept = [seg] if seg.count else []
        if resumed is None:
            self._skip_past(seg.first, len(data))
            return kept
        return kept + self._scan(resumed[2], last=last, upper=upper, done=done)

    def _quarantine(self, path: Path, data: bytes, good_end: int, bad_offset: int, why: str,
                    resumed: tuple[int, int, Path] | None) -> None:
        qdir = self.directory / "quarantine"
        n = 0
        while (dest := qdir / f"{path.name}.{n}").exists():
            n += 1
        first = int(path.stem)
        kept = bad_offset - first
        dest.write_bytes(data)
        with open(dest, "rb") as f:
            os.fsync(f.fileno())
        if resumed is None:
            lost = (f"lost from the journal: the records from offset {bad_offset} to the end of this segment "
                    f"(bytes {good_end}..{len(data)} of this copy)\n")
        else:
            q, j, rest = resumed
            lost = (f"lost from the journal: offsets {bad_offset}..{j - 1} "
                    f"(bytes {good_end}..{q} of this copy)\n"
                    f"the records from offset {j} on (byte {q}) continue in segment {rest.name}\n")
        reason = (f"segment {path.name} quarantined {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n"
                  f"reason: {why}\n"
                  f"kept in the journal: {kept} records before the damage (offsets {first}.."
                  f"{bad_offset - 1}), bytes 0..{good_end}\n" + lost)
        (qdir / f"{dest.name}.reason.txt").write_text(reason, encoding="utf-8")
        _fsync_dir(qdir)
        if kept:
            with open(path, "r+b") as f:
                f.truncate(good_end)
                os.fsync(f.fileno())
        elif resumed is None or resumed[2] != path:  # else the header alone was bad: already rewritten
            path.unlink()
        _fsync_dir(self.directory)

    def _skip_past(self, first: int, size: int) -> None:
        # Offsets past the damage may have been acknowledged and processed: never hand them out again.
        # Each frame takes at least FRAME.size bytes, which bounds how many the damaged segment held.
        self._next_hint = max(self._next_hint, first + max(size - SEGMENT_HEADER.size, 0) // FRAME.size)

    def _open_active(self) -> int:
        nxt = max(self._checkpoint + 1, self._next_hint, 1)
        if self._segments:
            nxt = max(nxt, self._segments[-1].last + 1)
            if nxt == self._segments[-1].last + 1:
                seg = self._segments[-1]
                fd = os.open(seg.path, os.O_WRONLY)
                os.lseek(fd, seg.size, os.SEEK_SET)
                return fd
        return self._new_segment(nxt)

    def _new_segment(self, first: int) -> int:
        path = self.directory / _segment_name(first)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _write_all(fd, SEGMENT_HEADER.pack(MAGIC, first))
            os.fdatasync(fd)
            _fsync_dir(self.directory)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        with self._meta:
            self._segments.append(_Segment(first, path))
            self._firsts.append(first)
        return fd

    # --- writing -----------------------------------------------------------------------------------------

    @property
    def end_offset(self) -> int:
        with self._meta:
            return self._segments[-1].last if self._segments else 0

    def room(self, n: int) -> None:
        """Raise :class:`Backpressure` when ``n`` more records should not be taken now."""
        lag = self.end_offset - self._checkpoint
        if lag + n > self.max_lag:
            raise Backpressure(f"detection is behind: {lag} journaled records not yet processed "
                               f"(limit {self.max_lag})", self.lag_retry_after)
        st = os.statvfs(self.directory)
        free = st.f_bavail * st.f_frsize
        if free < self.min_free_bytes:
            raise Backpressure(f"journal disk almost full: {free} bytes free in {self.directory} "
                               f"(minimum {self.min_free_bytes})", self.disk_retry_after)

    def append(self, payloads: Sequence[bytes]) -> range:
        return self.append_groups([payloads])[0]

    def append_groups(self, groups: Sequence[Sequence[bytes]]) -> list[range]:
        """Write every group, fsync once, and return each group's offsets. On a failed write or fsync the
        segment is cut back to where it was and :class:`Backpressure` is raised: none of it is kept."""
        with self._write_lock:
            seg = self._segments[-1]
            total = sum(len(p) + FRAME.size for g in groups for p in g)
            if seg.count and seg.size + total > self.segment_bytes:
                self._roll()
                seg = self._segments[-1]
            start = seg.size
            offset = seg.last + 1
            parts: list[bytes] = []
            new_index: list[int] = []
            pos = start
            ranges: list[range] = []
            for group in groups:
                begin = offset
                for payload in group:
                    if (offset - seg.first) % STRIDE == 0:
                        new_index.append(pos)
                    frame = _frame(offset, payload)
                    parts.append(frame)
                    pos += len(frame)
                    offset += 1
                ranges.append(range(begin, offset))
            try:
                _write_all(self._fd, b"".join(parts))
                os.fdatasync(self._fd)
            except OSError as e:
                self._roll_back(start)
                if e.errno in DISK_FULL:
                    raise Backpressure(f"journal disk full ({self.directory}): {e.strerror}",
                                       self.disk_retry_after) from e
                raise Backpressure(f"journal write failed ({seg.path}): {e.strerror}",
                                   self.disk_retry_after) from e
            with self._meta:
                seg.index.extend(new_index)
                seg.count = offset - seg.first
                seg.size = pos
                self._wake()
            return ranges

    def _roll_back(self, size: int) -> None:
        # An fsync error leaves the page cache's state unknown: truncate, and make the truncation durable,
        # so that what was never acknowledged cannot reappear after a restart.
        os.ftruncate(self._fd, size)
        os.lseek(self._fd, size, os.SEEK_SET)
        with contextlib.suppress(OSError):
            os.fsync(self._fd)

    def _roll(self) -> None:
        try:
            fd = self._new_segment(self._segments[-1].last + 1)
        except OSError as e:
            raise Backpressure(f"journal cannot start a new segment in {self.directory}: {e.strerror}",
                               self.disk_retry_after) from e
        os.close(self._fd)
        self._fd = fd

    def _wake(self) -> None:
        for loop, fut in self._waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed
                loop.call_soon_threadsafe(_resolve, fut)
        self._waiters.clear()

    async def wait(self, after: int, timeout: float | None = None) -> int:
        """Wait until a record beyond ``after`` is durable (or ``timeout`` seconds); return the end offset."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._meta:
            end = self._segments[-1].last if self._segments else 0
            if end > after:
                return end
            self._waiters.append((loop, fut))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fut, timeout)
        return self.end_offset

    # --- reading -----------------------------------------------------------------------------------------

    def read_from(self, offset: int, max_records: int = 10_000) -> list[tuple[int, bytes]]:
        """Up to ``max_records`` durable records from ``offset`` on, as (offset, bytes), in order. Offsets
        lost to a quarantined segment or removed by retention are skipped."""
        out: list[tuple[int, bytes]] = []
        with self._meta:
            i = max(bisect.bisect_right(self._firsts, offset) - 1, 0)
            segments = [(s, s.first, s.count, s.size, s.index) for s in self._segments[i:]]
        for seg, first, count, size, index in segments:
            if len(out) >= max_records:
                break
            offset = max(offset, first)
            if offset >= first + count:
                continue
            self._read_segment(seg, first, count, size, index, offset, max_records, out)
            offset = first + count
        return out

    def _read_segment(self, seg: _Segment, first: int, count: int, size: int, index: array[int],
                      offset: int, limit: int, out: list[tuple[int, bytes]]) -> None:
        rel = offset - first
        n = first + (rel // STRIDE) * STRIDE
        pos = index[rel // STRIDE]
        fd = self._reader(seg.path)
        buf = b""
        base = pos
        while n < first + count and len(out) < limit:
            at = pos - base
            if at + FRAME.size > len(buf):
                buf, base, at = os.pread(fd, min(READ_CHUNK, size - pos), pos), pos, 0
            length, got, crc = FRAME.unpack_from(buf, at)
            end = at + FRAME.size + length
            if end > len(buf):
                buf, base, at = os.pread(fd, max(READ_CHUNK, FRAME.size + length), pos), pos, 0
                end = FRAME.size + length
            if n >= offset:
                payload = buf[at + FRAME.size:end]
                if got != n or zlib.crc32(payload, zlib.crc32(buf[at:at + 12])) != crc:
                    raise JournalError(f"journal {seg.path}: record {n} at byte {pos} is damaged on disk; "
                                       "restart `rempart serve` to quarantine this segment")
                out.append((n, payload))
            pos += FRAME.size + length
            n += 1

    def _reader(self, path: Path) -> int:
        with self._meta:
            fd = self._readers.get(path)
            if fd is None:
                fd = self._readers[path] = os.open(path, os.O_RDONLY)
            return fd

    # --- checkpoint and retention ------------------------------------------------------------------------

    def checkpoint(self) -> tuple[int, bytes]:
        """The last offset the consumer committed as fully processed, and its state (0, b"" at first)."""
        return self._checkpoint, self._state

    def commit(self, offset: int, state: bytes = b"") -> None:
        """Record atomically that everything up to ``offset`` is processed, with the consumer's state;
        then delete the processed segments beyond the retention."""
        if offset < self._checkpoint or offset > self.end_offset:
            raise ValueError(f"checkpoint {offset} outside {self._checkpoint}..{self.end_offset}")
        head = CHECKPOINT_HEAD.pack(CHECKPOINT_MAGIC, offset, len(state), 0)[:-4]
        data = head + zlib.crc32(state, zlib.crc32(head)).to_bytes(4, "big") + state
        tmp = self.directory / "checkpoint.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.directory / "checkpoint")
        _fsync_dir(self.directory)
        self._checkpoint, self._state = offset, state
        self._retain()

    def _retain(self) -> None:
        with self._meta:
            done = [s for s in self._segments[:-1] if s.last <= self._checkpoint]
            kept = sum(s.size for s in done)
            doomed: list[_Segment] = []
            for s in done:
                if kept <= self.retain_bytes:
                    break
                doomed.append(s)
                kept -= s.size
            for s in doomed:
                self._segments.remove(s)
                fd = self._readers.pop(s.path, None)
                if fd is not None:
                    os.close(fd)
            self._firsts = [s.first for s in self._segments]
        for s in doomed:
            s.path.unlink()
        if doomed:
            _fsync_dir(self.directory)

    # --- figures -----------------------------------------------------------------------------------------

    def stats(self) -> JournalStats:
        with self._meta:
            end = self._segments[-1].last if self._segments else 0
            segments = len(self._segments)
            size = sum(s.size for s in self._segments)
        quarantined = sum(1 for p in (self.directory / "quarantine").iterdir() if not p.name.endswith(".txt"))
        return JournalStats(end, self._checkpoint, end - self._checkpoint, segments, size, quarantined,
                            self.tail_bytes_cut)

    def close(self) -> None:
        with self._write_lock, self._meta:
            for fd in (self._fd, *self._readers.values()):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._readers.clear()
            self._fd = -1
        os.close(self._lock_fd)

    def __enter__(self) -> SegmentJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class JournalSink:
    """:class:`~rempart.serve.contracts.Sink` over a :class:`SegmentJournal`, with group commit: the
    batches of every connection that arrive while one write + fsync runs (in a thread, so the event loop
    keeps serving) go out together in the next one and share its fsync."""

    def __init__(self, journal: SegmentJournal) -> None:
        self.journal = journal
        self._pending: list[tuple[list[bytes], asyncio.Future[range]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.fsyncs = 0
        self.appends = 0

    async def accept(self, records: Sequence[IntakeRecord]) -> None:
        await self.append([r.encode() for r in records])

    async def append(self, payloads: list[bytes]) -> range:
        """Journal ``payloads`` durably and return their offsets, or raise :class:`Backpressure`."""
        if not payloads:
            return range(0)
        self.journal.room(len(payloads) + sum(len(p) for p, _ in self._pending))
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[range] = loop.create_future()
        self._pending.append((payloads, fut))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        return await fut

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                ranges = await asyncio.to_thread(self.journal.append_groups, [p for p, _ in batch])
            except Backpressure as e:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(Backpressure(e.reason, e.retry_after))
                continue
            except Exception as e:  # noqa: BLE001 - handed to every waiting accepter
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            self.fsyncs += 1
            self.appends += len(batch)
            for (_, fut), r in zip(batch, ranges, strict=True):
                if not fut.done():
                    fut.set_result(r)

    async def drain(self) -> None:
        """Wait for the write in flight (before closing the journal)."""
        if self._flusher is not None:
            await self._flusher
