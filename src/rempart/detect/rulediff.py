"""What a new release of a rule set changes, rule by rule: ``rempart rules diff OLD NEW``.

Rules are matched by id (by title when a rule has none), both folders parsed by pySigma, and compared on
what changes detection: the detection (or the correlation), the logsource, the level, the status, the
title, the tags and the false positives; a rule that only moved to another file says so. Dates, authors,
descriptions and references are not compared.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from rempart.detect.rules import RuleProblem, parse_source, rule_files
from rempart.detect.tuning import Tuning

COMPARED = ("detection", "correlation", "logsource", "level", "status", "title", "tags", "falsepositives")
SHOWN_VALUES = ("level", "status", "title")  # short enough to print as old → new


@dataclass(frozen=True)
class RuleEntry:
    key: str  # the id, or "title: …"
    title: str
    path: str  # relative to its folder
    fields: dict[str, Any]


@dataclass(frozen=True)
class RuleChange:
    old: RuleEntry
    new: RuleEntry
    changed: tuple[str, ...]  # names from COMPARED, and "path"

    def describe(self) -> str:
        parts = []
        for name in self.changed:
            if name in SHOWN_VALUES:
                parts.append(f"{name} {self.old.fields.get(name)} → {self.new.fields.get(name)}")
            elif name == "path":
                parts.append(f"moved from {self.old.path}")
            else:
                parts.append(name)
        return ", ".join(parts)


@dataclass
class RuleDiff:
    added: list[RuleEntry] = field(default_factory=list)
    removed: list[RuleEntry] = field(default_factory=list)
    changed: list[RuleChange] = field(default_factory=list)
    unchanged: int = 0
    problems: dict[str, list[RuleProblem]] = field(default_factory=dict)  # "old"/"new" → files not read
    tuning_notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def entry(e: RuleEntry) -> dict[str, str]:
            return {"id": e.key, "title": e.title, "path": e.path}

        return {
            "added": [entry(e) for e in self.added],
            "removed": [entry(e) for e in self.removed],
            "changed": [{**entry(c.new), "changed": list(c.changed), "old_path": c.old.path,
                         **{f"old_{n}": c.old.fields.get(n) for n in c.changed if n in SHOWN_VALUES},
                         **{f"new_{n}": c.new.fields.get(n) for n in c.changed if n in SHOWN_VALUES}}
                        for c in self.changed],
            "unchanged": self.unchanged,
            "problems": {side: [str(p) for p in ps] for side, ps in self.problems.items()},
            "tuning": self.tuning_notes,
        }


def _entries(folder: Path) -> tuple[dict[str, RuleEntry], list[RuleProblem]]:
    entries: dict[str, RuleEntry] = {}
    problems: list[RuleProblem] = []
    for path in rule_files([folder]):
        try:
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            problems.append(RuleProblem(str(path), str(exc)))
            continue
        rules, found = parse_source(path, text)
        problems.extend(found)
        relative = str(path.relative_to(folder)) if folder.is_dir() else path.name
        for rule in rules:
            entry = _entry(rule, relative)
            entries.setdefault(entry.key, entry)  # a duplicated id: the first file read wins
    return entries, problems


def _entry(rule: SigmaRule | SigmaCorrelationRule, path: str) -> RuleEntry:
    data = rule.to_dict()
    key = str(rule.id) if rule.id else f"title: {rule.title}"
    fields = {name: data.get(name) for name in COMPARED}
    source = getattr(rule, "logsource", None)  # to_dict's includes where the file was
    fields["logsource"] = (None if source is None else
                           {k: v for k in ("category", "product", "service", "definition")
                            if (v := getattr(source, k, None)) is not None})
    for name in ("level", "status"):  # to_dict spells them as pySigma's enums print; the file's words
        value = getattr(rule, name, None)
        fields[name] = value.name.lower() if value is not None else None
    return RuleEntry(key, rule.title or "", path, fields)


def diff_rules(old: Path, new: Path, tuning: Tuning | None = None) -> RuleDiff:
    before, old_problems = _entries(old)
    after, new_problems = _entries(new)
    diff = RuleDiff(problems={"old": old_problems, "new": new_problems})
    for key, entry in after.items():
        previous = before.get(key)
        if previous is None:
            diff.added.append(entry)
            continue
        changed = [n for n in COMPARED if previous.fields.get(n) != entry.fields.get(n)]
        if previous.path != entry.path:
            changed.append("path")
        if changed:
            diff.changed.append(RuleChange(previous, entry, tuple(changed)))
        else:
            diff.unchanged += 1
    diff.removed = [e for k, e in before.items() if k not in after]
    if tuning is not None:
        diff.tuning_notes = _tuning_notes(tuning, diff)
    return diff


def _tuning_notes(tuning: Tuning, diff: RuleDiff) -> list[str]:
    """The group's filters and overrides that name a rule the release removes or changes."""
    removed = {e.key: e for e in diff.removed}
    changed = {c.new.key: c for c in diff.changed}
    notes = []

    def note(where: str, refs: Iterable[str]) -> None:
        for ref in refs:
            if ref in removed:
                notes.append(f"{where}: rule {ref} ({removed[ref].title}) is removed: remove it from there")
            elif ref in changed and (what := [n for n in changed[ref].changed
                                              if n in ("detection", "logsource")]):
                notes.append(f"{where}: rule {ref} ({changed[ref].new.title}) changes its "
                             f"{' and '.join(what)}: check that the tuning still fits it")

    for f in tuning.filters:
        note(str(f.path), f.references or [])
    note(str(tuning.overrides_path), tuning.overrides)
    return notes
