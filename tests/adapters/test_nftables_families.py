"""An access published on IPv4 and IPv6 is closed on both: one rule per family, loaded by the kernel."""

from __future__ import annotations

import subprocess
import uuid
from typing import Any

import pytest

from rempart.adapters import netlab
from rempart.adapters.nftables import NftablesAdapter, rules_for
from rempart.respond.interface import Action, AdapterError
from tests.conftest import need

ACTION = Action(
    "close_access",
    "r1-fermer-x-vpn",
    "x",
    "vpn",
    {
        "ports": [{"proto": "tcp", "port": 443}, {"proto": "udp", "port": 1194}],
        "dst": ["192.0.2.11", "2001:db8:11::2", "10.11.0.0/16"],
        "internal": ["10.11.0.0/16", "2001:db8:11::/48"],
        "allow": ["10.250.0.0/24"],
    },
    ("vpn",),
)


def families(rules: list[list[Any]]) -> list[str]:
    """The address family of each rule's destination match."""
    out = []
    for rule in rules:
        for e in rule:
            payload = e.get("match", {}).get("left", {}).get("payload", {})
            if payload.get("field") == "daddr":
                out.append(payload["protocol"])
    return out


def test_one_rule_per_protocol_and_family() -> None:
    rules = rules_for(ACTION)["forward"]
    assert families(rules) == ["ip", "ip6", "ip", "ip6"]  # tcp v4/v6, then udp v4/v6
    v6 = rules[1]
    text = str(v6)
    assert "2001:db8:11::2" in text and "192.0.2.11" not in text
    # no IPv6 allowlist entry: the v6 rule still spares the clinic's own v6 network
    assert "'addr': '2001:db8:11::', 'len': 48" in text


@pytest.mark.root
def test_kernel_accepts_and_reads_back_both_families() -> None:
    reason = netlab.available()
    need(reason is None, reason or "")
    ns = "rp" + uuid.uuid4().hex[:6] + "-v6"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        nft = NftablesAdapter({"x": ["ip", "netns", "exec", ns]})
        nft.apply([ACTION], 10)
        assert nft.verify([ACTION], 10).all_in_place
        nft.rollback([ACTION], 10)
        assert nft.verify([ACTION], 10).in_place == {ACTION.key: False}
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def test_unconfigured_firewall_is_refused_not_guessed() -> None:
    nft = NftablesAdapter({"elsewhere": ["ip", "netns", "exec", "fw"]})
    (op,) = nft.plan("apply", [ACTION])  # the dry run still shows the command
    assert op.argv == ("nft", "-j", "-f", "-")
    with pytest.raises(AdapterError, match="no firewall configured for establishment 'x'"):
        nft.apply([ACTION], 5)
