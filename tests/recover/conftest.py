"""A contained incident for the recovery tests: real plan run (example plan, dummy adapters), real sweep."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rempart.adapters import registry
from rempart.domain.inventory import Group
from rempart.inventory import load_group
from rempart.respond import service as respond
from rempart.respond.interface import Adapter
from rempart.respond.plan import load_plan
from rempart.store.db import Store
from tests.cases import add_incident
from tests.investigate.fleet import Plant, generate, load, utc

ATTACKED = "capitouls"
START = utc(2026, 5, 4, 0, 0)
ATTACK_AT = START + timedelta(hours=30)
HOURS = 100  # logs run 70 h past the last indicator: clean for 48 h, not for 72 h
ATTACKER_IP = "198.51.100.7"


@pytest.fixture(scope="session")
def group(example_group_path: Path) -> Group:
    return load_group(example_group_path)


@pytest.fixture(scope="session")
def events_db(group: Group, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("recover-fleet")
    logs = generate(
        group,
        out / "logs",
        START,
        HOURS,
        [Plant(ATTACKED, "ip", ATTACKER_IP, ATTACK_AT)],
        [],
        establishments=[ATTACKED, "hers"],
    )
    load(logs, group, out / "events.duckdb")
    return out / "events.duckdb"


@dataclass
class Contained:
    store: Store
    group: Group
    ref: str
    incident_id: int
    run_id: int
    adapters: dict[str, Adapter]
    now: datetime


def make_contained(
    store: Store,
    group: Group,
    example_group_path: Path,
    refs: list[str] | None = None,
    hosts: tuple[str, ...] = ("tls-cap-ws003",),
) -> Contained:
    with store.session() as s:
        inc = add_incident(
            s, establishment=ATTACKED, opened=ATTACK_AT, since=timedelta(minutes=20), status="contained",
            severity="high", tactics=["initial-access", "credential-access"],
            techniques=["T1110.003", "T1003.001"], hosts=hosts,
            alert={"rule_id": "rempart-vpn-spray", "title": "Pulvérisation de mots de passe VPN",
                   "level": "high", "time": ATTACK_AT, "host": "tls-cap-vpn01",
                   "tactics": ["credential-access"], "techniques": ["T1110.003"], "events": refs or []},
        )
        incident_id = inc.id
    adapters = registry.build(None)
    plan = load_plan(example_group_path.with_name("plan.yaml"), group)
    report = respond.respond(store, "INC-0001", plan, group, adapters, "rempart", sleep=lambda _: None)
    return Contained(
        store, group, "INC-0001", incident_id, report.run_id, adapters, START + timedelta(hours=HOURS)
    )


@pytest.fixture
def contained(store: Store, group: Group, example_group_path: Path) -> Contained:
    return make_contained(store, group, example_group_path)
