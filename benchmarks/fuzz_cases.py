"""The cases of the fuzz harness (``benchmarks/fuzz.py``): seeds, containers, mutators, and where the damage
of each case begins in the decompressed content. Pure byte work: nothing here imports rempart.

A case is one seed of a format, possibly wrapped in a container, with its content or its container bytes
mutated. ``Case.damage`` is the offset in the content of the first byte that is not the seed's own (``INTACT``
when the content reads back whole): every event of the seed whose record ends at or before it must be read.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import re
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "ingest" / "fixtures"
# seeds written for the harness, beside the fixtures rather than among them: the tests that read the whole
# fixtures folder stay as they were
OWN = REPO / "tests" / "ingest" / "fuzz_seeds"
SHARED_DATA = (REPO.parent / "shared" / "data").resolve()
EVTX_SAMPLES = SHARED_DATA / "evtx-attack-samples"
INTACT = 1 << 62  # damage offset of a case whose content reads back whole
MB = 1 << 20

FORMATS = ("evtx", "winjson", "winxml", "syslog", "journald", "auditd", "zeek", "fortigate")
TEXT_CONTAINERS = ("plain", "gz", "zip", "tar", "tar.gz", "zip-in-tar.gz", "utf16")
BINARY_CONTAINERS = ("plain", "gz", "zip", "tar", "tar.gz", "zip-in-tar.gz")
_SAMPLES = REPO / "rules" / "samples"
SEED_FILES: dict[str, list[Path]] = {
    "syslog": [FIXTURES / "auth.log", FIXTURES / "syslog5424.log", FIXTURES / "sysmon_linux.log",
               _SAMPLES / "linux_sshd_brute_force" / "positive.log",
               _SAMPLES / "linux_sshd_auth_failure" / "negative.log"],
    "auditd": [FIXTURES / "audit.log", OWN / "audit_rhel9.log"],
    "zeek": [FIXTURES / "conn.log", FIXTURES / "zeek.json", OWN / "dns.log"],
    "fortigate": [FIXTURES / "fortigate.log", _SAMPLES / "fortigate_vpn_password_spraying" / "negative.log",
                  _SAMPLES / "fortigate_vpn_login_after_failures" / "positive.log"],
    "journald": [FIXTURES / "journal.json", OWN / "journal_sudo.json"],
    "winjson": [FIXTURES / "windows.jsonl", FIXTURES / "nxlog_system.json",
                _SAMPLES / "win_powershell_encoded_or_download" / "positive.ndjson",
                _SAMPLES / "win_lsass_dump_tools" / "negative.ndjson",
                OWN / "sigma_pretty.json", OWN / "events_array.json"],
    "winxml": [OWN / "wevtutil_security.xml", OWN / "eventviewer_export.xml"],
}
# real EVTX files of the public samples (never copied into the repository), cut to the chunks their header
# announces: the files are 1 MB of pre-allocated empty chunks around a few used ones
EVTX_SEEDS = (
    "Defense Evasion/DE_104_system_log_cleared.evtx",
    "AutomatedTestingTools/Malware/rundll32_cmd_schtask.evtx",
    "Defense Evasion/DE_1102_security_log_cleared.evtx",
    "Persistence/DACL_DCSync_Right_Powerview_ Add-DomainObjectAcl.evtx",
)
EVTX_HEADER, EVTX_CHUNK = 4096, 65536


@dataclass(frozen=True)
class Seed:
    name: str  # file name, which format detection sees
    data: bytes
    label: str  # where it comes from, for the report


@dataclass
class Case:
    fmt: str
    index: int
    seed: Seed
    container: str
    target: str  # 'content' or 'container'
    mutators: list[str]
    name: str  # the case file's name (it decides how the pipeline opens it)
    data: bytes  # the case file's bytes
    damage: int  # offset in the content of the first damaged byte, INTACT when none
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        how = "+".join(self.mutators)
        return f"{self.fmt}#{self.index} {self.seed.name} [{self.container}] {self.target}:{how}"


class SeedsMissing(Exception):
    """The EVTX samples of ../shared/data are not there."""


def load_seeds(fmt: str) -> list[Seed]:
    if fmt == "evtx":
        return _evtx_seeds()
    return [Seed(p.name, p.read_bytes(), str(p.relative_to(REPO))) for p in SEED_FILES[fmt]]


def _evtx_seeds() -> list[Seed]:
    if not EVTX_SAMPLES.is_dir():
        raise SeedsMissing(f"EVTX seeds are the public samples, not found at {EVTX_SAMPLES}")
    seeds = []
    for rel in EVTX_SEEDS:
        path = EVTX_SAMPLES / rel
        data = path.read_bytes()
        chunks = struct.unpack_from("<H", data, 42)[0]
        name = re.sub(r"[^\w.-]+", "_", path.name)
        seeds.append(Seed(name, data[: EVTX_HEADER + chunks * EVTX_CHUNK], f"evtx-attack-samples/{rel}"))
    return seeds


# --- where records end -------------------------------------------------------------------------------

def line_ends(data: bytes) -> dict[int, int]:
    """1-based line number → offset just past its newline; an unterminated last line ends after the file
    (bytes appended to it change it)."""
    ends, start, number = {}, 0, 1
    while True:
        cut = data.find(b"\n", start)
        if cut < 0:
            ends[number] = len(data) + 1
            return ends
        ends[number] = cut + 1
        start, number = cut + 1, number + 1


def json_document_ends(data: bytes) -> list[int] | None:
    """Byte offset past each item of a JSON document (one array, or objects one after another); None when
    the seed is JSON lines."""
    import json

    text = data.decode("utf-8")
    body = text.lstrip()
    if not body.startswith("["):
        first = text.split("\n", 1)[0]
        try:
            if isinstance(json.loads(first), dict):
                return None
        except json.JSONDecodeError:
            pass
    decoder = json.JSONDecoder()
    ends: list[int] = []
    pos = len(text) - len(body)
    in_array = body.startswith("[")
    if in_array:
        pos += 1
    while True:
        while pos < len(text) and (text[pos].isspace() or (in_array and text[pos] == ",")):
            pos += 1
        if pos >= len(text) or (in_array and text[pos] == "]"):
            break
        _, pos = decoder.raw_decode(text, pos)
        ends.append(len(text[:pos].encode("utf-8")))
    return ends


def xml_event_ends(data: bytes) -> list[int]:
    return [m.end() for m in re.finditer(rb"</Event>", data)]


def evtx_record_ends(data: bytes) -> list[int]:
    """For each record, in file order, the end of its chunk: a damaged chunk may lose all its records."""
    ends = []
    for start in range(EVTX_HEADER, len(data) - EVTX_CHUNK + 1, EVTX_CHUNK):
        chunk = data[start : start + EVTX_CHUNK]
        if not chunk.startswith(b"ElfChnk\x00"):
            continue
        pos = 512
        while pos + 24 <= len(chunk) and chunk[pos : pos + 4] == b"\x2a\x2a\x00\x00":
            size = struct.unpack_from("<I", chunk, pos + 4)[0]
            if size < 24:
                break
            ends.append(start + EVTX_CHUNK)
            pos += size
    return ends


# --- containers ---------------------------------------------------------------------------------------

def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def _zip(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(name, (2026, 11, 28, 10, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, data)
    return out.getvalue()


def _tar(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), 1795856400, 0o644
        archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


TAR_DATA = 512  # a single ustar member's data follows its one header block


def wrap(container: str, seed_name: str, content: bytes) -> tuple[str, bytes]:  # noqa: PLR0911
    """The case file's name and bytes for `content` in `container`."""
    if container == "plain":
        return seed_name, content
    if container == "gz":
        return seed_name + ".gz", _gzip(content)
    if container == "zip":
        return "collecte.zip", _zip(f"logs/{seed_name}", content)
    if container == "tar":
        return "collecte.tar", _tar(f"logs/{seed_name}", content)
    if container == "tar.gz":
        return "collecte.tar.gz", _gzip(_tar(f"logs/{seed_name}", content))
    if container == "zip-in-tar.gz":
        return "collecte.tar.gz", _gzip(_tar("srv/export.zip", _zip(f"logs/{seed_name}", content)))
    if container == "utf16":
        text = content.decode("utf-8", "surrogateescape")
        return seed_name, b"\xff\xfe" + text.encode("utf-16-le", "surrogatepass")
    raise ValueError(container)


def common_prefix(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # a[:lo] == b[:lo], a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid
    return lo


def content_damage(original: bytes, mutated: bytes) -> int:
    if mutated == original:
        return INTACT
    return common_prefix(original, mutated)


def clean_inflate(data: bytes, wbits: int) -> bytes:
    """What inflating `data` gives before the first error, fed in small pieces so that the output before a
    bad block is not lost with it."""
    inflater = zlib.decompressobj(wbits)
    out = []
    try:
        for start in range(0, len(data), 16):
            out.append(inflater.decompress(data[start : start + 16]))
            if inflater.eof:
                break
    except zlib.error:
        pass
    return b"".join(out)


def container_damage(  # noqa: PLR0911 - one answer per container
    container: str, content: bytes, original: bytes, mutated: bytes
) -> int:
    """The damage offset in `content` of a case whose container bytes `original` became `mutated`: the
    content prefix that still decodes cleanly is what must be kept."""
    if mutated == original:
        return INTACT
    if container == "gz":
        return _prefix_damage(content, clean_inflate(mutated, 31))
    if container == "utf16":
        k = common_prefix(original, mutated)
        if k < 2:
            return 0
        units = (k - 2) // 2
        text = original[2 : 2 + 2 * units].decode("utf-16-le", "surrogatepass")
        return len(text.encode("utf-8", "surrogatepass"))
    if container == "zip":
        return _zip_damage(content, original, mutated)
    tar_original = original if container == "tar" else gzip.decompress(original)
    tar_mutated = mutated if container == "tar" else clean_inflate(mutated, 31)
    kept = common_prefix(tar_original, tar_mutated)
    size = struct.unpack_from("12s", tar_original, 124)[0].rstrip(b"\0 ")
    member_end = TAR_DATA + int(size, 8)
    if kept >= member_end:
        return INTACT
    if container == "zip-in-tar.gz":
        return 0  # a zip needs its directory, at its end
    return max(0, kept - TAR_DATA)


def _prefix_damage(content: bytes, out: bytes) -> int:
    return INTACT if out == content else common_prefix(content, out)


def _zip_damage(content: bytes, original: bytes, mutated: bytes) -> int:
    name_length, extra_length = struct.unpack_from("<HH", original, 26)
    data_start = 30 + name_length + extra_length
    compressed = struct.unpack_from("<I", original, 18)[0]
    end = data_start + compressed
    k = common_prefix(original, mutated)
    if k < data_start or len(mutated) != len(original) or mutated[end:] != original[end:]:
        # the member's header, or the central directory at the end of the archive (cut off, moved or
        # damaged): without it no member is found (recovering members from their local headers would be
        # another feature), so nothing is required
        return 0
    return _prefix_damage(content, clean_inflate(mutated[data_start:end], -15))


# --- mutators -----------------------------------------------------------------------------------------

Mutator = Callable[[random.Random, bytes, "Context"], bytes]


@dataclass
class Context:
    fmt: str
    others: list[bytes]  # the other seeds of the format (for splices)
    huge: int  # bytes of a huge line


def _pos(rng: random.Random, data: bytes, *, line_start: bool | None = None) -> int:
    """A position in `data`; at a line start half of the time (or always / never)."""
    if not data:
        return 0
    if line_start is None:
        line_start = rng.random() < 0.5
    if line_start:
        starts = [0] + [m.end() for m in re.finditer(rb"\n", data[:-1])]
        return rng.choice(starts)
    return rng.randrange(len(data) + 1)


def bitflip(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4, 8))):
        if out:
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncate(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    return data[: rng.randrange(len(data))] if data else data


def insert(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    at = _pos(rng, data)
    junk = bytes(rng.randrange(256) for _ in range(rng.choice((1, 3, 16, 64))))
    if rng.random() < 0.3:
        junk = rng.choice((b"\n", b"\n\n", b" ", b"\t", b"{", b"}", b'"', b"[", b"<", b">", b"=", b"\\"))
    return data[:at] + junk + data[at:]


def delete(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    at = _pos(rng, data)
    return data[:at] + data[at + rng.choice((1, 2, 7, 40, 300)) :]


def splice(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    other = rng.choice(ctx.others or [data])
    at, start = _pos(rng, data), _pos(rng, other)
    if ctx.fmt == "evtx" and rng.random() < 0.5:  # whole chunks of another file
        at = EVTX_HEADER + EVTX_CHUNK * rng.randrange(max(1, (len(data) - EVTX_HEADER) // EVTX_CHUNK) + 1)
        start = EVTX_HEADER + EVTX_CHUNK * rng.randrange(max(1, (len(other) - EVTX_HEADER) // EVTX_CHUNK))
    return data[:at] + other[start:]


def huge_line(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    size = rng.choice((MAX_LINE_EDGE - 1, MAX_LINE_EDGE + 1, ctx.huge))
    filler = rng.choice((b"A", b"x ", b"\\", b"%"))
    blob = (filler * (size // len(filler) + 1))[:size]
    if ctx.fmt in _JSON and rng.random() < 0.5 and (values := _json_values(data)):
        start, end = rng.choice(values)
        return data[:start] + b'"' + blob.replace(b"\\", b"/") + b'"' + data[end:]
    at = _pos(rng, data)
    tail = rng.choice((b"\n", b""))
    return data[:at] + blob + tail + data[at:]


MAX_LINE_EDGE = 1 << 20  # the readers' line limit today (interface.MAX_LINE_BYTES): both sides of it


def nuls(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    n = rng.choice((1, 16, 4096, 65536))
    at = _pos(rng, data)
    choice = rng.random()
    if choice < 0.3:  # a log file with a NUL-filled tail, as a crash leaves a pre-allocated one
        return data[:at] + b"\0" * n
    if choice < 0.6:
        return data[:at] + b"\0" * n + data[at + n :]
    return data[:at] + b"\0" * n + data[at:]


_BAD_UTF8 = (b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xed\xbf\xbf\xed\xa0\x80",
             b"\xf4\x90\x80\x80",
             b"\xc0\xaf", b"\x80", b"\xe2\x82", b"\xf8\x88\x80\x80\x80")
_BAD_ESCAPES = (b"\\ud800", b"\\udfff\\ud800", b"\\ud800\\u0041", b"\\uDBFF", b"\\u0000", b"\\x00", b"\\u12")


def invalid_utf8(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    if ctx.fmt in _JSON and rng.random() < 0.5 and (strings := _json_strings(data)):
        start, end = rng.choice(strings)
        at = rng.randrange(start + 1, end)  # inside the quotes
        return data[:at] + rng.choice(_BAD_ESCAPES) + data[at:]
    at = _pos(rng, data, line_start=False)
    bad = rng.choice(_BAD_UTF8)
    return data[:at] + bad + data[at + (len(bad) if rng.random() < 0.5 else 0) :]


def deep_json(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    depth = rng.choice((1000, 100_000))
    shape = rng.random()
    if shape < 0.4:
        deep = b"[" * depth + b"]" * depth
    elif shape < 0.7:
        deep = b'{"a":' * depth + b"1" + b"}" * depth
    else:
        deep = b"[" * depth  # never closed
    if ctx.fmt in _JSON and rng.random() < 0.6 and (values := _json_values(data)):
        start, end = rng.choice(values)
        return data[:start] + deep + data[end:]
    at = _pos(rng, data, line_start=True)
    return data[:at] + deep + b"\n" + data[at:]


_CONFUSED = (b"{}", b"[]", b'{"#text":{"a":[1,2]},"#attributes":{"Name":3}}', b'[1,"a",null]', b"12345",
             b"-1",
             b"1e400", b"123456789012345678901234567890", b"true", b"null", b'""', b'"\\u0000"', b"1.5",
             b"-0", b"NaN", b"Infinity", b"0x1f")


def type_confusion(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    if ctx.fmt in _JSON and (values := _json_values(data)):
        start, end = rng.choice(values)
        return data[:start] + rng.choice(_CONFUSED) + data[end:]
    if ctx.fmt == "winxml" and (texts := list(re.finditer(rb">([^<]+)<", data))):
        m = rng.choice(texts)
        swap = rng.choice((b"<Data Name='x'>nested</Data>", b"<a><b>1</b></a>", b"", b" " * 40,
                           b"99999999999999999999999"))
        return data[: m.start(1)] + swap + data[m.end(1) :]
    pairs = list(re.finditer(rb'=("(?:[^"\\\n]|\\.)*"|[^\s"]+)', data))
    if pairs:
        m = rng.choice(pairs)
        swap = rng.choice((b'""', b'"', b"=", b'"a"b"', b"99999999999999999999999", b"-1", b"{}", b"[]",
                           b"\\",
                           b'"' + b"\\" * 9 + b'"'))
        return data[: m.start(1)] + swap + data[m.end(1) :]
    return insert(rng, data, ctx)


_LAUGHS = b'<!DOCTYPE lolz [<!ENTITY lol "lol">' + b"".join(
    b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10)
) + b"]>"
_XML_TRICKS = (
    _LAUGHS,
    _LAUGHS + b"<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>&lol9;</System></Event>",
    b'<!DOCTYPE e [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    b'<!DOCTYPE e [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]>',
    b"&xxe;", b"&lol9;", b"&nope;", b"&#0;", b"&#xD800;", b"&#1114112;", b"&amp", b"<![CDATA[</Event>]]>",
    b'<?xml version="1.0" encoding="UTF-16"?>', b"<!-- </Event> -->", b"</Event>", b"<Event>", b"</Events>",
    b"<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>",
)


def xml_entities(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    trick = rng.choice(_XML_TRICKS)
    if ctx.fmt == "winxml":
        if rng.random() < 0.5 and (texts := list(re.finditer(rb">([^<]*)<", data))):
            m = rng.choice(texts)
            return data[: m.start(1)] + trick + data[m.start(1) :]
        bounds = [0] + [m.end() for m in re.finditer(rb"</Event>\s*", data)]
        at = rng.choice(bounds)
        return data[:at] + trick + data[at:]
    return _in_value(rng, data, ctx, trick)


_ISO_WEIRD = (b"9999-12-31T23:59:59.9999999Z", b"0000-00-00T00:00:00Z", b"+275760-09-13T00:00:00Z",
              b"2026-02-30T25:61:61Z", b"1677-09-21T00:12:43Z", b"10000-01-01T00:00:00Z",
              b"0001-01-01T00:00:00Z",
              b"2026-11-28T10:02:11.12345678901234567890Z", b"2026-11-28", b"2026-11-28T10:02:11+99:99", b"")
_NUM_WEIRD = (b"99999999999999999999", b"-99999999999", b"1e308", b"0", b"NaN", b"18446744073709551616",
              b"9223372036854775807", b"-9223372036854775808", b"253402300800", b"1.7976931348623157e308",
              b"00000000000000000001", b"")
_SYSLOG_WEIRD = (b"Feb 30 25:61:61", b"Zzz 00 00:00:00", b"Dec 31 23:59:60", b"Jan  0 00:00:00")
_TIMES = (
    (re.compile(rb"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?"), _ISO_WEIRD),
    (re.compile(rb"(?<=msg=audit\()\d+\.\d+"), _NUM_WEIRD),
    (re.compile(rb'(?<="__REALTIME_TIMESTAMP":")\d+'), _NUM_WEIRD),
    (re.compile(rb"(?<=eventtime=)\d+"), _NUM_WEIRD),
    (re.compile(rb'(?<="ts":)[\d.]+'), _NUM_WEIRD),
    (re.compile(rb"(?m)^\d{10}\.\d+(?=\t)"), _NUM_WEIRD),
    (re.compile(rb"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d"), _SYSLOG_WEIRD),
    (re.compile(rb"(?<=date=)\d{4}-\d\d-\d\d"), (b"0000-00-00", b"9999-99-99", b"2026-02-30", b"")),
    (re.compile(rb"(?<=time=)\d\d:\d\d:\d\d"), (b"25:61:61", b"99:99:99", b"")),
    (re.compile(rb'(?<=tz=")[^"]*'), (b"+9999", b"-2500", b"Europe/Paris", b"")),
)


def timestamps(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    spots = [(m, weird) for pattern, weird in _TIMES for m in pattern.finditer(data)]
    if not spots:
        return bitflip(rng, data, ctx)
    m, weird = rng.choice(spots)
    return data[: m.start()] + rng.choice(weird) + data[m.end() :]


def line_ends_mutator(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    at = _pos(rng, data)
    head, tail = data[:at], data[at:].replace(b"\r\n", b"\n")
    kind = rng.random()
    if kind < 0.4:
        return head + tail.replace(b"\n", b"\r\n")
    if kind < 0.7:
        return head + tail.replace(b"\n", b"\r")
    return head + rng.choice((b"\r", b"\r\r\n", b"\n\r", b"\x85", b"\xe2\x80\xa8")) + tail


_LOOKALIKES = (
    b"<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>",
    b"<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>1</EventID></System></Event>",
    b'{"__REALTIME_TIMESTAMP":"1795860131120000","__CURSOR":"s=1"}',
    b'{"EventID":4624,"Channel":"Security","EventRecordID":1}',
    b'{"ts":1764324062.5,"uid":"C1","@stream":"conn"}',
    b"#separator \\x09",
    b"type=SYSCALL msg=audit(1795856531.123:4242): arch=c000003e syscall=59",
    b'date=2026-11-28 time=10:01:02 devname="fw" logid="0101039426" type="event"',
    b"Nov 28 10:02:11 host sshd[1]: Failed password for root from 203.0.113.7 port 1 ssh2",
    b"<38>1 2026-11-28T10:02:13Z host sshd 981 - - x",
    b"ElfFile\x00",
    b"ElfChnk\x00",
    b"PK\x03\x04",
    b"\x1f\x8b\x08\x00",
)


def other_format(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    """Content crafted to look like another format: a user name holding an XML event, or a whole line of
    another format among the lines."""
    look = rng.choice(_LOOKALIKES)
    if rng.random() < 0.5:
        return _in_value(rng, data, ctx, look)
    at = _pos(rng, data, line_start=True)
    return data[:at] + look + b"\n" + data[at:]


def _in_value(rng: random.Random, data: bytes, ctx: Context, text: bytes) -> bytes:
    """`text` inside a field value (a user name) as the format would carry it."""
    if ctx.fmt in _JSON and (strings := _json_strings(data)):
        start, end = rng.choice(strings)
        escaped = text.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\x00", b"\\u0000")
        return data[: start + 1] + escaped + data[end - 1 :]
    if ctx.fmt == "winxml" and (texts := list(re.finditer(rb">([^<]*)<", data))):
        m = rng.choice(texts)
        return data[: m.start(1)] + text + data[m.end(1) :]
    user = re.search(rb"(?:user=\"?|for (?:invalid user )?|acct=\"|USER=)([^\s\"]+)", data)
    if user and rng.random() < 0.7:
        return data[: user.start(1)] + text + data[user.end(1) :]
    at = _pos(rng, data, line_start=False)
    return data[:at] + text + data[at:]


# EVTX structures: what a damaged file of the real world has wrong
def evtx_structure(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    out = bytearray(data)
    chunks = max(1, (len(data) - EVTX_HEADER) // EVTX_CHUNK)
    chunk = EVTX_HEADER + EVTX_CHUNK * rng.randrange(chunks)
    kind = rng.randrange(6)
    if kind == 0:  # the file header's chunk count, size, version
        offset = rng.choice((32, 36, 38, 40, 42, 120, 124))
        _pack(out, "<H", offset, rng.choice((0, 1, 2, 0xFFFF, 0x7FFF)))
    elif kind == 1:  # a chunk header field (record numbers, offsets, checksums)
        offset = chunk + rng.choice((8, 16, 24, 32, 40, 44, 48, 52, 120, 124, 128 + 4 * rng.randrange(96)))
        _pack(out, "<I", offset, rng.choice((0, 1, 0xFFFFFFFF, 0x7FFFFFFF, rng.getrandbits(32))))
    elif kind == 2:  # a record's size
        records = [m.start() for m in re.finditer(rb"\x2a\x2a\x00\x00", data)] or [chunk + 512]
        size = rng.choice((0, 1, 24, 0xFFFFFFFF, 65536, 0x10000000))
        _pack(out, "<I", rng.choice(records) + 4, size)
    elif kind == 3:  # a whole chunk zeroed, as a disk error leaves it
        out[chunk : chunk + EVTX_CHUNK] = bytes(min(EVTX_CHUNK, len(out) - chunk))
    elif kind == 4:  # the chunk's template and string tables: pointers to nowhere
        offset = chunk + 128 + 4 * rng.randrange(96)
        _pack(out, "<I", offset, rng.choice((0xFFFF, 0xFFFFFFFF, 0x200, 0x10)))
    elif chunks > 1:  # a chunk copied over another
        other = EVTX_HEADER + EVTX_CHUNK * rng.randrange(chunks)
        out[chunk : chunk + EVTX_CHUNK] = data[other : other + EVTX_CHUNK]
    else:  # a chunk repeated
        out.extend(data[EVTX_HEADER : EVTX_HEADER + EVTX_CHUNK])
    return bytes(out)


def _pack(out: bytearray, layout: str, offset: int, value: int) -> None:
    """A field written where the (possibly already cut) file has room for it."""
    if offset + struct.calcsize(layout) <= len(out):
        struct.pack_into(layout, out, offset, value)


def _json_values(data: bytes) -> list[tuple[int, int]]:
    """Spans of the JSON values that follow a key (strings, numbers, literals)."""
    pattern = rb':\s*("(?:[^"\\\n]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)'
    return [(m.start(1), m.end(1)) for m in re.finditer(pattern, data)]


def _json_strings(data: bytes) -> list[tuple[int, int]]:
    return [(s, e) for s, e in _json_values(data) if data[s : s + 1] == b'"' and e - s >= 2]


_JSON = frozenset({"winjson", "journald", "zeek"})
TEXT_MUTATORS: dict[str, Mutator] = {
    "bitflip": bitflip, "truncate": truncate, "insert": insert, "delete": delete, "splice": splice,
    "huge_line": huge_line, "nuls": nuls, "invalid_utf8": invalid_utf8, "deep_json": deep_json,
    "type_confusion": type_confusion, "xml_entities": xml_entities, "timestamps": timestamps,
    "line_ends": line_ends_mutator, "other_format": other_format,
}
EVTX_MUTATORS: dict[str, Mutator] = {
    "bitflip": bitflip, "truncate": truncate, "insert": insert, "delete": delete, "splice": splice,
    "huge_line": huge_line, "nuls": nuls, "evtx_structure": evtx_structure, "evtx_structure2": evtx_structure,
}
CONTAINER_MUTATORS: dict[str, Mutator] = {
    "bitflip": bitflip, "truncate": truncate, "insert": insert, "delete": delete, "nuls": nuls,
}


def _container_specific(rng: random.Random, container: str, data: bytes) -> tuple[str, bytes]:
    """Damage that archives of the real world have: a gzip trailer, a zip method or flag nobody reads."""
    out = bytearray(data)
    if container in ("gz", "tar.gz", "zip-in-tar.gz"):
        i = len(out) - 1 - rng.randrange(8)
        out[i] ^= 1 << rng.randrange(8)
        return "gz_trailer", bytes(out)
    if container == "zip":
        name_length = struct.unpack_from("<H", data, 26)[0]
        central = data.rfind(b"PK\x01\x02")
        if rng.random() < 0.6:
            method = rng.choice((1, 6, 9, 12, 14, 93, 95, 98, 99))  # shrunk … zstd, xz, ppmd, AES
            struct.pack_into("<H", out, 8, method)
            if central >= 0:
                struct.pack_into("<H", out, central + 10, method)
            return "zip_method", bytes(out)
        flags = rng.choice((0x1, 0x8, 0x40, 0x2000))
        struct.pack_into("<H", out, 6, flags)
        if central >= 0:
            struct.pack_into("<H", out, central + 8, flags)
        del name_length
        return "zip_flags", bytes(out)
    if container == "utf16":
        return "utf16_odd", data[:-1] if rng.random() < 0.5 else data[:2] + b"\x00" + data[2:]
    return "bitflip", bitflip(rng, data, Context("", [], 0))


def make_case(fmt: str, index: int, seeds: list[Seed], master: int, huge: int) -> Case:
    """Case `index` of `fmt`, always the same for the same master seed."""
    rng = random.Random(f"{master}:{fmt}:{index}")
    containers = BINARY_CONTAINERS if fmt == "evtx" else TEXT_CONTAINERS
    identities = [(s, c) for s in seeds for c in containers]
    if index < len(identities):  # the first cases: every seed in every container, unmutated
        seed, container = identities[index]
        name, data = wrap(container, seed.name, seed.data)
        return Case(fmt, index, seed, container, "content", ["none"], name, data, INTACT)
    seed = rng.choice(seeds)
    container = "plain" if rng.random() < 0.4 else rng.choice(containers[1:])
    mutators = EVTX_MUTATORS if fmt == "evtx" else TEXT_MUTATORS
    if container != "plain" and rng.random() < 0.3:
        original = wrap(container, seed.name, seed.data)[1]
        if rng.random() < 0.3:
            label, mutated = _container_specific(rng, container, original)
        else:
            label = rng.choice(sorted(CONTAINER_MUTATORS))
            mutated = CONTAINER_MUTATORS[label](rng, original, Context(fmt, [], huge))
        name = wrap(container, seed.name, b"")[0]
        damage = container_damage(container, seed.data, original, mutated)
        return Case(fmt, index, seed, container, "container", [label], name, mutated, damage)
    ctx = Context(fmt, [s.data for s in seeds if s is not seed], huge)
    content, applied = seed.data, []
    for _ in range(2 if rng.random() < 0.15 else 1):
        label = rng.choice(sorted(mutators))
        content = mutators[label](rng, content, ctx)
        applied.append(label)
    name, data = wrap(container, seed.name, content)
    damage = content_damage(seed.data, content)
    return Case(fmt, index, seed, container, "content", applied, name, data, damage)


def identity_count(fmt: str, seeds: list[Seed]) -> int:
    return len(seeds) * len(BINARY_CONTAINERS if fmt == "evtx" else TEXT_CONTAINERS)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"
