"""Crash safety at every point: the process "dies" (an exception nothing catches) before or after an
adapter acts, or while verifying; a new process resumes. Whatever the point, every action of the
automatic steps ends applied exactly once and verified, and the journal verifies."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from rempart.adapters.dummy import DummyAdapter
from rempart.adapters.manual import ManualAdapter
from rempart.domain.inventory import Group
from rempart.respond import service
from rempart.respond.interface import Action, Adapter, Outcome, Verification
from rempart.respond.plan import LoadedPlan
from rempart.store import journal
from rempart.store.db import Store
from tests.respond.helpers import make_incident

AUTOMATIC = [
    "fermer-acces-externes",
    "suspendre-flux-messagerie",
    "retenir-file-postfix",
    "isoler-postes-compromis",
]


class Crash(BaseException):
    """The process dies here: nothing in rempart catches it."""


class CrashingDummy(DummyAdapter):
    """Records to a shared file like the dummy; dies once, at the n-th call of ``when``."""

    def __init__(self, name: str, record: Path, when: str, n: int, budget: list[int]) -> None:
        super().__init__(name, record)
        self.when, self.n, self.budget = when, n, budget

    def _maybe(self, when: str) -> None:
        if when == self.when and self.budget[0] > 0:
            self.budget[1] += 1
            if self.budget[1] == self.n:
                self.budget[0] -= 1
                raise Crash(when)

    def apply(self, actions: Sequence[Action], timeout: float) -> Outcome:
        self._maybe("before-apply")
        out = super().apply(actions, timeout)
        self._maybe("after-apply")
        return out

    def verify(self, actions: Sequence[Action], timeout: float) -> Verification:
        self._maybe("verify")
        return super().verify(actions, timeout)


POINTS = [(when, n) for when in ("before-apply", "after-apply", "verify") for n in (1, 2, 3, 4)]


@pytest.mark.parametrize(("when", "n"), POINTS, ids=[f"{w}-{n}" for w, n in POINTS])
def test_resume_after_a_crash_at_any_point(
    tmp_path: Path, plan: LoadedPlan, group: Group, when: str, n: int
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    make_incident(store)
    record = tmp_path / "record.jsonl"
    budget = [1, 0]  # one crash in the whole story, at the n-th matching call across adapters
    adapters: dict[str, Adapter] = {
        name: CrashingDummy(name, record, when, n, budget)
        for name in ("nftables", "ssh", "postfix", "webhook")
    }
    adapters["manual"] = ManualAdapter()
    with pytest.raises(Crash):
        service.respond(store, "INC-0001", plan, group, adapters, "test", sleep=lambda _: None)
    report = service.respond(store, "INC-0001", plan, group, adapters, "test", sleep=lambda _: None)
    assert [report.step(s).status for s in AUTOMATIC] == ["verified"] * 4
    counts = Counter(e["key"] for e in DummyAdapter("x", record).entries() if e["verb"] == "apply")
    assert len(counts) == 8 and set(counts.values()) == {1}, counts
    with store.session() as s:
        assert journal.verify(s) == []
    store.close()
