"""Golden plan of each shipped playbook: every step, target and command, in order, for a fixed incident.

A change to the example plan, the inventory or an adapter shows here as a diff to review. Regenerate with
``REMPART_UPDATE_GOLDEN=1 .venv/bin/pytest tests/respond/test_playbook_golden.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from rempart.adapters.registry import AdaptersConfig, for_review
from rempart.domain.inventory import Group
from rempart.respond import service
from rempart.respond.plan import LoadedPlan
from rempart.store.db import Store
from tests.respond.helpers import make_incident

GOLDEN = Path(__file__).parent / "golden"
CONFIG = AdaptersConfig.model_validate(
    {
        "nftables": {"firewalls": {"capitouls": ["ip", "netns", "exec", "fw-capitouls"]}},
        "ssh": {"known_hosts": "/etc/rempart/known_hosts", "identity": "/etc/rempart/id_ed25519"},
        "postfix": {"known_hosts": "/etc/rempart/known_hosts", "identity": "/etc/rempart/id_ed25519"},
    }
)
CASES = {"intrusion-confirmee": ("critical", ("credential-access", "impact")), "suspicion": ("medium", ())}


@pytest.mark.parametrize("playbook", sorted(CASES))
def test_playbook_golden(playbook: str, store_url: str, plan: LoadedPlan, group: Group) -> None:
    severity, tactics = CASES[playbook]
    store = Store(store_url)
    make_incident(store, severity=severity, tactics=tactics)
    dry = service.dry_run(store, "INC-0001", plan, group, for_review(CONFIG))
    store.close()
    assert dry.playbook == playbook
    got = {
        "playbook": dry.playbook,
        "establishments": dry.establishments,
        "steps": [
            {
                "seq": s.seq,
                "id": s.step_id,
                "adapter": s.adapter,
                "approval": s.approval,
                "targets": s.targets,
                "apply": [op.to_dict() for op in s.operations],
                "rollback": [op.to_dict() for op in s.rollback],
            }
            for s in dry.steps
        ],
    }
    path = GOLDEN / f"playbook-{playbook}.json"
    if os.environ.get("REMPART_UPDATE_GOLDEN") == "1":
        path.write_bytes(orjson.dumps(got, option=orjson.OPT_INDENT_2) + b"\n")
    assert path.exists(), f"no golden file {path}: run with REMPART_UPDATE_GOLDEN=1 and review it"
    assert orjson.loads(path.read_bytes()) == orjson.loads(orjson.dumps(got))
