"""Sysmon for Linux: one XML event per syslog (or journal) message from ``sysmon``, read as an event with
Sysmon's field names, its EventID and its own UTC time."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from rempart.inventory import Resolver, load_group

from .conftest import read_all, rows

SAMPLE = "sysmon_linux.log"  # Sysmon for Linux 1.3 as rsyslog writes it (fewer EventData items)


def _process(fixtures: Path) -> str:
    """The XML event of the sample's line."""
    return (fixtures / SAMPLE).read_text().split(" sysmon: ", 1)[1].strip()


def test_sysmon_for_linux_in_syslog(example_group_path: Path, fixtures: Path, tmp_path: Path) -> None:
    (tmp_path / "syslog").write_text(
        (fixtures / SAMPLE).read_text() +
        "Nov 28 10:02:12 tls-cap-dpi01 sysmon: <Event><System><EventID>1</broken>\n"  # not an event: a line
    )
    table, report = read_all([tmp_path / "syslog"], Resolver(load_group(example_group_path)),
                             reference_year=2026)
    event, broken = rows(table)
    assert (event["_product"], event["_service"], event["EventID"], event["_establishment"]) == (
        "linux", "sysmon", "1", "capitouls")
    assert (event["Image"], event["CommandLine"], event["ParentImage"], event["User"]) == (
        "/usr/bin/base64", "base64 -d /tmp/x.b64", "/bin/bash", "root")
    # Sysmon's own time, UTC, to the microsecond; not the syslog line's local French time
    assert event["_ts"] == datetime(2026, 11, 28, 9, 2, 11, 396934, tzinfo=UTC)
    assert broken["_service"] == "syslog" and broken["EventID"] is None  # kept as a plain message
    assert broken["_ts"] == datetime(2026, 11, 28, 9, 2, 12, tzinfo=UTC)
    assert not report.quarantined


def test_sysmon_for_linux_in_the_journal(fixtures: Path, tmp_path: Path) -> None:
    entry = {"__REALTIME_TIMESTAMP": "1795856531400000", "_HOSTNAME": "tls-cap-dpi01",
             "SYSLOG_IDENTIFIER": "sysmon", "SYSLOG_FACILITY": "1", "MESSAGE": _process(fixtures)}
    (tmp_path / "journal.json").write_text(json.dumps(entry) + "\n")
    (event,) = rows(read_all([tmp_path / "journal.json"])[0])
    assert (event["_service"], event["EventID"], event["Image"]) == ("sysmon", "1", "/usr/bin/base64")
    assert event["_ts"] == datetime(2026, 11, 28, 9, 2, 11, 396934, tzinfo=UTC)


def test_a_message_declaring_entities_is_not_parsed_as_xml(tmp_path: Path) -> None:
    bomb = '<Event><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><System><EventID>1</EventID></System></Event>'
    (tmp_path / "syslog").write_text(f"Nov 28 10:02:11 h sysmon: {bomb}\n")
    (event,) = rows(read_all([tmp_path / "syslog"], reference_year=2026)[0])
    assert event["_service"] == "syslog" and "EventID" not in event


def test_an_element_nested_where_sysmon_writes_text_costs_nothing(fixtures: Path, tmp_path: Path) -> None:
    xml = _process(fixtures)
    crafted = xml.replace('<Data Name="User">root</Data>', '<Data Name="User"><b x="1">root</b></Data>')
    assert crafted != xml
    line = (fixtures / SAMPLE).read_text().strip()
    (tmp_path / "syslog").write_text(line + "\n" + line.replace(xml, crafted) + "\n")
    table, report = read_all([tmp_path / "syslog"], reference_year=2026)
    plain, nested = rows(table)  # the batch both lines are in is kept
    assert plain["User"] == "root" and nested["_service"] == "sysmon" and not report.failed
    assert nested["Image"] == "/usr/bin/base64" and '"#text":"root"' in nested["Data"]  # kept as its JSON
