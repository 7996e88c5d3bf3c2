"""Property: whatever happens to the paper during a downtime, the report accounts for every serial once."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rempart.continuity import register, synthetic
from rempart.continuity.census import build_census
from rempart.continuity.kits import KitConfig, plan_kit
from rempart.continuity.reconcile import build_report
from rempart.continuity.snapshot import Snapshot
from rempart.domain.inventory import Establishment, Group
from rempart.errors import StateError
from rempart.store.db import Store
from rempart.store.models.continuity import SnapshotRow
from tests.continuity.conftest import NOW, TAKEN

RES = synthetic.synth_resources("prop", 6, seed=9, taken_at=TAKEN)
CENSUS = build_census(Snapshot("prop", TAKEN, {k: {r["id"]: r for r in v} for k, v in RES.items()}))
COUNTER = itertools.count(1)

actions = st.lists(
    st.tuples(st.integers(0, 10_000), st.sampled_from(["return", "enter", "void"])), max_size=80
)


@pytest.fixture(scope="module")
def prop_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    # one store for every example: each example gets an establishment of its own
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'p.sqlite'}")
    yield store
    store.close()


@settings(max_examples=60, deadline=None)
@given(ops=actions, hours=st.integers(1, 12))
def test_counts_add_up_and_no_serial_is_lost_or_counted_twice(
    prop_store: Store, group: Group, ops: list[tuple[int, str]], hours: int
) -> None:
    store = prop_store
    est = Establishment(
        id=f"prop{next(COUNTER)}",
        name="Clinique test",
        finess="310000099",
        city="Albi",
        region="Occitanie",
        staff=10,
    )
    plan = plan_kit(CENSUS, group, est, 1, NOW, config=KitConfig(hours=hours))
    expected = {f.serial: "issued" for f in plan.forms()}
    serials = sorted(expected)
    with store.session() as s:
        snap = SnapshotRow(establishment=est.id, taken_at=TAKEN, imported_at=TAKEN, path="-", counts={})
        s.add(snap)
        s.flush()
        register.register_kit(s, plan, snap.id, [], "test", bytes(32))
    at = NOW + timedelta(hours=1)
    for index, op in ops:
        serial = serials[index % len(serials)]
        with store.session() as s:
            try:
                if op == "return":
                    register.return_form(s, serial, at, "t")
                elif op == "void":
                    register.void_form(s, serial, "abîmé", at, "t")
                else:
                    register.mark_entered(s, register.get_form(s, serial), at, "t", 0)
            except StateError:
                continue
        expected[serial] = {"return": "returned", "void": "voided", "enter": "entered"}[op]
    with store.session() as s:
        report = build_report(s, est.id, at)
    listed = [
        x for status in ("returned", "entered", "voided", "unaccounted") for x in report.serials[status]
    ]
    assert sorted(listed) == serials  # every serial, each exactly once
    c = report.counts
    assert c["issued"] == len(serials) == c["returned"] + c["entered"] + c["voided"] + c["unaccounted"]
    assert sum(t["issued"] for t in report.by_type.values()) == c["issued"]
    for status in ("returned", "entered", "voided"):
        assert set(report.serials[status]) == {k for k, v in expected.items() if v == status}
    assert set(report.serials["unaccounted"]) == {k for k, v in expected.items() if v == "issued"}
    assert report.all_accounted == (c["returned"] == 0 and c["unaccounted"] == 0)
