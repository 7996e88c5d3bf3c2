"""The identities tables: the migration matches the models, and it all works on PostgreSQL too."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from rempart.identities import service
from rempart.store.db import Store
from rempart.store.models import Base
from tests.identities.helpers import PASSWORD, account
from tests.store.test_postgres import pg_url  # noqa: F401  (the PostgreSQL server fixture)

TABLES = {"accounts", "auth_sessions", "api_tokens", "login_failures"}


def test_migration_0008_matches_the_models(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)

    # each difference names its table ('add_column', None, 'auth_sessions', Column(...)), or nests them
    ours = [d for d in diff if any(f"'{t}'" in repr(d) or f"<{t}>" in repr(d) for t in TABLES)]
    assert ours == []


@pytest.mark.postgres
def test_login_session_and_token_on_postgresql(pg_url: str) -> None:  # noqa: F811
    store = Store(pg_url)
    try:
        secret = account(store, "c.martin")
        at = datetime.now(UTC)
        done = service.login(store, "c.martin", PASSWORD, pyotp.TOTP(secret).at(at), "pg", at=at)
        assert service.resolve(store, done.token).person_id == "c.martin"
        token = service.create_token(store, done.actor, "pg")
        assert service.resolve(store, token).via == "token"
        assert service.logout(store, done.token)
    finally:
        store.close()
