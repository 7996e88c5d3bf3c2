"""Each console test gets its own copy of a case store in mid-crisis (see support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.support import Console, Crisis, build_template, copy_of


@pytest.fixture(scope="session")
def crisis_template(tmp_path_factory: pytest.TempPathFactory) -> Crisis:
    from argon2 import PasswordHasher

    from rempart.identities import passwords

    before = passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    try:
        return build_template(tmp_path_factory.mktemp("crisis") / "store")
    finally:
        passwords.use_hasher(before)


@pytest.fixture
def crisis(crisis_template: Crisis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Crisis:
    copy = copy_of(crisis_template, tmp_path / "store")
    monkeypatch.setenv("REMPART_DATABASE_URL", copy.url)
    return copy


@pytest.fixture
def console(crisis: Crisis) -> Iterator[Console]:
    c = Console(crisis)
    yield c
    c.close()
