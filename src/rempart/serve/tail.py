"""File tailing: follow log files as they are written and hand each complete line to the sink.

For the hosts that only write files (an application's log, a syslog server's output folder). A file is
known by its device and inode, not its name, so rotation loses nothing:
- rename and create (logrotate's default): the old file is read to its end through the descriptor already
  open, even under its new name or deleted, and dropped once absent from the globs and idle for one poll;
  the new file is read from its start;
- copytruncate: the file gets shorter, or its first bytes change (a writer already wrote past the old
  position), and it is read again from its start. The lines written between the last poll and the copy are
  in the copy only: follow the copy too (``app.log*``) or prefer rename rotation;
- deletion: what was written before is read from the open descriptor, then the file is dropped.

The position per file (inode, offset, a digest of its first bytes) is saved, atomically, only after
:meth:`Sink.accept` has returned for the lines before it, so a restart neither loses nor repeats a line.
A last line without its newline waits for it. On :class:`Backpressure` nothing advances; the same lines
are offered again after ``retry_after``.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from rempart.domain.inventory import Slug
from rempart.errors import StateError
from rempart.serve.contracts import Backpressure, IntakeRecord, Kind, Sender, Sink

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # bytes read per file and step: a burst of a huge file does not starve the others
PRINT = 256  # bytes of a file's start that tell it from another file that got the same inode


class TailInput(BaseModel):
    """One ``tail`` input of serve.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Slug
    paths: list[str] = Field(min_length=1, description="glob patterns of the files to follow")
    kind: Kind = Field(default="syslog", description="syslog: text lines; json: NDJSON, one object a line")
    establishment: Slug | None = Field(default=None, description="whose events these files hold")
    poll_interval: float = Field(default=0.25, gt=0, le=60, description="seconds between two looks")
    from_end: bool = Field(
        default=False,
        description="files already there at the first start: read only what is added (true) or everything",
    )


@dataclass
class _File:
    key: str  # "device:inode"
    path: str  # the name it had when last seen
    fd: int
    offset: int
    print_len: int = 0
    print_hash: str = ""
    seen: bool = True  # matched by a glob at the last scan
    size: int = -1  # its size at the last poll: a file that stopped growing is idle


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileTail:
    """``await tail.run(stop)``, or ``await tail.poll()`` for one look at every file."""

    def __init__(
        self, config: TailInput, sink: Sink, state_path: Path, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self.sink = sink
        self.state_path = state_path
        self.clock = clock
        self._files: dict[str, _File] = {}
        self._saved = self._load()
        self._first_scan = not self.state_path.exists()

    # -- state -------------------------------------------------------------------------------------
    def _load(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StateError(
                f"tail input '{self.config.name}': its positions file {self.state_path} cannot be read "
                f"({exc}); nothing was read from the files",
                hint="restore the file, or delete it to read the files again from their start "
                "(lines already taken are sent again)",
            ) from None
        files = data.get("files", {}) if isinstance(data, dict) else {}
        return files if isinstance(files, dict) else {}

    def _save(self) -> None:
        files = {f.key: {"path": f.path, "offset": f.offset, "print_len": f.print_len, "print": f.print_hash}
                 for f in self._files.values()}
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"input": self.config.name, "files": files}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.state_path)  # never a half-written state: the old one or the new one

    # -- scanning ----------------------------------------------------------------------------------
    def _scan(self) -> None:
        for f in self._files.values():
            f.seen = False
        for pattern in self.config.paths:
            for path in sorted(glob.glob(pattern)):
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                if not os.path.isfile(path):
                    continue
                key = f"{st.st_dev}:{st.st_ino}"
                known = self._files.get(key)
                if known is not None:
                    known.seen, known.path = True, path
                    continue
                self._open(key, path, st.st_size)
        self._first_scan = False

    def _open(self, key: str, path: str, size: int) -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            log.warning("tail %s: cannot open %s: %s", self.config.name, path, exc)
            return
        saved = self._saved.pop(key, None)
        f = _File(key, path, fd, 0)
        if saved is not None:
            f.offset = int(str(saved.get("offset", 0)))
            f.print_len = int(str(saved.get("print_len", 0)))
            f.print_hash = str(saved.get("print", ""))
            if self._replaced(f, size):  # another file got the inode, or it was truncated while we slept
                f.offset, f.print_len, f.print_hash = 0, 0, ""
        elif self._first_scan and self.config.from_end:
            f.offset = size
            self._fingerprint(f)
        self._files[key] = f

    def _replaced(self, f: _File, size: int) -> bool:
        if size < f.offset:
            return True
        if f.print_len:
            head = os.pread(f.fd, f.print_len, 0)
            return len(head) < f.print_len or _digest(head) != f.print_hash
        return False

    def _fingerprint(self, f: _File) -> None:
        if f.print_len < PRINT and f.offset > f.print_len:
            head = os.pread(f.fd, min(PRINT, f.offset), 0)
            f.print_len, f.print_hash = len(head), _digest(head)

    # -- reading -----------------------------------------------------------------------------------
    async def poll(self) -> int:
        """Read what was added to every file, hand it to the sink; the number of lines handed over."""
        await asyncio.to_thread(self._scan)
        sent = 0
        changed = False
        for f in list(self._files.values()):
            size = os.fstat(f.fd).st_size
            if await asyncio.to_thread(self._replaced, f, size):
                log.info("tail %s: %s was truncated or replaced, reading it from its start",
                         self.config.name, f.path)
                f.offset, f.print_len, f.print_hash = 0, 0, ""
                changed = True
            n = await self._drain(f)
            sent += n
            idle, f.size = n == 0 and size == f.size, size
            if not f.seen and idle:
                n = await self._finish(f)  # rotated out of the globs or deleted, and quiet: let it go
                sent += n
                os.close(f.fd)
                del self._files[f.key]
                changed = True
        if changed:
            await asyncio.to_thread(self._save)
        return sent

    async def _drain(self, f: _File) -> int:
        total = 0
        while True:
            data = await asyncio.to_thread(os.pread, f.fd, CHUNK, f.offset)
            end = data.rfind(b"\n")
            if end < 0:
                if len(data) == CHUNK:  # a line longer than a chunk: hand it over as it is
                    end = len(data) - 1
                else:
                    return total
            lines = data[: end + 1].split(b"\n")[:-1]
            await self._hand_over(f, lines, f.offset + end + 1)
            total += sum(1 for line in lines if line.strip())
            if len(data) < CHUNK:
                return total

    async def _finish(self, f: _File) -> int:
        """A file nobody writes any more may end without a newline: its last line is complete."""
        rest = await asyncio.to_thread(os.pread, f.fd, CHUNK, f.offset)
        if not rest.strip():
            return 0
        await self._hand_over(f, [rest], f.offset + len(rest))
        return 1

    async def _hand_over(self, f: _File, lines: list[bytes], new_offset: int) -> None:
        sender = Sender(f"tail:{self.config.name}", self.config.establishment, f"file:{f.path}")
        now = self.clock()
        records = [IntakeRecord(self.config.name, self.config.kind, sender, now, line.rstrip(b"\r"))
                   for line in lines if line.strip()]
        while records:
            try:
                await self.sink.accept(records)
                break
            except Backpressure as exc:
                log.info("tail %s: sink asks to wait (%s), %.1f s", self.config.name, exc.reason,
                         exc.retry_after)
                await asyncio.sleep(exc.retry_after)
        f.offset = new_offset
        self._fingerprint(f)
        await asyncio.to_thread(self._save)  # only now: the lines before this offset are durable

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every ``poll_interval`` seconds until ``stop`` is set."""
        try:
            while not stop.is_set():
                await self.poll()
                with contextlib.suppress(TimeoutError):  # the interval passed: look again
                    await asyncio.wait_for(stop.wait(), self.config.poll_interval)
        finally:
            self.close()

    def close(self) -> None:
        for f in self._files.values():
            os.close(f.fd)
        self._files.clear()
