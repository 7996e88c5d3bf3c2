"""Files and archive members as byte streams, read directly (nothing is extracted to disk).

A :class:`Source` is one stream of log bytes: a plain file, the content of a ``.gz``, or one member of a
``.zip`` / ``.tar`` / ``.tar.gz`` / ``.tgz``. Its name is the path, with ``!member`` for an archive member.
Streams are *guarded*: a read error (truncated gzip, corrupt zip member, disk error) ends the stream and is
recorded once in the report as a failed file, so readers keep every whole record read before it.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from rempart.ingest.report import IngestReport

READ_ERRORS = (EOFError, OSError, zlib.error, tarfile.TarError, zipfile.BadZipFile, ValueError)
_TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar")


@dataclass
class Source:
    name: str  # 'path' or 'path!member'
    path: Path  # the file on disk
    member: str | None
    mtime: float  # of the file on disk (syslog takes the year of year-less timestamps from it)
    stream: BinaryIO  # decompressed bytes, guarded


class GuardedStream(io.RawIOBase):
    """A read-only stream that turns a read error into end-of-stream plus one report entry."""

    def __init__(self, inner: IO[bytes], name: str, report: IngestReport) -> None:
        self._inner = inner
        self._name = name
        self._report = report
        self.failed = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.failed:
            return 0
        try:
            data = self._inner.read(len(buffer))
        except READ_ERRORS as exc:
            self.failed = True
            self._report.fail(self._name, f"truncated or corrupt, read stopped: {exc}")
            return 0
        buffer[: len(data)] = data
        return len(data)

    def read_all(self) -> bytes:
        chunks = []
        while chunk := self.read(1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)


class _Counting(io.RawIOBase):
    """Wraps the file on disk to tell the progress callback how many bytes were consumed."""

    def __init__(self, raw: BinaryIO, progress: Callable[[int], None] | None, size: int) -> None:
        self._raw = raw
        self._progress = progress
        self._size = size
        self.consumed = 0  # reported so far: never more than the file's size, even when zip seeks back

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        step = min(n or 0, self._size - self.consumed)
        if step > 0:
            self.consumed += step
            if self._progress is not None:
                self._progress(step)
        return int(n or 0)

    def close(self) -> None:
        self._raw.close()
        super().close()


def iter_files(paths: Sequence[Path]) -> Iterator[Path]:
    """Every file under ``paths`` (folders expanded recursively, sorted; hidden files skipped)."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and not any(p.startswith(".") for p in child.relative_to(path).parts):
                    yield child
        else:
            yield path  # a missing path is reported by open_sources, not silently dropped


def is_archive(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".zip", ".gz", ".tgz", ".tar"))


def open_sources(
    path: Path, report: IngestReport, progress: Callable[[int], None] | None = None
) -> Iterator[Source]:
    """The log streams inside ``path``; each must be consumed before the next is requested."""
    try:
        mtime = path.stat().st_mtime
        size = path.stat().st_size
        raw = _Counting(open(path, "rb"), progress, size)  # noqa: SIM115 - closed in finally
    except OSError as exc:
        report.fail(str(path), f"cannot open: {exc.strerror or exc}")
        return
    report.files += 1
    try:
        yield from _sources(path, raw, mtime, report)
    except READ_ERRORS as exc:
        report.fail(str(path), f"unreadable archive: {exc}")
    finally:
        if progress is not None and size > raw.consumed:
            progress(size - raw.consumed)  # zip reads only what it needs; count the whole file as done
        report.bytes_read += size
        raw.close()


def _sources(path: Path, raw: _Counting, mtime: float, report: IngestReport) -> Iterator[Source]:
    name = path.name.lower()
    buffered = io.BufferedReader(raw, 1 << 20)
    if name.endswith(_TAR_SUFFIXES):
        yield from _tar_members(path, buffered, mtime, report)
    elif name.endswith(".zip"):
        with zipfile.ZipFile(buffered) as archive:
            for info in archive.infolist():
                if info.is_dir() or _is_metadata(info.filename):
                    continue
                label = f"{path}!{info.filename}"
                try:
                    member = archive.open(info)
                except READ_ERRORS as exc:
                    report.fail(label, f"unreadable zip member: {exc}")
                    continue
                with member:
                    yield Source(label, path, info.filename, mtime, _guard(member, label, report))
    elif name.endswith(".gz"):
        label = str(path)
        gz: IO[bytes] = gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[assignment]
        yield Source(label, path, None, mtime, _guard(gz, label, report))
    else:
        yield Source(str(path), path, None, mtime, _guard(buffered, str(path), report))


def _tar_members(path: Path, raw: IO[bytes], mtime: float, report: IngestReport) -> Iterator[Source]:
    # streaming mode ('r|'): members are read in order, without seeking, so a cut archive still
    # yields every member before the cut. The gzip layer is ours: tarfile's own stops silently at a cut.
    if not path.name.lower().endswith(".tar"):
        raw = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
    with tarfile.open(fileobj=raw, mode="r|") as archive:
        last = None
        try:
            for info in archive:
                if not info.isfile() or _is_metadata(info.name):
                    continue
                last = info.name
                label = f"{path}!{info.name}"
                member = archive.extractfile(info)
                if member is not None:
                    yield Source(label, path, info.name, mtime, _guard(member, label, report))
        except READ_ERRORS as exc:
            after = f" after member {last}" if last else ""
            report.fail(str(path), f"truncated archive{after}: {exc}")
            return
        try:
            while raw.read(1 << 20):  # what follows the end-of-archive marker must decompress too
                pass
        except gzip.BadGzipFile as exc:
            report.fail(
                str(path),
                f"unexpected bytes after the compressed data, ignored ({exc}); every member was read",
            )
        except READ_ERRORS as exc:
            after = f" after member {last}" if last else ""
            report.fail(str(path), f"truncated archive{after}: {exc}")


def _is_metadata(member: str) -> bool:
    """macOS resource forks and folders that archivers add beside the real files ('__MACOSX/._x.json')."""
    parts = member.split("/")
    return parts[0] == "__MACOSX" or parts[-1].startswith("._")


def _guard(stream: IO[bytes], label: str, report: IngestReport) -> BinaryIO:
    return io.BufferedReader(GuardedStream(stream, label, report), 1 << 20)
