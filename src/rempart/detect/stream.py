"""Streaming detection: the compiled plan over micro-batches of the event store, correlations in event time.

A batch is a range of rowids ``[first, last)`` already appended to the store. Base rules run over those
rows only, with the plan's own scope tables and predicates (:meth:`DetectionPlan._run_scopes`), so a
batch's base-rule alerts are those ``plan.evaluate`` gives for the same events.

Correlations keep, per correlation and group, the member-rule matches of the windows still open. The
*watermark* is the largest event time seen minus the allowed ``lateness``:

- an event older than the watermark when its batch arrives is *too late* for correlations: it is still
  stored and its base rules still alert, but it joins no window; it is counted in :attr:`late_events`;
- a correlation is evaluated at a match only once the watermark has reached that match's time, so every
  event that may still fall in its window (within the lateness) has been seen: the alert is the one a
  single pass over the same events (a hunt) gives, whatever their arrival order within the lateness.
  With ``lateness=0`` a correlation alerts in the batch that completes it; a larger lateness delays its
  alerts by up to that much event time. :meth:`flush` evaluates what is still held (end of input).
- matches older than ``watermark - timespan`` can be in no future window and are dropped.

:meth:`state` holds the windows, the rows already processed and the watermark; a detector restored from
it skips rows it already processed and never emits a correlation alert twice.
"""

from __future__ import annotations

import bisect
import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rempart.detect.correlate import (
    OPERATORS,
    _event_value,
    _field_for,
    _ordered_correlations,
    referenced_rules,
)
from rempart.detect.plan import CompiledRule, DetectionPlan
from rempart.detect.rules import RuleProblem
from rempart.domain.alerts import Alert, EventRef, Level
from rempart.events.store import TABLE, EventStore

STATE_VERSION = 1


@dataclass
class _Match:
    """One member-rule match in a correlation window (an event, or an alert of a chained correlation)."""

    ri: int  # the member's position in the correlation's rules
    ts: datetime
    host: str | None
    est: str | None
    asset: str | None
    src: str | None
    rec: int | None
    refs: str | None  # a chained alert's events, as JSON [[source, record], …]
    v: str | None
    done: bool = False  # evaluated as the end of a window already

    def key(self) -> tuple[Any, ...]:
        # the order of correlate.py's SQL (ts, ri, src, rec, refs; NULLs last), so ties break alike
        return (self.ts, self.ri, self.src is None, self.src or "", self.rec is None, self.rec or 0,
                self.refs is None, self.refs or "")

    def to_list(self) -> list[Any]:
        return [self.ri, self.ts.isoformat(), self.host, self.est, self.asset, self.src, self.rec, self.refs,
                self.v, self.done]

    @classmethod
    def from_list(cls, d: list[Any]) -> _Match:
        return cls(int(d[0]), datetime.fromisoformat(d[1]), d[2], d[3], d[4], d[5], d[6], d[7], d[8],
                   bool(d[9]))


@dataclass
class _Group:
    matches: list[_Match]
    last_alert: datetime | None = None

    def add(self, m: _Match) -> None:
        keys = [x.key() for x in self.matches]
        self.matches.insert(bisect.bisect_right(keys, m.key()), m)


class StreamDetector:
    """Evaluates `plan` batch after batch over `store` (see the module's docstring)."""

    def __init__(self, plan: DetectionPlan, store: EventStore, *, lateness: timedelta = timedelta(0),
                 min_level: Level | str = Level.INFORMATIONAL) -> None:
        self.plan, self.store, self.lateness = plan, store, lateness
        self.min_level = Level.parse(min_level) if isinstance(min_level, str) else min_level
        self.index = {r.key: i for i, r in enumerate(plan.rules)}
        self.needed, self.silent = referenced_rules(plan)
        self.base = [r for r in plan.base_rules if r.severity >= self.min_level or r.key in self.needed]
        self.emitting = {self.index[r.key] for r in self.base
                         if r.severity >= self.min_level and r.key not in self.silent}
        self.correlations = _ordered_correlations(plan)
        self.members = {c.key: self._members(c) for c in self.correlations}
        self.max_ts: datetime | None = None
        self.next_row = 0  # rows below this one were processed already
        self.late_events = 0
        self.windows: dict[str, dict[str, _Group]] = {c.key: {} for c in self.correlations}

    # --- public surface ---------------------------------------------------------------------------

    @property
    def watermark(self) -> datetime | None:
        return None if self.max_ts is None else self.max_ts - self.lateness

    def process(self, first_row: int, last_row: int) -> list[Alert]:
        """The new alerts of the events of rowids ``[first_row, last_row)``, in time order. Rows already
        processed (before :attr:`next_row`) are skipped: replaying them gives nothing twice."""
        first = max(first_row, self.next_row)
        if last_row <= first:
            return []
        con = self.store.connection
        rows = f"rowid >= {int(first)} AND rowid < {int(last_row)}"
        con.execute("CREATE OR REPLACE TEMP TABLE _hits (r INTEGER, _rid BIGINT)")
        self.plan._run_scopes(self.store, self.base, self.index, rows, None, last_row - first)
        alerts = self.plan._event_alerts(con, self.emitting, rows)
        before = self.watermark
        found = con.execute(f"SELECT max(_ts) FROM {TABLE} WHERE {rows}").fetchone()
        batch_max = found[0] if found is not None else None
        if batch_max is not None:
            batch_max = batch_max.astimezone(UTC)
            self.max_ts = batch_max if self.max_ts is None else max(self.max_ts, batch_max)
        self.next_row = last_row
        alerts.extend(self._correlate(before, self.watermark))
        alerts.sort(key=lambda a: (a.time, a.rule_id))
        return alerts

    def correlate_hits(self) -> list[Alert]:
        """The correlation alerts of every match in ``_hits`` at once, in time order: a hunt's single
        pass, which :meth:`DetectionPlan.evaluate` makes through this same code."""
        alerts = self._correlate(None, None)
        alerts.sort(key=lambda a: (a.time, a.rule_id))
        return alerts

    def flush(self) -> list[Alert]:
        """Evaluate every correlation match still held for the lateness (the end of the input)."""
        alerts = self._correlate(None, None, fetch=False)
        alerts.sort(key=lambda a: (a.time, a.rule_id))
        return alerts

    def state(self) -> bytes:
        return json.dumps({
            "version": STATE_VERSION,
            "next_row": self.next_row,
            "max_ts": None if self.max_ts is None else self.max_ts.isoformat(),
            "late_events": self.late_events,
            "windows": {
                corr: {g: {"last_alert": None if grp.last_alert is None else grp.last_alert.isoformat(),
                           "matches": [m.to_list() for m in grp.matches]} for g, grp in groups.items()}
                for corr, groups in self.windows.items()
            },
        }, separators=(",", ":")).encode()

    @classmethod
    def restore(cls, plan: DetectionPlan, store: EventStore, state: bytes, *,
                lateness: timedelta = timedelta(0), min_level: Level | str = Level.INFORMATIONAL
                ) -> StreamDetector:
        """A detector that continues from `state`; windows of correlations no longer in `plan` are
        dropped, and those of new correlations start empty."""
        data = json.loads(state)
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"detector state version {data.get('version')}, expected {STATE_VERSION}")
        det = cls(plan, store, lateness=lateness, min_level=min_level)
        det.next_row = int(data["next_row"])
        det.max_ts = None if data["max_ts"] is None else datetime.fromisoformat(data["max_ts"])
        det.late_events = int(data["late_events"])
        for corr, groups in data["windows"].items():
            if corr in det.windows:
                det.windows[corr] = {
                    g: _Group([_Match.from_list(m) for m in grp["matches"]],
                              None if grp["last_alert"] is None
                              else datetime.fromisoformat(grp["last_alert"]))
                    for g, grp in groups.items()
                }
        return det

    # --- correlations -----------------------------------------------------------------------------

    def _members(self, corr: CompiledRule) -> list[tuple[str, CompiledRule]]:
        members = []
        for ref in (corr.correlation or {}).get("rules", []):
            rule = self.plan.resolve(ref)
            if rule is None:  # such a correlation never fires
                self.plan.runtime_failures.append(RuleProblem(
                    corr.path, f"correlation refers to '{ref}', which is not a loaded rule",
                    "evaluate", rule=corr.label))
                return []
            members.append((ref, rule))
        return members

    def _correlate(self, before: datetime | None, mark: datetime | None, fetch: bool = True) -> list[Alert]:
        alerts: list[Alert] = []
        chained: dict[str, list[Alert]] = {}
        late: set[int] = set()  # events of the batch too late for the windows (counted once each)
        for corr in self.correlations:
            members = self.members[corr.key]
            if not members:
                continue
            for ri, (ref, rule) in enumerate(members):
                if rule.kind == "correlation":
                    for a in chained.get(rule.key, []):
                        self._add_alert(corr, ri, ref, rule, a)
                elif fetch:
                    self._fetch(corr, ri, ref, rule, before, late)
            found = self._evaluate(corr, mark)
            if corr.key in self.needed:
                chained[corr.key] = found
            alerts.extend(a for a in found if a.level >= self.min_level)
        self.late_events += len(late)
        return alerts

    def _group_of(self, values: list[Any]) -> str:
        return json.dumps(values, separators=(",", ":"))

    def _fetch(self, corr: CompiledRule, ri: int, ref: str, rule: CompiledRule, before: datetime | None,
               late: set[int]) -> None:
        spec = corr.correlation or {}
        names = [_field_for(spec, g, ref, rule) for g in spec.get("group_by", [])]
        value = _field_for(spec, spec["field"], ref, rule) if spec.get("field") else None
        read = functools.partial(_event_value, self.store, rule)
        sql = (f"SELECT e.rowid, e._ts, e._host, e._establishment, e._asset, e._source, e._record, "
               f"{read(value)}"
               + "".join(f", {read(n)}" for n in names)
               + f" FROM _hits h JOIN {TABLE} e ON e.rowid = h._rid WHERE h.r = {self.index[rule.key]}"
               " AND e._ts IS NOT NULL")
        groups = self.windows[corr.key]
        for rid, stamp, host, est, asset, src, rec, v, *gv in self.store.query(sql):
            ts = stamp.astimezone(UTC)
            if before is not None and ts < before:
                late.add(int(rid))
                continue
            m = _Match(ri, ts, host, est, asset, None if src is None else str(src),
                       None if rec is None else int(rec), None, v)
            groups.setdefault(self._group_of(list(gv)), _Group([])).add(m)

    def _add_alert(self, corr: CompiledRule, ri: int, ref: str, rule: CompiledRule, alert: Alert) -> None:
        spec = corr.correlation or {}
        names = [_field_for(spec, g, ref, rule) for g in spec.get("group_by", [])]
        value = _field_for(spec, spec["field"], ref, rule) if spec.get("field") else None
        refs = json.dumps([[e.source, e.record] for e in alert.events])
        m = _Match(ri, alert.time, alert.host, alert.establishment, alert.asset, None, None, refs,
                   None if value is None else alert.details.get(value))
        gv = [alert.details.get(n) for n in names]
        self.windows[corr.key].setdefault(self._group_of(gv), _Group([])).add(m)

    def _evaluate(self, corr: CompiledRule, mark: datetime | None) -> list[Alert]:
        """Evaluate the matches of every group up to `mark` (None: all), as correlate.py's single pass."""
        width = timedelta(seconds=int((corr.correlation or {})["timespan"]))
        alerts: list[Alert] = []
        groups = self.windows[corr.key]
        for gkey in list(groups):
            grp = groups[gkey]
            alerts.extend(self._evaluate_group(corr, gkey, grp, mark))
            if mark is not None:  # matches older than mark - timespan are in no future window
                keep = bisect.bisect_left([m.ts for m in grp.matches], mark - width)
                del grp.matches[:keep]
                if not grp.matches:
                    del groups[gkey]
        return alerts

    def _evaluate_group(self, corr: CompiledRule, gkey: str, grp: _Group, mark: datetime | None
                        ) -> list[Alert]:
        spec = corr.correlation or {}
        kind = spec["type"]
        count = len(self.members[corr.key])
        width = timedelta(seconds=int(spec["timespan"]))
        threshold = count if kind.startswith("temporal") else spec["count"]
        ms = grp.matches
        times = [m.ts for m in ms]
        alerts: list[Alert] = []
        for i, m in enumerate(ms):
            if m.done:
                continue
            if mark is not None and m.ts > mark:
                break
            m.done = True
            lo = bisect.bisect_left(times, m.ts - width)
            span = ms[lo:bisect.bisect_right(times, m.ts)]  # the SQL frame [ts - timespan, ts], ties included
            if kind == "event_count":
                n = len(span)
            elif kind == "value_count":
                n = len({x.v for x in span if x.v is not None})
            else:
                n = len({x.ri for x in span})
            met = n >= threshold if kind.startswith("temporal") else OPERATORS[spec["op"]](n, threshold)
            window = ms[lo:i + 1]  # what correlate.py's deque holds: the matches up to this one
            if kind == "temporal_ordered" and met:
                met = _ordered([x.ri for x in window], count)
            if not met or (grp.last_alert is not None and m.ts <= grp.last_alert + width):
                continue
            grp.last_alert = m.ts
            details = {g: str(val) for g, val in zip(spec.get("group_by", []), json.loads(gkey), strict=True)}
            details["count"] = str(n)
            alerts.append(corr.make_alert(m.ts, m.host, m.est, m.asset, _refs(window), details))
        return alerts


def _refs(window: list[_Match]) -> list[EventRef]:
    events: list[EventRef] = []
    for w in window:
        if w.refs is not None:
            events.extend(EventRef(str(s), int(r)) for s, r in json.loads(w.refs))
        else:
            events.append(EventRef(str(w.src or ""), int(w.rec or 0)))
    return events


def _ordered(members: list[int], count: int) -> bool:
    want = 0
    for ri in members:
        if ri == want:
            want += 1
            if want == count:
                return True
    return False
