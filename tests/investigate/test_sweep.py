"""The fleet-wide IOC sweep on generated multi-clinic logs with planted indicators.

Every planted indicator must be found where it was planted, in every format it was planted in; no
clinic where nothing was planted may be flagged, including one holding near misses (``198.51.100.70``
for ``198.51.100.7``, ``notevil-…`` for ``evil-…``, ``svc_sauvegarde2`` …).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from rempart.detect.incidents import get_incident
from rempart.domain.inventory import Group
from rempart.errors import StateError
from rempart.investigate import eventdb, findings, indicators, sweep
from rempart.investigate.indicators import Indicator, IndicatorKind
from rempart.store.db import Store
from tests.investigate.conftest import make_incident
from tests.investigate.fleet import FleetLogs, Plant, generate, load, utc

START = utc(2026, 3, 27, 0, 0)  # spans the spring DST change in Paris
INCIDENT_AT = START + timedelta(hours=40)
ATTACKED = "capitouls"
ATTACKER_IP = "198.51.100.7"
HASH = "9f" * 32
C2 = "evil-updates.example"
ACCOUNT = "svc_sauvegarde"
TOOL = "rclone.exe"
DROP = "exfil-drop.example"  # known only from the imported STIX bundle

# establishment -> what was planted there (besides the attacked clinic, these are propagations)
PLANTED = {
    ATTACKED: [("ip", ATTACKER_IP), ("hash", HASH), ("domain", C2), ("account", ACCOUNT), ("tool", TOOL)],
    "saint-cyprien": [("hash", HASH), ("tool", TOOL)],
    "vercors": [("ip", ATTACKER_IP)],
    "chartrons": [("domain", DROP)],
}
NEAR_MISS = (
    "hers",
    [
        ("ip", "198.51.100.70"),
        ("domain", "notevil-updates.example"),
        ("account", "svc_sauvegarde2"),
        ("hash", "9f" * 31 + "9e"),
    ],
)


@dataclass
class Fleet:
    logs: FleetLogs
    db: Path


@pytest.fixture(scope="module")
def fleet(group: Group, tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    out = tmp_path_factory.mktemp("fleet")
    plants = [
        Plant(est, kind, value, INCIDENT_AT + timedelta(minutes=i))
        for est, items in PLANTED.items()
        for i, (kind, value) in enumerate(items)
    ]
    plants += [Plant(NEAR_MISS[0], kind, value, INCIDENT_AT) for kind, value in NEAR_MISS[1]]
    logs = generate(group, out / "logs", START, 48, plants, [], zeek={ATTACKED: "json", "vercors": "tsv"})
    load(logs, group, out / "events.duckdb")
    return Fleet(logs, out / "events.duckdb")


@pytest.fixture
def con(fleet: Fleet) -> Iterator[object]:
    c = eventdb.connect(fleet.db)
    yield c
    c.close()


def _attack_refs(logs: FleetLogs) -> list[str]:
    """The planted events of the attacked clinic: what the incident's alerts point at."""
    values = {v for _, v in PLANTED[ATTACKED]}
    return logs.ref(lambda r: f"/{ATTACKED}/" in str(r.path) and any(v in r.raw.lower() for v in values))


def test_indicators_from_the_alerts_events(fleet: Fleet, con: object, store: Store, group: Group) -> None:
    refs = _attack_refs(fleet.logs)
    assert len(refs) == 5
    incident_id = make_incident(store, ATTACKED, INCIDENT_AT, refs)
    with store.session() as s:
        found = indicators.from_alerts(s, con, get_incident(s, incident_id), group)  # type: ignore[arg-type]
    values = {(str(i.kind), i.value) for i in found}
    for kind, value in PLANTED[ATTACKED]:
        wanted = f"cdn.{value}" if kind == "domain" else value  # the DNS query names the subdomain
        assert (kind, wanted) in values, (kind, wanted)
    # the clinic's own addresses and Windows' own accounts and programs are not indicators
    assert not any(v.startswith("10.") for k, v in values if k == "ip")
    assert ("account", "inconnu") not in values  # a name tried in a failed VPN logon is a target
    assert ("tool", "cmd.exe") not in values


def test_every_planted_indicator_found_and_no_clean_clinic_flagged(
    fleet: Fleet, con: object, store: Store, group: Group, tmp_path: Path
) -> None:
    incident_id = make_incident(store, ATTACKED, INCIDENT_AT, _attack_refs(fleet.logs))
    bundle = tmp_path / "partage-cert.json"
    bundle.write_bytes(
        orjson.dumps(
            {
                "type": "bundle",
                "id": "bundle--1",
                "objects": [
                    {
                        "type": "indicator",
                        "id": "indicator--1",
                        "pattern_type": "stix",
                        "pattern": f"[domain-name:value = '{DROP}'] OR [url:value = 'https://{DROP}/up']",
                    },
                ],
            }
        )
    )
    with store.session() as s:
        inc = get_incident(s, incident_id)
        iocs = indicators.dedupe(indicators.from_alerts(s, con, inc, group) + indicators.load_file(bundle))  # type: ignore[arg-type]
        outcome = sweep.run_sweep(s, con, group, inc, iocs, "analyste", now=INCIDENT_AT)  # type: ignore[arg-type]
    by_est = {r.establishment: r for r in outcome.results}
    assert set(by_est) >= {e.id for e in group.establishments}
    for est, items in PLANTED.items():
        hit_values = {h.indicator.value for h in by_est[est].hits}
        for _, value in items:
            assert any(value in v for v in hit_values), (est, value, hit_values)
    flagged = {r.establishment for r in outcome.results if r.hits}
    assert flagged == set(PLANTED), [
        (r.establishment, [str(h.indicator) for h in r.hits]) for r in outcome.results
    ][:3]
    assert sorted(outcome.propagated_to) == sorted(set(PLANTED) - {ATTACKED})
    clean = by_est[NEAR_MISS[0]]
    assert clean.status == "clean" and clean.events > 0 and clean.clean_since == clean.first_event
    assert outcome.finding.positive and outcome.finding.kind == "propagation"
    assert by_est[ATTACKED].clean_since is not None and by_est[ATTACKED].clean_since >= INCIDENT_AT
    assert "Clinique Saint-Cyprien" in outcome.finding.summary
    # every file was read by the real readers (FortiGate, Zeek JSON and TSV, Winlogbeat, syslog)
    assert fleet.logs.fallback == []
    # every event of every clinic was swept, in every format
    assert sum(r.events for r in outcome.results) == len(fleet.logs.records)


def test_no_propagation_when_only_the_attacked_clinic_has_hits(
    fleet: Fleet, con: object, store: Store, group: Group
) -> None:
    incident_id = make_incident(store, ATTACKED, INCIDENT_AT)
    with store.session() as s:
        inc = get_incident(s, incident_id)
        outcome = sweep.run_sweep(
            s,
            con,
            group,
            inc,
            [Indicator(IndicatorKind.ACCOUNT, ACCOUNT, "test")],  # type: ignore[arg-type]
            "analyste",
            now=INCIDENT_AT,
        )
        assert not outcome.finding.positive
        assert outcome.propagated_to == []
        assert "pas de propagation" in outcome.finding.summary
        assert findings.current(s, incident_id, "propagation") is outcome.finding


def test_a_sweep_without_indicators_is_refused(store: Store, group: Group, con: object) -> None:
    incident_id = make_incident(store, ATTACKED, INCIDENT_AT)
    with store.session() as s, pytest.raises(StateError, match="no indicator"):
        sweep.run_sweep(s, con, group, get_incident(s, incident_id), [], "analyste")  # type: ignore[arg-type]


def test_a_clinic_without_logs_is_not_declared_clean(group: Group, tmp_path: Path) -> None:
    logs = generate(group, tmp_path / "logs", START, 3, [], [], establishments=[ATTACKED, "hers"])
    load(logs, group, tmp_path / "ev.duckdb")
    c = eventdb.connect(tmp_path / "ev.duckdb")
    results = {
        r.establishment: r for r in sweep.sweep(c, [Indicator(IndicatorKind.IP, ATTACKER_IP, "t")], group)
    }
    c.close()
    assert results["hers"].status == "clean"
    assert results["vercors"].status == "no_data" and results["vercors"].clean_since is None


def test_token_boundaries() -> None:
    ip = sweep.token_pattern(Indicator(IndicatorKind.IP, "10.1.1.1", "t"))
    import re

    assert (
        re.search(ip, "src=10.1.1.1 dst=x")
        and not re.search(ip, "src=10.1.1.10")
        and not re.search(ip, "110.1.1.1")
    )
    acc = sweep.token_pattern(Indicator(IndicatorKind.ACCOUNT, "svc_x", "t"))
    assert re.search(acc, r"horizon\svc_x logon") and not re.search(acc, "svc_x2")


def test_hits_outside_the_inventory_are_reported_not_counted_as_propagation(
    group: Group, store: Store, tmp_path: Path
) -> None:
    logs = generate(
        group,
        tmp_path / "logs",
        START,
        3,
        [Plant(ATTACKED, "ip", ATTACKER_IP, START)],
        [],
        establishments=[ATTACKED, "hers"],
    )
    stray = tmp_path / "logs" / "inconnu" / "auth.log"
    stray.parent.mkdir(parents=True)
    stray.write_text(
        f"Mar 27 01:10:00 nas-inconnu sshd[4242]: Failed password for root from {ATTACKER_IP} "
        "port 50022 ssh2\n"
    )
    logs.files.append(stray)
    load(logs, group, tmp_path / "ev.duckdb")
    c = eventdb.connect(tmp_path / "ev.duckdb")
    incident_id = make_incident(store, ATTACKED, START)
    with store.session() as s:
        outcome = sweep.run_sweep(
            s,
            c,
            group,
            get_incident(s, incident_id),  # type: ignore[arg-type]
            [Indicator(IndicatorKind.IP, ATTACKER_IP, "t")],
            "analyste",
            now=START,
        )
        assert outcome.propagated_to == [] and not outcome.finding.positive
        loose = next(r for r in outcome.results if r.establishment == sweep.UNATTRIBUTED)
        assert loose.hits[0].count == 1 and loose.hits[0].hosts == ["nas-inconnu"]
        assert "hors inventaire (nas-inconnu)" in outcome.finding.summary
    c.close()
