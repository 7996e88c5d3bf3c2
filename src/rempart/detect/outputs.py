"""What a hunt hands to investigators: a Timesketch timeline of the alerts' events, and a summary.

Timesketch imports CSV and JSONL whose rows carry ``message``, ``datetime`` (ISO 8601) and
``timestamp_desc`` (its documented mandatory fields, and ``TIMESKETCH_FIELDS`` of its importer) plus any
other field. One row is written per event of each alert (an event two rules matched gives two rows, as
Hayabusa's timelines do), with the alert's rule, level and ATT&CK tags and the event's own fields: those
of its original record (an EVTX record's System and EventData fields under their Sigma names,
``Provider_Name``, ``TargetImage`` …) and those the store holds. The importer drops ``_id``, ``_type``,
``_index``, ``_source`` and ``__ts_timeline_id``, so the event's origin is written as ``log_source``.

The summary counts alerts by level, by host and by rule, each with its first and last time, as
Hayabusa's results summary does.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from rempart.detect.backend import columns_used
from rempart.detect.plan import DetectionPlan
from rempart.domain.alerts import Alert, EventRef, Level
from rempart.domain.events import CORE_COLUMNS
from rempart.events.store import RAW, TABLE, EventStore, quote_ident

TIMESTAMP_DESC = "Event Recorded"
MANDATORY = ("message", "datetime", "timestamp_desc")  # Timesketch refuses a file without them
ALERT_FIELDS = ("timestamp", "rule_title", "rule_id", "rule_level", "tactics", "techniques", "correlation",
                "host", "establishment", "asset", "product", "service", "log_source")
# names Timesketch gives a meaning to or drops: an event field so named is written as event_<name>
RESERVED = {*MANDATORY, *ALERT_FIELDS, "tag", "_id", "_type", "_index", "_source", "__ts_timeline_id"}
_SKIPPED_SEGMENTS = {"Event", "System", "EventData", "UserData", "#attributes"}
KEY_FIELDS = 4  # fields of the event shown in the message
KEY_VALUE_CHARS = 120


def _flatten(value: Any, path: tuple[str, ...], out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(v, (*path, str(k)), out)
        return
    if value is None or value == "" or path[-1:] == ("xmlns",):
        return
    # EVTX's JSON: Event.System.Provider.#attributes.Name → Provider_Name, Sigma's own name for it
    short = "_".join(p for p in path if p not in _SKIPPED_SEGMENTS) or "value"
    name = short if short not in out else ".".join(path)
    out[name] = value if isinstance(value, str | int | float | bool | list) else str(value)


def event_fields(raw: str | None, columns: dict[str, Any]) -> dict[str, Any]:
    """The fields of one stored event: its original record's, then the store's columns that add any."""
    fields: dict[str, Any] = {}
    if raw:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            _flatten(parsed, (), fields)
        else:
            fields["raw"] = raw
    lower = {k.lower() for k in fields}
    for name, value in columns.items():
        if value not in (None, "") and name.lower() not in lower:
            fields[name] = value
    return {(f"event_{k}" if k in RESERVED else k): v for k, v in fields.items()}


@dataclass
class _StoredEvent:
    ts: datetime
    host: str | None
    establishment: str | None
    asset: str | None
    product: str | None
    service: str | None
    fields: dict[str, Any]


def _stored_events(store: EventStore, alerts: list[Alert]) -> dict[tuple[str, int], _StoredEvent]:
    refs = sorted({(e.source, e.record) for a in alerts for e in a.events})
    if not refs:
        return {}
    con = store.connection
    con.execute("CREATE OR REPLACE TEMP TABLE _tl_refs (src VARCHAR, rec BIGINT)")
    con.executemany("INSERT INTO _tl_refs VALUES (?, ?)", refs)
    columns = [c for c in store.columns.values() if c not in CORE_COLUMNS and c != RAW]
    select = ", ".join(["_source", "_record", "_ts", "_host", "_establishment", "_asset", "_product",
                        "_service", RAW, *(quote_ident(c) for c in columns)])
    # an event stored twice (the same file hunted again) is written once
    cursor = con.execute(
        f"SELECT {select} FROM {TABLE} e JOIN _tl_refs r ON e._source = r.src AND e._record = r.rec "
        "QUALIFY row_number() OVER (PARTITION BY e._source, e._record ORDER BY e.rowid DESC) = 1"
    )
    found: dict[tuple[str, int], _StoredEvent] = {}
    while batch := cursor.fetchmany(2048):
        for source, record, ts, host, est, asset, product, service, raw, *values in batch:
            fields = event_fields(raw, dict(zip(columns, values, strict=True)))
            found[(str(source), int(record))] = _StoredEvent(ts, host, est, asset, product, service, fields)
    con.execute("DROP TABLE _tl_refs")
    return found


def _key_fields(plan: DetectionPlan, alert: Alert) -> list[str]:
    """The fields the alert's rule reads (lower-case), in the rule's order: what the message shows."""
    rule = plan.resolve(alert.rule_id) or next((r for r in plan.rules if r.title == alert.title), None)
    if rule is None:
        return []
    if rule.kind == "correlation":
        corr = rule.correlation or {}
        return [str(f).lower() for f in [*corr.get("group_by", []), corr.get("field")] if f]
    predicate = rule.predicate or ""
    seen: list[str] = []
    for _, name in sorted(columns_used(predicate), key=lambda c: predicate.find(c[1])):
        if name not in seen and name not in ("eventid", "channel"):
            seen.append(name)
    return seen[:KEY_FIELDS]


def timeline_rows(plan: DetectionPlan, store: EventStore, alerts: list[Alert]) -> Iterator[dict[str, Any]]:
    """Timesketch rows, oldest first: one per event of each alert."""
    events = _stored_events(store, alerts)
    keys = {a.rule_id: _key_fields(plan, a) for a in alerts}
    rows = [_row(alert, ref, events.get((ref.source, ref.record)), keys[alert.rule_id])
            for alert in alerts for ref in alert.events]
    rows.sort(key=lambda r: (r["timestamp"], r["rule_id"]))
    yield from rows


def _row(alert: Alert, ref: EventRef, event: _StoredEvent | None, keys: list[str]) -> dict[str, Any]:
    when = event.ts if event is not None and isinstance(event.ts, datetime) else alert.time
    ts = when.astimezone(UTC)
    fields = event.fields if event is not None else {}
    spelled = {k.lower(): k for k in fields}
    shown = " ".join(f"{spelled[k]}={_short(fields[spelled[k]])}" for k in keys if k in spelled)
    host = (event.host if event is not None else None) or alert.host or "-"
    row: dict[str, Any] = {
        "message": " — ".join(p for p in (alert.title, host, shown) if p),
        "datetime": ts.isoformat(),
        "timestamp": int(ts.timestamp() * 1_000_000),
        "timestamp_desc": TIMESTAMP_DESC,
        "rule_title": alert.title, "rule_id": alert.rule_id, "rule_level": str(alert.level),
        "tactics": alert.tactics, "techniques": alert.techniques, "correlation": alert.correlation,
        "host": host, "establishment": alert.establishment, "asset": alert.asset,
        "product": event.product if event is not None else None,
        "service": event.service if event is not None else None,
        "log_source": f"{ref.source}#{ref.record}",
    }
    row.update(fields)
    return {k: v for k, v in row.items() if v is not None}


def _short(value: Any) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= KEY_VALUE_CHARS else text[:KEY_VALUE_CHARS - 1] + "…"


def write_jsonl(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    n = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        n += 1
    return n


def write_csv(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    """A header naming every field of every row (an event lacking one leaves it empty); lists joined."""
    materialised = list(rows)
    extra = sorted({k for r in materialised for k in r} - {*MANDATORY, *ALERT_FIELDS})
    header = [*MANDATORY[:2], "timestamp", MANDATORY[2], *ALERT_FIELDS[1:], *extra]
    writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in materialised:
        writer.writerow({k: ", ".join(map(str, v)) if isinstance(v, list) else v for k, v in row.items()})
    return len(materialised)


# --- summary ----------------------------------------------------------------------------------------


def summarize(alerts: list[Alert]) -> dict[str, Any]:
    """Alerts by level, by host and by rule, each with first and last seen (ISO 8601, UTC)."""
    by_level: dict[str, dict[str, Any]] = {}
    hosts: dict[str, dict[str, Any]] = {}
    rules: dict[tuple[str, str], dict[str, Any]] = {}
    rule_hosts: dict[tuple[str, str], set[str]] = defaultdict(set)
    for a in alerts:
        level, host = str(a.level), a.host or "-"
        when = a.time.astimezone(UTC).isoformat()
        lv = by_level.setdefault(level, {"level": level, "alerts": 0, "rules": set()})
        lv["alerts"] += 1
        lv["rules"].add(a.rule_id)
        h = hosts.setdefault(host, {"host": host, "establishment": a.establishment, "alerts": 0,
                                    "by_level": Counter(), "first_seen": when, "last_seen": when})
        h["alerts"] += 1
        h["by_level"][level] += 1
        h["first_seen"], h["last_seen"] = min(h["first_seen"], when), max(h["last_seen"], when)
        key = (a.rule_id, a.title)
        r = rules.setdefault(key, {"rule_id": a.rule_id, "title": a.title, "level": level, "alerts": 0,
                                   "first_seen": when, "last_seen": when})
        r["alerts"] += 1
        r["first_seen"], r["last_seen"] = min(r["first_seen"], when), max(r["last_seen"], when)
        rule_hosts[key].add(host)
    order = {str(lv): int(lv) for lv in Level}
    times = [a.time.astimezone(UTC) for a in alerts]
    return {
        "alerts": len(alerts),
        "first_seen": min(times).isoformat() if times else None,
        "last_seen": max(times).isoformat() if times else None,
        "by_level": [{**v, "rules": len(v["rules"])}
                     for v in sorted(by_level.values(), key=lambda v: -order[v["level"]])],
        "by_host": [{**v, "by_level": dict(v["by_level"])}
                    for v in sorted(hosts.values(), key=lambda v: (-v["alerts"], v["host"]))],
        "by_rule": [{**v, "hosts": len(rule_hosts[k])}
                    for k, v in sorted(rules.items(), key=lambda kv: (-order[kv[1]["level"]],
                                                                      -kv[1]["alerts"], kv[1]["title"]))],
    }
