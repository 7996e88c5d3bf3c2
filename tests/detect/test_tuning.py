"""The group's tuning folder: Sigma filters (pySigma applies them at compile time) and overrides."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from rempart.detect import compile, compile_rules, load_rules
from rempart.detect.plan import DetectionPlan
from rempart.detect.tuning import load_tuning
from rempart.domain.alerts import Level
from rempart.events import EventStore
from tests.detect.helpers import fired, rule, write_rules
from tests.events.helpers import events_table

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "tuning"
LSASS = "40000000-0000-4000-8000-000000000001"
OTHER = "40000000-0000-4000-8000-000000000002"
SYSMON = "product: windows\n  category: process_access"
RULES = {
    "lsass.yml": rule(LSASS, "  sel:\n    TargetImage|endswith: '\\lsass.exe'\n  condition: sel\n",
                      logsource=SYSMON),
    # reads the same events, and no filter names it
    "other.yml": rule(OTHER, "  sel:\n    GrantedAccess: '0x1410'\n  condition: sel\n", logsource=SYSMON),
}
BACKUP = "C:\\Program Files\\Veeam\\Endpoint Backup\\Veeam.EndPoint.Service.exe"
FILTER = f"""title: backup agent reads LSASS
id: 41000000-0000-4000-8000-000000000001
logsource:
    category: process_access
    product: windows
filter:
    rules:
        - {LSASS}
    backup:
        SourceImage: '{BACKUP}'
    condition: not backup
"""


def access(source: str, granted: str = "0x1410", target: str = "C:\\Windows\\system32\\lsass.exe",
           record: int = 1) -> dict[str, Any]:
    return {"_service": "microsoft-windows-sysmon/operational",
            "Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": "10",
            "SourceImage": source, "TargetImage": target, "GrantedAccess": granted, "_record": record}


EVENTS = [
    access(BACKUP, record=1),
    access("C:\\Users\\x\\mimikatz.exe", record=2),
    access(BACKUP.lower(), record=3),  # Sigma matches case-insensitively: also the backup agent
    access(BACKUP, target="C:\\Windows\\explorer.exe", record=4),
]


def plan_with(tmp_path: Path, tuning_files: dict[str, str], rules: dict[str, str] | None = None,
              cache: Path | None = None) -> DetectionPlan:
    folder = write_rules(tmp_path / "rules", rules or RULES)
    tuning = load_tuning(write_rules(tmp_path / "tuning", tuning_files))
    return compile_rules(load_rules([folder], cache_dir=cache, tuning=tuning), cache)


def alerts_by_record(plan: DetectionPlan, rows: list[dict[str, Any]],
                     level: Level = Level.INFORMATIONAL) -> dict[str, list[int]]:
    store = EventStore()
    store.append(events_table(rows))
    out: dict[str, list[int]] = {}
    for a in plan.evaluate(store, level):
        out.setdefault(a.rule_id, []).append(a.events[0].record)
    store.close()
    return {k: sorted(v) for k, v in out.items()}


def test_a_filter_silences_exactly_the_events_it_names_on_the_rules_it_names(tmp_path: Path) -> None:
    untuned = plan_with(tmp_path / "a", {})
    assert alerts_by_record(untuned, EVENTS) == {LSASS: [1, 2, 3], OTHER: [1, 2, 3, 4]}
    tuned = plan_with(tmp_path / "b", {"backup.yml": FILTER})
    assert not tuned.tuning_problems, tuned.tuning_problems
    # the backup agent's LSASS reads are gone from the rule the filter names; mimikatz still alerts,
    # and the rule the filter does not name still sees the backup agent
    assert alerts_by_record(tuned, EVENTS) == {LSASS: [2], OTHER: [1, 2, 3, 4]}
    assert {r.id: r.filters for r in tuned.rules} == {LSASS: ("41000000-0000-4000-8000-000000000001",),
                                                      OTHER: ()}


def test_a_filter_whose_logsource_does_not_cover_the_rule_leaves_it_alone(tmp_path: Path) -> None:
    plan = plan_with(tmp_path, {"f.yml": FILTER.replace("process_access", "process_creation")})
    assert alerts_by_record(plan, EVENTS)[LSASS] == [1, 2, 3]
    assert all(not r.filters for r in plan.rules)
    [problem] = plan.tuning_problems  # said, with the line of the rule it names
    assert problem.line == 8 and "category: process_creation" in problem.reason


def test_the_shipped_example_filters_the_backup_agent_out_of_sigmahq_rule(
    tmp_path: Path, shared_data: Path
) -> None:
    rules = tmp_path / "sigma"
    rules.mkdir()
    shutil.copy(shared_data / "sigma/rules/windows/process_access/proc_access_win_lsass_memdump.yml", rules)
    sigma_id = "5ef9853e-4d0e-4a70-846f-a9ca37d876da"
    events = [{**access(BACKUP, "0x1fffff", record=1), "CallTrace": "C:\\Windows\\SYSTEM32\\dbghelp.dll+1a"},
              {**access("C:\\x\\dump.exe", "0x1fffff", record=2), "CallTrace": "dbghelp.dll+1a"}]
    plain = compile_rules(load_rules([rules]))
    assert alerts_by_record(plain, events) == {sigma_id: [1, 2]}
    tuning = load_tuning(EXAMPLE)
    ruleset = load_rules([rules], tuning=tuning)
    plan = compile_rules(ruleset)
    assert alerts_by_record(plan, events) == {sigma_id: [2]}
    # the example also names rules this folder lacks: each is reported, none silently ignored
    assert {p.reason.split("'")[1] for p in plan.tuning_problems} == {
        "ab70c354-d9ac-4e11-bbb6-ec8e3b153357",
        "0b9ad457-2554-44c1-82c2-d56a99c42377"}


def test_malformed_filters_get_located_errors_and_the_good_ones_still_apply(tmp_path: Path) -> None:
    files = {
        "good.yml": FILTER,
        "syntax.yml": "title: x\nlogsource:\n  product: windows\nfilter: [unclosed\n",
        "no_rules.yml": FILTER.replace(f"    rules:\n        - {LSASS}\n", ""),
        "condition_list.yml": FILTER.replace("condition: not backup", "condition:\n        - not backup"),
        "no_logsource.yml": FILTER.replace("logsource:\n    category: process_access\n    product: windows\n",
                                           ""),
        "a_rule.yml": RULES["other.yml"],
        "unknown_name.yml": FILTER.replace("condition: not backup", "condition: not backups"),
        "modifier.yml": FILTER.replace("SourceImage:", "SourceImage|endwith:"),
    }
    plan = plan_with(tmp_path, files)
    problems = {Path(p.path).name: p for p in plan.tuning_problems}
    assert set(problems) == {"syntax.yml", "no_rules.yml", "condition_list.yml", "no_logsource.yml",
                             "a_rule.yml", "unknown_name.yml", "modifier.yml"}
    # a filter whose condition names no detection of its own is refused, and the rule it names still runs
    assert problems["unknown_name.yml"].line == 11 and "'backups'" in problems["unknown_name.yml"].reason
    assert not plan.failures and {r.id for r in plan.rules} == {LSASS, OTHER}
    assert problems["modifier.yml"].line == 10 and "endwith" in problems["modifier.yml"].reason
    assert problems["syntax.yml"].line == 5 and "not valid YAML" in problems["syntax.yml"].reason
    assert problems["no_rules.yml"].line == 6 and "'rules' field" in problems["no_rules.yml"].reason
    assert problems["condition_list.yml"].line == 11
    assert problems["condition_list.yml"].field == "filter.condition"
    assert "log source" in problems["no_logsource.yml"].reason
    assert "rules belong in a rules folder" in problems["a_rule.yml"].reason
    assert str(problems["no_rules.yml"]).startswith(f"{tmp_path / 'tuning' / 'no_rules.yml'}:6: ")
    assert alerts_by_record(plan, EVENTS)[LSASS] == [2]


def test_a_filter_for_any_rule_applies_to_every_rule_of_its_logsource(tmp_path: Path) -> None:
    plan = plan_with(tmp_path, {"any.yml": FILTER.replace(f"rules:\n        - {LSASS}", "rules: any")})
    assert not plan.tuning_problems
    assert alerts_by_record(plan, EVENTS) == {LSASS: [2], OTHER: [2]}


def test_a_filter_naming_an_unknown_rule_is_reported_with_its_line(tmp_path: Path) -> None:
    unknown = "49999999-0000-4000-8000-000000000009"
    text = FILTER.replace(f"        - {LSASS}\n", f"        - {LSASS}\n        - {unknown}\n")
    plan = plan_with(tmp_path, {"f.yml": text})
    [problem] = plan.tuning_problems
    assert problem.line == 9 and problem.field == "filter.rules[1]"
    assert unknown in problem.reason and "none of the rules folders" in problem.reason
    assert alerts_by_record(plan, EVENTS)[LSASS] == [2]  # the rule it does name is still filtered


def test_filters_are_part_of_the_cache_key(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    before = compile.conversions.calls
    plan_with(tmp_path, {"f.yml": FILTER}, cache=cache)
    assert compile.conversions.calls - before == 2
    before = compile.conversions.calls
    warm = plan_with(tmp_path, {"f.yml": FILTER}, cache=cache)
    assert compile.conversions.calls == before
    assert alerts_by_record(warm, EVENTS)[LSASS] == [2]
    # a changed filter recompiles the one file it names, and the change takes effect
    before = compile.conversions.calls
    changed = plan_with(tmp_path, {"f.yml": FILTER.replace("Veeam.EndPoint", "Other")}, cache=cache)
    assert compile.conversions.calls - before == 1
    assert alerts_by_record(changed, EVENTS)[LSASS] == [1, 2, 3]
    # without the tuning folder the file the filter named compiles untuned (it never was), then is cached
    folder = tmp_path / "rules"
    for converted in (1, 0):
        before = compile.conversions.calls
        plain = compile_rules(load_rules([folder], cache_dir=cache), cache)
        assert compile.conversions.calls - before == converted
        assert alerts_by_record(plain, EVENTS)[LSASS] == [1, 2, 3]


def test_overrides_change_level_and_status_and_disable(tmp_path: Path) -> None:
    overrides = f"""rules:
  {LSASS}:
    level: informational
    status: stable
    reason: tolerated in this clinic
  {OTHER}:
    disabled: true
"""
    plan = plan_with(tmp_path, {"overrides.yaml": overrides})
    assert not plan.tuning_problems
    assert [(r.id, r.level, r.status) for r in plan.rules] == [(LSASS, "informational", "stable")]
    assert alerts_by_record(plan, EVENTS, Level.LOW) == {}
    assert alerts_by_record(plan, EVENTS) == {LSASS: [1, 2, 3]}


def test_invalid_overrides_get_located_errors(tmp_path: Path) -> None:
    overrides = f"""rules:
  {LSASS}:
    level: urgent
  {OTHER}:
    disable: true
"""
    plan = plan_with(tmp_path, {"overrides.yaml": overrides})
    problems = sorted(plan.tuning_problems, key=lambda p: p.line or 0)
    assert [(p.line, p.field) for p in problems] == [(3, f"rules.{LSASS}.level"),
                                                      (5, f"rules.{OTHER}.disable")]
    assert all(p.path.endswith("overrides.yaml") for p in problems)
    assert {r.level for r in plan.rules} == {"high"}  # nothing of an invalid file is applied
    unknown = plan_with(tmp_path / "u", {"overrides.yaml": "rules:\n  no-such-rule:\n    level: low\n"})
    [problem] = unknown.tuning_problems
    assert problem.line == 2 and "no-such-rule" in problem.reason


def test_a_rule_a_correlation_uses_is_not_disabled(tmp_path: Path) -> None:
    corr = f"""title: many
id: 42000000-0000-4000-8000-000000000001
correlation:
    type: event_count
    rules:
        - {LSASS}
    group-by:
        - Computer
    timespan: 5m
    condition:
        gte: 2
level: high
"""
    plan = plan_with(tmp_path, {"overrides.yaml": f"rules:\n  {LSASS}:\n    disabled: true\n"},
                     rules={**RULES, "corr.yml": corr})
    [problem] = plan.tuning_problems
    assert problem.line == 3 and "42000000-0000-4000-8000-000000000001" in problem.reason
    assert LSASS in {r.id for r in plan.rules}
    assert fired(plan.evaluate(_store(EVENTS)))["42000000-0000-4000-8000-000000000001"] == 1


def _store(rows: list[dict[str, Any]]) -> EventStore:
    store = EventStore()
    store.append(events_table(rows))
    return store


def test_rules_check_shows_what_each_filter_and_override_touches(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rempart.cli.app import app

    rules = write_rules(tmp_path / "rules", RULES)
    tuning = write_rules(tmp_path / "tuning", {
        "backup.yml": FILTER, "overrides.yaml": f"rules:\n  {OTHER}:\n    level: low\n    reason: noisy\n"})
    r = CliRunner().invoke(app, ["rules", "check", str(rules), "--tuning", str(tuning)],
                           env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("filter ") and "backup.yml" in line)
    assert lines[at].endswith("backup agent reads LSASS — 1 rules")
    assert lines[at + 1].split() == [LSASS, "rule", LSASS]
    assert f"override {OTHER}: level low (noisy)" in r.output
    assert "tuning: 1 filters, 1 overrides, 0 problems" in r.output
    (tuning / "bad.yml").write_text("title: x\n")
    r = CliRunner().invoke(app, ["rules", "check", str(rules)], env={"COLUMNS": "200",
                                                                   "REMPART_TUNING": str(tuning)})
    assert r.exit_code == 1 and "bad.yml:1" in r.output
    r = CliRunner().invoke(app, ["rules", "check", str(rules), "--tuning", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "no such tuning folder" in r.output
