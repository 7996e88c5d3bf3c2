"""IOC sweep over the events of every establishment of the group.

Each indicator is looked for in every field of every event (the fields of one event joined by spaces),
as a whole token: ``10.1.1.1`` does not match ``10.1.1.10``, ``evil.example`` matches ``www.evil.example``
but not ``notevil.example``, ``svc_x`` matches ``CORP\\svc_x``. The answer per establishment is either
its hits, or "clean since" the first event swept — and an establishment with no event at all is
reported as such: absence of logs is not evidence of absence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
from sqlalchemy.orm import Session

from rempart.domain.inventory import Group
from rempart.errors import StateError
from rempart.events.store import quote_ident
from rempart.investigate import eventdb
from rempart.investigate.findings import FindingKind, record_finding
from rempart.investigate.indicators import Indicator, IndicatorKind
from rempart.store import incident_log
from rempart.store.models.core import FindingRow, IncidentRow

UNATTRIBUTED = "(non attribué)"

# characters that may NOT touch a match on each side, per kind (anything else is a token boundary)
_WORD = {
    IndicatorKind.IP: ("0-9a-f.:", "0-9a-f.:"),
    IndicatorKind.DOMAIN: ("0-9a-z_-", "0-9a-z_.-"),
    IndicatorKind.HASH: ("0-9a-f", "0-9a-f"),
    IndicatorKind.ACCOUNT: ("0-9a-z_.$-", "0-9a-z_.$-"),
    IndicatorKind.TOOL: ("0-9a-z_.-", "0-9a-z_.-"),
}
_RE2_SPECIAL = set(r".^$*+?()[]{}|\-/")


def _escape(text: str) -> str:
    return "".join("\\" + c if c in _RE2_SPECIAL else c for c in text)


def iso(d: datetime | None) -> str | None:
    return d.isoformat() if d else None


def token_pattern(indicator: Indicator) -> str:
    before, after = _WORD[indicator.kind]
    return f"(^|[^{before}]){_escape(indicator.value)}($|[^{after}])"


@dataclass
class Hit:
    indicator: Indicator
    count: int
    first: datetime
    last: datetime
    hosts: list[str]
    samples: list[str]  # "source#record" of a few matching events

    def to_dict(self) -> dict[str, Any]:
        return {
            "indicator": str(self.indicator),
            "source": self.indicator.source,
            "count": self.count,
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
            "hosts": self.hosts,
            "samples": self.samples,
        }


@dataclass
class EstablishmentSweep:
    establishment: str  # id, or UNATTRIBUTED
    name: str
    events: int = 0
    first_event: datetime | None = None
    last_event: datetime | None = None
    hits: list[Hit] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.hits:
            return "hits"
        return "clean" if self.events else "no_data"

    @property
    def clean_since(self) -> datetime | None:
        """Since when no indicator was seen: the last hit, or the first event swept when there is none."""
        if self.hits:
            return max(h.last for h in self.hits)
        return self.first_event

    def to_dict(self) -> dict[str, Any]:
        return {
            "establishment": self.establishment,
            "name": self.name,
            "events": self.events,
            "first_event": iso(self.first_event),
            "last_event": iso(self.last_event),
            "status": self.status,
            "clean_since": iso(self.clean_since),
            "hits": [h.to_dict() for h in self.hits],
        }


def _haystack(con: duckdb.DuckDBPyConnection, since: datetime | None, until: datetime | None) -> int:
    """Materialise one lower-cased text per event (all its fields) once; every indicator scans that."""
    # _raw holds every field, also those not materialised as columns at ingest
    cols = ["_host", *(["_raw"] if "_raw" in eventdb.columns(con) else [])]
    cols += [quote_ident(c) for c in eventdb.field_columns(con)]
    where = []
    if since is not None:
        where.append(f"epoch_us(_ts) >= {eventdb.to_us(since)}")
    if until is not None:
        where.append(f"epoch_us(_ts) <= {eventdb.to_us(until)}")
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _hay AS SELECT coalesce(_establishment, ?) AS est, epoch_us(_ts) AS us,"
        " _host AS host, _source || '#' || CAST(_record AS VARCHAR) AS ref,"
        f" lower(concat_ws(' ', {', '.join(cols)})) AS h FROM {eventdb.EVENTS} {clause}",
        [UNATTRIBUTED],
    )
    row = con.execute("SELECT count(*) FROM _hay").fetchone()
    return int(row[0]) if row else 0


def sweep(
    con: duckdb.DuckDBPyConnection,
    indicators: list[Indicator],
    group: Group,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[EstablishmentSweep]:
    """One result per establishment of the group (plus unattributed events when there are some)."""
    results = {e.id: EstablishmentSweep(e.id, e.name) for e in group.establishments}
    if not eventdb.has_events(con):
        return list(results.values())
    _haystack(con, since, until)
    for est, n, first, last in con.execute(
        "SELECT est, count(*), min(us), max(us) FROM _hay GROUP BY est ORDER BY est"
    ).fetchall():
        res = results.setdefault(est, EstablishmentSweep(est, est))
        res.events, res.first_event, res.last_event = int(n), eventdb.from_us(first), eventdb.from_us(last)
    # one pass over every event keeps the few that contain any indicator at all; each indicator is then
    # matched, with its token boundaries, against those candidates only
    con.execute("CREATE OR REPLACE TEMP TABLE _cand AS SELECT * FROM _hay WHERE false")
    for i in range(0, len(indicators), 200):
        literals = "|".join(_escape(ind.value) for ind in indicators[i : i + 200])
        con.execute("INSERT INTO _cand SELECT * FROM _hay WHERE regexp_matches(h, ?)", [literals])
    con.execute("CREATE OR REPLACE TEMP TABLE _cand AS SELECT DISTINCT * FROM _cand")
    for ind in indicators:
        rows = con.execute(
            "SELECT est, count(*), min(us), max(us), list(DISTINCT host ORDER BY host)[1:10],"
            " list(ref ORDER BY us)[1:5] FROM _cand WHERE contains(h, ?) AND regexp_matches(h, ?)"
            " GROUP BY est",
            [ind.value, token_pattern(ind)],
        ).fetchall()
        for est, n, first, last, hosts, refs in rows:
            results[est].hits.append(
                Hit(
                    ind,
                    int(n),
                    eventdb.from_us(first) or datetime.min.replace(tzinfo=UTC),
                    eventdb.from_us(last) or datetime.min.replace(tzinfo=UTC),
                    [h for h in hosts if h],
                    list(refs),
                )
            )
    con.execute("DROP TABLE IF EXISTS _hay")
    con.execute("DROP TABLE IF EXISTS _cand")
    return list(results.values())


@dataclass
class SweepOutcome:
    results: list[EstablishmentSweep]
    indicators: list[Indicator]
    propagated_to: list[str]  # establishments other than the incident's with hits
    finding: FindingRow


def _fmt(d: datetime | None) -> str:
    return d.astimezone(UTC).strftime("%d/%m/%Y %H:%M UTC") if d else "—"


def summary_fr(incident: IncidentRow, results: list[EstablishmentSweep], indicators: list[Indicator]) -> str:
    others = [r for r in results if r.establishment not in (incident.establishment, UNATTRIBUTED)]
    hit = [r for r in others if r.hits]
    silent = [r for r in others if r.status == "no_data"]
    swept = sum(r.events for r in results)
    text = (
        f"Recherche de {len(indicators)} indicateurs de compromission dans {swept} événements de "
        f"{len(results)} périmètres. "
    )
    if hit:
        text += (
            "Indicateurs retrouvés hors de l'établissement attaqué : "
            + "; ".join(
                f"{r.name} ({sum(h.count for h in r.hits)} occurrences, dernière le {_fmt(r.clean_since)})"
                for r in hit
            )
            + "."
        )
    else:
        text += "Aucun indicateur retrouvé dans les autres établissements : pas de propagation constatée."
    loose = next((r for r in results if r.establishment == UNATTRIBUTED and r.hits), None)
    if loose is not None:
        text += (
            f" {sum(h.count for h in loose.hits)} occurrences dans des journaux d'hôtes hors inventaire "
            f"({', '.join(sorted({x for h in loose.hits for x in h.hosts})[:5])}) : à examiner."
        )
    if silent:
        text += " Sans journaux, donc non vérifiés : " + ", ".join(r.name for r in silent) + "."
    own = next((r for r in results if r.establishment == incident.establishment), None)
    if own is not None and own.hits:
        text += f" Établissement attaqué : dernière occurrence le {_fmt(own.clean_since)}."
    return text


def run_sweep(
    session: Session,
    con: duckdb.DuckDBPyConnection,
    group: Group,
    incident: IncidentRow,
    indicators: list[Indicator],
    author: str,
    now: datetime | None = None,
    ignored: list[str] | None = None,
) -> SweepOutcome:
    """Sweep every establishment, record the result in the incident log and as a propagation finding."""
    when = now or datetime.now(UTC)
    if not indicators:
        raise StateError(
            "no indicator to sweep for",
            hint="the events of the incident's alerts are not in the event store: ingest them, or give "
            "indicators with --iocs (STIX 2.1, MISP JSON or CSV)",
        )
    results = sweep(con, indicators, group)
    # hits in events attributed to no establishment are reported, but prove no spread to a clinic
    propagated = [
        r.establishment
        for r in results
        if r.hits and r.establishment not in (incident.establishment, UNATTRIBUTED)
    ]
    data = {
        "swept_at": when.isoformat(),
        "indicators": [{"kind": str(i.kind), "value": i.value, "source": i.source} for i in indicators],
        "establishments": [r.to_dict() for r in results],
        "propagated_to": propagated,
        "events_swept": sum(r.events for r in results),
        "ignored": sorted(ignored or []),  # indicator values left out on purpose, and by whom (the author)
    }
    incident_log.record(
        session,
        incident.id,
        "investigate",
        "action",
        f"Balayage IOC de tout le groupe : {len(indicators)} indicateurs, {data['events_swept']} événements, "
        f"{len(results)} périmètres.",
        author=author,
        data={"propagated_to": propagated},
        at=when,
    )
    finding = record_finding(
        session,
        incident,
        FindingKind.PROPAGATION,
        bool(propagated),
        summary_fr(incident, results, indicators),
        data,
        author,
        at=when,
    )
    return SweepOutcome(results, indicators, propagated, finding)
