"""What `rempart hunt` hands investigators: Timesketch timelines, a summary, and a window of events."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rempart.cli.app import app
from rempart.detect.window import EventWindow
from rempart.events import EventStore
from tests.detect.helpers import fired, plan_for, rule
from tests.events.helpers import T0, events_table

SAMPLES = ("Credential Access/sysmon_10_11_lsass_memdump.evtx",
           "Credential Access/sysmon_3_10_Invoke-Mimikatz_hosted_Github.evtx",
           "Credential Access/CA_teamviewer-dumper_sysmon_10.evtx")
# Timesketch's importer (timesketch/lib/utils.py): TIMESKETCH_FIELDS, and the fields it scrubs
TIMESKETCH_FIELDS = {"message", "datetime", "timestamp_desc"}
FIELDS_TO_REMOVE = {"_id", "_type", "_index", "_source", "__ts_timeline_id"}


@pytest.fixture
def hunt_args(tmp_path: Path, shared_data: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
              ) -> list[str]:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("REMPART_HOME", str(tmp_path / "home"))
    rules = tmp_path / "rules"
    shutil.copytree(shared_data / "sigma/rules/windows/process_access", rules)
    logs = [str(shared_data / "evtx-attack-samples" / s) for s in SAMPLES]
    return [*logs, "--rules", str(rules), "--db", store_url, "--events-db", ":memory:",
            "--cache-dir", str(tmp_path / "cache")]


def run(args: list[str], *more: str) -> str:
    r = CliRunner().invoke(app, ["hunt", *args, *more])
    assert r.exit_code == 0, r.output
    return r.stdout


def check_timesketch_row(row: dict[str, Any]) -> datetime:
    """What Timesketch's importer needs of a row; the row's time."""
    assert set(row) >= TIMESKETCH_FIELDS, row
    assert not FIELDS_TO_REMOVE & set(row)
    assert row["message"] and row["timestamp_desc"] == "Event Recorded"
    when = datetime.fromisoformat(row["datetime"])
    assert when.tzinfo is not None  # ISO 8601 with its zone
    assert int(row["timestamp"]) == int(when.timestamp() * 1_000_000)
    return when


def test_timesketch_jsonl_has_what_its_importer_requires_and_the_events_fields(hunt_args: list[str]) -> None:
    alerts = [json.loads(line) for line in run(hunt_args, "--format", "jsonl").splitlines()]
    rows = [json.loads(line) for line in run(hunt_args, "--format", "timesketch-jsonl").splitlines()]
    assert len(rows) == sum(len(a["events"]) for a in alerts) > 0  # one row per event of each alert
    assert sorted((r["rule_id"], r["log_source"]) for r in rows) == sorted(
        (a["rule_id"], e) for a in alerts for e in a["events"])
    for row in rows:
        check_timesketch_row(row)
        assert row["message"].startswith(f"{row['rule_title']} — {row['host']} — ")
        # the event's own fields, under their Sigma names
        assert row["EventID"] == 10 and row["Provider_Name"] == "Microsoft-Windows-Sysmon"
        assert row["TargetImage"].lower().endswith("lsass.exe") and "SourceImage" in row
    procdump = [r for r in rows if r["SourceImage"].endswith("procdump.exe")]
    assert procdump and all(r["host"] == "PC04.example.corp" for r in procdump)
    assert "SourceImage=C:\\Users\\IEUser\\Desktop\\procdump.exe" in " ".join(r["message"] for r in procdump)


def test_timesketch_csv_reads_back_as_the_jsonl_rows(hunt_args: list[str]) -> None:
    rows = [json.loads(line) for line in run(hunt_args, "--format", "timesketch-jsonl").splitlines()]
    text = run(hunt_args, "--format", "timesketch-csv")
    header = text.splitlines()[0].split(",")
    assert set(header) >= TIMESKETCH_FIELDS and not FIELDS_TO_REMOVE & set(header)
    back = list(csv.DictReader(io.StringIO(text)))
    assert len(back) == len(rows)
    for got, want in zip(back, rows, strict=True):
        check_timesketch_row(got)
        for key in ("message", "datetime", "rule_id", "SourceImage", "CallTrace", "log_source"):
            assert got[key] == str(want[key])
        assert got["tactics"] == ", ".join(want["tactics"])


def test_summary_counts_by_level_host_and_rule(hunt_args: list[str]) -> None:
    alerts = [json.loads(line) for line in run(hunt_args, "--format", "jsonl").splitlines()]
    summary = json.loads(run(hunt_args, "--format", "summary-json"))
    assert summary["alerts"] == len(alerts)
    assert {v["level"]: v["alerts"] for v in summary["by_level"]} == _count(a["level"] for a in alerts)
    assert {v["host"]: v["alerts"] for v in summary["by_host"]} == _count(a["host"] for a in alerts)
    assert {v["rule_id"]: v["alerts"] for v in summary["by_rule"]} == _count(a["rule_id"] for a in alerts)
    pc04 = next(v for v in summary["by_host"] if v["host"] == "PC04.example.corp")
    times = sorted(a["time"] for a in alerts if a["host"] == "PC04.example.corp")
    assert (pc04["first_seen"], pc04["last_seen"]) == (times[0], times[-1])
    table = run(hunt_args, "--format", "summary")
    assert "by host" in table and "by rule" in table and "PC04.example.corp" in table


def test_since_until_and_host_narrow_the_hunt(hunt_args: list[str]) -> None:
    alerts = [json.loads(line) for line in run(hunt_args, "--format", "jsonl").splitlines()]
    hosts = {a["host"] for a in alerts}
    assert len(hosts) > 1
    only = [json.loads(line) for line in run(hunt_args, "--format", "jsonl", "--host", "pc04").splitlines()]
    assert only and {a["host"] for a in only} == {"PC04.example.corp"}
    assert len(only) == sum(a["host"] == "PC04.example.corp" for a in alerts)
    first = min(a["time"] for a in alerts)
    later = [json.loads(line) for line in run(hunt_args, "--format", "jsonl", "--since",
                                               first.replace("+00:00", "").replace("T", " ")[:19] + ".5"
                                               ).splitlines()]
    assert len(later) == sum(a["time"] > first for a in alerts) < len(alerts)
    until = [json.loads(line) for line in run(hunt_args, "--format", "jsonl", "--until", first).splitlines()]
    assert until == []  # --until excludes its own instant


def test_window_usage_errors_exit_2(hunt_args: list[str]) -> None:
    r = CliRunner().invoke(app, ["hunt", *hunt_args, "--since", "yesterday"])
    assert r.exit_code == 2 and "--since" in r.output and "ISO 8601" in r.output
    r = CliRunner().invoke(app, ["hunt", *hunt_args, "--since", "2026-11-28", "--until", "2026-11-27"])
    assert r.exit_code == 2 and "--until" in r.output


def test_events_outside_the_window_count_in_no_correlation(tmp_path: Path) -> None:
    base = "50000000-0000-4000-8000-000000000001"
    corr = f"""title: three failures
id: 50000000-0000-4000-8000-000000000002
correlation:
    type: event_count
    rules:
        - {base}
    group-by:
        - TargetUserName
    timespan: 10m
    condition:
        gte: 3
    generate: true
level: high
"""
    plan = plan_for(tmp_path, {"base.yml": rule(base, "  sel:\n    EventID: 4625\n  condition: sel\n"),
                               "corr.yml": corr})
    store = EventStore()
    store.append(events_table([
        {"EventID": "4625", "TargetUserName": "alice", "_ts": T0 + timedelta(minutes=m), "_host": host}
        for m, host in ((0, "dc01"), (1, "dc01"), (2, "dc01.clinique.local"), (3, "srv02"))]))
    everything = fired(plan.evaluate(store))
    assert everything == {base: 4, "50000000-0000-4000-8000-000000000002": 1}
    late = fired(plan.evaluate(store, window=EventWindow(since=T0 + timedelta(minutes=1))))
    assert late == {base: 3, "50000000-0000-4000-8000-000000000002": 1}
    # two of the three failures before the cut: no correlation, though it would fire on all events
    early = EventWindow(until=T0 + timedelta(minutes=2))
    assert fired(plan.evaluate(store, window=early)) == {base: 2}
    one_host = EventWindow(hosts=("dc01",))  # by full name or first label
    assert fired(plan.evaluate(store, window=one_host)) == everything | {base: 3}
    assert fired(plan.evaluate(store, window=EventWindow(hosts=("srv02",)))) == {base: 1}
    store.close()


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def test_a_time_without_zone_is_read_as_utc() -> None:
    from rempart.detect.window import parse_bound

    assert parse_bound("2026-11-28T22:00", "--since") == datetime(2026, 11, 28, 22, 0, tzinfo=UTC)
    assert parse_bound("2026-11-28T22:00+01:00", "--since") == datetime(2026, 11, 28, 21, 0, tzinfo=UTC)


def test_hunt_applies_the_tuning_folder_and_says_what_it_could_not(hunt_args: list[str], tmp_path: Path
                                                                    ) -> None:
    memdump = "5ef9853e-4d0e-4a70-846f-a9ca37d876da"
    tuning = tmp_path / "tuning"
    tuning.mkdir()
    (tuning / "procdump.yml").write_text(f"""title: the admins' procdump
logsource:
    category: process_access
    product: windows
filter:
    rules:
        - {memdump}
    admins:
        SourceImage|endswith: '\\procdump.exe'
    condition: not admins
""")
    (tuning / "overrides.yaml").write_text("rules:\n  no-such-rule:\n    level: low\n")
    before = [json.loads(line) for line in run(hunt_args, "--format", "jsonl").splitlines()]
    r = CliRunner().invoke(app, ["hunt", *hunt_args, "--format", "jsonl", "--tuning", str(tuning)])
    assert r.exit_code == 0, r.output
    after = [json.loads(line) for line in r.stdout.splitlines()]
    gone = [a for a in before if a not in after]
    assert gone and all(a["rule_id"] == memdump for a in gone)
    assert any(a["rule_id"] == memdump for a in after)  # its alerts on other tools stay
    assert "tuning: 1 filters changing 1 rules, 1 overrides" in r.output
    assert "; 1 problems" in r.output and "overrides.yaml:2" in r.output


def test_event_fields_never_take_a_name_timesketch_reserves() -> None:
    from rempart.detect.outputs import event_fields

    raw = json.dumps({"message": "logon", "datetime": "yesterday", "_source": "x", "host": "h", "User": "bob",
                      "Event": {"System": {"Provider": {"#attributes": {"Name": "P"}}}}})
    fields = event_fields(raw, {"User": "bob", "TargetUserName": "alice", "Empty": None})
    assert fields == {"event_message": "logon", "event_datetime": "yesterday", "event__source": "x",
                      "event_host": "h", "User": "bob", "Provider_Name": "P", "TargetUserName": "alice"}
    assert event_fields("Nov 28 10:02:11 srv sshd[1]: Failed password", {}) == {
        "raw": "Nov 28 10:02:11 srv sshd[1]: Failed password"}
