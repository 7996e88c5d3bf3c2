"""Sigma correlation rules (event_count, value_count, temporal, temporal_ordered) on true sliding windows:
what they read and in which order they run. :mod:`rempart.detect.stream` evaluates them, for a hunt
(every match at once) and for live mode (batch after batch, in event time).

For every match of its base rules, a correlation counts the matches of the same group in the window
``[t - timespan, t]`` (sliding, not fixed buckets; matches of the same time all count). It fires at the
first match where the condition holds; later matches of the same group within one timespan of that alert
belong to the same episode and are not reported again.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rempart.detect.rules import RuleProblem
from rempart.domain.events import SERVICE
from rempart.events.store import EventStore, quote_ident

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


def _event_value(store: EventStore, rule: CompiledRule, name: str | None) -> str:
    return "NULL::VARCHAR" if name is None else _scoped_field_sql(store, rule, name)


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
