"""Loading collects every error with its file; compiled rules are cached by content."""

from __future__ import annotations

from pathlib import Path

from rempart.detect import compile, compile_rules, load_rules
from rempart.events import EventStore
from tests.detect.helpers import fired, plan_for, rule, write_rules
from tests.events.helpers import events_table

GOOD = rule("30000000-0000-4000-8000-000000000001", "  sel:\n    EventID: 4625\n  condition: sel\n")
OTHER = rule("30000000-0000-4000-8000-000000000002", "  sel:\n    EventID: 4624\n  condition: sel\n")


def test_malformed_rules_are_listed_with_file_and_reason_and_the_others_run(tmp_path: Path) -> None:
    rules = {
        "good.yml": GOOD,
        "broken_yaml.yml": "title: x\ndetection: [unclosed\n",
        "no_condition.yml": rule("30000000-0000-4000-8000-000000000003", "  sel:\n    EventID: 1\n"),
        "bad_modifier.yml": rule("30000000-0000-4000-8000-000000000004",
                                 "  sel:\n    Image|nosuchmodifier: x\n  condition: sel\n"),
        "bad_regex.yml": rule("30000000-0000-4000-8000-000000000005",
                              "  sel:\n    Image|re: '(?<=a)b'\n  condition: sel\n"),
        "placeholder.yml": rule("30000000-0000-4000-8000-000000000007",
                                "  sel:\n    User|expand: '%Admins%'\n  condition: sel\n"),
    }
    plan = plan_for(tmp_path / "rules", rules)
    problems = {Path(p.path).name: p for p in [*plan.load_errors, *plan.failures]}
    assert set(problems) == {"broken_yaml.yml", "no_condition.yml", "bad_modifier.yml", "bad_regex.yml",
                             "placeholder.yml"}
    assert problems["broken_yaml.yml"].line == 3
    assert "nosuchmodifier" in problems["bad_modifier.yml"].reason
    assert "(?<=a)b" in problems["bad_regex.yml"].reason  # RE2, as DuckDB will run it, refuses lookbehind
    assert problems["placeholder.yml"].stage == "compile" and "Admins" in problems["placeholder.yml"].reason
    assert "bad_regex.yml" in str(problems["bad_regex.yml"])
    assert [r.id for r in plan.base_rules] == ["30000000-0000-4000-8000-000000000001"]


def test_the_good_rules_still_fire_next_to_broken_ones(tmp_path: Path) -> None:
    plan = plan_for(tmp_path / "p", {"good.yml": GOOD, "bad.yml": "::: not yaml :::\n  - ["})
    assert len(plan.load_errors) == 1
    store = EventStore()
    store.append(events_table([{"Channel": "Security", "EventID": "4625"}]))
    assert fired(plan.evaluate(store)) == {"30000000-0000-4000-8000-000000000001": 1}


def test_second_compile_hits_the_cache_and_changed_content_misses(tmp_path: Path) -> None:
    folder = write_rules(tmp_path / "rules", {"a.yml": GOOD, "b.yml": OTHER})
    cache = tmp_path / "cache"
    before = compile.conversions.calls
    first = compile_rules(load_rules([folder], cache_dir=cache), cache)
    assert compile.conversions.calls - before == 2
    before = compile.conversions.calls
    second = compile_rules(load_rules([folder], cache_dir=cache), cache)
    assert compile.conversions.calls == before  # nothing converted again
    assert [r.predicate for r in second.rules] == [r.predicate for r in first.rules]
    (folder / "b.yml").write_text(OTHER.replace("4624", "4634"))
    before = compile.conversions.calls
    third = compile_rules(load_rules([folder], cache_dir=cache), cache)
    assert compile.conversions.calls - before == 1
    assert any("4634" in (r.predicate or "") for r in third.rules)


def test_cache_keeps_problems_too(tmp_path: Path) -> None:
    folder = write_rules(tmp_path / "rules", {"a.yml": GOOD, "bad.yml": "title: [\n"})
    cache = tmp_path / "cache"
    first = compile_rules(load_rules([folder], cache_dir=cache), cache)
    second = compile_rules(load_rules([folder], cache_dir=cache), cache)
    assert [str(e) for e in second.load_errors] == [str(e) for e in first.load_errors] != []


def test_plan_fields_lists_what_ingest_must_materialise(tmp_path: Path) -> None:
    text = rule("30000000-0000-4000-8000-000000000006",
                "  sel:\n    CommandLine|contains: x\n    ParentImage: y\n  condition: sel\n",
                logsource="product: windows\n  category: process_creation")
    plan = plan_for(tmp_path, {"r.yml": text})
    assert {"commandline", "parentimage", "channel", "eventid"} <= plan.fields
    assert not any(f.startswith("_") for f in plan.fields)
