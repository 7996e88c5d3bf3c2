"""≥ 99% of the SigmaHQ Windows and Linux rules load and compile; the rest are printed with reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from rempart.detect import compile_rules, load_rules


@pytest.mark.shared
@pytest.mark.slow
def test_sigmahq_windows_and_linux_rules_compile(shared_data: Path, tmp_path: Path) -> None:
    folders = [shared_data / "sigma" / "rules" / "windows", shared_data / "sigma" / "rules" / "linux"]
    ruleset = load_rules(folders)
    plan = compile_rules(ruleset, tmp_path / "cache")
    problems = [*plan.load_errors, *plan.failures]
    total = len(plan.rules) + len(problems)
    rate = 100.0 * len(plan.rules) / total
    print(f"\nSigmaHQ windows + linux: {len(plan.rules)}/{total} rules compile ({rate:.2f}%)")
    for p in problems:
        print(f"  FAILED {p}")
    assert total > 2000
    assert rate >= 99.0
