"""`rempart ingest`: summary, located problems, exit status."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from rempart.cli.app import app


def test_ingest_prints_the_summary_and_exits_1_when_something_was_skipped(
    fixtures: Path, example_group_path: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "absent.evtx"
    result = CliRunner().invoke(
        app, ["ingest", str(fixtures / "auth.log"), str(missing), "--inventory", str(example_group_path)]
    )
    assert result.exit_code == 1, result.output
    assert "7 events" in result.output and "syslog: 7" in result.output
    assert "auth.log:8: not a syslog line" in result.output
    assert f"{missing}: no such file or directory" in result.output


def test_ingest_exits_0_when_everything_was_read(fixtures: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", str(fixtures / "windows.jsonl")])
    assert result.exit_code == 0, result.output
    assert "4 events" in result.output and "winjson: 4" in result.output


def test_ingest_with_a_broken_inventory_exits_2(fixtures: Path, tmp_path: Path) -> None:
    bad = tmp_path / "group.yaml"
    bad.write_text("name: x\npoles: 3\n")
    result = CliRunner().invoke(app, ["ingest", str(fixtures / "auth.log"), "--inventory", str(bad)])
    assert result.exit_code == 2
