"""The detection plan: compiled rules evaluated in bulk over the event store.

Rules are grouped by logsource scope (product, ``_service`` values, event ids). For each scope that has
events, one temporary *scope table* is built in a single pass over ``events``: only that scope's rows,
only the columns its rules read, each string lower-cased once (``"l:f"``) beside its original
(``"o:f"``); a field the store lacks is a NULL column. The scope's rules then run together over that small
table, a few dozen per query (``UNION ALL`` of their filters), so no rule ever scans the whole store and
no rule pays per-row case folding. Matches land in a ``_hits`` table (rule, event rowid) from which alerts
and correlations are built.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import duckdb
import pyarrow as pa

from rempart.detect.backend import column, columns_used
from rempart.detect.pipelines import Scope
from rempart.detect.prefilter import LiteralIndex, Need, met, need_from_list, predicate_need
from rempart.detect.rules import RuleProblem
from rempart.detect.tuning import TuningProblem
from rempart.detect.window import EventWindow
from rempart.domain.alerts import Alert, EventRef, Level, attack_from_tags
from rempart.domain.events import SERVICE
from rempart.events.store import TABLE, EventStore, quote_ident

RULES_PER_QUERY = 40
GROUP_MAX_FIELDS = 12  # scopes reading more fields than this are not checked for repeated values
GROUP_MIN_ROWS = 20_000  # a batch of fewer rows is not checked for them either
DETECT_THREADS = min(4, os.cpu_count() or 1)
SPLIT_RULES = 300  # a scope with this many rules runs in DETECT_THREADS parts side by side
CORE_FIELDS = {"channel", "eventid", "computer", "provider_name"}
PREFILTER_MIN = 4  # a scope table met by fewer rules binds them all: searching would cost as much
# A scope table of more rows binds every rule: searching its text in Python then costs more than binding
# saves (Security-Datasets' hunt: detection 6.8 s without the prefilter, 13.9 s with it on every scope)
PREFILTER_MAX_ROWS = 50_000


@dataclass(frozen=True)
class CompiledRule:
    key: str
    title: str
    level: str
    path: str
    kind: str  # rule | correlation
    id: str | None = None
    name: str | None = None
    tags: tuple[str, ...] = ()
    predicate: str | None = None
    scope: Scope | None = None
    correlation: dict[str, Any] | None = None
    event_ids: tuple[str, ...] | None = None  # an event must have one of these to match (None: any)
    status: str | None = None
    filters: tuple[str, ...] = ()  # the tuning's filters applied to it (their ids or file and title)
    known_need: tuple[bool, Need] = (False, None)  # (given, need) as the compile cache keeps it

    @cached_property
    def need(self) -> Need:
        """The literals a batch must hold for this rule to match it (:mod:`rempart.detect.prefilter`)."""
        given, need = self.known_need
        return need if given else predicate_need(self.predicate)

    @cached_property
    def columns(self) -> frozenset[tuple[str, str]]:
        """The (kind, field) scope-table columns its predicate reads: asked for every live batch, parsed
        once."""
        return frozenset(columns_used(self.predicate or ""))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CompiledRule:
        scope = Scope.from_list(d["scope"]) if d.get("scope") is not None else None
        return cls(key=d["key"], title=d["title"], level=d["level"], path=d["path"], kind=d["kind"],
                   id=d.get("id"), name=d.get("name"), tags=tuple(d.get("tags", ())),
                   predicate=d.get("predicate"), scope=scope, correlation=d.get("correlation"),
                   event_ids=tuple(d["event_ids"]) if d.get("event_ids") is not None else None,
                   status=d.get("status"), filters=tuple(d.get("filters", ())),
                   known_need=(True, need_from_list(d["need"])) if "need" in d else (False, None))

    @property
    def label(self) -> str:
        return self.id or self.title

    @property
    def severity(self) -> Level:
        try:
            return Level.parse(self.level)
        except ValueError:
            return Level.INFORMATIONAL

    def make_alert(self, when: datetime, host: str | None, establishment: str | None,
                   asset: str | None, events: list[EventRef], details: dict[str, str] | None = None
                   ) -> Alert:
        tactics, techniques = attack_from_tags(list(self.tags))
        return Alert(rule_id=self.label, title=self.title, level=self.severity, time=when, host=host,
                     establishment=establishment, asset=asset, tactics=tactics, techniques=techniques,
                     events=events, correlation=self.kind == "correlation", rule_path=self.path,
                     details=details or {})


@dataclass
class DetectionPlan:
    rules: list[CompiledRule]
    failures: list[RuleProblem] = field(default_factory=list)  # rules that did not compile
    load_errors: list[RuleProblem] = field(default_factory=list)
    runtime_failures: list[RuleProblem] = field(default_factory=list)  # filled by evaluate()
    tuning_problems: list[TuningProblem] = field(default_factory=list)  # the tuning folder's mistakes
    groups_evaluated: int = 0
    prefilter: bool = True  # search each batch for the rules' literals and bind only the rules it can meet
    rules_bound: int = 0  # rules bound by the last evaluation or batch: what the prefilter leaves
    _literals: dict[tuple[str, ...], LiteralIndex] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def base_rules(self) -> list[CompiledRule]:
        return [r for r in self.rules if r.kind == "rule"]

    @property
    def correlations(self) -> list[CompiledRule]:
        return [r for r in self.rules if r.kind == "correlation"]

    @property
    def fields(self) -> set[str]:
        """Every field name (lower-case) the rules read: what ingest must materialise as columns."""
        names = set(CORE_FIELDS)
        for rule in self.base_rules:
            used = {f for _, f in rule.columns}
            names.update(used)
            if rule.scope is not None:  # what a field reads on a channel that names it differently
                for f in used:
                    names.update(rule.scope.alias_fields(f))
        for rule in self.correlations:
            corr = rule.correlation or {}
            read = {f.lower() for f in corr.get("group_by", [])}
            if corr.get("field"):
                read.add(str(corr["field"]).lower())
            for mapping in corr.get("aliases", {}).values():
                read.update(str(f).lower() for f in mapping.values())
            names.update(read)
            for ref in corr.get("rules", []):  # and what they read on channels that name them differently
                base = self.resolve(ref)
                if base is not None and base.scope is not None:
                    for f in read:
                        names.update(base.scope.alias_fields(f))
        return {n for n in names if not n.startswith("_")}

    @property
    def field_services(self) -> dict[str, frozenset[str]]:
        """Fields (lower-case) that only rules of some ``_service`` values read, with those values.

        A hunt stores such a field only for events of those services; for the others it stays in ``_raw``
        (:func:`rempart.events.store.field_sql` reads it there). A Security or Sysmon event's ``Message``
        repeats the whole event as text, and only two SigmaHQ rules, on the Application log, read it.
        Fields some rule reads on any service, and the fields of correlations, are absent: kept everywhere.
        """
        where: dict[str, set[str] | None] = {f: None for f in CORE_FIELDS}

        def note(field: str, services: tuple[str, ...] | None) -> None:
            if field in where and where[field] is None:
                return
            if services is None:
                where[field] = None
            else:
                where.setdefault(field, set()).update(services)  # type: ignore[union-attr]

        for rule in self.base_rules:
            for _, f in rule.columns:
                note(f, rule.scope.services if rule.scope is not None else None)
                for service, sources in rule.scope.aliases_of(f) if rule.scope is not None else []:
                    for source in sources:
                        note(source.lower(), (service,))
        for f in self.fields - set(where):  # what only correlations read
            note(f, None)
        return {f: frozenset(v) for f, v in where.items() if v is not None and not f.startswith("_")}

    def resolve(self, reference: str) -> CompiledRule | None:
        for rule in self.rules:
            if reference in (rule.id, rule.name):
                return rule
        return None

    def evaluate(
        self,
        store: EventStore,
        min_level: Level | str = Level.INFORMATIONAL,
        *,
        first_row: int = 0,
        source_ids: Collection[int] = (),
        on_progress: Callable[[int, int], None] | None = None,
        window: EventWindow | None = None,
    ) -> list[Alert]:
        """Run every rule over `store` and return the alerts at or above `min_level`, in time order.

        `first_row`: evaluate only events stored from that rowid on (a hunt's own events), and those of
        the files `source_ids` (the ``_source_id`` of files a hunt found in the store already). `window`:
        only events in that time range and of those hosts; the others match no rule and count in no
        correlation, as if they had not been read.
        """
        from rempart.detect.correlate import referenced_rules
        from rempart.detect.stream import StreamDetector

        level = Level.parse(min_level) if isinstance(min_level, str) else min_level
        self.runtime_failures = []
        needed, silent = referenced_rules(self)
        base = [r for r in self.base_rules if r.severity >= level or r.key in needed]
        con = store.connection
        con.execute("CREATE OR REPLACE TEMP TABLE _hits (r INTEGER, _rid BIGINT)")
        index = {r.key: i for i, r in enumerate(self.rules)}
        rows = f"rowid >= {int(first_row)}" if first_row else ""  # from the first row: all of them
        if rows and source_ids:
            rows = f"({rows} OR _source_id IN ({', '.join(str(int(i)) for i in sorted(source_ids))}))"
        if window is not None and window:
            rows = f"{rows} AND {window.sql()}" if rows else window.sql()
        self._run_scopes(store, base, index, rows, on_progress)
        emitting = [
            index[r.key] for r in base if r.severity >= level and r.key not in silent
        ]
        alerts = self._event_alerts(con, emitting)
        # the correlations of live mode's evaluator, over every hit at once: hunt and serve agree
        alerts.extend(StreamDetector(self, store, min_level=level).correlate_hits())
        alerts.sort(key=lambda a: (a.time, a.rule_id))
        return alerts

    # --- scope tables ---------------------------------------------------------------------------

    def _live_scopes(self, store: EventStore, scopes: Iterable[Scope], rows_sql: str
                     ) -> dict[Scope, set[str | None]]:
        """The scopes that have at least one event, with the event ids they hold, from one pass over
        the store."""
        has_eid = store.column("EventID") is not None
        eid = quote_ident(store.columns["eventid"]) if has_eid else "NULL"
        rows = store.query(
            f"SELECT DISTINCT _product, lower(_service), {eid} FROM {TABLE} WHERE {rows_sql or 'true'}"
        )
        live: dict[Scope, set[str | None]] = {}
        for scope in scopes:
            ids = {str(i) for i in scope.event_ids} if scope.event_ids is not None else None
            for product, service, event_id in rows:
                if product != scope.product:
                    continue
                if scope.services is not None and service not in scope.services:
                    continue
                if ids is not None and str(event_id) not in ids:
                    continue
                live.setdefault(scope, set()).add(None if event_id is None else str(event_id))
        return live

    def _runnable(self, store: EventStore, by_scope: dict[Scope, list[CompiledRule]], rows_sql: str
                  ) -> list[tuple[Scope, list[CompiledRule]]]:
        """The scopes that have events, each with the rules that may match them: a rule that names
        event ids none of the scope's events has cannot match, and is not even bound."""
        live = self._live_scopes(store, by_scope, rows_sql)
        pending = []
        for scope, group in by_scope.items():
            present = live.get(scope)
            if present is None:
                continue
            runnable = [r for r in group if r.event_ids is None or present.intersection(r.event_ids)]
            if runnable:
                pending.append((scope, runnable))
        return pending

    def _run_scopes(self, store: EventStore, rules: list[CompiledRule], index: dict[str, int],
                    rows_sql: str, on_progress: Callable[[int, int], None] | None,
                    rows: int | None = None) -> None:
        """Evaluate every scope that has events, on :data:`DETECT_THREADS` connections at once.

        Binding thousands of predicates is single-threaded work in DuckDB (a scope of 1,400
        process_creation rules over a few thousand rows is almost all binding), so scopes run side by
        side, each on its own cursor with its own scope table and hits, merged into ``_hits`` at the end.
        """
        by_scope: dict[Scope, list[CompiledRule]] = {}
        for rule in rules:
            if rule.scope is not None:
                by_scope.setdefault(rule.scope, []).append(rule)
        runnable = self._runnable(store, by_scope, rows_sql)
        pending = [part for scope, group in runnable for part in _parts(scope, group)]
        pending.sort(key=lambda item: -len(item[1]))  # the longest first, so that threads end together
        total, done = len(by_scope) - len(runnable) + len(pending), len(by_scope) - len(runnable)
        self.groups_evaluated = len(pending)
        self.rules_bound = 0
        if on_progress is not None:
            on_progress(done, total)
        columns = store.columns
        con = store.connection
        jobs = iter(pending)
        lock = threading.Lock()

        def work(cursor: duckdb.DuckDBPyConnection) -> pa.Table:
            cursor.execute("CREATE OR REPLACE TEMP TABLE _hits (r INTEGER, _rid BIGINT)")
            while True:
                with lock:
                    job = next(jobs, None)
                if job is None:
                    return cursor.sql("SELECT * FROM _hits").to_arrow_table()
                self._run_scope(cursor, columns, job[0], job[1], index, rows_sql, rows)
                if on_progress is not None:
                    with lock:
                        nonlocal done
                        done += 1
                        on_progress(done, total)

        cursors = [con.cursor() for _ in range(max(1, min(DETECT_THREADS, len(pending))))]
        try:
            with ThreadPoolExecutor(max_workers=len(cursors), thread_name_prefix="detect") as pool:
                found = list(pool.map(work, cursors))
        finally:
            for cursor in cursors:
                cursor.close()
        for hits in found:
            if hits.num_rows:
                con.register("_found", hits)
                try:
                    con.execute("INSERT INTO _hits SELECT r, _rid FROM _found")
                finally:
                    con.unregister("_found")

    def _run_scope(self, con: duckdb.DuckDBPyConnection, columns: dict[str, str], scope: Scope,
                   group: list[CompiledRule], index: dict[str, int], rows_sql: str,
                   rows: int | None = None) -> None:
        # a live batch's few rows are not worth counting for repeated values (see _repetitive)
        may_group = rows is None or rows >= GROUP_MIN_ROWS
        kind, grouped = _scope_table(con, columns, scope, group, rows_sql, may_group)
        if kind == "TABLE" and self.prefilter and len(group) >= PREFILTER_MIN and (
            (rows if rows is not None else _count(con)) <= PREFILTER_MAX_ROWS
        ):
            group = self._prefiltered(con, group)
        with self._lock:
            self.rules_bound += len(group)
        for start in range(0, len(group), RULES_PER_QUERY):
            chunk = group[start:start + RULES_PER_QUERY]
            try:
                self._insert_hits(con, chunk, index, grouped)
            except duckdb.Error:
                for rule in chunk:  # find the rule that fails; the others still run
                    try:
                        self._insert_hits(con, [rule], index, grouped)
                    except duckdb.Error as exc:
                        self.runtime_failures.append(
                            RuleProblem(rule.path, " ".join(str(exc).split())[:300], "evaluate",
                                        rule=rule.label)
                        )
        con.execute(f"DROP {kind} _scope")

    def literal_index(self, group: list[CompiledRule]) -> LiteralIndex:
        """The automata of `group`'s literals, built once per group of rules and kept."""
        key = tuple(r.key for r in group)
        with self._lock:
            found = self._literals.get(key)
        if found is None:
            found = LiteralIndex(r.need for r in group)
            with self._lock:
                if len(self._literals) >= 512:  # live batches meet ever other subsets: keep the recent
                    self._literals.pop(next(iter(self._literals)))
                self._literals[key] = found
        return found

    def _prefiltered(self, con: duckdb.DuckDBPyConnection, group: list[CompiledRule]) -> list[CompiledRule]:
        """The rules of `group` whose literals the scope table holds (the others cannot match it)."""
        index = self.literal_index(group)
        if not index.columns:
            return group
        names = ", ".join(quote_ident(c) for c in index.columns)
        table = con.sql(f"SELECT {names} FROM _scope").to_arrow_table()
        texts = {name: _joined(table.column(i)) for i, name in enumerate(index.columns)}
        found = index.search(texts)
        return [r for r in group if met(r.need, found)]

    @staticmethod
    def _insert_hits(con: duckdb.DuckDBPyConnection, rules: list[CompiledRule],
                     index: dict[str, int], grouped: bool) -> None:
        # one projection of every rule's test, not a UNION ALL of one filter per rule: DuckDB builds one
        # pipeline instead of forty, and building them is most of what a small batch costs
        if len(rules) == 1:
            rid = "unnest(_rids)" if grouped else "_rid"
            con.execute(f"INSERT INTO _hits SELECT {index[rules[0].key]}, {rid} FROM _scope "
                        f"WHERE {rules[0].predicate}")
            return
        cases = ", ".join(f"CASE WHEN {r.predicate} THEN {index[r.key]} END" for r in rules)
        matched = f"unnest(list_filter([{cases}], lambda x: x IS NOT NULL)) AS r"
        if grouped:
            con.execute(f"INSERT INTO _hits SELECT r, unnest(_rids) FROM "
                        f"(SELECT _rids, {matched} FROM _scope)")
        else:
            con.execute(f"INSERT INTO _hits SELECT r, _rid FROM (SELECT _rid, {matched} FROM _scope)")

    # --- alerts -----------------------------------------------------------------------------------

    def _event_alerts(self, con: duckdb.DuckDBPyConnection, emitting: Collection[int],
                      rows_sql: str = "") -> list[Alert]:
        """The alerts of the hits in ``_hits`` by the rules `emitting`; `rows_sql` bounds the events read
        (a live batch's rowids: the join then reads the batch's rows, not the whole store)."""
        if not emitting:
            return []
        wanted = emitting if isinstance(emitting, set | frozenset) else set(emitting)
        where = f" WHERE {rows_sql.replace('rowid', 'e.rowid')}" if rows_sql else ""
        found = con.execute(
            f"SELECT h.r, e._ts, e._host, e._establishment, e._asset, e._source, e._record "
            f"FROM _hits h JOIN {TABLE} e ON e.rowid = h._rid{where}"
        ).fetchall()
        rows = [row for row in found if row[0] in wanted]  # hits are few: filtering here spares a join
        alerts = []
        for r, ts, host, est, asset, source, record in rows:
            rule = self.rules[r]
            when = ts if isinstance(ts, datetime) else datetime.fromtimestamp(0, UTC)
            ref = EventRef(str(source or ""), int(record) if record is not None else 0)
            alerts.append(rule.make_alert(when.astimezone(UTC), host, est, asset, [ref]))
        return alerts


def _scope_table(con: duckdb.DuckDBPyConnection, columns: dict[str, str], scope: Scope,
                 group: list[CompiledRule], rows_sql: str, may_group: bool = True) -> tuple[str, bool]:
    """Builds ``_scope``, the scope's rows with the columns `group` reads; says whether it is a VIEW or a
    TABLE, and whether its rows are grouped (each with the list of its rowids, ``_rids``)."""
    needed: set[tuple[str, str]] = set()
    for rule in group:
        needed |= rule.columns
    select, originals = [], []
    for kind, name in sorted(needed):
        value = scope.read_sql(name, lambda f: _text(columns.get(f.lower())), SERVICE)
        originals.append(value)
        if kind == "l":
            value = f"lower({value})"
        select.append(f"{value} AS {column(kind, name)}")
    where = scope.prefilter(set(columns)) + (f" AND {rows_sql}" if rows_sql else "")
    if '"EventID"' in where:
        where = where.replace('"EventID"', quote_ident(columns["eventid"]))
    con.execute("DROP VIEW IF EXISTS _scope")
    con.execute("DROP TABLE IF EXISTS _scope")
    values = ", ".join(select)
    if len(group) == 1:  # one rule reads its scope once: a view spares copying it (a keyword rule)
        con.execute(f"CREATE TEMP VIEW _scope AS SELECT rowid AS _rid, {values} FROM {TABLE} WHERE {where}")
        return "VIEW", False
    grouped = may_group and _repetitive(con, originals, where)
    if grouped:
        con.execute(f"CREATE TEMP TABLE _scope AS SELECT list(rowid) AS _rids, {values} "
                    f"FROM {TABLE} WHERE {where} GROUP BY ALL")
    else:
        con.execute(f"CREATE TEMP TABLE _scope AS SELECT rowid AS _rid, {values} FROM {TABLE} WHERE {where}")
    return "TABLE", grouped


def _parts(scope: Scope, group: list[CompiledRule]) -> list[tuple[Scope, list[CompiledRule]]]:
    """A scope's rules, cut in :data:`DETECT_THREADS` parts when they are many: binding is most of what a
    small batch costs, and one scope (process_creation, 1,400 SigmaHQ rules) would keep one thread busy
    while the others wait. Each part builds its own scope table, a second scan of the same rows."""
    if DETECT_THREADS < 2 or len(group) < SPLIT_RULES:
        return [(scope, group)]
    size = -(-len(group) // DETECT_THREADS)
    return [(scope, group[i:i + size]) for i in range(0, len(group), size)]


def _count(con: duckdb.DuckDBPyConnection) -> int:
    found = con.execute("SELECT count(*) FROM _scope").fetchall()
    return int(found[0][0]) if found else 0


def _joined(strings: pa.ChunkedArray) -> bytes:
    """A string column's values as one byte string: where a literal occurs in one value, it occurs in
    the join (joining can only add occurrences, never lose one)."""
    out = []
    for values in strings.chunks:
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            data = values.buffers()[2]
            if data is not None:
                out.append(data.to_pybytes())
        else:
            out.append("\x00".join(v for v in values.to_pylist() if v is not None).encode())
    return b"\x00".join(out)


def _repetitive(con: duckdb.DuckDBPyConnection, values: list[str], where: str) -> bool:
    """Whether the scope's rows repeat the values its rules read, so that grouping them at least halves
    the rows the rules scan (each group keeps its rowids). Sysmon's process-access, image-load and
    registry events repeat the few fields their rules read: the 231,488 process accesses of
    Security-Datasets hold 8,476 distinct value sets, and their scope evaluates 4x faster grouped. Only
    narrow scopes are counted (one pass over their columns); wide ones (Security's 94 fields) have
    nearly unique rows, and counting them would cost more than grouping saves."""
    if not values or len(values) > GROUP_MAX_FIELDS:
        return False
    counted = con.execute(
        f"SELECT count(*), count(DISTINCT hash({', '.join(values)})) FROM {TABLE} WHERE {where}"
    ).fetchone()
    rows, distinct = counted if counted is not None else (0, 0)
    return bool(rows) and distinct * 2 <= rows


def _text(col: str | None) -> str:
    """A store column as text in a scope table; NULL when the store has no such column."""
    return "NULL::VARCHAR" if col is None else f"CAST({quote_ident(col)} AS VARCHAR)"


def plan_summary(plan: DetectionPlan) -> dict[str, Any]:
    """Counts for reports: rules compiled, failed to load, failed to compile."""
    return {
        "rules": len(plan.base_rules),
        "correlations": len(plan.correlations),
        "load_errors": len(plan.load_errors),
        "compile_failures": len(plan.failures),
    }


def dumps_problems(problems: list[RuleProblem]) -> str:
    return json.dumps([p.to_dict() for p in problems], indent=2)
