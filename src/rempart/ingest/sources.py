"""Files and archive members as byte streams, read directly (nothing is extracted to disk).

A :class:`Source` is one stream of log bytes: a plain file, the content of a ``.gz``, or one member of a
``.zip`` / ``.tar`` / ``.tar.gz`` / ``.tgz``. Its name is the path, with ``!member`` for an archive member.
Streams are *guarded*: a read error (truncated gzip, corrupt zip member, disk error) ends the stream and is
recorded once in the report as a failed file, so readers keep every whole record read before it.
"""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, cast

from isal import isal_zlib

from rempart.ingest.report import IngestReport

_ISAL_ERROR = cast(type[Exception], isal_zlib.error)  # its stub declares an instance, not the class
READ_ERRORS = (
    EOFError, OSError, zlib.error, _ISAL_ERROR, tarfile.TarError, zipfile.BadZipFile, ValueError,
)
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
            return int(self._inner.readinto(buffer))  # type: ignore[attr-defined]  # straight into it
        except READ_ERRORS as exc:
            self.failed = True
            self._report.fail(self._name, f"truncated or corrupt, read stopped: {exc}")
            return 0

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
                    member = _open_member(archive, buffered, info)
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


def _open_member(archive: zipfile.ZipFile, file: IO[bytes], info: zipfile.ZipInfo) -> IO[bytes]:
    """A zip member's bytes: deflated ones (nearly every log archive) inflated by ISA-L, the rest by
    :mod:`zipfile`, which also refuses encrypted members with its own message."""
    if info.compress_type == zipfile.ZIP_DEFLATED and not info.flag_bits & 0x1:
        return cast(IO[bytes], _InflatedMember(file, info))
    return archive.open(info)


class _InflatedMember(io.RawIOBase):
    """One deflated zip member, inflated by ISA-L (``isal``): twice zlib's speed, and zlib was a tenth of
    reading Security-Datasets. Like :mod:`zipfile`, it checks the size and CRC-32 at the end of the member
    and raises :class:`zipfile.BadZipFile` when either is wrong, :class:`EOFError` when the data stops
    short. The archive's file is shared: members are read one after the other, each seeking to its own
    place before every read."""

    _STEP = 1 << 20  # compressed bytes per read
    _OUT = 4 << 20  # at most this much inflated per call, so a zip bomb cannot fill memory

    def __init__(self, file: IO[bytes], info: zipfile.ZipInfo) -> None:
        file.seek(info.header_offset)
        header = file.read(30)
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"bad local file header for {info.filename!r}")
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        self._file = file
        self._info = info
        self._position = info.header_offset + 30 + name_length + extra_length
        self._compressed_left = info.compress_size
        self._inflater = isal_zlib.decompressobj(-15)
        self._crc = 0
        self._size = 0
        self._ended = False
        self._flushed = False
        self._pending = b""  # inflated, not yet read
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while self._offset >= len(self._pending) and not self._ended:
            self._pending, self._offset = self._inflate(), 0
        n = min(len(buffer), len(self._pending) - self._offset)
        buffer[:n] = memoryview(self._pending)[self._offset : self._offset + n]
        self._offset += n
        return n

    def _inflate(self) -> bytes:
        if self._inflater.unconsumed_tail:
            data = self._inflater.decompress(self._inflater.unconsumed_tail, self._OUT)
        elif self._compressed_left > 0:
            self._file.seek(self._position)
            chunk = self._file.read(min(self._STEP, self._compressed_left))
            if not chunk:
                raise EOFError(f"zip member {self._info.filename!r} ends before its compressed size")
            self._position += len(chunk)
            self._compressed_left -= len(chunk)
            data = self._inflater.decompress(chunk, self._OUT)
        elif not self._inflater.eof and not self._flushed:
            self._flushed = True  # all input given: what inflating held back for lack of room (as zipfile)
            data = self._inflater.flush()
        else:
            self._finish()
            return b""
        self._crc = isal_zlib.crc32(data, self._crc)
        self._size += len(data)
        return data

    def _finish(self) -> None:
        self._ended = True
        name = self._info.filename
        if not self._inflater.eof:
            raise EOFError(f"compressed data of zip member {name!r} ends before its end-of-stream marker")
        if self._size != self._info.file_size:
            raise zipfile.BadZipFile(f"zip member {name!r} inflates to {self._size:,} bytes, "
                                     f"not the {self._info.file_size:,} its archive states")
        if self._crc != self._info.CRC:
            raise zipfile.BadZipFile(f"bad CRC-32 for zip member {name!r}")


def _is_metadata(member: str) -> bool:
    """macOS resource forks and folders that archivers add beside the real files ('__MACOSX/._x.json')."""
    parts = member.split("/")
    return parts[0] == "__MACOSX" or parts[-1].startswith("._")


def _guard(stream: IO[bytes], label: str, report: IngestReport) -> BinaryIO:
    return io.BufferedReader(GuardedStream(stream, label, report), 1 << 20)
