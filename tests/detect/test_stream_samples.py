"""Streaming detection on real logs and real SigmaHQ rules: the alerts of a hunt, batch after batch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rempart.detect.hunt import hunt
from rempart.detect.stream import StreamDetector
from rempart.domain.alerts import Alert
from rempart.events import EventStore

RULE_FOLDERS = ["process_access", "builtin/security", "create_remote_thread", "pipe_created"]


def key(alerts: list[Alert]) -> list[tuple[object, ...]]:
    return sorted((a.rule_id, a.time, a.host, tuple((e.source, e.record) for e in a.events)) for a in alerts)


@pytest.mark.slow
def test_evtx_attack_samples_streamed_in_batches_give_the_hunts_alerts(shared_data: Path, tmp_path: Path
                                                                         ) -> None:
    rules = tmp_path / "rules"
    for folder in RULE_FOLDERS:
        shutil.copytree(shared_data / "sigma/rules/windows" / folder, rules / folder)
    with EventStore() as store:
        result = hunt([shared_data / "evtx-attack-samples"], [rules], store=store,
                      cache_dir=tmp_path / "cache", workers=1)
        assert len(result.alerts) > 100 and result.events == store.count()
        expected = key(result.alerts)
        for size in (997, store.count()):
            det = StreamDetector(result.plan, store)
            alerts: list[Alert] = []
            for first in range(0, store.count(), size):
                alerts += det.process(first, min(first + size, store.count()))
            assert key(alerts + det.flush()) == expected, size
