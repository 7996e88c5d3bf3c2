"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()
EXAMPLES = ROOT / "examples"
IN_CI = os.environ.get("CI", "").lower() == "true"


def need(condition: bool, reason: str) -> None:
    """Skip when a test's environment is missing — but never under CI, where it must be there."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    need(SHARED_DATA.is_dir(), f"public data not found at {SHARED_DATA} (../shared/data beside the checkout)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def example_group_path() -> Path:
    return EXAMPLES / "group.yaml"


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cases.sqlite'}"


@pytest.fixture
def store(store_url: str) -> Iterator[object]:
    from rempart.store.db import Store

    s = Store(store_url)
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _identities_for_tests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A cheap Argon2 profile (tests only) and a session file per test, never the user's own."""
    from argon2 import PasswordHasher

    from rempart.identities import passwords

    monkeypatch.setenv("REMPART_SESSION_FILE", str(tmp_path / "session"))
    monkeypatch.delenv("REMPART_TOKEN", raising=False)
    before = passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    yield
    passwords.use_hasher(before)
