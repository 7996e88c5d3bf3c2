"""Run rules written in a test over events built in the test, through the public API only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rempart.detect import DetectionPlan, compile_rules, load_rules
from rempart.domain.alerts import Alert
from rempart.events import EventStore
from tests.events.helpers import events_table


def write_rules(folder: Path, rules: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in rules.items():
        (folder / name).write_text(text)
    return folder


def plan_for(folder: Path, rules: dict[str, str], cache: Path | None = None) -> DetectionPlan:
    return compile_rules(load_rules([write_rules(folder, rules)], cache_dir=cache), cache)


def detect(folder: Path, rules: dict[str, str], rows: list[dict[str, Any]]) -> list[Alert]:
    plan = plan_for(folder, rules)
    assert not plan.failures, plan.failures
    assert not plan.load_errors, plan.load_errors
    store = EventStore()
    store.append(events_table(rows))
    alerts = plan.evaluate(store)
    assert not plan.runtime_failures, plan.runtime_failures
    store.close()
    return alerts


def fired(alerts: list[Alert]) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in alerts:
        out[a.rule_id] = out.get(a.rule_id, 0) + 1
    return out


def rule(rule_id: str, detection: str, logsource: str = "product: windows\n  service: security",
         level: str = "high", extra: str = "") -> str:
    return (
        f"title: rule {rule_id}\nid: {rule_id}\nstatus: test\nlevel: {level}\n{extra}"
        f"logsource:\n  {logsource}\ndetection:\n{detection}"
    )
