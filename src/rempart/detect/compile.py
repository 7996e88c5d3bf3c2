"""Compiling a rule set once into a detection plan: pySigma + our pipelines + the DuckDB backend.

Each rule file compiles to a cache entry (its rules' predicates, scopes and metadata, and its problems);
:func:`compile_rules` reads entries when they exist and otherwise converts with pySigma, checks every
predicate with DuckDB itself (a regular expression RE2 refuses, say, fails here with its reason rather
than at evaluation) and writes the entry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionOR
from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule
from sigma.types import SigmaNumber, SigmaString

from rempart.detect.backend import DuckDBBackend, column, columns_used
from rempart.detect.cache import write_entry
from rempart.detect.pipelines import detection_pipeline, scope_of
from rempart.detect.plan import CompiledRule, DetectionPlan
from rempart.detect.prefilter import need_to_list, predicate_need
from rempart.detect.rules import RuleProblem, RuleSet, RuleSource
from rempart.detect.tuning import Tuning, TuningProblem, coverage_problems

SUPPORTED_CORRELATIONS = {
    SigmaCorrelationType.EVENT_COUNT: "event_count",
    SigmaCorrelationType.VALUE_COUNT: "value_count",
    SigmaCorrelationType.TEMPORAL: "temporal",
    SigmaCorrelationType.TEMPORAL_ORDERED: "temporal_ordered",
}



class _Counter:
    """Counts calls into pySigma's conversion; tests use it to prove a warm cache converts nothing."""

    calls = 0


conversions = _Counter()


def _meta(rule: SigmaRule | SigmaCorrelationRule, path: Path, key: str) -> dict[str, Any]:
    return {
        "key": key,
        "id": str(rule.id) if rule.id else None,
        "name": rule.name,
        "title": rule.title or "",
        "level": rule.level.name.lower() if rule.level else "informational",
        "status": rule.status.name.lower() if rule.status else None,
        "tags": [str(t) for t in rule.tags],
        "path": str(path),
    }


class _Validator:
    """Binds each predicate in DuckDB over an empty stand-in table, as evaluation will."""

    def __init__(self) -> None:
        self.con = duckdb.connect(":memory:")

    def check(self, predicate: str) -> None:
        cols = sorted(columns_used(predicate)) or [("o", "_raw")]
        select = ", ".join(f"NULL::VARCHAR AS {column(k, f)}" for k, f in cols)
        self.con.execute(f"SELECT count(*) FROM (SELECT {select}) WHERE {predicate}").fetchall()


def _compile_base(
    rule: SigmaRule, backend: DuckDBBackend, validator: _Validator, meta: dict[str, Any]
) -> dict[str, Any]:
    conversions.calls += 1
    queries = [q for q in backend.convert_rule(rule) if q]
    if not queries:
        raise SigmaError("the rule converts to no query")
    predicate = queries[0] if len(queries) == 1 else " OR ".join(f"({q})" for q in queries)
    validator.check(predicate)
    scope = scope_of(rule.logsource)
    ids = _either([_event_ids(c.parsed) for c in rule.detection.parsed_condition])
    return {**meta, "kind": "rule", "predicate": predicate,
            "scope": scope.to_list(), "event_ids": sorted(ids) if ids is not None else None,
            "need": need_to_list(predicate_need(predicate))}


def _event_ids(cond: object) -> set[str] | None:
    """The ``EventID`` values an event must have for `cond` to hold, or None when any may do.

    The detection plan skips a rule whose scope holds none of them: binding it would cost about 2 ms for
    a certain miss (SigmaHQ's Security-channel rules each name the few event ids they are about).
    """
    if isinstance(cond, ConditionAND):
        known = [ids for ids in (_event_ids(a) for a in cond.args) if ids is not None]
        return set.intersection(*known) if known else None
    if isinstance(cond, ConditionOR):
        return _either([_event_ids(a) for a in cond.args])
    if isinstance(cond, ConditionFieldEqualsValueExpression) and str(cond.field).lower() == "eventid":
        value = cond.value
        exact = isinstance(value, SigmaString) and not value.contains_special()
        if isinstance(value, SigmaNumber) or exact:
            return {str(value)}
    return None  # NOT, keywords, other fields, patterns


def _either(alternatives: list[set[str] | None]) -> set[str] | None:
    if not alternatives or any(ids is None for ids in alternatives):
        return None
    return set().union(*alternatives)  # type: ignore[arg-type]


def _compile_correlation(rule: SigmaCorrelationRule, meta: dict[str, Any]) -> dict[str, Any]:
    kind = SUPPORTED_CORRELATIONS.get(rule.type)
    if kind is None:
        raise SigmaError(f"correlation type '{rule.type}' is not supported (use event_count, "
                         "value_count, temporal or temporal_ordered)")
    cond = rule.condition
    if not isinstance(cond, SigmaCorrelationCondition):
        raise SigmaError("extended correlation conditions are not supported")
    fieldref = cond.fieldref
    if isinstance(fieldref, list):
        if len(fieldref) != 1:
            raise SigmaError("value_count over several fields is not supported")
        fieldref = fieldref[0]
    return {
        **meta,
        "kind": "correlation",
        "correlation": {
            "type": kind,
            "rules": [ref.reference for ref in rule.rules or []],
            "group_by": list(rule.group_by or []),
            "timespan": rule.timespan.seconds,
            "op": cond.op.name.lower(),
            "count": cond.count,
            "field": fieldref,
            "aliases": {
                alias: {ref.reference: fld for ref, fld in a.mapping.items()}
                for alias, a in rule.aliases.aliases.items()
            },
            "generate": bool(rule.generate),
        },
    }


def compile_source(
    src: RuleSource, backend: DuckDBBackend, validator: _Validator
) -> dict[str, Any]:
    """The cache entry of one parsed rule file."""
    entry: dict[str, Any] = {"rules": [], "problems": [p.to_dict() for p in src.problems]}
    for index, rule in enumerate(src.rules):
        meta = _meta(rule, src.path, f"{src.digest[:16]}:{index}")
        if index in src.applied:
            meta["filters"] = src.applied[index]
        label = meta["id"] or meta["title"]
        try:
            if isinstance(rule, SigmaCorrelationRule):
                entry["rules"].append(_compile_correlation(rule, meta))
            else:
                entry["rules"].append(_compile_base(rule, backend, validator, meta))
        except (SigmaError, duckdb.Error, RecursionError, ValueError, TypeError, KeyError,
                AttributeError, NotImplementedError) as exc:
            # pySigma signals unsupported shapes with plain Python errors too: each costs one rule only
            reason = " ".join(str(exc).split()) or type(exc).__name__
            entry["problems"].append(
                RuleProblem(str(src.path), reason[:500], "compile", rule=label).to_dict()
            )
    return entry


def compile_rules(
    ruleset: RuleSet,
    cache_dir: Path | None = None,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> DetectionPlan:
    """Compile every rule of `ruleset` (from the cache when possible) into one detection plan."""
    backend: DuckDBBackend | None = None
    validator: _Validator | None = None
    compiled: list[CompiledRule] = []
    failures: list[RuleProblem] = []
    total = len(ruleset.sources)
    for done, src in enumerate(ruleset.sources, start=1):
        entry = src.cached
        if entry is None:
            if backend is None:
                backend = DuckDBBackend(detection_pipeline())
                validator = _Validator()
            assert validator is not None
            entry = compile_source(src, backend, validator)
            if cache_dir is not None and src.digest:
                write_entry(cache_dir, src.cache_key or src.digest, entry)
        path = str(src.path)
        compiled.extend(CompiledRule.from_dict({**r, "path": path}) for r in entry["rules"])
        failures.extend(
            RuleProblem.from_dict(p, path) for p in entry["problems"] if p["stage"] == "compile"
        )
        if on_progress is not None:
            on_progress(done, total)
    tuning_problems = list(ruleset.tuning_problems)
    if ruleset.tuning is not None:
        tuning_problems.extend(coverage_problems(ruleset.tuning, compiled))
        if ruleset.tuning.overrides:
            compiled, refused = apply_overrides(compiled, ruleset.tuning)
            tuning_problems.extend(refused)
    return DetectionPlan(compiled, failures=failures, load_errors=ruleset.errors,
                         tuning_problems=tuning_problems)


def apply_overrides(rules: list[CompiledRule], tuning: Tuning
                    ) -> tuple[list[CompiledRule], list[TuningProblem]]:
    """The rules with the tuning's level, status and disabled overrides applied.

    A rule some kept correlation uses is not disabled (the correlation would lose its input): that
    override is refused with its line, and the rule's level can be lowered instead.
    """
    used_by: dict[str, str] = {}
    disabled = {ref for ref, o in tuning.overrides.items() if o.disabled}
    for corr in rules:
        if corr.kind == "correlation" and not ({corr.id, corr.name} & disabled):
            for ref in (corr.correlation or {}).get("rules", []):
                used_by.setdefault(str(ref), corr.label)
    out: list[CompiledRule] = []
    refused: list[TuningProblem] = []
    for rule in rules:
        ref = next((r for r in (rule.id, rule.name) if r and r in tuning.overrides), None)
        if ref is None:
            out.append(rule)
            continue
        override = tuning.overrides[ref]
        if override.disabled:
            user = used_by.get(rule.id or "") or used_by.get(rule.name or "")
            if user is None:
                continue
            refused.append(TuningProblem(
                str(tuning.overrides_path), f"rule '{ref}' is used by correlation '{user}' and stays "
                "enabled: disable the correlation too, or lower the rule's level",
                tuning.override_lines.get(("rules", ref, "disabled")), f"rules.{ref}.disabled"))
        out.append(dataclasses.replace(rule, level=override.level or rule.level,
                                       status=override.status or rule.status))
    return out, refused
