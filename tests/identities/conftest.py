"""The people, case store and logged-in accounts the identity tests share."""

from __future__ import annotations

from pathlib import Path

import pytest

from rempart.store.db import Store
from tests.conftest import EXAMPLES
from tests.identities.helpers import People
from tests.respond.helpers import make_incident

GROUP = str(EXAMPLES / "group.yaml")


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    """The example plan with an auditor and an IT technician of another clinic."""
    text = (EXAMPLES / "plan.yaml").read_text(encoding="utf-8")
    extra = (
        "- id: l.petit\n  name: Luc Petit (auditeur)\n  roles: [auditor]\n"
        "- id: t.moreau\n  name: Théo Moreau (informatique, Saint-Cyprien)\n  roles: [rssi]\n"
        "  establishments: [saint-cyprien]\n"
        "- id: e.expert\n  name: Eve Expert (investigatrice mandatée)\n  roles: [investigator]\n"
    )
    path = tmp_path / "plan.yaml"
    path.write_text(text.replace("\nplaybooks:", extra + "\nplaybooks:", 1), encoding="utf-8")
    return path


@pytest.fixture
def db(tmp_path: Path, plan: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cases.sqlite'}"
    monkeypatch.setenv("REMPART_DATABASE_URL", url)
    monkeypatch.setenv("REMPART_PLAN", str(plan))
    monkeypatch.setenv("REMPART_INVENTORY", GROUP)
    monkeypatch.setenv("COLUMNS", "200")
    store = Store(url)
    make_incident(store)
    store.close()
    return url


@pytest.fixture
def people(db: str, plan: Path) -> People:
    p = People(db, plan)
    assert p.run("c.martin", "respond", "INC-0001")[0] == 0
    return p
