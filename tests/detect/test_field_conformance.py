"""The conformance report of field names (``scripts/blind_rules.py``): no SigmaHQ rule is blind on our data
because we spell a field otherwise, and ``docs/blind-rules.md`` is the report of today's data."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("blind_rules", ROOT / "scripts" / "blind_rules.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["blind_rules"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.shared
@pytest.mark.slow
def test_no_rule_is_blind_for_a_spelling_and_the_report_is_up_to_date(shared_data: Path) -> None:
    script = _script()
    blind, examined, events = script.blind_rules(shared_data)
    assert examined > 2500 and events > 7000
    print(f"\n{len(blind)} of {examined} SigmaHQ Windows rules blind on {events} events")
    spelling = [b for b in blind if b.reason == script.SPELLING]
    assert not spelling, "\n".join(f"{b.path}: {', '.join(b.fields)}" for b in spelling)
    reasons = {b.reason for b in blind}
    assert reasons <= {script.NEVER, script.NO_IDS, script.NO_EVENTS}
    text = script.render(blind, examined, events)
    assert (ROOT / "docs" / "blind-rules.md").read_text() == text, (
        "docs/blind-rules.md is out of date: PYTHONPATH=src .venv/bin/python scripts/blind_rules.py")
