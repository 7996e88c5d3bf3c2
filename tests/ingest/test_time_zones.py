"""Times written with no zone (RFC 3164 syslog, FortiGate without tz, NXLog's EventTime) are the logging
host's local time: read in the zone the inventory gives that host, the group's by default."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rempart.cli.app import app
from rempart.inventory import Resolver, load_group

from .conftest import read_all, rows

FORTIGATE = 'date=2026-07-01 time=10:00:00 devname="tls-cap-fw01" logid="0101039426" type="event" ' \
            'subtype="vpn" action="ssl-login-fail" remip=203.0.113.50 user="x"'


def _group(example_group_path: Path, tmp_path: Path, replace: dict[str, str]) -> Resolver:
    text = example_group_path.read_text(encoding="utf-8")
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new, 1)
    (tmp_path / "group.yaml").write_text(text, encoding="utf-8")
    return Resolver(load_group(tmp_path / "group.yaml"))


def _times(path: Path, resolver: Resolver | None, workers: int = 1) -> list[datetime]:
    table, report = read_all([path], resolver, reference_year=2026, workers=workers)
    assert not report.quarantined, report.quarantined
    return [r["_ts"] for r in rows(table)]  # type: ignore[misc]


def test_syslog_times_are_the_servers_french_time(example_group_path: Path, tmp_path: Path) -> None:
    (tmp_path / "auth.log").write_text(
        "Nov 28 10:02:11 tls-cap-dpi01 sshd[1]: Failed password for root from 203.0.113.7 port 1 ssh2\n"
        "Jul  1 10:02:11 tls-cap-dpi01 sshd[1]: Failed password for root from 203.0.113.7 port 1 ssh2\n"
        "Nov 28 10:02:11 host-outside-the-inventory sshd[1]: Invalid user x from 203.0.113.7\n"
        "<38>1 2026-11-28T10:02:13+01:00 tls-cap-dpi01 sshd 981 - - Accepted password for a from 10.0.0.1 "
        "port 2 ssh2\n"
    )
    resolver = Resolver(load_group(example_group_path))  # Europe/Paris: the group's default
    expected = [datetime(2026, 11, 28, 9, 2, 11, tzinfo=UTC),  # CET, UTC+1
                datetime(2026, 7, 1, 8, 2, 11, tzinfo=UTC),  # CEST, UTC+2
                datetime(2026, 11, 28, 9, 2, 11, tzinfo=UTC),  # not in the inventory: the group's zone
                datetime(2026, 11, 28, 9, 2, 13, tzinfo=UTC)]  # its own offset, whatever the zone
    assert _times(tmp_path / "auth.log", resolver) == expected
    assert _times(tmp_path / "auth.log", resolver, workers=2) == expected  # the workers know the zones
    # without an inventory or --timezone, a time with no zone stays UTC, as before
    assert _times(tmp_path / "auth.log", None)[:3] == [datetime(2026, 11, 28, 10, 2, 11, tzinfo=UTC),
                                                        datetime(2026, 7, 1, 10, 2, 11, tzinfo=UTC),
                                                        datetime(2026, 11, 28, 10, 2, 11, tzinfo=UTC)]


def test_an_establishment_or_an_asset_may_have_its_own_zone(example_group_path: Path, tmp_path: Path) -> None:
    resolver = _group(example_group_path, tmp_path, {
        "    region: Occitanie\n": "    region: Occitanie\n    timezone: Indian/Reunion\n",  # capitouls
        "      role: his_server\n": "      role: his_server\n      timezone: UTC\n",  # tls-cap-dpi01
    })
    (tmp_path / "auth.log").write_text(
        "Nov 28 10:02:11 tls-cap-dc01 sshd[1]: Invalid user x from 203.0.113.7\n"
        "Nov 28 10:02:11 tls-cap-dpi01 sshd[1]: Invalid user x from 203.0.113.7\n"
    )
    assert _times(tmp_path / "auth.log", resolver) == [datetime(2026, 11, 28, 6, 2, 11, tzinfo=UTC),
                                                        datetime(2026, 11, 28, 10, 2, 11, tzinfo=UTC)]


def test_a_zone_for_hosts_outside_any_inventory(tmp_path: Path) -> None:
    (tmp_path / "auth.log").write_text("Nov 28 10:02:11 srv sshd[1]: Invalid user x from 203.0.113.7\n")
    for workers in (1, 2):
        assert _times(tmp_path / "auth.log", Resolver(None, "America/Cayenne"), workers) == [
            datetime(2026, 11, 28, 13, 2, 11, tzinfo=UTC)]


def test_the_hour_a_dst_change_repeats_is_taken_at_its_first_passing(
    example_group_path: Path, tmp_path: Path
) -> None:
    (tmp_path / "auth.log").write_text(  # 25 October 2026: 03:00 CEST becomes 02:00 CET
        "Oct 25 02:30:00 tls-cap-dpi01 sshd[1]: Invalid user x from 203.0.113.7\n"
        "Oct 25 03:30:00 tls-cap-dpi01 sshd[1]: Invalid user x from 203.0.113.7\n"
    )
    assert _times(tmp_path / "auth.log", Resolver(load_group(example_group_path))) == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 2, 30, tzinfo=UTC)]


def test_fortigate_without_tz_and_nxlog_event_time(example_group_path: Path, fixtures: Path,
                                                  tmp_path: Path) -> None:
    resolver = Resolver(load_group(example_group_path))
    (tmp_path / "fw.log").write_text(FORTIGATE + "\n" + FORTIGATE + ' tz="+0000"\n')
    assert _times(tmp_path / "fw.log", resolver) == [datetime(2026, 7, 1, 8, 0, tzinfo=UTC),
                                                      datetime(2026, 7, 1, 10, 0, tzinfo=UTC)]
    nxlog = json.loads((fixtures / "nxlog_system.json").read_text())  # EventTime 2026-11-28 10:00:00
    with_offset = {**nxlog, "EventTime": "2026-11-28T10:00:00+00:00"}
    (tmp_path / "nxlog.json").write_text(json.dumps(nxlog) + "\n" + json.dumps(with_offset) + "\n")
    assert _times(tmp_path / "nxlog.json", resolver) == [datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
                                                          datetime(2026, 11, 28, 10, 0, tzinfo=UTC)]


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Europe/Paris/"])
def test_an_unknown_zone_on_the_command_line_is_a_clear_error(zone: str, fixtures: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", str(fixtures / "auth.log"), "--timezone", zone])
    assert result.exit_code == 2, result.output
    assert f"unknown time zone '{zone}'" in result.output and "Traceback" not in result.output


def test_the_command_line_zone_reads_the_times(fixtures: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", str(fixtures / "auth.log"), "--timezone", "Europe/Paris"])
    assert result.exit_code == 1, result.output  # auth.log's last line is not syslog: quarantined
    assert "7 events" in result.output
