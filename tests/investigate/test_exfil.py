"""The exfiltration assessment on generated multi-clinic firewall and Zeek logs with planted transfers.

Planted: a 900 MB upload seen by both the firewall and Zeek (must be counted once), a 400 MB pull by an
outside originator seen by Zeek only (``resp_bytes``), a 300 MB upload seen by the firewall only.
Controls that must NOT be flagged: a nightly 200 MB backup that the baseline knows, a 2 GB transfer to
the SOC (inside the group), a big transfer before the window, a 30 MB upload under the floor.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from rempart.detect.incidents import get_incident
from rempart.domain.inventory import Group
from rempart.investigate import eventdb, exfil
from rempart.investigate.indicators import Internal
from rempart.store.db import Store
from tests.investigate.conftest import make_incident
from tests.investigate.fleet import Transfer, generate, load, utc

START = utc(2026, 10, 23, 0, 0)  # spans the autumn DST change in Paris
INCIDENT_AT = START + timedelta(hours=60)
WINDOW = (INCIDENT_AT - timedelta(hours=24), INCIDENT_AT + timedelta(hours=12))
MB = 1_000_000

PLANTED = [
    Transfer("capitouls", "10.11.1.30", "185.220.101.5", INCIDENT_AT + timedelta(hours=1), 900 * MB, "both"),
    Transfer(
        "saint-cyprien",
        "10.12.1.20",
        "45.9.148.3",
        INCIDENT_AT - timedelta(hours=5),
        400 * MB,
        "zeek",
        inbound_pull=True,
    ),
    Transfer(
        "vercors", "10.23.1.30", "91.215.85.20", INCIDENT_AT + timedelta(hours=3), 300 * MB, "fortigate"
    ),
]


def _nightly_backup() -> list[Transfer]:
    paris = ZoneInfo("Europe/Paris")
    out = []
    for day in range(3):
        local = (START + timedelta(days=day)).astimezone(paris).replace(hour=2, minute=10)
        out.append(Transfer("hers", "10.14.1.50", "192.0.2.200", local.astimezone(START.tzinfo), 200 * MB))
    return out


CONTROLS = [
    *_nightly_backup(),
    Transfer("canal-du-midi", "10.13.1.30", "10.250.0.5", INCIDENT_AT, 2000 * MB),  # to the SOC
    Transfer("dombes", "10.21.1.30", "185.220.101.9", START + timedelta(hours=5), 800 * MB),  # before window
    Transfer("coteaux", "10.15.1.30", "185.220.101.9", INCIDENT_AT, 30 * MB),  # under the floor
]


@pytest.fixture(scope="module")
def db(group: Group, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("exfil")
    logs = generate(
        group,
        out / "logs",
        START,
        72,
        [],
        PLANTED + CONTROLS,
        zeek={"capitouls": "json", "saint-cyprien": "tsv"},
    )
    load(logs, group, out / "events.duckdb")
    return out / "events.duckdb"


@pytest.fixture
def con(db: Path) -> Iterator[object]:
    c = eventdb.connect(db)
    yield c
    c.close()


def _check_networks(group: Group) -> None:
    # the planted addresses must be the inventory's, or the test would prove nothing
    from rempart.inventory import Resolver

    r = Resolver(group)
    for t in PLANTED + CONTROLS:
        att = r.resolve_ip(t.host_ip)
        assert att is not None and att.establishment == t.establishment, t


def test_every_planted_transfer_found_and_nothing_else(con: object, group: Group) -> None:
    _check_networks(group)
    a = exfil.assess(con, group, [e.id for e in group.establishments], WINDOW)  # type: ignore[arg-type]
    flagged = {h.host: h for h in a.flagged}
    assert set(flagged) == {t.host_ip for t in PLANTED}, {h: x.exceeded for h, x in flagged.items()}
    for t in PLANTED:
        h = flagged[t.host_ip]
        hour, nbytes, dests = max(h.exceeded, key=lambda e: e[1])
        assert hour <= t.at < hour + timedelta(hours=1)
        # counted once even when two sensors saw it; ordinary traffic of that hour may add a little
        assert t.nbytes <= nbytes < t.nbytes + 50 * MB
        assert max(dests, key=lambda d: dests[d]) == t.dst
    backup = next(h for h in a.hosts if h.host == "10.14.1.50")
    assert backup.window_bytes >= 200 * MB and not backup.exceeded  # known to its baseline
    assert a.sensors["fortigate"] > 0 and a.sensors["zeek"] > 0
    # the JSON conn.log (no log type inside) and the TSV one are both read
    zeek = exfil.outbound_flows(con, Internal(group), *WINDOW)["zeek"]  # type: ignore[arg-type]
    hour = eventdb.to_us(PLANTED[0].at) // exfil.HOUR_US
    assert zeek[(hour, "10.11.1.30", "185.220.101.5")] == PLANTED[0].nbytes
    assert any(h == "10.12.1.20" for _, h, _ in zeek)


def test_positive_data_theft_finding_with_numbers(con: object, store: Store, group: Group) -> None:
    incident_id = make_incident(store, "capitouls", INCIDENT_AT)
    with store.session() as s:
        inc = get_incident(s, incident_id)
        _, finding = exfil.run_assessment(
            s, con, group, inc, "analyste", now=INCIDENT_AT + timedelta(hours=12)
        )  # type: ignore[arg-type]
        assert finding.kind == "data_theft" and finding.positive
        assert [f["host"] for f in finding.data["flagged"]] == ["10.11.1.30"]
        assert (
            finding.data["flagged"][0]["exceeded_hours"][0]["destinations"][0]["address"] == "185.220.101.5"
        )
        assert "tls-cap-fs01" in finding.summary and "185.220.101.5" in finding.summary
        assert finding.data["establishments"] == ["capitouls"]


def test_negative_finding_for_a_clinic_within_its_baseline(con: object, store: Store, group: Group) -> None:
    incident_id = make_incident(store, "hers", INCIDENT_AT)
    with store.session() as s:
        inc = get_incident(s, incident_id)
        _, finding = exfil.run_assessment(
            s, con, group, inc, "analyste", now=INCIDENT_AT + timedelta(hours=12)
        )  # type: ignore[arg-type]
        assert not finding.positive and finding.data["evaluable"]
        assert finding.data["hosts_assessed"] > 0 and finding.data["window_bytes"] > 200 * MB
        assert "Aucun dépassement" in finding.summary


def test_no_flow_logs_means_not_evaluable(store: Store, group: Group, tmp_path: Path) -> None:
    c = eventdb.connect(tmp_path / "empty.duckdb")
    c.execute(
        "CREATE TABLE events (_ts TIMESTAMPTZ, _host VARCHAR, _product VARCHAR, _service VARCHAR,"
        " _establishment VARCHAR, _raw VARCHAR)"
    )
    incident_id = make_incident(store, "capitouls", INCIDENT_AT)
    with store.session() as s:
        _, finding = exfil.run_assessment(s, c, group, get_incident(s, incident_id), "analyste")
        assert not finding.positive and not finding.data["evaluable"]
        assert "non évaluable" in finding.summary
    c.close()
