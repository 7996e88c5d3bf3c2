"""Fixtures for the degraded-mode tests: a group, settings in tmp_path, a synthetic snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rempart.continuity import service, synthetic
from rempart.domain.inventory import Group
from rempart.inventory import load_group
from rempart.settings import Settings
from rempart.store.db import Store
from rempart.store.models.core import IncidentRow

NOW = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
TAKEN = NOW - timedelta(minutes=80)


@pytest.fixture(scope="session")
def group(example_group_path: Path) -> Group:
    return load_group(example_group_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", keys_dir=tmp_path / "keys")


@pytest.fixture
def cstore(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    yield s
    s.close()


@pytest.fixture
def fhir_dir(tmp_path: Path) -> Path:
    out = tmp_path / "fhir" / "capitouls"
    synthetic.generate("capitouls", out, patients=24, seed=3, taken_at=TAKEN)
    return out


@pytest.fixture
def imported(cstore: Store, settings: Settings, fhir_dir: Path) -> Store:
    service.import_snapshot(cstore, settings, "capitouls", [fhir_dir], now=TAKEN + timedelta(minutes=1))
    return cstore


def make_incident(store: Store, establishment: str, at: datetime, ref: str = "INC-0001") -> int:
    with store.session() as s:
        row = IncidentRow(
            ref=ref,
            establishment=establishment,
            severity="high",
            first_seen=at,
            last_seen=at,
            opened_at=at,
            tactics=[],
            techniques=[],
            hosts=[],
        )
        s.add(row)
        s.flush()
        return row.id


def db_bytes(store: Store) -> bytes:
    """Every byte SQLite wrote: the database and its write-ahead log."""
    path = Path(store.url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))
