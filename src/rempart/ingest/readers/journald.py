"""The systemd journal as ``journalctl -o json`` writes it: one JSON object per line, every value text.

Debian 12 and later install no syslog daemon by default, so a server's sshd and sudo messages are in the
journal and nowhere else; ``journalctl -o json --since … > journal.json`` is how they are collected.

Sample (one line, shortened)::

    {"__CURSOR":"s=9c1…","__REALTIME_TIMESTAMP":"1764324131120000","_HOSTNAME":"tls-cap-dpi01",
     "SYSLOG_FACILITY":"4","SYSLOG_IDENTIFIER":"sshd-session","_PID":"4242","PRIORITY":"6",
     "_SYSTEMD_UNIT":"ssh.service","MESSAGE":"Failed password for root from 203.0.113.7 port 51240 ssh2"}

The event is the one the same message makes in ``auth.log`` (:mod:`rempart.ingest.readers.syslog`):
``hostname``, ``program`` (``SYSLOG_IDENTIFIER``, else ``_COMM``), ``pid``, ``message``, ``facility``,
``severity`` (``PRIORITY``), and the sshd / sudo fields of :mod:`rempart.ingest.linux`; plus ``unit``,
``exe``, ``cmdline``, ``uid`` and ``transport`` from the journal's own fields. ``_service`` follows the
same rule, with facilities 4 and 10 (auth, authpriv) standing for an ``auth.log`` file. Time is
``__REALTIME_TIMESTAMP`` (microseconds since the epoch, UTC). ``_raw`` is the line as written, so Sigma
keywords search the JSON text: a keyword holding ``"`` or ``\\`` must be written as JSON escapes it.

A value the journal could not store as text (a ``MESSAGE`` of raw bytes) is written as an array of byte
values; it is decoded as UTF-8, an invalid byte becoming U+FFFD.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import orjson

from rempart.domain.events import Product
from rempart.ingest.columns import EPOCH
from rempart.ingest.interface import Batch, Reader, ReaderContext
from rempart.ingest.jsonl import leading_keys
from rempart.ingest.lines import RowBuffer, iter_text_lines, share_score, unreadable
from rempart.ingest.linux import AUTH_FACILITIES, read_message
from rempart.ingest.registry import registry
from rempart.ingest.sources import Source

_MARKERS = frozenset({"__REALTIME_TIMESTAMP", "__CURSOR"})  # top-level keys of a first record
_JOURNAL_FIELDS = {  # journal field → event field, besides the syslog ones
    "_SYSTEMD_UNIT": "unit",
    "_EXE": "exe",
    "_CMDLINE": "cmdline",
    "_UID": "uid",
    "_TRANSPORT": "transport",
}


class JournaldReader(Reader):
    name = "journald"
    extensions = (".json", ".jsonl", ".ndjson", ".journal.json")

    def sniff(self, head: bytes, filename: str) -> int:
        if head.lstrip()[:1] != b"{":
            return 0
        return share_score(80, leading_keys(head), lambda keys: bool(_MARKERS & keys))  # over winjson's 60

    def read(self, source: Source, ctx: ReaderContext) -> Iterator[Batch]:
        buffer = RowBuffer(Product.LINUX.value)
        for number, text in iter_text_lines(source, ctx):
            try:
                parsed = _parse(text)
                if isinstance(parsed, str):
                    ctx.quarantine(source, number, parsed, text)
                    continue
                row, ts = parsed
                said = read_message(row.get("program") or "", row.get("message") or "",
                                    row.get("facility") in AUTH_FACILITIES)
            except Exception as exc:  # noqa: BLE001 - a record costs at most itself
                ctx.quarantine(source, number, unreadable(exc), text)
                continue
            row.update(said.fields)
            buffer.add(row, said.time or ts, row.get("hostname"), said.service, number, text)
            if len(buffer) >= ctx.batch_size:
                yield buffer.batch(ctx, ("source_ip",))
        if len(buffer):
            yield buffer.batch(ctx, ("source_ip",))


def _parse(text: str) -> tuple[dict[str, str | None], datetime] | str:
    try:
        entry = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return f"invalid JSON: {exc}"
    if not isinstance(entry, dict):
        return "not a JSON object"
    stamp = _text(entry.get("__REALTIME_TIMESTAMP"))
    if stamp is None or not stamp.isascii() or not stamp.isdigit():
        return "no __REALTIME_TIMESTAMP (microseconds since the epoch): not a journal entry"
    if len(stamp) > 17:  # past the year 5138: timedelta would overflow
        return f"__REALTIME_TIMESTAMP {stamp[:30]} out of range"
    program = _text(entry.get("SYSLOG_IDENTIFIER")) or _text(entry.get("_COMM"))
    message = _text(entry.get("MESSAGE"))
    row: dict[str, str | None] = {
        "hostname": _text(entry.get("_HOSTNAME")),
        "program": program,
        "pid": _text(entry.get("SYSLOG_PID")) or _text(entry.get("_PID")),
        "message": message,
        "facility": _text(entry.get("SYSLOG_FACILITY")),
        "severity": _text(entry.get("PRIORITY")),
    }
    for key, name in _JOURNAL_FIELDS.items():
        row[name] = _text(entry.get(key))
    return row, EPOCH + timedelta(microseconds=int(stamp))


def _text(value: Any) -> str | None:
    """A journal value as text: strings as they are, byte arrays decoded, a repeated field's first value."""
    while isinstance(value, list) and value:  # a loop, not recursion: [[[…]]] may nest 1,000 deep
        if all(isinstance(b, int) and 0 <= b < 256 for b in value):
            return bytes(value).decode("utf-8", "replace")
        value = value[0]
    if value is None or isinstance(value, str):
        return value
    return str(value)


registry.register(JournaldReader)
