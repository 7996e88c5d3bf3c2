"""`rempart rules diff OLD NEW`: two releases of SigmaHQ, built in tmp from copies of a few of its rules."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rempart.cli.app import app

ACCESS = "rules/windows/process_access"
MEMDUMP = ("proc_access_win_lsass_memdump.yml", "5ef9853e-4d0e-4a70-846f-a9ca37d876da")
FLAGS = ("proc_access_win_lsass_susp_access_flag.yml", "a18dd26b-6450-46de-8c91-9659150cf088")
WERFAULT = ("proc_access_win_lsass_werfault.yml", "e5b33f7d-eb93-48b6-9851-09e1e610b6d7")
GENERIC = ("proc_access_win_hktl_generic_access.yml", "d0d2f720-d14f-448d-8242-51ff396a334e")
PYTHON = ("proc_access_win_lsass_python_based_tool.yml", None)
KATZ = ("proc_access_win_hktl_handlekatz_lsass_access.yml", None)


@pytest.fixture
def releases(tmp_path: Path, shared_data: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "sigma-r1", tmp_path / "sigma-r2"
    (new / "moved").mkdir(parents=True)
    old.mkdir()
    source = shared_data / "sigma" / ACCESS
    for name, _ in (MEMDUMP, FLAGS, WERFAULT, PYTHON, KATZ):
        shutil.copy(source / name, old)
    for name, _ in (MEMDUMP, FLAGS, GENERIC, PYTHON):
        shutil.copy(source / name, new)
    shutil.copy(source / KATZ[0], new / "moved")
    memdump = new / MEMDUMP[0]
    text = memdump.read_text()
    text = re.sub(r"(?m)^level: \w+", "level: critical", text).replace("'0x1038'", "'0x1039'")
    memdump.write_text(text)
    flags = new / FLAGS[0]  # a release that only touches dates and comments changes nothing that matters
    flags.write_text(re.sub(r"(?m)^modified: .*", "modified: 2027-01-15", flags.read_text()) + "# note\n")
    return old, new


def test_rules_diff_says_added_removed_and_what_changed(releases: tuple[Path, Path]) -> None:
    old, new = releases
    r = CliRunner().invoke(app, ["rules", "diff", str(old), str(new)], env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert any(line.startswith(f"added    {GENERIC[1]}") for line in lines)
    assert any(line.startswith(f"removed  {WERFAULT[1]}") for line in lines)
    changed = [line for line in lines if line.startswith("changed")]
    assert len(changed) == 2
    memdump = next(line for line in changed if MEMDUMP[1] in line)
    assert memdump.endswith(": detection, level medium → critical")
    assert any("moved from proc_access_win_hktl_handlekatz_lsass_access.yml" in line for line in changed)
    assert lines[-1] == "1 added, 1 removed, 2 changed, 2 unchanged"


def test_rules_diff_json_and_the_tuning_that_names_changed_or_removed_rules(
    releases: tuple[Path, Path], tmp_path: Path
) -> None:
    old, new = releases
    tuning = tmp_path / "tuning"
    tuning.mkdir()
    (tuning / "overrides.yaml").write_text(
        f"rules:\n  {WERFAULT[1]}:\n    level: low\n  {FLAGS[1]}:\n    level: low\n")
    example = Path(__file__).resolve().parents[2] / "examples/tuning/filters/backup_agent_lsass.yml"
    shutil.copy(example, tuning)
    r = CliRunner().invoke(app, ["rules", "diff", str(old), str(new), "--json", "--tuning", str(tuning)])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert [e["id"] for e in data["added"]] == [GENERIC[1]]
    assert [e["id"] for e in data["removed"]] == [WERFAULT[1]]
    memdump = next(c for c in data["changed"] if c["id"] == MEMDUMP[1])
    assert memdump["changed"] == ["detection", "level"]
    assert (memdump["old_level"], memdump["new_level"]) == ("medium", "critical")
    notes = data["tuning"]
    assert len(notes) == 2  # the unchanged rule's override is fine
    assert any("backup_agent_lsass.yml" in n and MEMDUMP[1] in n and "detection" in n for n in notes)
    assert any("overrides.yaml" in n and WERFAULT[1] in n and "removed" in n for n in notes)


def test_rules_diff_of_a_missing_folder_exits_2(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["rules", "diff", str(tmp_path / "a"), str(tmp_path)])
    assert r.exit_code == 2 and "no such rules folder" in r.output
