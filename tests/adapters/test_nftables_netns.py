"""The reference firewall for real: nftables in network namespaces, checked with real TCP connections."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rempart.adapters import netlab, registry
from rempart.adapters.netlab import NetLab
from rempart.inventory import load_group
from rempart.respond import service
from rempart.respond.plan import load_plan
from rempart.store import journal
from rempart.store.db import Store
from tests.conftest import EXAMPLES, need
from tests.respond.helpers import make_incident

pytestmark = pytest.mark.root
ATTACKER = "203.0.113.66"

# (name, side, source, destination, port, open after containment?)
FLOWS = [
    ("outside → A VPN", "out", ATTACKER, "192.0.2.11", 443, False),
    ("outside → A remote maintenance (TeamViewer)", "out", ATTACKER, "192.0.2.10", 5938, False),
    ("outside → A remote maintenance (ssh)", "out", ATTACKER, "192.0.2.10", 22, False),
    ("outside → A RDP gateway", "out", ATTACKER, "192.0.2.10", 3389, False),
    ("A mail server → outside SMTP", "srv", "10.11.1.40", ATTACKER, 25, False),
    ("outside → B VPN", "out", ATTACKER, "192.0.2.21", 443, True),
    ("outside → B remote maintenance", "out", ATTACKER, "192.0.2.20", 5938, True),
    ("A DPI server → outside port 25 (not a mail server)", "srv", "10.11.1.20", ATTACKER, 25, True),
    ("SOC → A DPI server ssh", "soc", netlab.SOC_IP, "10.11.1.20", 22, True),
    ("SOC → A VPN", "soc", netlab.SOC_IP, "192.0.2.11", 443, True),
    ("SOC → A mail server SMTP", "soc", netlab.SOC_IP, "10.11.1.40", 25, True),
]


def flows(lab: NetLab) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for side in ("out", "srv", "soc"):
        mine = [f for f in FLOWS if f[1] == side]
        got = lab.probe(side, [(f[2], f[3], f[4]) for f in mine])
        out.update({f[0]: ok for f, ok in zip(mine, got, strict=True)})
    return out


def ruleset(lab: NetLab) -> str:
    return subprocess.run(
        ["ip", "netns", "exec", lab.gateway_ns, "nft", "list", "ruleset"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture(scope="module")
def lab() -> Iterator[NetLab]:
    """One namespace network for the module (building it costs seconds); each test leaves it as found."""
    reason = netlab.available()
    need(reason is None, reason or "")
    group = load_group(EXAMPLES / "group.yaml")
    lab = NetLab(group, "capitouls", "saint-cyprien", ATTACKER).up()
    try:
        yield lab
    finally:
        lab.down()


def test_plan_closes_clinic_a_only_and_rollback_restores_every_flow(lab: NetLab, tmp_path: Path) -> None:
    # the site's own firewall table must survive containment and rollback untouched
    site = (
        "table inet site {\n chain input {\n type filter hook input priority 0; policy accept;\n"
        " tcp dport 9 counter accept\n }\n}\n"
    )
    subprocess.run(
        ["ip", "netns", "exec", lab.gateway_ns, "nft", "-f", "-"], input=site, text=True, check=True
    )
    before_rules = ruleset(lab)
    before = flows(lab)
    assert all(before.values()), before  # the lab works: every flow is open to begin with

    store = Store(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    make_incident(store, hosts=("tls-cap-ws002",))
    group = lab.group
    plan = load_plan(EXAMPLES / "plan.yaml", group)
    config = registry.AdaptersConfig.model_validate(
        {"nftables": {"firewalls": lab.firewalls}, "dummy_for": ["ssh", "postfix"]}
    )
    adapters = registry.build(config)
    report = service.respond(store, "INC-0001", plan, group, adapters, "test")
    by_id = {s.step_id: s.status for s in report.steps}
    assert by_id["fermer-acces-externes"] == "verified"
    assert by_id["suspendre-flux-messagerie"] == "verified"
    assert by_id["isoler-postes-compromis"] == "verified"

    after = flows(lab)
    expected = {name: still_open for name, *_, still_open in FLOWS}
    assert after == expected

    back = service.rollback(store, report.run_id, None, "test", adapters)
    assert back.ok, back
    assert flows(lab) == before
    assert ruleset(lab) == before_rules  # exactly what was added is gone, the site's table is intact
    with store.session() as s:
        assert journal.verify(s) == []
        actions = [e.action for e in journal.entries(s, f"run/{report.run_id}")]
    assert actions.index("apply.intent") < actions.index("apply.done") < actions.index("verify.ok")
    store.close()


def test_reopen_one_access_reopens_only_it(lab: NetLab, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    make_incident(store)
    plan = load_plan(EXAMPLES / "plan.yaml", lab.group)
    adapters = registry.build(
        registry.AdaptersConfig.model_validate(
            {"nftables": {"firewalls": lab.firewalls}, "dummy_for": ["ssh", "postfix"]}
        )
    )
    run = service.respond(store, "INC-0001", plan, lab.group, adapters, "test")
    result = service.reopen_access(store, run.run_id, "vpn-nomade", "recover", adapters)
    assert result.ok, result.message
    now = flows(lab)
    assert now["outside → A VPN"] is True
    assert now["outside → A remote maintenance (TeamViewer)"] is False
    assert now["A mail server → outside SMTP"] is False
    mail = service.reopen_access(store, run.run_id, "messagerie", "recover", adapters)
    assert mail.ok and flows(lab)["A mail server → outside SMTP"] is True
    assert service.show_run(store, run.run_id).step("fermer-acces-externes").rolled_back
    assert service.rollback(store, run.run_id, None, "test", adapters).ok
    assert all(flows(lab).values())
    store.close()


def test_verify_reads_the_live_ruleset_and_reapply_repairs_it(lab: NetLab) -> None:
    from rempart.adapters.nftables import NftablesAdapter, chain_name
    from rempart.respond.selection import IncidentFacts, Level, expand

    plan = load_plan(EXAMPLES / "plan.yaml", lab.group).plan
    facts = IncidentFacts(1, "INC-0001", "capitouls", Level.CRITICAL, ("impact",), (), (), ())
    close = expand(plan.playbooks[0], facts, lab.group, "r9")[0].actions
    nft = NftablesAdapter(lab.firewalls)
    assert nft.verify(close, 10).in_place == dict.fromkeys((a.key for a in close), False)
    nft.apply(close, 10)
    assert nft.verify(close, 10).all_in_place
    # someone empties one of our chains by hand: verification sees it, re-applying repairs it
    victim = chain_name(close[0], "forward")
    subprocess.run(
        ["ip", "netns", "exec", lab.gateway_ns, "nft", "flush", "chain", "inet", "rempart", victim],
        check=True,
    )
    seen = nft.verify(close, 10).in_place
    assert seen[close[0].key] is False and all(seen[a.key] for a in close[1:])
    assert flows(lab)["outside → A VPN"] is True  # the hole is real: the VPN is reachable again
    nft.apply(close, 10)
    assert nft.verify(close, 10).all_in_place
    assert flows(lab)["outside → A VPN"] is False
    nft.rollback(close, 10)
    nft.rollback(close, 10)  # idempotent
    assert "rempart" not in ruleset(lab)
    assert all(flows(lab).values())
