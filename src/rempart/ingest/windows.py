"""Windows events of any layout mapped to EVTX field names, shared by the ``evtx`` and ``winjson`` readers.

Layouts understood (all end up with the same names):

- EVTX as JSON (the ``evtx`` package, SigmaHQ regression samples): ``Event.System.*`` flattened with ``_``
  between levels and attribute markers dropped (``Provider_Name``, ``Execution_ProcessID``,
  ``Security_UserID``; ``TimeCreated`` from ``TimeCreated.SystemTime``), ``Event.EventData.*`` and the
  children of ``Event.UserData.<element>`` at the top level; unnamed ``Data`` items stay ``Data``.
- Flat exports (Security-Datasets, NXLog): already EVTX names at the top level (``Channel``, ``EventID``,
  ``Hostname``, ``@timestamp``…).
- NXLog's own names for the ``System`` values (``im_msvistalog``, its ``to_json()`` output; such an event
  carries ``SourceModuleType`` or ``EventReceivedTime``): ``SourceName`` is also ``Provider_Name`` (which
  106 SigmaHQ rules test: service installs by the Service Control Manager, a cleared event log…),
  ``ProviderGuid`` ``Provider_Guid``, ``RecordNumber`` ``EventRecordID``, ``UserID`` ``Security_UserID``;
  ``ProcessID`` / ``ThreadID`` become ``Execution_ProcessID`` / ``Execution_ThreadID``, so that they do not
  merge with an event's own ``ProcessId``. ``EventTime`` is the time when no other is given; NXLog writes
  it in the agent's local time with no zone, which the pipeline reads in the host's zone (as syslog's).
  An event's own field of the same Sigma spelling wins over NXLog's: Defender's ``Source Name`` (``AMSI``,
  ``Real-Time Protection``) is the ``SourceName`` that the ``windefend`` rules test.
- Winlogbeat 6.x: ``log_name`` → ``Channel``, ``event_id`` → ``EventID``, ``computer_name`` → ``Computer``,
  ``source_name`` → ``Provider_Name``, ``record_number`` → ``EventRecordID``, ``event_data.*`` /
  ``user_data.*`` at the top level.
- Winlogbeat ≥ 7: the same under ``winlog.`` (``winlog.channel``, ``winlog.event_id``,
  ``winlog.event_data.*``…).
- Windows XML (``wevtutil``, Event Viewer, ``ToXml()``, Sysmon for Linux): :func:`event_from_xml` turns an
  ``<Event>`` into the EVTX-as-JSON layout above.
Other nested keys keep their dotted path (``host.name``, ``beat.version``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from xml.etree.ElementTree import Element

import pyarrow as pa
import pyarrow.compute as pc

from rempart.domain.events import Product
from rempart.ingest.columns import TS_TYPE, first_of, parse_iso, shape, spelled, to_string
from rempart.ingest.fields import sigma_spelling
from rempart.ingest.interface import Batch, ReaderContext

_BEAT = {
    "log_name": "Channel",
    "event_id": "EventID",
    "computer_name": "Computer",
    "source_name": "Provider_Name",
    "record_number": "EventRecordID",
    "provider_guid": "Provider_Guid",
    "process_id": "Execution_ProcessID",
    "thread_id": "Execution_ThreadID",
    "user.identifier": "Security_UserID",
}
_BEAT7 = {
    "channel": "Channel",
    "event_id": "EventID",
    "computer_name": "Computer",
    "provider_name": "Provider_Name",
    "provider_guid": "Provider_Guid",
    "record_id": "EventRecordID",
    "process.pid": "Execution_ProcessID",
    "process.thread.id": "Execution_ThreadID",
    "user.identifier": "Security_UserID",
    "task": "Task",
    "opcode": "Opcode",
    "keywords": "Keywords",
    "version": "Version",
}
_SYSTEM = {"TimeCreated_SystemTime": "TimeCreated", "EventID_Qualifiers": "EventID_Qualifiers"}
_DATA_PREFIXES = ("event_data.", "user_data.", "winlog.event_data.", "winlog.user_data.")

# columns the core values are computed from, kept even when the caller did not ask for them
CORE_SOURCES = frozenset(
    {"timecreated", "@timestamp", "utctime", "eventtime", "computer", "hostname", "channel"}
)
TIME_FIELDS = ("TimeCreated", "@timestamp", "UtcTime", "EventTime")
_EVENT_TIME_WITH_ZONE = r'(?i)"eventtime"\s*:\s*"[^"]*(?:Z|[+-]\d\d:?\d\d)"'
_NXLOG_MARKERS = ("SourceModuleType", "EventReceivedTime")
_NXLOG_ALSO = {  # NXLog's name → the EVTX one, given too (a Defender rule tests SourceName itself)
    "SourceName": "Provider_Name",
    "ProviderGuid": "Provider_Guid",
    "RecordNumber": "EventRecordID",
    "UserID": "Security_UserID",
}
_NXLOG_INSTEAD = {"ProcessID": "Execution_ProcessID", "ThreadID": "Execution_ThreadID"}
HOST_FIELDS = ("Computer", "Hostname")


@lru_cache(maxsize=8192)
def windows_name(path: str) -> str | None:  # noqa: PLR0911 - one return per layout
    """The EVTX name of a flattened original key ('Event.EventData.Image' → 'Image'); None = drop it."""
    if path in _BEAT:
        return _BEAT[path]
    if path.startswith("winlog.") and path[7:] in _BEAT7:
        return _BEAT7[path[7:]]
    parts = [p for p in path.split(".") if p != "#text"]
    if len(parts) > 1 and parts[0] == "Event":
        section, rest = parts[1], [p for p in parts[2:] if p != "#attributes"]
        if not rest or section.startswith("#"):
            return None  # xmlns and other attributes of the envelope
        if section == "System":
            name = "_".join(rest)
            return _SYSTEM.get(name, name)
        if section in ("EventData", "UserData"):
            return rest[-1]
        return "_".join([section, *rest])  # RenderingInfo_Message …
    for prefix in _DATA_PREFIXES:
        if path.startswith(prefix):
            return parts[-1]
    return path


def _no_zone(raw: pa.Array) -> pa.Array:
    """bool: the rows whose EventTime was written with no zone, told from the record as written: Arrow's
    JSON reader types a column of ISO times itself, applying any offset and dropping it."""
    return pc.invert(pc.match_substring_regex(raw, _EVENT_TIME_WITH_ZONE))


def nxlog_names(table: pa.Table) -> pa.Table:
    """The NXLog events of `table` with their ``System`` values under EVTX names too (see above); rows of
    other shippers in the same table keep theirs."""
    markers = [table.column(n) for n in _NXLOG_MARKERS if n in table.column_names]
    if not markers:
        return table
    nxlog = pc.is_valid(markers[0]) if len(markers) == 1 else pc.or_(*map(pc.is_valid, markers))
    if not pc.any(nxlog).as_py():
        return table
    for original, evtx in (*_NXLOG_ALSO.items(), *_NXLOG_INSTEAD.items()):
        if original not in table.column_names:
            continue
        column = table.column(original)
        nothing = pa.scalar(None, column.type)
        if original in _NXLOG_INSTEAD:
            i = table.column_names.index(original)
            table = table.set_column(i, original, pc.if_else(nxlog, nothing, column))
        table = table.append_column(evtx, pc.if_else(nxlog, column, nothing))
        table = _own_field_first(table, original, nxlog)
    return table


def _own_field_first(table: pa.Table, name: str, nxlog: pa.Array) -> pa.Table:
    """`table` whose NXLog rows read the event's own field spelled `name` in Sigma (``Source Name``) under
    `name`, rather than NXLog's value (already copied to its EVTX name)."""
    own = [to_string(table.column(c)) for c in table.column_names
           if c != name and sigma_spelling(c).lower() == name.lower()]
    if not own:
        return table
    i = table.column_names.index(name)
    mine = to_string(table.column(i))
    return table.set_column(i, name, pc.if_else(nxlog, pc.coalesce(*own, mine), mine))


def windows_batch(table: pa.Table, raw: pa.Array, records: pa.Array, ctx: ReaderContext) -> Batch:
    table = nxlog_names(table)
    cols = shape(zip(table.column_names, table.columns, strict=True), windows_name, ctx, CORE_SOURCES)
    n = len(raw)
    # each time field parsed on its own (one in an odd format must not hide a good one after it),
    # and only while some rows still have no time
    ts = pa.nulls(n, TS_TYPE)
    local = None
    for name in spelled(cols, TIME_FIELDS):
        if ts.null_count:
            parsed = parse_iso(cols[name])
            if name.lower() == "eventtime":  # NXLog's: the agent's clock, usually written with no zone
                local = pc.and_(pc.and_(pc.is_null(ts), pc.is_valid(parsed)), _no_zone(raw))
            ts = parsed if ts.null_count == n else pc.coalesce(ts, parsed)
    host = first_of(cols, HOST_FIELDS, n)
    service = pc.utf8_lower(first_of(cols, ("Channel",), n))
    fields = {k: v for k, v in cols.items() if ctx.keep(k)}
    return Batch(fields, ts, host, service, records, raw, Product.WINDOWS.value, local=local)


MAX_XML_DEPTH = 64  # an event nests 4 or 5 levels; a deeper one is refused, not recursed into


def deeper_than(element: Element, limit: int = MAX_XML_DEPTH) -> bool:
    """Whether the tree under `element` nests deeper than `limit` (before :func:`event_from_xml`, which
    recurses)."""
    todo = [(element, 1)]  # a loop, not recursion: the tree may nest thousands deep
    while todo:
        node, depth = todo.pop()
        if depth > limit:
            return True
        todo.extend((child, depth + 1) for child in node)
    return False


def local_name(tag: str) -> str:
    """An XML tag without its namespace."""
    return tag.rsplit("}", 1)[-1]


def _text(element: Element) -> str | None:
    """The text of `element`. Whitespace alone with a line break is the indentation of a pretty-printed
    export (``<Data>`` and ``</Data>`` on two lines), not a value; Windows writes its XML on one line."""
    text = element.text
    return None if text is not None and not text.strip() and "\n" in text else text


def event_from_xml(element: Element) -> Any:
    """An ``<Event>`` element (or any of its children) as the ``evtx`` package renders the same record in
    JSON: attributes under ``#attributes``, an element with attributes and text as ``#text``, named
    ``Data`` by their name, unnamed ones as ``Data``'s ``#text``, a repeated element as a list."""
    attributes = {local_name(k): v for k, v in element.attrib.items()}
    children = list(element)
    if not children:
        text = _text(element)
        if attributes:
            return {"#attributes": attributes, "#text": text} if text else {"#attributes": attributes}
        return text
    out: dict[str, Any] = {"#attributes": attributes} if attributes else {}
    unnamed: list[str] = []
    for child in children:
        name = local_name(child.tag)
        if name == "Data" and not list(child):
            if "Name" in child.attrib:
                out[child.attrib["Name"]] = _text(child) or ""
            else:
                unnamed.append(_text(child) or "")
            continue
        value = event_from_xml(child)
        if name in out:  # a repeated element: a list, as the evtx package makes it
            out[name] = [*out[name], value] if isinstance(out[name], list) else [out[name], value]
        else:
            out[name] = value
    if unnamed:
        out["Data"] = {"#text": unnamed if len(unnamed) > 1 else unnamed[0]}
    return out
