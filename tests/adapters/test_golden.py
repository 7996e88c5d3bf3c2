"""Golden plans: for each adapter and verb, the exact commands it would run, compared without running them.

Regenerate after an intended change with ``REMPART_UPDATE_GOLDEN=1 pytest tests/adapters/test_golden.py``
and review the diff: it is the diff of what rempart will do to the clinics' systems.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import orjson
import pytest

from rempart.adapters.dummy import DummyAdapter
from rempart.adapters.manual import ManualAdapter
from rempart.adapters.nftables import NftablesAdapter
from rempart.adapters.postfix import PostfixAdapter
from rempart.adapters.ssh import SshAdapter
from rempart.adapters.webhook import WebhookAdapter
from rempart.inventory import load_group
from rempart.respond.interface import VERBS, Action, Adapter
from rempart.respond.plan import load_plan
from rempart.respond.selection import IncidentFacts, Level, expand
from tests.conftest import EXAMPLES

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("REMPART_UPDATE_GOLDEN") == "1"


@functools.cache
def example_actions() -> dict[str, list[Action]]:
    """The example plan's steps resolved for a fixed incident at Capitouls, by step id."""
    group = load_group(EXAMPLES / "group.yaml")
    plan = load_plan(EXAMPLES / "plan.yaml", group).plan
    facts = IncidentFacts(
        1,
        "INC-0001",
        "capitouls",
        Level.CRITICAL,
        ("credential-access", "impact"),
        ("T1003.001",),
        ("rempart-lsass-dump",),
        ("tls-cap-ws002",),
    )
    specs = expand(plan.playbooks[0], facts, group, "r1")
    out = {s.step_id: s.actions for s in specs}
    out["webhook"] = [
        Action(
            "call",
            "r1-hyperviseur-capitouls",
            "capitouls",
            "capitouls",
            {
                "request": {
                    "url": "https://hv.horizon-sante.example/api/isolate",
                    "method": "POST",
                    "body": {"site": "capitouls", "incident": "INC-0001"},
                    "verify": {"url": "https://hv.horizon-sante.example/api/isolate/capitouls"},
                    "rollback": {
                        "url": "https://hv.horizon-sante.example/api/release",
                        "body": {"site": "capitouls"},
                    },
                }
            },
        )
    ]
    return out


SSH = {"known_hosts": Path("/etc/rempart/known_hosts"), "identity": Path("/etc/rempart/id_ed25519")}
CASES: list[tuple[str, Adapter, list[str]]] = [
    (
        "nftables",
        NftablesAdapter({"capitouls": ["ip", "netns", "exec", "fw-capitouls"]}),
        ["fermer-acces-externes", "suspendre-flux-messagerie", "isoler-postes-compromis"],
    ),
    ("ssh", SshAdapter(**SSH, user="rempart"), ["arreter-dpi-fichiers"]),  # type: ignore[arg-type]
    ("postfix", PostfixAdapter(**SSH, user="rempart"), ["retenir-file-postfix"]),  # type: ignore[arg-type]
    ("webhook", WebhookAdapter(), ["webhook"]),
    ("manual", ManualAdapter(), ["deconnecter-sauvegardes", "appeler-ars"]),
    ("dummy", DummyAdapter(), ["fermer-acces-externes"]),
]


@pytest.mark.parametrize(("name", "adapter", "steps"), CASES, ids=[c[0] for c in CASES])
def test_golden_plan(name: str, adapter: Adapter, steps: list[str]) -> None:
    actions = example_actions()
    got = {
        step: {verb: [op.to_dict() for op in adapter.plan(verb, actions[step])] for verb in VERBS}
        for step in steps
    }
    path = GOLDEN / f"{name}.json"
    text = orjson.dumps(got, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path}: run with REMPART_UPDATE_GOLDEN=1 and review it"
    assert orjson.loads(path.read_bytes()) == orjson.loads(text)


def test_every_adapter_module_has_a_golden_file() -> None:
    modules = {p.stem for p in (Path(__file__).parents[2] / "src/rempart/adapters").glob("*.py")}
    infrastructure = {"__init__", "execute", "registry", "netlab"}
    # the notification relay has no verbs to plan: it is tested against a real SMTP server (tests/notify)
    infrastructure |= {"smtp", "smtp_sink"}
    assert modules - infrastructure == {c[0] for c in CASES}


def test_golden_nft_transaction_keeps_allowlist_and_own_networks() -> None:
    nft = orjson.loads((GOLDEN / "nftables.json").read_bytes())
    (apply,) = nft["fermer-acces-externes"]["apply"]
    assert apply["argv"] == ["ip", "netns", "exec", "fw-capitouls", "nft", "-j", "-f", "-"]
    body = orjson.loads(apply["stdin"])["nftables"]
    rules = [c["add"]["rule"] for c in body if "rule" in c.get("add", {})]
    for rule in rules:
        saddr = [
            e["match"]
            for e in rule["expr"]
            if "match" in e and e["match"]["left"].get("payload", {}).get("field") == "saddr"
        ]
        assert saddr and saddr[0]["op"] == "!="
        assert {"prefix": {"addr": "10.250.0.0", "len": 24}} in saddr[0]["right"]["set"]
        assert {"prefix": {"addr": "10.11.0.0", "len": 16}} in saddr[0]["right"]["set"]


def test_example_adapters_file_is_valid() -> None:
    from rempart.adapters import registry

    config = registry.load_config(EXAMPLES / "adapters.yaml")
    adapters = registry.build(config)
    assert set(adapters) == set(registry.NAMES)
    nft = adapters["nftables"]
    assert isinstance(nft, NftablesAdapter)
    (op,) = nft.plan("apply", example_actions()["fermer-acces-externes"])
    assert op.argv[0] == "ssh" and "StrictHostKeyChecking=yes" in op.argv
    assert op.argv[-6:] == ("root@10.11.0.1", "--", "nft", "-j", "-f", "-")
