"""Every rule we ship fires on its positive sample and stays silent on its negative one."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from rempart.detect.hunt import hunt
from rempart.events.store import EventStore

RULES = Path(__file__).resolve().parents[2] / "rules"
SAMPLES = RULES / "samples"


def _rules() -> dict[str, str]:
    """rule name → rule id, for every rule file we ship."""
    out = {}
    for path in RULES.rglob("*.yml"):
        if SAMPLES in path.parents:
            continue
        doc = yaml.safe_load(path.read_text())
        out[doc["name"]] = doc["id"]
    return out


def test_every_rule_has_both_samples() -> None:
    for name in _rules():
        assert list((SAMPLES / name).glob("positive.*")), f"no positive sample for {name}"
        assert list((SAMPLES / name).glob("negative.*")), f"no negative sample for {name}"


def _rule_files() -> dict[str, Path]:
    return {
        yaml.safe_load(p.read_text())["name"]: p for p in RULES.rglob("*.yml") if SAMPLES not in p.parents
    }


def _fired(sample: Path, rule_id: str, rule_dir: Path, cache: Path) -> int:
    store = EventStore(":memory:")
    try:
        result = hunt([sample], [rule_dir], store=store, cache_dir=cache)
    finally:
        store.close()
    assert result.events > 0, f"{sample} produced no event"
    assert not result.report.quarantined, result.report.quarantined
    return sum(1 for a in result.alerts if a.rule_id == rule_id)


@pytest.mark.parametrize("name", sorted(_rules()))
def test_rule_on_its_samples(name: str, tmp_path: Path) -> None:
    rule_id = _rules()[name]
    path = _rule_files()[name]
    if "correlation" in yaml.safe_load(path.read_text()):
        rule_dir = RULES  # a correlation needs the rules it builds on
    else:
        # alone, so that it alerts even when a correlation uses it (Sigma's `generate: false`)
        rule_dir = tmp_path / "rule"
        rule_dir.mkdir()
        (rule_dir / path.name).write_text(path.read_text())
    (positive,) = (SAMPLES / name).glob("positive.*")
    (negative,) = (SAMPLES / name).glob("negative.*")
    assert _fired(positive, rule_id, rule_dir, tmp_path / "cache") >= 1
    assert _fired(negative, rule_id, rule_dir, tmp_path / "cache") == 0


def test_parallel_parsing_finds_the_same_alerts(tmp_path: Path) -> None:
    def alerts(workers: int) -> list[tuple[str, str, int]]:
        store = EventStore(":memory:")
        try:
            result = hunt([SAMPLES], [RULES], store=store, cache_dir=tmp_path / "cache", workers=workers)
        finally:
            store.close()
        return sorted((a.rule_id, str(a.time), len(a.events)) for a in result.alerts)

    one = alerts(1)
    assert one and alerts(2) == one


def test_ssh_brute_force_is_seen_in_a_journal_export_of_openssh_10(tmp_path: Path) -> None:
    """The positive sample as a Debian 13 server keeps it: in the journal, logged by ``sshd-session``."""
    lines = (SAMPLES / "linux_sshd_brute_force" / "positive.log").read_text().splitlines()
    with (tmp_path / "journal.json").open("w") as out:
        for line in lines:
            m = re.match(r"(\w{3} [ \d]\d \S+) (\S+) sshd\[(\d+)\]: (.*)$", line)
            assert m is not None, line
            when = datetime.strptime(f"2026 {m[1]}", "%Y %b %d %H:%M:%S").replace(tzinfo=UTC)
            out.write(json.dumps({
                "__REALTIME_TIMESTAMP": str(int(when.timestamp() * 1_000_000)), "_HOSTNAME": m[2],
                "SYSLOG_FACILITY": "4", "SYSLOG_IDENTIFIER": "sshd-session", "_PID": m[3], "MESSAGE": m[4],
            }) + "\n")
    brute_force = _rules()["linux_sshd_brute_force"]
    assert _fired(tmp_path / "journal.json", brute_force, RULES, tmp_path / "cache") >= 1
