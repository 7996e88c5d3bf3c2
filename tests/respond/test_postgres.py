"""A plan run on the case store on a real PostgreSQL server (the production store): migration 0002, row
locks, approvals, rollback, journal."""

from __future__ import annotations

import pytest

from rempart.adapters import registry
from rempart.domain.inventory import Group
from rempart.respond import service
from rempart.respond.plan import LoadedPlan
from rempart.store import journal
from rempart.store.db import Store
from tests.identities.helpers import actor
from tests.respond.helpers import make_incident
from tests.store.test_postgres import pg_url  # noqa: F401  (the fixture that starts the server)


@pytest.mark.postgres
def test_plan_run_on_postgresql(pg_url: str, plan: LoadedPlan, group: Group) -> None:  # noqa: F811
    store = Store(pg_url)
    try:
        make_incident(store, ref="INC-0901")
        ads = registry.build(None)
        run = service.respond(store, "INC-0901", plan, group, ads, "test")
        assert run.step(1).status == "verified" and run.status == "awaiting_approval"
        service.approve(store, run.run_id, 6, actor("c.martin"), ads)
        done = service.approve(store, run.run_id, 6, actor("m.durand"), ads)
        assert done.step(6).status == "verified"
        assert service.reopen_access(store, run.run_id, "vpn-nomade", "recover", ads).ok
        assert service.rollback(store, run.run_id, None, "test", ads).ok
        with store.session() as s:
            assert journal.verify(s) == []
    finally:
        store.close()
