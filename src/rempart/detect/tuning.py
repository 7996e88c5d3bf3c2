"""The group's own tuning of the rules it hunts with, kept outside the rule folders.

A tuning folder holds Sigma filters (any ``.yml`` / ``.yaml`` file: a filter names the rules it applies
to, a logsource and the events to exclude, as the Sigma filters specification says; pySigma parses and
applies them) and at most one ``overrides.yaml``, mapping a rule id or name to a new level or status, or
disabling it::

    rules:
      0d894093-71bc-43c3-8c4d-ecfa28dcb4c7: {level: low, reason: "backup agent, ticket 4411"}
      5f1abf38-3f2f-4c29-8f4c-b8a3e9a2b7d1: {disabled: true, reason: "no such software here"}

SigmaHQ's folder is never edited, so a new SigmaHQ release replaces it and the tuning stays. Filters are
applied when rules compile, and the compiled-rule cache keys a rule file by its text *and* the filters
that name it (or name ``any``): a changed filter recompiles exactly the files it touches. Overrides are
applied to the compiled plan (no recompilation).
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import BaseModel, ConfigDict
from sigma.collection import SigmaCollection
from sigma.exceptions import (
    SigmaConditionError,
    SigmaError,
    SigmaFilterConditionError,
    SigmaFilterRuleReferenceError,
    SigmaLogsourceError,
    SigmaRuleLocation,
)
from sigma.filters import SigmaFilter
from sigma.rule import SigmaRule

from rempart.errors import ConfigError, ConfigErrors
from rempart.yamldoc import load_model

if TYPE_CHECKING:
    from rempart.detect.plan import CompiledRule

OVERRIDES_FILE = "overrides.yaml"
TUNING_SUFFIXES = (".yml", ".yaml")
NOT_A_FILTER = ("not a Sigma filter (a filter has 'logsource', and 'filter' with 'rules' and 'condition'): "
                "rules belong in a rules folder")


class RuleOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: Literal["informational", "low", "medium", "high", "critical"] | None = None
    status: Literal["stable", "test", "experimental", "deprecated", "unsupported"] | None = None
    disabled: bool = False
    reason: str | None = None  # why, for whoever reads the tuning next


class OverridesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: dict[str, RuleOverride] = {}


@dataclass(frozen=True)
class TuningProblem:
    """A located mistake in a tuning file (same shape as :class:`rempart.detect.rules.RuleProblem`)."""

    path: str
    reason: str
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.path + (f":{self.line}" if self.line is not None else "")
        return f"{where}: " + (f"field '{self.field}': " if self.field else "") + self.reason


@dataclass
class FilterSource:
    """One Sigma filter of the tuning folder."""

    path: Path
    digest: str
    filter: SigmaFilter
    lines: dict[tuple[str | int, ...], int]

    @property
    def label(self) -> str:
        """How compiled rules name the filters applied to them."""
        return str(self.filter.id) if self.filter.id else f"{self.path.name}: {self.filter.title}"

    @property
    def references(self) -> list[str] | None:
        """The rule ids or names the filter names; None for ``rules: any``."""
        rules = self.filter.filter.rules
        return None if isinstance(rules, str) else [r.reference for r in rules]

    def line_of(self, *path: str | int) -> int | None:
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


@dataclass
class Tuning:
    folder: Path
    filters: list[FilterSource] = field(default_factory=list)
    overrides: dict[str, RuleOverride] = field(default_factory=dict)
    override_lines: dict[tuple[str | int, ...], int] = field(default_factory=dict)
    problems: list[TuningProblem] = field(default_factory=list)

    @property
    def overrides_path(self) -> Path:
        return self.folder / OVERRIDES_FILE

    def filters_for(self, names: Iterable[str]) -> list[FilterSource]:
        """The filters that may apply to rules with these ids or names: those naming one, and ``any``."""
        wanted = set(names)
        return [f for f in self.filters if f.references is None or wanted.intersection(f.references)]

    def unknown_references(self, known: set[str]) -> list[TuningProblem]:
        """Filters and overrides naming a rule that no rules folder holds (removed by a SigmaHQ
        release, or mistyped): they would silently do nothing."""
        out = []
        for f in self.filters:
            for i, ref in enumerate(f.references or []):
                if ref not in known:
                    out.append(TuningProblem(
                        str(f.path), f"rule '{ref}' is in none of the rules folders: fix the id, or remove "
                        "it if the rule was removed", f.line_of("filter", "rules", i), f"filter.rules[{i}]"))
        for ref in self.overrides:
            if ref not in known:
                out.append(TuningProblem(
                    str(self.overrides_path), f"rule '{ref}' is in none of the rules folders: fix the id, "
                    "or remove this override", self.override_lines.get(("rules", ref)), f"rules.{ref}"))
        return out


def coverage_problems(tuning: Tuning, rules: Iterable[CompiledRule]) -> list[TuningProblem]:
    """Rules a filter names that it does not change: a correlation (filters apply to base rules only), or
    a rule whose logsource the filter's does not cover — a filter that would silently do nothing."""
    by_ref: dict[str, CompiledRule] = {}
    for rule in rules:
        for ref in (rule.id, rule.name):
            if ref:
                by_ref.setdefault(ref, rule)
    out = []
    for f in tuning.filters:
        for i, ref in enumerate(f.references or []):
            named = by_ref.get(ref)
            if named is None or f.label in named.filters:
                continue
            why = ("is a correlation: name the rules it correlates" if named.kind == "correlation" else
                   f"has a logsource the filter's ({_logsource(f)}) does not cover: give the filter the "
                   "rule's logsource, or a wider one")
            out.append(TuningProblem(str(f.path), f"rule '{ref}' {why}", f.line_of("filter", "rules", i),
                                     f"filter.rules[{i}]"))
    return out


def _logsource(f: FilterSource) -> str:
    return ", ".join(f"{k}: {v}" for k, v in f.filter.logsource.to_dict().items()) or "none"


def filters_digest(digest: str, filters: list[FilterSource]) -> str:
    """The cache key of a rule file compiled with `filters`."""
    parts = [digest, *sorted(f.digest for f in filters)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def apply_filters(rule: SigmaRule, filters: list[FilterSource]) -> list[str]:
    """Apply the filters to `rule` (pySigma's own :meth:`SigmaFilter.apply_on_rule`); the labels of those
    that changed it, i.e. whose rule list and logsource cover it."""
    applied = []
    for f in filters:
        before = list(rule.detection.condition)
        f.filter.apply_on_rule(rule)
        if rule.detection.condition != before:
            applied.append(f.label)
    return applied


def load_tuning(folder: Path) -> Tuning:
    """Read a tuning folder; every mistake is collected in :attr:`Tuning.problems`, never raised, so that
    one broken filter costs only that filter."""
    tuning = Tuning(folder)
    if not folder.is_dir():
        tuning.problems.append(TuningProblem(str(folder), "no such tuning folder"))
        return tuning
    for path in sorted(p for p in folder.rglob("*") if p.suffix in TUNING_SUFFIXES and p.is_file()):
        if path == tuning.overrides_path:
            continue
        _load_filter_file(path, tuning)
    if tuning.overrides_path.is_file():
        _load_overrides(tuning)
    return tuning


def _key_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """Line of every key and item of a one-document YAML text (empty when it is not valid YAML)."""
    lines: dict[tuple[str | int, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines[(*path, str(key.value))] = key.start_mark.line + 1
                walk(value, (*path, str(key.value)))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines
    if node is not None:
        walk(node, ())
    return lines


# where in a filter file each kind of pySigma error points
_ERROR_FIELDS: list[tuple[type[SigmaError], tuple[str, ...]]] = [
    (SigmaFilterRuleReferenceError, ("filter", "rules")),
    (SigmaFilterConditionError, ("filter", "condition")),
    (SigmaConditionError, ("filter", "condition")),
    (SigmaLogsourceError, ("logsource",)),
]


def _error_problem(path: Path, exc: Exception, lines: dict[tuple[str | int, ...], int], text: str
                   ) -> TuningProblem:
    line, where = None, None
    mark = getattr(exc, "problem_mark", None)
    source = getattr(exc, "source", None)
    if mark is not None:
        line = mark.line + 1
    elif isinstance(source, SigmaRuleLocation) and source.line is not None:
        line = source.line
    for kind, key in _ERROR_FIELDS:
        if isinstance(exc, kind):
            where = ".".join(key)
            for end in range(len(key), 0, -1):
                line = line or lines.get(key[:end])
            break
    reason = exc.args[0] if isinstance(exc, SigmaError) and exc.args else str(exc)
    quoted = re.search(r"'([^']+)'", str(reason))
    if line is None and where is None and quoted:  # pySigma names the culprit: an unknown modifier…
        line = next((n for n, t in enumerate(text.splitlines(), 1) if quoted.group(1) in t), None)
    if isinstance(exc, yaml.YAMLError):
        reason = f"not valid YAML: {getattr(exc, 'problem', None) or exc}"
    return TuningProblem(str(path), " ".join(str(reason).split()), line, where)


def _load_filter_file(path: Path, tuning: Tuning) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        tuning.problems.append(TuningProblem(str(path), f"cannot read the file: {exc}"))
        return
    lines = _key_lines(text)
    found, problems = _parse_filter(path, text, lines)
    tuning.problems.extend(problems)
    if found is not None:
        digest = hashlib.sha256(text.encode()).hexdigest()
        tuning.filters.append(FilterSource(path, digest, found, lines))


def _parse_filter(path: Path, text: str, lines: dict[tuple[str | int, ...], int]
                  ) -> tuple[SigmaFilter | None, list[TuningProblem]]:
    """The file's one Sigma filter, parsed by pySigma, or the reasons it is not one."""
    if lines and ("filter",) not in lines:  # valid YAML, but a rule or anything else: pySigma would
        # report a rule's missing parts, which would mislead
        return None, [TuningProblem(str(path), NOT_A_FILTER, 1)]
    try:
        collection = SigmaCollection.from_yaml(text, collect_errors=True, collect_filters=True,
                                               source=SigmaRuleLocation(path), resolve_references=False)
    except (yaml.YAMLError, SigmaError, ValueError, TypeError, AttributeError, KeyError) as exc:
        return None, [_error_problem(path, exc, lines, text)]
    if collection.errors:
        return None, [_error_problem(path, e, lines, text) for e in collection.errors]
    if collection.rules or len(collection.filters) != 1:  # one per file: its lines and digest are the file's
        several = "several filters in one file: write one per file"
        reason = NOT_A_FILTER if collection.rules or not collection.filters else several
        return None, [TuningProblem(str(path), reason, 1)]
    found = collection.filters[0]
    try:  # the condition names the filter's own detections (on a copy: parsing links them to it)
        for condition in copy.deepcopy(found.filter).parsed_condition:
            _ = condition.parsed
    except SigmaError as exc:
        return None, [_error_problem(path, exc, lines, text)]
    return found, []


def _load_overrides(tuning: Tuning) -> None:
    path = tuning.overrides_path
    try:
        model = load_model(OverridesFile, path)
    except ConfigErrors as exc:
        tuning.problems.extend(_config_problem(e) for e in exc.errors)
        return
    except ConfigError as exc:
        tuning.problems.append(_config_problem(exc))
        return
    tuning.overrides = model.rules
    tuning.override_lines = _key_lines(path.read_text(encoding="utf-8"))


def _config_problem(exc: ConfigError) -> TuningProblem:
    loc = exc.location
    reason = exc.message + (f" — {exc.hint}" if exc.hint else "")
    if loc is None:
        return TuningProblem("", reason)
    return TuningProblem(str(loc.path or ""), reason, loc.line, loc.field)
