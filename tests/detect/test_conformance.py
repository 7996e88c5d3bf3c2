"""SigmaHQ regression samples: each rule must fire on its own EVTX sample (read by rempart's EVTX reader).

Prints the pass rate and every miss with its cause; the test fails on any miss of a rule that pySigma
parses, except those listed in KNOWN_MISSES with the reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from rempart.detect import compile_rules, load_rules
from rempart.events import EventStore
from rempart.ingest import IngestReport, read_paths

ID_LINE = re.compile(r"^id:\s*['\"]?([0-9a-fA-F-]{36})", re.MULTILINE)

# rule id → why its sample cannot make it fire here (kept short; each was checked by hand)
KNOWN_MISSES: dict[str, str] = {}


def rule_index(sigma: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for folder in ("rules", "rules-emerging-threats", "rules-threat-hunting"):
        for path in (sigma / folder).rglob("*.yml"):
            m = ID_LINE.search(path.read_text(encoding="utf-8", errors="replace"))
            if m:
                index[m.group(1).lower()] = path
    return index


@pytest.mark.shared
def test_regression_samples_fire_their_rule(shared_data: Path, tmp_path: Path) -> None:
    samples = sorted((shared_data / "sigma-regression").rglob("info.yml"))
    assert len(samples) >= 100
    index = rule_index(shared_data / "sigma")
    wanted: dict[str, Path] = {}  # rule id → sample evtx
    misses: dict[str, str] = {}
    not_evtx: list[str] = []
    for info in samples:
        rule_id = str(yaml.safe_load(info.read_text())["rule_metadata"][0]["id"]).lower()
        evtx = next(info.parent.glob("*.evtx"), None)
        if evtx is None:  # e.g. a Cisco raw log whose upstream test is commented out: not an EVTX test
            not_evtx.append(f"{rule_id} ({', '.join(p.name for p in info.parent.iterdir())})")
            continue
        if rule_id not in index:
            misses[rule_id] = "rule not found in the shared SigmaHQ rules"
            continue
        wanted[rule_id] = evtx
    plan = compile_rules(load_rules(sorted({index[i] for i in wanted})), tmp_path / "cache")
    unparsed = {p.rule or "": str(p) for p in [*plan.load_errors, *plan.failures]}
    store = EventStore()
    report = IngestReport()
    for table in read_paths(list(wanted.values()), fields=plan.fields, report=report):
        store.append(table)
    alerts = plan.evaluate(store)
    assert not plan.runtime_failures, plan.runtime_failures
    fired = {(a.rule_id.lower(), e.source) for a in alerts for e in a.events}
    for rule_id, evtx in wanted.items():
        if (rule_id, str(evtx)) in fired:
            continue
        if rule_id in unparsed:
            misses[rule_id] = f"rule does not load/compile: {unparsed[rule_id]}"
        elif not any(str(evtx) == src for src, _fmt in report.events):
            misses[rule_id] = "the EVTX reader produced no event: " + "; ".join(
                str(f) for f in report.failed if str(evtx) in f.source)
        else:
            misses[rule_id] = f"did not fire on {evtx.name}"
    total = len(samples) - len(not_evtx)
    passed = total - len(misses)
    print(f"\nSigma regression conformance: {passed}/{total} EVTX samples fire their rule "
          f"({100.0 * passed / total:.1f}%); without an EVTX sample: {', '.join(not_evtx) or 'none'}")
    for rule_id, cause in sorted(misses.items()):
        print(f"  MISS {rule_id} {index.get(rule_id, '?')}: {cause}")
    unexplained = {
        r: c for r, c in misses.items() if r not in KNOWN_MISSES and not c.startswith("rule does not load")
    }
    assert not unexplained, unexplained
