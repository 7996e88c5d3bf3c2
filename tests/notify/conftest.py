"""An incident at the Clinique des Capitouls, built directly in a real case store (no detect stage needed)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rempart.domain.inventory import Group
from rempart.inventory import load_group
from rempart.store import incident_log
from rempart.store.db import Store
from rempart.store.models.core import FindingRow
from tests.cases import add_incident

OPENED = datetime(2026, 11, 28, 13, 3, tzinfo=UTC)  # 14:03 in Paris


@dataclass
class Case:
    store: Store
    group: Group
    incident_id: int
    ref: str
    opened: datetime


def make_incident(
    store: Store,
    establishment: str = "capitouls",
    exercise: bool = False,
    opened: datetime = OPENED,
    ref: str = "INC-0001",
    hosts: list[str] | None = None,
) -> int:
    with store.session() as s:
        inc = add_incident(
            s, establishment=establishment, opened=opened, since=timedelta(hours=2), exercise=exercise,
            tactics=["initial_access", "lateral_movement", "impact"],
            techniques=["T1133", "T1021.001", "T1486"],
            hosts=hosts or ["tls-cap-dc01", "tls-cap-dpi01"], ref=ref,
            alert={"rule_id": "vpn-bruteforce", "title": "Force brute sur le VPN", "level": "high",
                   "time": opened - timedelta(hours=2), "host": "tls-cap-vpn01",
                   "details": {"IpAddress": "203.0.113.66", "TargetUserName": "admin.dpi"}},
        )
        incident_log.record(
            s,
            inc.id,
            "respond",
            "action",
            "VPN nomade fermé (nftables)",
            "rempart",
            at=opened + timedelta(minutes=5),
        )
        incident_log.record(
            s,
            inc.id,
            "continuity",
            "action",
            "Mode dégradé activé : kits papier imprimés",
            "rempart",
            at=opened + timedelta(minutes=20),
        )
        return inc.id


def add_finding(
    store: Store,
    incident_id: int,
    kind: str,
    positive: bool,
    summary: str,
    at: datetime,
    supersedes: int | None = None,
    version: int = 1,
) -> int:
    with store.session() as s:
        row = FindingRow(
            incident_id=incident_id,
            kind=kind,
            version=version,
            supersedes_id=supersedes,
            positive=positive,
            summary=summary,
            data={},
            author="expert",
            created_at=at,
        )
        s.add(row)
        s.flush()
        return row.id


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One case store migrated once; each test gets a copy (running every migration per test is slow)."""
    path = tmp_path_factory.mktemp("template") / "cases.sqlite"
    Store(f"sqlite:///{path}").close()
    return path


@pytest.fixture
def store(store_url: str, migrated_db: Path) -> Iterator[Store]:
    shutil.copyfile(migrated_db, store_url.removeprefix("sqlite:///"))
    s = Store(store_url, migrate=False)
    yield s
    s.close()


@pytest.fixture(scope="session")
def group(example_group_path: Path) -> Group:
    return load_group(example_group_path)


@pytest.fixture
def case(store: Store, group: Group) -> Iterator[Case]:
    yield Case(store, group, make_incident(store), "INC-0001", OPENED)
