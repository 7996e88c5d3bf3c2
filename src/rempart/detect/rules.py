"""Loading Sigma rule files with pySigma, collecting every error instead of stopping at the first."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.rule import SigmaRule

from rempart.detect.cache import read_entry
from rempart.detect.tuning import FilterSource, Tuning, TuningProblem, apply_filters, filters_digest
from rempart.errors import ConfigError, Location
from rempart.yamldoc import check_limits

RULE_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class RuleProblem:
    """A rule (or a whole rule file) that could not be loaded or compiled, and why."""

    path: str
    reason: str
    stage: str = "load"  # load | compile
    line: int | None = None
    rule: str | None = None  # id or title when known

    @property
    def location(self) -> Location:
        return Location(self.path, self.line)

    def __str__(self) -> str:
        who = f"rule '{self.rule}': " if self.rule else ""
        return f"{self.location}: {who}{self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "reason": self.reason, "stage": self.stage, "line": self.line,
                "rule": self.rule}

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: str) -> RuleProblem:
        return cls(path=path, reason=data["reason"], stage=data["stage"], line=data.get("line"),
                   rule=data.get("rule"))


@dataclass
class RuleSource:
    """One rule file: its text, content digest, and either its pySigma parse or a cached compilation."""

    path: Path
    text: str
    digest: str
    rules: list[SigmaRule | SigmaCorrelationRule] = field(default_factory=list)
    problems: list[RuleProblem] = field(default_factory=list)
    cached: dict[str, Any] | None = None  # the compiled-rule cache entry, when one was found
    filters: list[FilterSource] = field(default_factory=list)  # the tuning's filters that may apply
    applied: dict[int, list[str]] = field(default_factory=dict)  # rule index → filters that changed it
    cache_key: str = ""  # the digest, mixed with the filters' when there are some

    def names(self) -> set[str]:
        """Ids and names of the file's rules (those that failed too), from the cache or the parse."""
        if self.cached is not None:
            found = {str(r[k]) for r in self.cached["rules"] for k in ("id", "name") if r.get(k)}
            return found | {str(p["rule"]) for p in self.cached["problems"] if p.get("rule")}
        found = {str(v) for r in self.rules for v in (r.id, r.name) if v}
        return found | {p.rule for p in self.problems if p.rule}


@dataclass
class RuleSet:
    sources: list[RuleSource]
    tuning: Tuning | None = None
    tuning_problems: list[TuningProblem] = field(default_factory=list)

    @property
    def errors(self) -> list[RuleProblem]:
        out: list[RuleProblem] = []
        for src in self.sources:
            if src.cached is not None:
                out.extend(
                    RuleProblem.from_dict(p, str(src.path))
                    for p in src.cached["problems"]
                    if p["stage"] == "load"
                )
            else:
                out.extend(src.problems)
        return out

    def __len__(self) -> int:
        """Number of rules read without error (cached or parsed)."""
        return sum(
            len(src.cached["rules"]) + sum(1 for p in src.cached["problems"] if p["stage"] == "compile")
            if src.cached is not None
            else len(src.rules)
            for src in self.sources
        )


def rule_files(dirs: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for entry in dirs:
        d = Path(entry)
        if d.is_file():
            files.append(d)
        elif d.is_dir():
            files.extend(sorted(p for p in d.rglob("*") if p.suffix in RULE_SUFFIXES and p.is_file()))
    return files


def content_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _rule_label(rule: SigmaRule | SigmaCorrelationRule) -> str | None:
    return str(rule.id) if rule.id else (rule.title or None)


def _problem(path: Path, exc: Exception, rule: str | None = None, stage: str = "load") -> RuleProblem:
    line = None
    source = getattr(exc, "source", None)
    if isinstance(source, SigmaRuleLocation) and source.line is not None:
        line = source.line
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        line = mark.line + 1
    reason = exc.args[0] if isinstance(exc, SigmaError) and exc.args else str(exc)
    return RuleProblem(str(path), " ".join(str(reason).split()), stage, line, rule)


def parse_source(path: Path, text: str) -> tuple[list[SigmaRule | SigmaCorrelationRule], list[RuleProblem]]:
    """Parse one file with pySigma; rules with errors are reported, the others kept."""
    try:
        check_limits(text, path)  # pySigma would expand an alias bomb for as long as memory lasts
    except ConfigError as exc:
        line = exc.location.line if exc.location else None
        return [], [RuleProblem(str(path), f"{exc.message} — {exc.hint}", line=line)]
    try:
        collection = SigmaCollection.from_yaml(
            text, collect_errors=True, source=SigmaRuleLocation(path), resolve_references=False
        )
    except yaml.YAMLError as exc:
        return [], [_problem(path, exc)]
    except (SigmaError, ValueError, TypeError, AttributeError, KeyError) as exc:
        # pySigma raises plain Python errors for some shapes of invalid YAML (a list where a map is due)
        return [], [_problem(path, exc)]
    problems: list[RuleProblem] = []
    kept: list[SigmaRule | SigmaCorrelationRule] = []
    rule_errors = {id(e) for r in collection.rules for e in r.errors}
    problems.extend(_problem(path, e) for e in collection.errors if id(e) not in rule_errors)
    for rule in collection.rules:
        if rule.errors:
            problems.extend(_problem(path, e, _rule_label(rule)) for e in rule.errors)
        else:
            kept.append(rule)
    if not kept and not problems:
        problems.append(RuleProblem(str(path), "no Sigma rule in this file"))
    return kept, problems


def load_rules(dirs: Sequence[Path], *, cache_dir: Path | None = None, tuning: Tuning | None = None
               ) -> RuleSet:
    """Read every ``.yml`` / ``.yaml`` rule under `dirs` (folders or files) with pySigma.

    With `cache_dir`, a file whose compiled form is in the cache is not parsed again (the cache keeps
    its load errors too); pass the same `cache_dir` to :func:`compile_rules`. With `tuning`, its filters
    are applied to the rules they name (see :mod:`rempart.detect.tuning`).
    """
    sources: list[RuleSource] = []
    for path in rule_files(dirs):
        try:
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            sources.append(RuleSource(path, "", "", problems=[RuleProblem(str(path), str(exc))]))
            continue
        digest = content_digest(text)
        src = RuleSource(path, text, digest, cache_key=digest)
        if cache_dir is not None:
            src.cached = read_entry(cache_dir, digest)
        if src.cached is None:
            src.rules, src.problems = parse_source(path, text)
        if tuning is not None and tuning.filters:
            _tune(src, tuning, cache_dir)
        sources.append(src)
    ruleset = RuleSet(sources, tuning)
    if tuning is not None:
        known = set().union(*(src.names() for src in sources))
        ruleset.tuning_problems = [*tuning.problems, *tuning.unknown_references(known)]
    return ruleset


def _tune(src: RuleSource, tuning: Tuning, cache_dir: Path | None) -> None:
    """Swap `src`'s untuned cache entry for its tuned one, or apply the filters to its parsed rules."""
    src.filters = tuning.filters_for(src.names())
    if not src.filters:
        return
    src.cache_key = filters_digest(src.digest, src.filters)
    src.cached = read_entry(cache_dir, src.cache_key) if cache_dir is not None else None
    if src.cached is not None:
        return
    if not src.rules and not src.problems:  # only the untuned entry was read
        src.rules, src.problems = parse_source(src.path, src.text)
    for index, rule in enumerate(src.rules):
        if isinstance(rule, SigmaRule):
            applied = apply_filters(rule, src.filters)
            if applied:
                src.applied[index] = applied
