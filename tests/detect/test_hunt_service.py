"""The hunt service: a second hunt into the same event store evaluates only its own events."""

from __future__ import annotations

from pathlib import Path

from rempart.detect.hunt import hunt
from rempart.events import EventStore

RULES = Path(__file__).resolve().parents[2] / "rules"
SAMPLES = RULES / "samples"


def test_second_hunt_into_the_same_store_alerts_only_on_its_own_events(tmp_path: Path) -> None:
    first = SAMPLES / "win_shadow_copy_deletion" / "positive.ndjson"
    second = SAMPLES / "win_lsass_dump_tools" / "positive.ndjson"
    assert first.exists() and second.exists()
    store = EventStore(tmp_path / "events.duckdb")
    try:
        a = hunt([first], [RULES], store=store, cache_dir=tmp_path / "cache")
        b = hunt([second], [RULES], store=store, cache_dir=tmp_path / "cache")
        assert store.count() == a.events + b.events
    finally:
        store.close()
    assert a.alerts and b.alerts
    assert {e.source for al in a.alerts for e in al.events} == {str(first)}
    assert {e.source for al in b.alerts for e in al.events} == {str(second)}
    assert b.timings.rules < 5 and b.plan.rules  # second compile comes from the cache


def test_scopes_evaluated_side_by_side_give_the_alerts_of_one_at_a_time(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import rempart.detect.plan as plan_mod

    def alerts(threads: int) -> list[tuple[str, str, int]]:
        monkeypatch.setattr(plan_mod, "DETECT_THREADS", threads)
        with EventStore() as store:
            found = hunt([SAMPLES], [RULES], store=store, cache_dir=tmp_path / "cache")
        assert found.plan.groups_evaluated > 2  # several scopes, so several threads have work
        return sorted((a.rule_id, e.source, e.record) for a in found.alerts for e in a.events)

    one = alerts(1)
    assert len({rule for rule, _, _ in one}) >= 5
    assert alerts(3) == one
