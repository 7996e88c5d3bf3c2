"""Files and archive members as byte streams, read directly (nothing is extracted to disk).

A :class:`Source` is one stream of log bytes: a plain file, the content of a ``.gz`` / ``.bz2`` / ``.xz``, or
one member of a ``.zip`` / ``.tar`` (plain or compressed: ``.tar.gz``, ``.tgz``, ``.tar.bz2``, ``.tar.xz``…).
Its name is the path, with ``!member`` for an archive member.
Archives inside archives are opened too, down to :data:`MAX_NESTING` levels: a server's ``/var/log``
collected as a ``.tar.gz`` holds its rotated ``auth.log.2.gz``, and that is where an intrusion begins.
Streams are *guarded*: a read error (truncated gzip, corrupt zip member, disk error) ends the stream and is
recorded once in the report as a failed file, so readers keep every whole record read before it. The
decompressors here hand over every byte they inflated before they check a trailer or a CRC-32: a log copied
while it was still being compressed keeps all its text, and the damage is reported. A zip member that cannot
be read (encrypted, an unknown compression method, a broken header) is reported and its siblings are read;
nothing raises out of :func:`open_sources`.

Text in UTF-16 (what Windows PowerShell 5.1 writes with ``>`` or ``Out-File``) is handed to the readers as
UTF-8, and a UTF-8 byte-order mark is dropped, so an export made on a Windows server reads like any other.
"""

from __future__ import annotations

import bz2
import codecs
import io
import lzma
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, BinaryIO, NoReturn, cast

from isal import isal_zlib

from rempart.ingest.report import IngestReport
from rempart.ingest.triage import folder_collection, zip_layout

_ISAL_ERROR = cast(type[Exception], isal_zlib.error)  # its stub declares an instance, not the class
READ_ERRORS = (
    EOFError, OSError, zlib.error, _ISAL_ERROR, tarfile.TarError, zipfile.BadZipFile, ValueError,
    lzma.LZMAError, struct.error, OverflowError, NotImplementedError, RuntimeError,
)
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz")
_COMPRESSED = (".gz", ".bz2", ".xz")
MAX_NESTING = 3  # archives inside archives opened, counting the file itself
NESTED_ZIP_BYTES = 512 << 20  # a zip inside an archive is read into memory (zipfile must seek): at most this


@dataclass
class Source:
    name: str  # 'path' or 'path!member'
    path: Path  # the file on disk
    member: str | None
    mtime: float  # of the file on disk (syslog takes the year of year-less timestamps from it)
    stream: BinaryIO  # decompressed bytes, guarded
    hosts: tuple[str, ...] = ()  # the host a triage collection was taken from, its names best first
    # the line numbers, in the file, of this stream's lines: set when some lines of a file are read again by
    # another reader (see rempart.ingest.pipeline); None = the stream is the file, numbered from 1
    lines: tuple[int, ...] | None = None


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
        except StreamDamage as exc:
            self.failed = True
            self._report.fail(self._name, str(exc))
            return 0
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
    collection = folder_collection(path)
    if collection is not None:
        report.collections.setdefault(collection.root.rstrip("/\\"), collection.describe())
        if collection.is_collector_file(str(path.absolute())):
            report.collector_files.append(str(path))
            return
    try:
        mtime = path.stat().st_mtime
        size = path.stat().st_size
        raw = _Counting(open(path, "rb"), progress, size)  # noqa: SIM115 - closed in finally
    except OSError as exc:
        report.fail(str(path), f"cannot open: {exc.strerror or exc}")
        return
    report.files += 1
    try:
        yield from _sources(path, raw, mtime, report, collection.hosts if collection is not None else ())
    except READ_ERRORS as exc:
        report.fail(str(path), f"unreadable archive: {exc}")
    except Exception as exc:  # noqa: BLE001 - the boundary: an archive library's surprise must not end the run
        report.fail(str(path), f"unreadable archive: {type(exc).__name__}: {exc}")
    finally:
        if progress is not None and size > raw.consumed:
            progress(size - raw.consumed)  # zip reads only what it needs; count the whole file as done
        report.bytes_read += size
        raw.close()


def _sources(path: Path, raw: _Counting, mtime: float, report: IngestReport, hosts: tuple[str, ...]
             ) -> Iterator[Source]:
    buffered = io.BufferedReader(raw, 1 << 20)
    yield from _unpack(_Origin(path, mtime, report, hosts), str(path), None, buffered, 1)


@dataclass
class _Origin:
    path: Path  # the file on disk
    mtime: float
    report: IngestReport
    hosts: tuple[str, ...] = ()  # of the triage collection the stream is in


def _unpack(origin: _Origin, label: str, member: str | None, stream: IO[bytes], level: int
            ) -> Iterator[Source]:
    """The log streams of `stream` (the file itself at level 1, or an archive member below it): itself,
    or the members of the archive it is, named by `label` (``a.zip!logs.tar.gz!auth.log.2.gz``)."""
    name = (member or origin.path.name).lower().rsplit("/", 1)[-1]
    archive = name.endswith((*_TAR_SUFFIXES, ".zip", *_COMPRESSED))
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
    elif name.endswith(_COMPRESSED):
        inflated = decompressed(stream, name)
        yield Source(label, origin.path, member, origin.mtime, _guard(inflated, label, origin.report),
                     origin.hosts)
    else:
        guarded = _guard(stream, label, origin.report)
        yield Source(label, origin.path, member, origin.mtime, guarded, origin.hosts)


def _member(origin: _Origin, label: str, member: str, stream: IO[bytes], level: int) -> Iterator[Source]:
    """One archive member; when it is an archive too, a broken one is reported and its siblings still read."""
    try:
        yield from _unpack(origin, label, member, stream, level)
    except READ_ERRORS as exc:
        origin.report.fail(label, f"unreadable archive: {exc}")
    except Exception as exc:  # noqa: BLE001 - one member's surprise must not cost its siblings
        origin.report.fail(label, f"unreadable archive: {type(exc).__name__}: {exc}")


def _zip_members(origin: _Origin, label: str, stream: IO[bytes], level: int) -> Iterator[Source]:
    with zipfile.ZipFile(stream) as archive:
        layout = zip_layout(archive)  # triage collections (KAPE, Velociraptor) in it, by their markers
        for found in layout.collections:
            origin.report.collections[f"{label}!{found.root}".rstrip("!/")] = found.describe()
        for info in archive.infolist():
            if info.is_dir() or _is_metadata(info.filename):
                continue
            name, inside = info.filename, origin
            collection = layout.of(name)
            if collection is not None:
                if collection.is_collector_file(name):
                    origin.report.collector_files.append(f"{label}!{name}")
                    continue
                name = collection.display(name)
                inside = replace(origin, hosts=collection.hosts or origin.hosts)
            inner = f"{label}!{name}"
            refused = _unreadable_member(info)
            if refused:
                origin.report.fail(inner, refused)
                continue
            try:
                member = _open_member(archive, stream, info)
            except READ_ERRORS as exc:
                origin.report.fail(inner, f"unreadable zip member: {exc}")
                continue
            with member:
                yield from _member(inside, inner, name, member, level + 1)


# what zipfile (and so rempart) can inflate; other methods are named in the message that refuses them
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_ZIP_METHOD_NAMES = {1: "Shrink", 6: "Implode", 9: "Deflate64", 93: "Zstandard", 95: "XZ", 96: "JPEG",
                     97: "WavPack", 98: "PPMd", 99: "AES encryption"}


def _unreadable_member(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member cannot be read, said before opening it (zipfile would raise mid-run)."""
    if info.flag_bits & 0x1:  # bit 0: encrypted (traditional PKWARE or WinZip AES, method 99)
        return ("encrypted zip member, not read: rempart reads no password-protected member; decrypt the "
                "archive (7-Zip, unzip -P) and hunt the extracted files")
    if info.compress_type not in _ZIP_METHODS:
        method = _ZIP_METHOD_NAMES.get(info.compress_type, "unknown")
        return (f"zip member compressed with method {info.compress_type} ({method}), which rempart cannot "
                "inflate; not read: extract it with 7-Zip and hunt the extracted file")
    return None


def _tar_members(origin: _Origin, label: str, name: str, raw: IO[bytes], level: int) -> Iterator[Source]:
    # streaming mode ('r|'): members are read in order, without seeking, so a cut archive still
    # yields every member before the cut. The decompression is ours: tarfile's own stops silently at a cut.
    report = origin.report
    deferred = None
    if not name.endswith(".tar"):
        deferred = _Deferred(decompressed(raw, name))
        raw = cast(IO[bytes], deferred)
    with _Tar.open(fileobj=raw, mode="r|", ignore_zeros=True) as archive:
        last = None
        try:
            for info in archive:
                if not info.isfile() or _is_metadata(info.name):
                    continue
                last = info.name
                member = (archive.extractfile(info) if info.sparse is not None
                          else cast(IO[bytes], _TarMember(archive, info)))
                if member is not None:
                    yield from _member(origin, f"{label}!{info.name}", info.name, member, level + 1)
            while raw.read(1 << 20):  # what follows must decompress too (tarfile may stop before the end)
                pass
        except StreamDamage as exc:  # the decompressor's own words say what happened and what was kept
            read = "every member was read" if archive.ended else f"the members before it were read ({last})"
            report.fail(label, f"{exc}; {read}")
        except READ_ERRORS as exc:
            if deferred is None or deferred.damage is None:
                after = f" after member {last}" if last else ""
                report.fail(label, f"truncated archive{after}: {exc}")
        if deferred is not None and deferred.damage is not None:
            read = "every member was read" if archive.ended else f"the members before it were read ({last})"
            report.fail(label, f"{deferred.damage}; {read}")
        for at, blocks, why, ended in archive.broken:
            if ended:
                report.fail(label, f"unexpected bytes after the end of the archive at byte {at:,}, ignored")
            else:
                report.fail(label, f"broken tar header at byte {at:,} ({why}): the member there is lost, "
                                   f"{blocks:,} blocks skipped to the next header; the others were read")


class _Deferred(io.RawIOBase):
    """A decompressed stream whose damage reads as its end, the damage kept to be reported: tarfile drops
    the bytes of a read that raises, which for a small member cut short was all of its text."""

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner
        self.damage: StreamDamage | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.damage is not None:
            return 0
        try:
            return int(self._inner.readinto(buffer))  # type: ignore[attr-defined]
        except StreamDamage as exc:
            self.damage = exc
            return 0


class _TarMember(io.RawIOBase):
    """A member of a tar read as a stream, whose bytes are handed over as they come: tarfile's own member
    file raises when the archive ends before the member does, and drops what it had read of it."""

    def __init__(self, archive: tarfile.TarFile, info: tarfile.TarInfo) -> None:
        self._stream = archive.fileobj
        self._info = info
        self._done = 0
        self._started = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        left = self._info.size - self._done
        if left <= 0:
            return 0
        if not self._started:  # a streamed tar seeks forward only, to where the member's data begins
            self._stream.seek(self._info.offset_data)
            self._started = True
        data = self._stream.read(min(len(buffer), left))
        if not data:
            raise tarfile.ReadError(f"the archive ends inside member {self._info.name!r}: "
                                    f"{self._done:,} of its {self._info.size:,} bytes were read and kept")
        buffer[: len(data)] = data
        self._done += len(data)
        return len(data)


class _Tar(tarfile.TarFile):
    """A tar read with ``ignore_zeros``: past a broken header, tarfile looks for the next one block after
    block, where it used to stop without a word (every later member lost). Where it skipped is noted from
    what it tells its debug hook (``"0x800: bad checksum"``), to be reported."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.broken: list[tuple[int, int, str, bool]] = []  # (byte, blocks, reason, after the end marker)
        self.ended = False  # the end-of-archive marker was met
        super().__init__(*args, **kwargs)  # reads the first header already

    def next(self) -> tarfile.TarInfo | None:
        info = super().next()
        if info is not None:
            self.ended = False  # zeros then a member: tars one after the other (cat a.tar b.tar)
        return info

    def _dbg(self, level: int, msg: str) -> None:
        at, _, why = msg.partition(": ")
        if why == "end of file header":
            self.ended = True
            return
        try:
            offset = int(at, 16)
        except ValueError:
            return
        if self.broken and self.broken[-1][0] + self.broken[-1][1] * tarfile.BLOCKSIZE == offset:
            first, blocks, reason, ended = self.broken[-1]
            self.broken[-1] = (first, blocks + 1, reason, ended)
        else:
            self.broken.append((offset, 1, why, self.ended))


def _open_member(archive: zipfile.ZipFile, file: IO[bytes], info: zipfile.ZipInfo) -> IO[bytes]:
    """A zip member's bytes: stored and deflated ones (nearly every log archive) by :class:`_ZipMember`
    (deflate by ISA-L), bzip2 and LZMA ones by :mod:`zipfile`."""
    if info.compress_type in (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED):
        return cast(IO[bytes], _ZipMember(file, info))
    return archive.open(info)


class _Pieces(io.RawIOBase):
    """A read-only stream made of the pieces that :meth:`_next` returns (``b""`` = none yet); it ends when
    ``_ended`` is set. A piece is handed over whole before the next is asked for, so the data read before an
    error (raised by a later :meth:`_next`) always reaches the reader."""

    def __init__(self) -> None:
        self._pending = b""
        self._offset = 0
        self._ended = False
        self._damage: Exception | None = None  # raised once the piece inflated before it is handed over

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while self._offset >= len(self._pending) and not self._ended:
            if self._damage is not None:
                self._ended = True
                raise self._damage
            self._pending, self._offset = self._next(), 0
        n = min(len(buffer), len(self._pending) - self._offset)
        buffer[:n] = memoryview(self._pending)[self._offset : self._offset + n]
        self._offset += n
        return n

    def _next(self) -> bytes:
        raise NotImplementedError


class _ZipMember(_Pieces):
    """One stored or deflated zip member (deflate inflated by ISA-L, ``isal``: twice zlib's speed, and zlib
    was a tenth of reading Security-Datasets). Like :mod:`zipfile`, it checks the size and CRC-32 at the end
    of the member and raises :class:`zipfile.BadZipFile` when either is wrong, :class:`EOFError` when the
    data stops short — but only once every byte before was handed over. The archive's file is shared:
    members are read one after the other, each seeking to its own place before every read."""

    _STEP = 1 << 20  # compressed bytes per read
    _OUT = 4 << 20  # at most this much inflated per call, so a zip bomb cannot fill memory

    def __init__(self, file: IO[bytes], info: zipfile.ZipInfo) -> None:
        super().__init__()
        file.seek(info.header_offset)
        header = file.read(30)
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"bad local file header for {info.filename!r}")
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        self._file = file
        self._info = info
        self._position = self._start = info.header_offset + 30 + name_length + extra_length
        self._compressed_left = info.compress_size
        self._inflater = isal_zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
        self._crc = 0
        self._size = 0
        self._flushed = False

    def _next(self) -> bytes:
        try:
            return self._inflate()
        except _ISAL_ERROR as exc:  # corrupt deflate data: keep what lies before the damage
            data = self._before_damage()
            self._size += len(data)
            self._damage = zipfile.BadZipFile(
                f"corrupt compressed data in zip member {self._info.filename!r} ({exc}); the "
                f"{self._size:,} bytes inflated before it are kept"
            )
            return data

    def _before_damage(self) -> bytes:
        """The bytes this member inflates to from where the reader stopped to the damage: ISA-L keeps no
        state to go back to, so the member is inflated again by zlib (only when it is damaged), a piece at a
        time, keeping what comes after the bytes already handed over."""
        inflater, skip, seen, kept = zlib.decompressobj(-15), self._size, 0, bytearray()
        at = self._start
        while at < self._position and not inflater.eof and len(kept) < self._OUT:
            self._file.seek(at)
            chunk = self._file.read(min(_PIECE, self._position - at))
            if not chunk:
                break
            at += len(chunk)
            before = inflater.copy()
            try:
                data, damaged = inflater.decompress(chunk), False
            except zlib.error:
                data, damaged = _inflated_before_error(before, chunk), True
            if seen + len(data) > skip:
                kept += data[max(0, skip - seen) :]
            seen += len(data)
            if damaged:
                break
        return bytes(kept[: self._OUT])

    def _inflate(self) -> bytes:
        inflater = self._inflater
        if inflater is not None and inflater.unconsumed_tail:
            data = inflater.decompress(inflater.unconsumed_tail, self._OUT)
        elif self._compressed_left > 0:
            self._file.seek(self._position)
            chunk = self._file.read(min(self._STEP, self._compressed_left))
            if not chunk:
                raise EOFError(f"zip member {self._info.filename!r} ends before its compressed size")
            self._position += len(chunk)
            self._compressed_left -= len(chunk)
            data = chunk if inflater is None else inflater.decompress(chunk, self._OUT)
        elif inflater is not None and not inflater.eof and not self._flushed:
            self._flushed = True  # all input given: what inflating held back for lack of room (as zipfile)
            data = inflater.flush()
        else:
            self._finish()
            return b""
        self._crc = isal_zlib.crc32(data, self._crc)
        self._size += len(data)
        return data

    def _finish(self) -> None:
        self._ended = True
        name = self._info.filename
        if self._inflater is not None and not self._inflater.eof:
            raise EOFError(f"compressed data of zip member {name!r} ends before its end-of-stream marker")
        if self._size != self._info.file_size:
            raise zipfile.BadZipFile(f"zip member {name!r} inflates to {self._size:,} bytes, "
                                     f"not the {self._info.file_size:,} its archive states")
        if self._crc != self._info.CRC:
            raise zipfile.BadZipFile(f"bad CRC-32 for zip member {name!r}: its text was read and kept, "
                                     "but some of it may be damaged")


class StreamDamage(OSError):
    """A compressed stream is damaged; its message says how, and what was kept."""


class TrailingBytes(StreamDamage):
    """Bytes after the last compressed stream that start no other one (every stream before was whole)."""


def decompressed(stream: IO[bytes], name: str) -> IO[bytes]:
    """The decompressed bytes of `stream`, by the suffix of `name` (``.gz`` / ``.tgz``, ``.bz2`` / ``.tbz2``,
    ``.xz`` / ``.txz``)."""
    if name.endswith((".gz", ".tgz")):
        return cast(IO[bytes], _Gunzip(stream))
    if name.endswith((".bz2", ".tbz2", ".tbz")):
        return cast(IO[bytes], _Decompressed(stream, bz2.BZ2Decompressor, "bzip2", b"BZh"))
    return cast(IO[bytes], _Decompressed(stream, lzma.LZMADecompressor, "xz", b"\xfd7zXZ\x00"))


_STEP = 64 << 10  # compressed bytes fed at once: corrupt data costs at most what they inflate to
_OUT = 4 << 20  # at most this much inflated per call, so a bomb cannot fill memory
_PIECE = 4096  # compressed bytes fed at once when inflating up to a damage (each inflates to 4 MB at most)


def _inflated_before_error(inflater: zlib._Decompress, data: bytes) -> bytes:
    """What `inflater` makes of `data` up to the byte where it finds the deflate stream corrupt.

    A failing ``decompress`` call returns nothing of what it inflated before the damage (for a small log,
    the whole text): `data` is fed again from a copy of the state before that call, in pieces that shrink
    to one byte around the damage, so only the bytes that the damage itself spoils are lost."""
    out: list[bytes] = []
    at, step = 0, _PIECE
    while at < len(data) and not inflater.eof:
        saved = inflater.copy()
        try:
            out.append(inflater.decompress(data[at : at + step]))
        except zlib.error:
            if step == 1:
                break
            inflater, step = saved, max(1, step // 16)
            continue
        at += step
    return b"".join(out)


class _Gunzip(_Pieces):
    """A gzip stream (RFC 1952, members one after the other as ``cat a.gz b.gz`` makes them), inflated by
    zlib (ISA-L holds back the last byte it inflated from a cut stream, and a log's inflating costs little
    beside its parsing). Unlike :mod:`gzip`, which checks a member's trailer before handing over the last
    block it inflated (so a missing trailer byte lost up to a megabyte of text, in small files all of it),
    every inflated byte is handed over before the trailer is checked; a cut, a wrong CRC-32 or size, and bytes
    that follow the last member raise :class:`StreamDamage` after that."""

    def __init__(self, inner: IO[bytes]) -> None:
        super().__init__()
        self._inner = inner
        self._input = b""  # compressed bytes read, not yet given to the inflater
        self._inflater: zlib._Decompress | None = None  # None: before a member's header
        self._crc = 0
        self._size = 0  # this member's
        self._total = 0  # every member's
        self._members = 0

    def _fill(self, n: int) -> bool:
        """At least `n` bytes in ``_input``, unless the stream ends first."""
        while len(self._input) < n:
            more = self._inner.read(max(_STEP, n - len(self._input)))
            if not more:
                return False
            self._input += more
        return True

    def _kept(self) -> str:
        return f"the {self._total:,} bytes inflated before it are kept"

    def _next(self) -> bytes:
        if self._inflater is None:
            self._header()
            return b""
        inflater = self._inflater
        if inflater.eof:
            self._trailer(inflater.unused_data)
            return b""
        if inflater.unconsumed_tail:
            chunk = inflater.unconsumed_tail
        else:
            chunk = self._input or self._inner.read(_STEP)
            self._input = b""
        before = inflater.copy()
        try:
            # with no more input, what inflating held back: first what fits, then the last bytes
            data = inflater.decompress(chunk, _OUT) or (b"" if chunk else inflater.flush())
        except zlib.error as exc:
            data = _inflated_before_error(before, chunk)
            self._total += len(data)
            self._damage = StreamDamage(f"corrupt gzip data ({exc}); {self._kept()}")
            return data
        if not chunk and not data and not inflater.eof:
            self._ended = True
            raise StreamDamage(f"gzip data cut short: it ends in the middle of the compressed data "
                               f"(a copy taken while the file was being written?); {self._kept()}")
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        self._total += len(data)
        return data

    def _header(self) -> None:
        while self._fill(1) and self._members and self._input[:1] == b"\x00":
            self._input = self._input.lstrip(b"\x00")  # zero padding after a member, as gzip allows
        if not self._input:
            self._ended = True
            if not self._members:
                raise StreamDamage("empty gzip file: no compressed data")
            return
        if not self._fill(10) or self._input[:3] != b"\x1f\x8b\x08":
            self._ended = True
            if self._members:
                raise TrailingBytes(f"unexpected bytes after the compressed data, ignored "
                                    f"({self._input[:8]!r}…)")
            raise StreamDamage(f"not a gzip file (it starts with {self._input[:8]!r}), not read")
        end = self._header_end(self._input[3])
        self._input = self._input[end:]
        self._inflater = zlib.decompressobj(-15)
        self._crc = self._size = 0

    def _header_end(self, flags: int) -> int:
        """Where the member's header ends, its optional fields (told by `flags`) included."""
        end = 10
        if flags & 0x04:  # FEXTRA
            if not self._fill(end + 2):
                self._header_cut()
            end += 2 + int.from_bytes(self._input[end : end + 2], "little")
        for flag in (0x08, 0x10):  # FNAME, FCOMMENT: zero-terminated
            if flags & flag:
                while (zero := self._input.find(b"\x00", end)) < 0:
                    if len(self._input) > (1 << 20) or not self._fill(len(self._input) + 1):
                        self._header_cut()
                end = zero + 1
        if flags & 0x02:  # FHCRC
            end += 2
        if not self._fill(end):
            self._header_cut()
        return end

    def _header_cut(self) -> NoReturn:
        self._ended = True
        raise StreamDamage(f"gzip member header cut short or corrupt; {self._kept()}")

    def _trailer(self, rest: bytes) -> None:
        self._input = rest + self._input
        self._inflater = None
        self._members += 1
        if not self._fill(8):
            self._ended = True
            raise StreamDamage(f"gzip trailer cut short: {len(self._input)} of its 8 bytes (CRC-32 and size) "
                               f"are there, the compressed data is whole; {self._kept()}")
        crc, size = struct.unpack("<II", self._input[:8])
        self._input = self._input[8:]
        if crc != self._crc:
            self._ended = True
            raise StreamDamage(f"gzip CRC-32 wrong (trailer says {crc:08x}, data gives {self._crc:08x}); "
                               f"{self._kept()}, though some may be damaged")
        if size != self._size & 0xFFFFFFFF:
            self._ended = True
            raise StreamDamage(f"gzip size wrong (trailer says {size:,} bytes, data gives {self._size:,}); "
                               f"{self._kept()}, though some may be damaged")


class _Decompressed(_Pieces):
    """A bzip2 or xz stream (streams one after the other allowed, as ``pbzip2`` and ``xz -T`` write them),
    fed a little at a time so that the text before a damaged block is handed over before the damage is
    raised as :class:`StreamDamage`."""

    def __init__(self, inner: IO[bytes], factory: Callable[[], bz2.BZ2Decompressor | lzma.LZMADecompressor],
                 kind: str, magic: bytes) -> None:
        super().__init__()
        self._inner = inner
        self._factory = factory
        self._kind = kind
        self._magic = magic
        self._decompressor = factory()
        self._streams = 0
        self._input = b""
        self._total = 0

    def _next(self) -> bytes:
        d = self._decompressor
        if d.eof:
            self._streams += 1
            rest = d.unused_data + self._input
            while not rest.strip(b"\x00"):  # zero padding after the last stream (xz allows it)
                rest = self._inner.read(_STEP)
                if not rest:
                    self._ended = True
                    return b""
            rest = rest.lstrip(b"\x00")
            while len(rest) < len(self._magic) and (more := self._inner.read(_STEP)):
                rest += more
            if not rest.startswith(self._magic):
                self._ended = True
                raise TrailingBytes(f"unexpected bytes after the {self._kind} data, ignored ({rest[:8]!r}…)")
            self._input = rest
            self._decompressor = d = self._factory()
        if d.needs_input:
            chunk = self._input or self._inner.read(_STEP)
            self._input = b""
            if not chunk:
                self._ended = True
                raise StreamDamage(f"{self._kind} data cut short: it ends in the middle of the compressed "
                                   f"data; the {self._total:,} bytes inflated before it are kept")
        else:
            chunk = b""
        try:
            data = d.decompress(chunk, _OUT)
        except (OSError, EOFError, lzma.LZMAError) as exc:
            self._ended = True
            raise StreamDamage(f"corrupt {self._kind} data ({exc}); the {self._total:,} bytes inflated "
                               "before it are kept") from exc
        self._total += len(data)
        return data


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
