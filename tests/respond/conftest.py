from __future__ import annotations

from collections.abc import Iterator

import pytest

from rempart.domain.inventory import Group
from rempart.inventory import load_group
from rempart.respond.plan import LoadedPlan, load_plan
from rempart.store.db import Store
from tests.conftest import EXAMPLES
from tests.respond.helpers import make_incident


@pytest.fixture(scope="session")
def group() -> Group:
    return load_group(EXAMPLES / "group.yaml")


@pytest.fixture(scope="session")
def plan(group: Group) -> LoadedPlan:
    return load_plan(EXAMPLES / "plan.yaml", group)


@pytest.fixture
def cases(store_url: str) -> Iterator[Store]:
    """A case store holding INC-0001: critical, credential access and impact, at Capitouls."""
    s = Store(store_url)
    make_incident(s)
    yield s
    s.close()
