"""`rempart hunt` and `rempart rules check` end to end: real readers, event store, rules and case store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rempart.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
SPRAY = RULES / "samples" / "fortigate_vpn_password_spraying" / "positive.log"
SPRAY_ID = "6f1b8a52-0c3e-4d0e-9a51-3f6c2b7d1e03"


@pytest.fixture
def base_args(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("REMPART_HOME", str(tmp_path / "home"))
    return ["--rules", str(RULES), "--db", store_url, "--events-db", ":memory:",
            "--cache-dir", str(tmp_path / "cache")]


def test_hunt_jsonl_alerts_summary_and_incident(base_args: list[str]) -> None:
    r = CliRunner().invoke(app, ["hunt", str(SPRAY), *base_args, "--format", "jsonl"])
    assert r.exit_code == 0, r.output
    records = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    spray = [a for a in records if a["rule_id"] == SPRAY_ID]
    assert spray and spray[0]["correlation"] and spray[0]["level"] == "high"
    assert "credential-access" in spray[0]["tactics"]
    assert all("#" in ref for ref in spray[0]["events"])
    assert "incident INC-0001" in r.output
    assert "by level" in r.output and "rules and" in r.output


def test_hunt_exit_1_when_input_is_skipped_and_alerts_still_reported(
    base_args: list[str], tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 64)
    r = CliRunner().invoke(app, ["hunt", str(SPRAY), str(garbage), *base_args, "--format", "csv"])
    assert r.exit_code == 1, r.output
    assert "garbage.bin" in r.output
    assert SPRAY_ID in r.stdout  # what was read whole is still hunted


def test_hunt_usage_errors_exit_2(base_args: list[str], tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["hunt", str(SPRAY), *base_args, "--min-level", "severe"])
    assert r.exit_code == 2 and "unknown level" in r.output
    args = [a if a != str(RULES) else str(tmp_path / "nope") for a in base_args]
    r = CliRunner().invoke(app, ["hunt", str(SPRAY), *args])
    assert r.exit_code == 2 and "nope" in r.output


def test_rules_check_reports_each_failure_and_totals(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "ok.yml").write_text((RULES / "windows" / "proc_creation_shadow_copy_deletion.yml").read_text())
    (folder / "bad.yml").write_text("title: broken\nlogsource: {product: windows}\ndetection: {}\n")
    r = CliRunner().invoke(app, ["rules", "check", str(folder)])
    assert r.exit_code == 1
    assert "bad.yml" in r.output and "1 rules ok" in r.output
    r = CliRunner().invoke(app, ["rules", "check", str(RULES)])
    assert r.exit_code == 0, r.output
    assert "100.0% ok" in r.output
