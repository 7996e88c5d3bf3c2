"""A Sigma rule file with an alias bomb is reported as a rule problem at its line; the other rules load."""

from __future__ import annotations

from pathlib import Path

import pytest

from rempart.detect.rules import load_rules

GOOD = """title: Whoami
id: 5f1e6a4c-1111-4a7e-9c5e-000000000001
status: test
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\\\whoami.exe'}
  condition: sel
level: low
"""

BOMB = GOOD.replace("title: Whoami", "title: Bomb").replace("0001", "0002") + (
    'lol0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    + "".join(f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9))
)


@pytest.mark.timeout(10)
def test_a_rule_with_an_alias_bomb_is_reported_and_the_others_load(tmp_path: Path) -> None:
    (tmp_path / "good.yml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "bomb.yml").write_text(BOMB, encoding="utf-8")
    rules = load_rules([tmp_path])
    [problem] = rules.errors
    assert problem.path == str(tmp_path / "bomb.yml")
    lol5 = next(i for i, line in enumerate(BOMB.splitlines(), 1) if line.startswith("lol5"))
    assert problem.line == lol5 and "alias bomb" in problem.reason
    assert [r.title for s in rules.sources for r in s.rules] == ["Whoami"]
