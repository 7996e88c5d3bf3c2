"""Windows events as XML: what ``wevtutil qe <log> /f:xml`` prints (``<Event>`` after ``<Event>``, no root),
what Event Viewer's "Save All Events As… XML" writes (an ``<Events>`` root, in UTF-16, with a
``RenderingInfo`` per event), and PowerShell's ``(Get-WinEvent …).ToXml()``.

Sample (shortened)::

    <Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider
    Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-…}'/><EventID>4625</EventID>…<TimeCreated
    SystemTime='2026-11-28T10:02:11.1234567Z'/><EventRecordID>181818</EventRecordID>…<Channel>Security</Channel>
    <Computer>tls-cap-dc01.capitouls.local</Computer></System><EventData><Data Name='TargetUserName'>admin
    </Data>…</EventData></Event>

Each event is turned into the JSON the ``evtx`` package makes of the same record (attributes under
``#attributes``, an element with attributes and text as ``#text``, named ``Data`` by their name, unnamed ones
as ``Data``'s ``#text``), so it gets exactly the fields, names and ``_record`` (EventRecordID) an EVTX file
gives. ``_raw`` is that JSON, as for EVTX. Each event is parsed on its own: one that is not well-formed, or
nests deeper than :data:`MAX_XML_DEPTH`, is quarantined with its line and the events after it are read; a
file cut in the middle of an event is reported with the line. A control character XML forbids (Windows
writes them as they are in some event data) is read as U+FFFD.

The format is told by the structure only: the stream's first element must be an ``<Event>`` of the event
namespace (alone or in an ``<Events>`` root). An auth.log whose first line logs the user name
``<Event xmlns='…/events/event'>`` is still syslog.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import ParseError, fromstring

from rempart.ingest.interface import Batch, Reader, ReaderContext
from rempart.ingest.readers.evtx import EventPool
from rempart.ingest.registry import registry
from rempart.ingest.sources import Source
from rempart.ingest.windows import MAX_XML_DEPTH, deeper_than, event_from_xml

_NAMESPACE = b"schemas.microsoft.com/win/2004/08/events/event"
_READ = 1 << 20
_MAX_EVENT_BYTES = 16 << 20  # Windows caps an event at 64 KiB of data; a longer "event" is garbage
_START = re.compile(rb"<Event[\s>/]")
_END = b"</Event>"
# what may sit around the events: the declaration and <Events> root of each export (exports joined with
# cat), comments, blank lines
_AROUND = re.compile(rb"(?:\s|<\?xml[^>]*\?>|<Events(?:\s[^>]*)?>|</Events>|<!--.*?-->)*", re.DOTALL)
# a stream is Windows XML when, after an optional declaration and comments, its first element is an
# <Event> of the event namespace, alone or in an <Events> root: never because the string appears in it
_PROLOG = re.compile(rb"\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*(?:<Events(?:\s[^>]*)?>\s*)?"
                     rb"(?:<!--.*?-->\s*)*<Event(?:\s[^>]*)?>", re.DOTALL)
# control characters XML 1.0 forbids, which Windows writes as they are in event data (a PrivilegeList of
# binary junk): each becomes U+FFFD, so that one bad value does not end the whole export
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class WinXmlReader(Reader):
    name = "winxml"
    extensions = (".xml",)

    def sniff(self, head: bytes, filename: str) -> int:
        first = _PROLOG.match(head)
        return 90 if first is not None and _NAMESPACE in first.group() else 0

    def read(self, source: Source, ctx: ReaderContext) -> Iterator[Batch]:
        pool: EventPool = ctx.pending.setdefault(self.name, EventPool())
        for event in _events(source, ctx):
            system = event["Event"].get("System")
            number = system.get("EventRecordID") if isinstance(system, dict) else None
            pool.add(event, int(number) if isinstance(number, str) and number.isdigit() else 0, source.name)
            if len(pool) >= ctx.batch_size:
                yield from pool.drain(ctx)

    def flush(self, ctx: ReaderContext) -> Iterator[Batch]:
        pool: EventPool | None = ctx.pending.pop(self.name, None)
        if pool is not None:
            yield from pool.drain(ctx)


def _events(source: Source, ctx: ReaderContext) -> Iterator[dict[str, Any]]:
    """Each ``<Event>`` of the stream, parsed on its own: one that is not well-formed, or nests too deep,
    is quarantined with its line and the next one is read (exports have no DTD, and every ``<Event>``
    declares its namespace, so an event stands alone)."""
    data = source.stream.read(_READ)  # the sources layer made it UTF-8 already
    ended = not data
    buffer = _without_declaration(data)
    line = 1 + data[: len(data) - len(buffer)].count(b"\n")  # the line at buffer[counted]
    counted = 0
    pos = 0  # what comes before is read
    while True:
        start = _START.search(buffer, pos)
        end = buffer.find(_END, start.start()) if start else -1
        following = _START.search(buffer, start.end(), end if end >= 0 else len(buffer)) if start else None
        if start is not None and (end >= 0 or following is not None or ended):
            line += buffer.count(b"\n", counted, start.start())
            counted = start.start()
            _outside(buffer[pos : start.start()], source, ctx, line)
            if following is not None:  # an event with no end before the next: cut, or broken
                stop = following.start()
                ctx.quarantine(source, line, "XML event with no </Event> before the next <Event>",
                               buffer[start.start() : stop])
            elif end < 0:  # the stream ends inside this event
                column = start.start() - buffer.rfind(b"\n", 0, start.start()) - 1
                cut = _parse(buffer[start.start() :])
                where = _where(cut, line, column) if isinstance(cut, tuple) else f"at line {line}"
                ctx.fail(source, f"XML {where}: cut short in an event; the events before it were read")
                return
            else:
                stop = end + len(_END)
                event = _parse(buffer[start.start() : stop])
                if isinstance(event, tuple):
                    column = start.start() - buffer.rfind(b"\n", 0, start.start()) - 1
                    ctx.quarantine(source, line, f"XML event {_where(event, line, column)}",
                                   buffer[start.start() : stop])
                else:
                    yield event
            pos = stop
            continue
        if ended:
            _outside(buffer[pos:], source, ctx, line + buffer.count(b"\n", counted))
            return
        if len(buffer) - pos > _MAX_EVENT_BYTES:  # no event end in sight: not read into memory whole
            ctx.quarantine(source, line, f"over {_MAX_EVENT_BYTES:,} bytes with no whole XML event",
                           buffer[pos : pos + 200])
            pos = len(buffer) - len(_END)
        line += buffer.count(b"\n", counted, pos)
        more = source.stream.read(_READ)
        ended = not more
        buffer, counted, pos = buffer[pos:] + more, 0, 0


def _parse(text: bytes) -> dict[str, Any] | tuple[str, tuple[int, int] | None]:
    """An ``<Event>`` as the evtx package renders it, or why it is not one and where in `text`."""
    if b"<!DOCTYPE" in text or b"<!ENTITY" in text:
        return "it declares a DTD or entities, which Windows never writes", None
    try:
        element = fromstring(_CONTROL.sub("\ufffd".encode(), text))
    except ParseError as exc:
        return str(exc).split(":", 1)[0], exc.position
    if text.count(b"<") > 2 * MAX_XML_DEPTH and deeper_than(element, MAX_XML_DEPTH):
        return f"nested deeper than {MAX_XML_DEPTH} levels", None
    return {"Event": event_from_xml(element)}


def _where(bad: tuple[str, tuple[int, int] | None], line: int, column: int) -> str:
    """'not well-formed at line L, column C (why)' in the file, for a position in an event that starts at
    line, column; 'at line L: why' when the event is refused for what it holds."""
    reason, position = bad
    if position is None:
        return f"at line {line}: {reason}"
    row, col = position
    return f"not well-formed at line {line + row - 1}, column {col + column if row == 1 else col} ({reason})"


def _outside(text: bytes, source: Source, ctx: ReaderContext, line: int) -> None:
    """What lies between events, `text`, which ends at `line`: the declaration and ``<Events>`` root of each
    export, comments and blanks are fine; anything else is quarantined with its own line."""
    fine = _AROUND.match(text)
    rest = text[fine.end() :] if fine else text
    if rest.strip():
        at = line - text.count(b"\n") + text.count(b"\n", 0, len(text) - len(rest))
        ctx.quarantine(source, at, "text outside any XML event", rest.strip()[:200])


def _without_declaration(data: bytes) -> bytes:
    """`data` without its XML declaration (it must come first, and may name UTF-16, which it no longer is)."""
    stripped = data.lstrip()
    if stripped.startswith(b"<?xml"):
        end = stripped.find(b"?>")
        if end >= 0:
            return stripped[end + 2 :]
    return data


registry.register(WinXmlReader)
