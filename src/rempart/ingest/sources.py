"""Files and archive members as byte streams, read directly (nothing is extracted to disk).

A :class:`Source` is one stream of log bytes: a plain file, the content of a ``.gz``, or one member of a
``.zip`` / ``.tar`` / ``.tar.gz`` / ``.tgz``. Its name is the path, with ``!member`` for an archive member.
Archives inside archives are opened too, down to :data:`MAX_NESTING` levels: a server's ``/var/log``
collected as a ``.tar.gz`` holds its rotated ``auth.log.2.gz``, and that is where an intrusion begins.
Streams are *guarded*: a read error (truncated gzip, corrupt zip member, disk error) ends the stream and is
recorded once in the report as a failed file, so readers keep every whole record read before it.

Text in UTF-16 (what Windows PowerShell 5.1 writes with ``>`` or ``Out-File``) is handed to the readers as
UTF-8, and a UTF-8 byte-order mark is dropped, so an export made on a Windows server reads like any other.
"""

from __future__ import annotations

import codecs
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
MAX_NESTING = 3  # archives inside archives opened, counting the file itself
NESTED_ZIP_BYTES = 512 << 20  # a zip inside an archive is read into memory (zipfile must seek): at most this


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
    buffered = io.BufferedReader(raw, 1 << 20)
    yield from _unpack(_Origin(path, mtime, report), str(path), None, buffered, 1)


@dataclass
class _Origin:
    path: Path  # the file on disk
    mtime: float
    report: IngestReport


def _unpack(origin: _Origin, label: str, member: str | None, stream: IO[bytes], level: int
            ) -> Iterator[Source]:
    """The log streams of `stream` (the file itself at level 1, or an archive member below it): itself,
    or the members of the archive it is, named by `label` (``a.zip!logs.tar.gz!auth.log.2.gz``)."""
    name = (member or origin.path.name).lower().rsplit("/", 1)[-1]
    archive = name.endswith((*_TAR_SUFFIXES, ".zip", ".gz"))
    if archive and level > MAX_NESTING:
        origin.report.fail(label, f"archive nested more than {MAX_NESTING} levels deep, not opened: "
                                  "extract the outer ones and hunt the folder")
    elif name.endswith(_TAR_SUFFIXES):
        yield from _tar_members(origin, label, name, stream, level)
    elif name.endswith(".zip"):
        if level > 1:  # zipfile seeks, and a member's stream cannot
            data = stream.read(NESTED_ZIP_BYTES + 1)
            if len(data) > NESTED_ZIP_BYTES:
                origin.report.fail(label, f"zip inside an archive is over {NESTED_ZIP_BYTES >> 20:,} MB, "
                                          "not opened: extract it and hunt it on its own")
                return
            stream = io.BytesIO(data)
        yield from _zip_members(origin, label, stream, level)
    elif name.endswith(".gz"):
        gz: IO[bytes] = gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[assignment]
        yield Source(label, origin.path, member, origin.mtime, _guard(gz, label, origin.report))
    else:
        yield Source(label, origin.path, member, origin.mtime, _guard(stream, label, origin.report))


def _member(origin: _Origin, label: str, member: str, stream: IO[bytes], level: int) -> Iterator[Source]:
    """One archive member; when it is an archive too, a broken one is reported and its siblings still read."""
    try:
        yield from _unpack(origin, label, member, stream, level)
    except READ_ERRORS as exc:
        origin.report.fail(label, f"unreadable archive: {exc}")


def _zip_members(origin: _Origin, label: str, stream: IO[bytes], level: int) -> Iterator[Source]:
    with zipfile.ZipFile(stream) as archive:
        for info in archive.infolist():
            if info.is_dir() or _is_metadata(info.filename):
                continue
            inner = f"{label}!{info.filename}"
            try:
                member = _open_member(archive, stream, info)
            except READ_ERRORS as exc:
                origin.report.fail(inner, f"unreadable zip member: {exc}")
                continue
            with member:
                yield from _member(origin, inner, info.filename, member, level + 1)


def _tar_members(origin: _Origin, label: str, name: str, raw: IO[bytes], level: int) -> Iterator[Source]:
    # streaming mode ('r|'): members are read in order, without seeking, so a cut archive still
    # yields every member before the cut. The gzip layer is ours: tarfile's own stops silently at a cut.
    report = origin.report
    if not name.endswith(".tar"):
        raw = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
    with tarfile.open(fileobj=raw, mode="r|") as archive:
        last = None
        try:
            for info in archive:
                if not info.isfile() or _is_metadata(info.name):
                    continue
                last = info.name
                member = archive.extractfile(info)
                if member is not None:
                    yield from _member(origin, f"{label}!{info.name}", info.name, member, level + 1)
        except READ_ERRORS as exc:
            after = f" after member {last}" if last else ""
            report.fail(label, f"truncated archive{after}: {exc}")
            return
        try:
            while raw.read(1 << 20):  # what follows the end-of-archive marker must decompress too
                pass
        except gzip.BadGzipFile as exc:
            report.fail(
                label,
                f"unexpected bytes after the compressed data, ignored ({exc}); every member was read",
            )
        except READ_ERRORS as exc:
            after = f" after member {last}" if last else ""
            report.fail(label, f"truncated archive{after}: {exc}")


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
    return as_utf8(io.BufferedReader(GuardedStream(stream, label, report), 1 << 20), label, report)


_BOMS = ((codecs.BOM_UTF8, None), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def as_utf8(stream: io.BufferedReader, label: str, report: IngestReport) -> io.BufferedReader:
    """`stream` without a UTF-8 byte-order mark, or UTF-16 text (told by its mark, or by a NUL byte beside
    every ASCII one when it has none) re-encoded as UTF-8; any other stream as it is."""
    head = stream.peek(64)[:64]
    if head.startswith(b"\xff\xfe\x00\x00"):  # UTF-32: no Windows tool writes logs so
        return stream
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            stream.read(len(bom))
            return stream if encoding is None else _utf16(stream, encoding, label, report)
    encoding = _unmarked_utf16(head)
    return stream if encoding is None else _utf16(stream, encoding, label, report)


def _utf16(stream: io.BufferedReader, encoding: str, label: str, report: IngestReport) -> io.BufferedReader:
    return io.BufferedReader(_Utf16(stream, encoding, label, report), 1 << 20)


def _unmarked_utf16(head: bytes) -> str | None:
    even = len(head) & ~1
    if even < 8:
        return None
    low, high = head[0:even:2], head[1:even:2]
    for text, zeros, encoding in ((low, high, "utf-16-le"), (high, low, "utf-16-be")):
        if zeros.count(0) == len(zeros) and all(c in b"\t\r\n" or 0x20 <= c < 0x7F for c in text):
            return encoding
    return None


class _Utf16(io.RawIOBase):
    """UTF-16 text read as UTF-8. A lone surrogate is passed through (``surrogatepass``): it is not valid
    UTF-8, so the line holding it is quarantined as binary data while the others read."""

    def __init__(self, inner: io.BufferedReader, encoding: str, label: str, report: IngestReport) -> None:
        self._inner = inner
        self._label = label
        self._report = report
        self._decoder = codecs.getincrementaldecoder(encoding)("surrogatepass")
        self._pending = b""
        self._offset = 0
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while self._offset >= len(self._pending) and not self._ended:
            data = self._inner.read(1 << 20)
            self._ended = not data
            try:
                text = self._decoder.decode(data, final=self._ended)
            except UnicodeDecodeError:  # one odd byte at the end: the file was cut
                text = ""
                if not getattr(self._inner.raw, "failed", False):  # a cut already reported says it all
                    self._report.fail(self._label, "truncated UTF-16 text: it ends in the middle of a "
                                                   "character, which was dropped; the text before it is kept")
            self._pending, self._offset = text.encode("utf-8", "surrogatepass"), 0
        n = min(len(buffer), len(self._pending) - self._offset)
        buffer[:n] = memoryview(self._pending)[self._offset : self._offset + n]
        self._offset += n
        return n
