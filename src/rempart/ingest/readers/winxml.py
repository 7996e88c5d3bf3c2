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
gives. ``_raw`` is that JSON, as for EVTX. XML that stops being well-formed is reported with its line and
column; the events before it are kept. A control character XML forbids (Windows writes them as they are in
some event data) is read as U+FFFD.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import Element, ParseError, XMLPullParser

from rempart.ingest.interface import Batch, Reader, ReaderContext
from rempart.ingest.readers.evtx import EventPool
from rempart.ingest.registry import registry
from rempart.ingest.sources import Source
from rempart.ingest.windows import event_from_xml, local_name

_NAMESPACE = b"schemas.microsoft.com/win/2004/08/events/event"
_WRAPPER = b"<rempart-events>"  # wevtutil prints events with no root element: one is given
_READ = 1 << 20
# control characters XML 1.0 forbids, which Windows writes as they are in event data (a PrivilegeList of
# binary junk): each becomes U+FFFD, so that one bad value does not end the whole export
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class WinXmlReader(Reader):
    name = "winxml"
    extensions = (".xml",)

    def sniff(self, head: bytes, filename: str) -> int:
        return 90 if b"<Event" in head and _NAMESPACE in head else 0

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
    parser: XMLPullParser[Element] = XMLPullParser(events=("start", "end"))
    parser.feed(_WRAPPER)
    chunk = _without_declaration(source.stream.read(_READ))  # the sources layer made it UTF-8 already
    open_elements: list[Element] = []
    try:
        while True:
            parser.feed(_CONTROL.sub("\ufffd".encode(), chunk) if chunk else b"</rempart-events>")
            for item in parser.read_events():
                if len(item) != 2 or not isinstance(item[1], Element):
                    continue  # start-ns events and the like
                kind, element = item[0], item[1]
                if kind == "start":
                    open_elements.append(element)
                    continue
                open_elements.pop()
                if local_name(element.tag) == "Event":
                    yield {"Event": event_from_xml(element)}
                    if open_elements:  # the events read so far: memory stays flat over big exports
                        open_elements[-1].clear()
            if not chunk:
                return
            chunk = source.stream.read(_READ)
    except ParseError as exc:
        line, column = exc.position
        column -= len(_WRAPPER) if line == 1 else 0
        ctx.fail(source, f"XML not well-formed at line {line}, column {column} ({exc}); "
                         "the events before it were read")


def _without_declaration(data: bytes) -> bytes:
    """`data` without its XML declaration (it must come first, and may name UTF-16, which it no longer is)."""
    stripped = data.lstrip()
    if stripped.startswith(b"<?xml"):
        end = stripped.find(b"?>")
        if end >= 0:
            return stripped[end + 2 :]
    return data


registry.register(WinXmlReader)
