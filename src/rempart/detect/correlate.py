"""Sigma correlation rules (event_count, value_count, temporal, temporal_ordered) on true sliding windows.

For each correlation, the matches of its base rules (the ``_hits`` table) are joined to their events and
DuckDB computes, for every matching event, the aggregate over the window ``[t - timespan, t]`` of the
same group (a ``RANGE`` window frame: sliding, not fixed buckets). The correlation fires at the first
event where the condition holds; later events of the same group within one timespan of that alert belong
to the same episode and are not reported again.
"""

from __future__ import annotations

import functools
import json
import operator
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from rempart.detect.rules import RuleProblem
from rempart.domain.alerts import Alert, EventRef
from rempart.domain.events import SERVICE
from rempart.events.store import TABLE, EventStore, quote_ident

if TYPE_CHECKING:
    from rempart.detect.plan import CompiledRule, DetectionPlan

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le,
    "eq": operator.eq, "neq": operator.ne,
}


def referenced_rules(plan: DetectionPlan) -> tuple[set[str], set[str]]:
    """Keys of the base rules some correlation needs, and of those that must not alert on their own."""
    needed: set[str] = set()
    generating: set[str] = set()
    for corr in plan.correlations:
        spec = corr.correlation or {}
        for ref in spec.get("rules", []):
            rule = plan.resolve(ref)
            if rule is not None:
                needed.add(rule.key)
                if spec.get("generate"):
                    generating.add(rule.key)
    return needed, needed - generating


def _field_for(spec: dict[str, Any], name: str, ref: str, rule: CompiledRule) -> str:
    """A group-by or value field as named in one base rule (Sigma correlation aliases)."""
    mapping = spec.get("aliases", {}).get(name)
    if not mapping:
        return name
    for key in (ref, rule.id, rule.name):
        if key in mapping:
            return str(mapping[key])
    return name


def _field_sql(store: EventStore, name: str) -> str:
    col = store.column(name)
    return f"CAST(e.{quote_ident(col)} AS VARCHAR)" if col is not None else "NULL::VARCHAR"


def _scoped_field_sql(store: EventStore, rule: CompiledRule, name: str) -> str:
    """A field as the base rule reads it, with its logsource's aliases, as the detection plan does."""
    if rule.scope is None:
        return _field_sql(store, name)
    return rule.scope.read_sql(name, lambda f: _field_sql(store, f), f"e.{SERVICE}")


def _chained_value(name: str | None) -> str:
    return "NULL::VARCHAR" if name is None else f"json_extract_string(vals, {_json_path(name)})"


def _event_value(store: EventStore, rule: CompiledRule, name: str | None) -> str:
    return "NULL::VARCHAR" if name is None else _scoped_field_sql(store, rule, name)


def _base_sql(store: EventStore, corr: CompiledRule, members: list[tuple[str, CompiledRule]],
              index: dict[str, int]) -> str:
    spec = corr.correlation or {}
    parts = []
    for i, (ref, rule) in enumerate(members):
        names = [_field_for(spec, g, ref, rule) for g in spec.get("group_by", [])]
        value = _field_for(spec, spec["field"], ref, rule) if spec.get("field") else None
        read: Callable[[str | None], str]
        if rule.kind == "correlation":
            # a correlation chained on another: its alerts, with their group-by values, are the events
            read = _chained_value
            select = (f"SELECT {i} AS ri, ts, host, est, asset, NULL::VARCHAR AS src, NULL::BIGINT AS rec, "
                      f"refs, {read(value)} AS v")
            source = f" FROM _chained WHERE r = {index[rule.key]}"
        else:
            read = functools.partial(_event_value, store, rule)
            select = (f"SELECT {i} AS ri, e._ts AS ts, e._host AS host, e._establishment AS est, "
                      f"e._asset AS asset, e._source AS src, e._record AS rec, NULL::VARCHAR AS refs, "
                      f"{read(value)} AS v")
            source = f" FROM _hits h JOIN {TABLE} e ON e.rowid = h._rid WHERE h.r = {index[rule.key]}"
        parts.append(select + "".join(f", {read(n)} AS g{j}" for j, n in enumerate(names)) + source)
    return " UNION ALL ".join(parts)


def _json_path(name: str) -> str:
    return "'$.\"" + name.replace("'", "''").replace('"', '\\"') + "\"'"


def _ordered(window: deque[tuple[Any, ...]], count: int) -> bool:
    """True when the window holds the base rules' matches in their listed order."""
    want = 0
    for row in window:
        if row[0] == want:
            want += 1
            if want == count:
                return True
    return False


def _ordered_correlations(plan: DetectionPlan) -> list[CompiledRule]:
    """Correlations, each after the correlations it refers to (a cycle is left out, and reported)."""
    done: list[CompiledRule] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(corr: CompiledRule) -> None:
        if state.get(corr.key) == 2:
            return
        if state.get(corr.key) == 1:
            raise ValueError(corr.label)
        state[corr.key] = 1
        for ref in (corr.correlation or {}).get("rules", []):
            target = plan.resolve(ref)
            if target is not None and target.kind == "correlation":
                visit(target)
        state[corr.key] = 2
        done.append(corr)

    for corr in plan.correlations:
        try:
            visit(corr)
        except ValueError:
            state[corr.key] = 2
            plan.runtime_failures.append(RuleProblem(corr.path, "correlation rules refer to each other in a "
                                                     "cycle", "evaluate", rule=corr.label))
    return done


def evaluate_correlations(plan: DetectionPlan, store: EventStore, index: dict[str, int]) -> list[Alert]:
    _needed, _silent = referenced_rules(plan)
    store.connection.execute(
        "CREATE OR REPLACE TEMP TABLE _chained (r INTEGER, ts TIMESTAMPTZ, host VARCHAR, est VARCHAR, "
        "asset VARCHAR, refs VARCHAR, vals VARCHAR)"
    )
    alerts: list[Alert] = []
    for corr in _ordered_correlations(plan):
        spec = corr.correlation or {}
        members: list[tuple[str, CompiledRule]] = []
        for ref in spec.get("rules", []):
            rule = plan.resolve(ref)
            if rule is None:
                plan.runtime_failures.append(RuleProblem(
                    corr.path, f"correlation refers to '{ref}', which is not a loaded rule",
                    "evaluate", rule=corr.label))
                members = []
                break
            members.append((ref, rule))
        if not members:
            continue
        found = _evaluate_one(store, corr, members, index)
        if corr.key in _needed and found:
            store.connection.executemany(
                "INSERT INTO _chained VALUES (?, ?, ?, ?, ?, ?, ?)",
                [[index[corr.key], a.time, a.host, a.establishment, a.asset,
                  json.dumps([[e.source, e.record] for e in a.events]), json.dumps(a.details)]
                 for a in found],
            )
        # `generate: false` silences referenced *base* rules only: a correlation chained under another
        # is a detection of its own (password spraying, under "login after spraying")
        alerts.extend(found)
    return alerts


def _evaluate_one(store: EventStore, corr: CompiledRule, members: list[tuple[str, CompiledRule]],
                  index: dict[str, int]) -> list[Alert]:
    spec = corr.correlation or {}
    group_by: list[str] = spec.get("group_by", [])
    kind = spec["type"]
    span = int(spec["timespan"])
    aggregate = {"event_count": "count(*)", "value_count": "count(DISTINCT v)"}.get(
        kind, "count(DISTINCT ri)"
    )
    gcols = [f"g{j}" for j in range(len(group_by))]
    partition = f"PARTITION BY {', '.join(gcols)} " if gcols else ""
    sql = (
        f"WITH base AS ({_base_sql(store, corr, members, index)}) "
        f"SELECT ri, ts, host, est, asset, src, rec, refs, {aggregate} OVER w AS n"
        + "".join(", " + g for g in gcols)
        + f" FROM base WHERE ts IS NOT NULL WINDOW w AS ({partition}ORDER BY ts "
        f"RANGE BETWEEN INTERVAL ({span}) SECOND PRECEDING AND CURRENT ROW) "
        # events of the same second are taken in file order, so an alert names the same events every run
        f"ORDER BY {', '.join([*gcols, 'ts', 'ri', 'src', 'rec', 'refs'])}"
    )
    rows = store.query(sql)
    compare = OPERATORS[spec["op"]]
    threshold = len(members) if kind.startswith("temporal") else spec["count"]
    width = timedelta(seconds=span)
    alerts: list[Alert] = []
    window: deque[tuple[Any, ...]] = deque()
    current: tuple[Any, ...] | None = None
    last_alert: datetime | None = None
    for row in rows:
        _ri, ts, host, est, asset, _src, _rec, _refs, n, *groups = row
        key = tuple(groups)
        if key != current:
            current, last_alert = key, None
            window.clear()
        window.append(row)
        while window and window[0][1] < ts - width:
            window.popleft()
        met = n >= threshold if kind.startswith("temporal") else compare(n, threshold)
        if kind == "temporal_ordered" and met:
            met = _ordered(window, len(members))
        if not met or (last_alert is not None and ts <= last_alert + width):
            continue
        last_alert = ts
        details = {g: str(val) for g, val in zip(group_by, groups, strict=True)}
        details["count"] = str(n)
        events: list[EventRef] = []
        for w in window:
            if w[7] is not None:
                events.extend(EventRef(str(s), int(r)) for s, r in json.loads(w[7]))
            else:
                events.append(EventRef(str(w[5] or ""), int(w[6] or 0)))
        alerts.append(corr.make_alert(ts.astimezone(UTC), host, est, asset, events, details))
    return alerts
