"""Fixtures for the investigation tests: the example group, incidents in a real case store."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rempart.domain.inventory import Group
from rempart.inventory import load_group
from rempart.store.db import Store
from tests.cases import add_incident


@pytest.fixture(scope="session")
def group(example_group_path: Path) -> Group:
    return load_group(example_group_path)


def make_incident(
    store: Store,
    establishment: str,
    at: datetime,
    refs: list[str] | None = None,
    hosts: list[str] | None = None,
    ref: str = "INC-0001",
) -> int:
    """An incident with one alert whose matching events are ``refs`` (what detect would have stored)."""
    with store.session() as s:
        inc = add_incident(
            s, establishment=establishment, opened=at, since=timedelta(minutes=30), status="contained",
            severity="high", tactics=["initial-access"], techniques=["T1078"], hosts=hosts or [], ref=ref,
            alert={"rule_id": "rempart-test", "title": "Intrusion simulée", "level": "high", "time": at,
                   "host": (hosts or [None])[0], "tactics": ["initial-access"], "techniques": ["T1078"],
                   "events": refs or []},
        )
        return inc.id
