"""Detection: Sigma rules (pySigma 2) compiled to DuckDB SQL and evaluated in bulk over the event store.

    ruleset = load_rules([Path("rules"), sigma_checkout])       # .errors: files/rules that did not load
    plan = compile_rules(ruleset, cache_dir)                     # .failures, .fields (for ingest)
    alerts = plan.evaluate(event_store, min_level="medium")
"""

from rempart.detect.compile import compile_rules
from rempart.detect.plan import CompiledRule, DetectionPlan
from rempart.detect.rules import RuleProblem, RuleSet, load_rules

__all__ = ["CompiledRule", "DetectionPlan", "RuleProblem", "RuleSet", "compile_rules", "load_rules"]
