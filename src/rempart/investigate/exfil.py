"""Exfiltration assessment: outbound volume per host and destination against the host's own baseline.

Sources: FortiGate traffic logs (``sentbyte`` from ``srcip`` to ``dstip``) and Zeek ``conn`` logs
(``orig_bytes`` when the originator is inside, ``resp_bytes`` when an outside originator pulled data
from an inside responder). Outbound means the other end is outside the group: in no establishment's
networks, no asset address, not the SOC, and not a private / loopback / link-local range.

Baseline (the choice and why): for each host, the hourly outbound volumes of the ``baseline_days`` days
before the assessed window, zero-filled for hours the sensors covered without traffic from that host.
The threshold is the largest of ``mean + k·stddev`` of those hourly volumes, ``peak_factor`` times the
largest hour of the baseline, and ``floor_bytes``. Hourly buckets
match how an exfiltration shows up (a burst of hours, often at night), a whole-week baseline includes
the host's own peaks (backups, updates) in the stddev so they are not flagged, k = 4 keeps a host with a
normal week from crossing the line by chance, the baseline peak keeps a nightly backup — a few big hours
a day, which inflate the mean less than they stand out — from being flagged when it runs as usual (an
intruder active during the baseline itself is why the window starts ``lookback_hours`` before the first
alert and the baseline ends there), and the floor stops a nearly silent host from being
flagged for a few megabytes. "Same hours on previous days" was rejected: 7 samples per hour are too
few for a stable threshold. When a flow is seen by both a firewall and a Zeek sensor it would be counted
twice, so per host and hour the larger of the two sensors' volumes is kept, not their sum.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
from sqlalchemy.orm import Session

from rempart.domain.inventory import Group
from rempart.inventory import Resolver
from rempart.investigate import eventdb
from rempart.investigate.findings import FindingKind, record_finding
from rempart.investigate.indicators import Internal
from rempart.store import incident_log
from rempart.store.models.core import FindingRow, IncidentRow

HOUR_US = 3_600_000_000


@dataclass(frozen=True)
class ExfilSettings:
    baseline_days: int = 7
    k: float = 4.0
    peak_factor: float = 1.5
    floor_bytes: int = 50_000_000  # 50 MB in one hour
    lookback_hours: int = 24  # the window starts this long before the first alert: intruders come early


@dataclass
class HostAssessment:
    host: str
    asset: str | None
    establishment: str | None
    baseline_hours: int
    mean: float
    stddev: float
    threshold: float
    window_bytes: int
    peak_bytes: int
    peak_hour: datetime | None
    destinations: dict[str, int]  # outbound bytes per destination during the window
    exceeded: list[tuple[datetime, int, dict[str, int]]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        top = sorted(self.destinations.items(), key=lambda kv: -kv[1])[:5]
        return {
            "host": self.host,
            "asset": self.asset,
            "establishment": self.establishment,
            "baseline_hours": self.baseline_hours,
            "baseline_mean_bytes": round(self.mean),
            "baseline_stddev_bytes": round(self.stddev),
            "threshold_bytes": round(self.threshold),
            "window_bytes": self.window_bytes,
            "peak_hour_bytes": self.peak_bytes,
            "peak_hour": self.peak_hour.isoformat() if self.peak_hour else None,
            "top_destinations": [{"address": d, "bytes": b} for d, b in top],
            "exceeded_hours": [
                {
                    "hour": h.isoformat(),
                    "bytes": b,
                    "destinations": [
                        {"address": d, "bytes": v} for d, v in sorted(ds.items(), key=lambda kv: -kv[1])[:5]
                    ],
                }
                for h, b, ds in self.exceeded
            ],
        }


# (hour, host, destination) → bytes, per sensor
Flows = dict[str, dict[tuple[int, str, str], int]]


def _fields(con: duckdb.DuckDBPyConnection, *names: str) -> list[str] | None:
    exprs = [eventdb.field_sql(con, n) for n in names]
    return None if any(e is None for e in exprs) else [e for e in exprs if e is not None]


def _fortigate(
    con: duckdb.DuckDBPyConnection, since_us: int, until_us: int
) -> dict[tuple[int, str, str], int]:
    exprs = _fields(con, "srcip", "dstip", "sentbyte")
    if exprs is None:
        return {}
    src, dst, sent = exprs
    rows = con.execute(
        f"SELECT epoch_us(_ts) // ? AS hour, {src}, {dst}, sum(TRY_CAST({sent} AS BIGINT))"
        f" FROM {eventdb.EVENTS} WHERE _product = 'fortigate' AND _service = 'traffic'"
        " AND epoch_us(_ts) >= ? AND epoch_us(_ts) < ? GROUP BY ALL",
        [HOUR_US, since_us, until_us],
    ).fetchall()
    return {(int(h), str(s), str(d)): int(b or 0) for h, s, d, b in rows if s and d and b}


def _zeek(
    con: duckdb.DuckDBPyConnection, since_us: int, until_us: int
) -> list[tuple[int, str, str, int, int]]:
    exprs = _fields(con, "id.orig_h", "id.resp_h", "orig_bytes", "resp_bytes")
    if exprs is None:
        return []
    orig, resp, ob, rb = exprs
    rows = con.execute(
        f"SELECT epoch_us(_ts) // ? AS hour, {orig}, {resp}, sum(TRY_CAST({ob} AS BIGINT)),"
        f" sum(TRY_CAST({rb} AS BIGINT)) FROM {eventdb.EVENTS} WHERE _product = 'zeek'"
        # Zeek's own JSON output names the log type nowhere but in the file name: a record with the
        # conn fields and no type is a conn record
        f" AND coalesce(_service, 'conn') = 'conn' AND {orig} IS NOT NULL AND {ob} IS NOT NULL"
        " AND epoch_us(_ts) >= ? AND epoch_us(_ts) < ? GROUP BY ALL",
        [HOUR_US, since_us, until_us],
    ).fetchall()
    return [(int(h), str(o), str(r), int(ob or 0), int(rb or 0)) for h, o, r, ob, rb in rows if o and r]


def outbound_flows(
    con: duckdb.DuckDBPyConnection, internal: Internal, since: datetime, until: datetime
) -> Flows:
    """Outbound bytes per (hour, inside host, outside destination), one mapping per sensor type."""
    lo, hi = eventdb.to_us(since), eventdb.to_us(until)
    flows: Flows = {"fortigate": {}, "zeek": defaultdict(int)}
    for (hour, src, dst), n in _fortigate(con, lo, hi).items():
        if src in internal and dst not in internal:
            flows["fortigate"][(hour, src, dst)] = n
    for hour, orig, resp, orig_bytes, resp_bytes in _zeek(con, lo, hi):
        if orig in internal and resp not in internal:
            flows["zeek"][(hour, orig, resp)] += orig_bytes
        elif resp in internal and orig not in internal:
            flows["zeek"][(hour, resp, orig)] += resp_bytes
    return flows


def _merge(flows: Flows) -> dict[tuple[int, str, str], int]:
    merged: dict[tuple[int, str, str], int] = {}
    for per_sensor in flows.values():
        for key, n in per_sensor.items():
            merged[key] = max(merged.get(key, 0), n)
    return merged


@dataclass
class Assessment:
    window: tuple[datetime, datetime]
    baseline: tuple[datetime, datetime]
    settings: ExfilSettings
    hosts: list[HostAssessment]
    sensors: dict[str, int]  # flows seen per sensor type (so a reader knows what the numbers rest on)
    establishments: list[str]

    @property
    def flagged(self) -> list[HostAssessment]:
        return [h for h in self.hosts if h.exceeded]

    @property
    def window_bytes(self) -> int:
        return sum(h.window_bytes for h in self.hosts)


def _stats(series: list[int]) -> tuple[float, float]:
    if not series:
        return 0.0, 0.0
    mean = sum(series) / len(series)
    return mean, math.sqrt(sum((x - mean) ** 2 for x in series) / len(series))


def assess(
    con: duckdb.DuckDBPyConnection,
    group: Group,
    establishments: list[str],
    window: tuple[datetime, datetime],
    settings: ExfilSettings | None = None,
) -> Assessment:
    """Compare each inside host's hourly outbound volume in ``window`` with its baseline."""
    cfg = settings or ExfilSettings()
    start, end = window
    base_start = start - timedelta(days=cfg.baseline_days)
    internal, resolver = Internal(group), Resolver(group)
    flows = outbound_flows(con, internal, base_start, end)
    merged = _merge(flows)
    start_h, end_h, base_h = (
        eventdb.to_us(start) // HOUR_US,
        -(-eventdb.to_us(end) // HOUR_US),
        eventdb.to_us(base_start) // HOUR_US,
    )
    wanted = set(establishments)
    per_host: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    per_dest: dict[str, dict[int, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    covered = {h for (h, _, _) in merged}  # hours some sensor saw outbound traffic at all
    for (hour, host, dst), n in merged.items():
        att = resolver.resolve_ip(host)
        if att is None or att.establishment not in wanted:
            continue
        per_host[host][hour] += n
        per_dest[host][hour][dst] = per_dest[host][hour].get(dst, 0) + n
    results: list[HostAssessment] = []
    for host, hours in sorted(per_host.items()):
        att = resolver.resolve_ip(host)
        base_hours = sorted(h for h in covered if base_h <= h < start_h)
        series = [hours.get(h, 0) for h in base_hours]
        mean, std = _stats(series)
        threshold = max(mean + cfg.k * std, cfg.peak_factor * max(series, default=0), float(cfg.floor_bytes))
        win = {h: n for h, n in hours.items() if start_h <= h < end_h}
        dests: dict[str, int] = defaultdict(int)
        for h in win:
            for d, n in per_dest[host][h].items():
                dests[d] += n
        peak_h = max(win, key=lambda h: win[h], default=None)
        exceeded = [
            (datetime.fromtimestamp(h * HOUR_US / 1e6, UTC), n, per_dest[host][h])
            for h, n in sorted(win.items())
            if n > threshold
        ]
        results.append(
            HostAssessment(
                host,
                att.asset if att else None,
                att.establishment if att else None,
                len(series),
                mean,
                std,
                threshold,
                sum(win.values()),
                win.get(peak_h, 0) if peak_h is not None else 0,
                datetime.fromtimestamp(peak_h * HOUR_US / 1e6, UTC) if peak_h is not None else None,
                dict(dests),
                exceeded,
            )
        )
    sensors = {name: len(v) for name, v in flows.items()}
    return Assessment(window, (base_start, start), cfg, results, sensors, sorted(wanted))


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} Mo".replace(",", " ").replace(".", ",")


def _num(x: float) -> str:
    return f"{x:g}".replace(".", ",")


def summary_fr(a: Assessment) -> str:
    fmt = "%d/%m/%Y %H:%M"
    text = (
        f"Volumes sortants de {len(a.hosts)} hôtes du {a.window[0]:{fmt}} au {a.window[1]:{fmt}} UTC "
        f"comparés à leur ligne de base des {a.settings.baseline_days} jours précédents "
        f"(seuil horaire : le plus grand de moyenne + {a.settings.k:g} écarts-types, "
        f"{_num(a.settings.peak_factor)} × pic de référence et {_mb(a.settings.floor_bytes)}). "
        f"Total sortant sur la fenêtre : {_mb(a.window_bytes)}. "
    )
    if not a.hosts:
        return text + "Aucun flux sortant dans les journaux pare-feu / Zeek : exfiltration non évaluable."
    if a.flagged:
        return (
            text
            + "Dépassements : "
            + "; ".join(
                f"{h.asset or h.host} ({h.host}) : {_mb(sum(b for _, b, _ in h.exceeded))} "
                f"en {len(h.exceeded)} h "
                f"vers {', '.join(sorted({d for _, _, ds in h.exceeded for d in ds})[:3])} "
                f"(seuil {_mb(h.threshold)}/h)"
                for h in a.flagged
            )
            + "."
        )
    peak = max(a.hosts, key=lambda h: h.peak_bytes)
    return text + (
        f"Aucun dépassement de la ligne de base. Pic horaire : {_mb(peak.peak_bytes)} pour "
        f"{peak.asset or peak.host} (seuil {_mb(peak.threshold)}/h)."
    )


def default_window(
    incident: IncidentRow, settings: ExfilSettings, now: datetime
) -> tuple[datetime, datetime]:
    return incident.first_seen - timedelta(hours=settings.lookback_hours), max(incident.last_seen, now)


def run_assessment(
    session: Session,
    con: duckdb.DuckDBPyConnection,
    group: Group,
    incident: IncidentRow,
    author: str,
    establishments: list[str] | None = None,
    settings: ExfilSettings | None = None,
    now: datetime | None = None,
) -> tuple[Assessment, FindingRow]:
    """Assess, then record a data-theft finding (positive when any host exceeded its baseline)."""
    cfg = settings or ExfilSettings()
    when = now or datetime.now(UTC)
    scope = establishments or ([incident.establishment] if incident.establishment else [])
    a = assess(con, group, scope, default_window(incident, cfg, when), cfg)
    data = {
        "window": [a.window[0].isoformat(), a.window[1].isoformat()],
        "baseline": [a.baseline[0].isoformat(), a.baseline[1].isoformat()],
        "method": {
            "baseline_days": cfg.baseline_days,
            "k": cfg.k,
            "peak_factor": cfg.peak_factor,
            "floor_bytes": cfg.floor_bytes,
            "lookback_hours": cfg.lookback_hours,
        },
        "establishments": a.establishments,
        "sensors": a.sensors,
        "hosts_assessed": len(a.hosts),
        "window_bytes": a.window_bytes,
        "flagged": [h.to_dict() for h in a.flagged],
        "hosts": [h.to_dict() for h in sorted(a.hosts, key=lambda h: -h.window_bytes)[:20]],
        "evaluable": bool(a.hosts),
    }
    incident_log.record(
        session,
        incident.id,
        "investigate",
        "action",
        f"Évaluation d'exfiltration : {len(a.hosts)} hôtes, {_mb(a.window_bytes)} sortants, "
        f"{len(a.flagged)} au-delà de la ligne de base.",
        author=author,
        at=when,
    )
    finding = record_finding(
        session, incident, FindingKind.DATA_THEFT, bool(a.flagged), summary_fr(a), data, author, at=when
    )
    return a, finding
