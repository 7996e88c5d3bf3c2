"""nftables, the reference firewall, through its JSON interface (``nft -j``).

Everything rempart adds lives in its own table (``inet rempart``), one pair of base chains per action,
named after the action's key (``r12-close-accesses-capitouls-vpn-nomade-in`` …) at priority -10, so they
run before the site's own filter and a drop there is final. Hence:

* apply is one ``nft -j -f -`` transaction per firewall (atomic), and idempotent: ``add chain`` then
  ``flush chain`` then the rules, so re-applying yields the same ruleset;
* verify reads the live ruleset back (``nft -j list table``) and checks each chain and its rule count;
* rollback deletes only the chains of the actions given (those that exist), and the table once empty.

Rules never cut the SOC / management allowlist nor the establishment's own networks (inbound rules match
only sources outside both). Where the firewall is (a network namespace, a local host, a remote one through
ssh) is an argv prefix per establishment.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from rempart.adapters.execute import run
from rempart.respond.interface import Action, AdapterError, Operation, Outcome, Verb, Verification

Json = dict[str, Any]
PRIORITY = -10


FAMILIES = (("ip", 4), ("ip6", 6))


def _of(family: str, addrs: Sequence[str]) -> list[str]:
    """The addresses of one family (``ip`` / ``ip6``): each rule matches one family's header."""
    version = dict(FAMILIES)[family]
    return [a for a in addrs if ipaddress.ip_network(a, strict=False).version == version]


def _elements(addrs: Sequence[str]) -> list[Any]:
    parsed = [ipaddress.ip_network(a, strict=False) for a in addrs]
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = [
        *ipaddress.collapse_addresses(n for n in parsed if isinstance(n, ipaddress.IPv4Network)),
        *ipaddress.collapse_addresses(n for n in parsed if isinstance(n, ipaddress.IPv6Network)),
    ]
    return [
        str(n.network_address)
        if n.prefixlen == n.max_prefixlen
        else {"prefix": {"addr": str(n.network_address), "len": n.prefixlen}}
        for n in nets
    ]


def _match(field: tuple[str, str], values: Sequence[str], op: str = "==") -> Json:
    return {
        "match": {
            "op": op,
            "left": {"payload": {"protocol": field[0], "field": field[1]}},
            "right": {"set": _elements(_of(field[0], values))},
        }
    }


def _ports(proto: str, ports: Sequence[int]) -> list[Json]:
    return [
        {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": proto}},
        {
            "match": {
                "op": "==",
                "left": {"payload": {"protocol": "th", "field": "dport"}},
                "right": {"set": sorted(set(ports))},
            }
        },
    ]


def _not_from(family: str, sources: Sequence[str]) -> list[Json]:
    return [_match((family, "saddr"), sources, "!=")] if _of(family, sources) else []


def _not_to(family: str, dests: Sequence[str]) -> list[Json]:
    return [_match((family, "daddr"), dests, "!=")] if _of(family, dests) else []


DROP: list[Json] = [{"counter": None}, {"drop": None}]


@dataclass
class LiveChain:
    """One of our chains as read back from the kernel."""

    hook: str | None = None
    rules: list[list[Json]] = field(default_factory=list)


def rules_for(action: Action) -> dict[str, list[list[Json]]]:
    """The rules of one action, by hook (``input`` / ``forward``): what the firewall will hold.

    One rule per address family present (IPv4 ``ip``, IPv6 ``ip6``), so that an access published on
    both is closed on both.
    """
    p = action.params
    trusted = list(p.get("internal", [])) + list(p.get("allow", []))
    allow = list(p.get("allow", []))
    if action.verb == "close_access":
        by_proto: dict[str, list[int]] = {}
        for port in p["ports"]:
            by_proto.setdefault(port["proto"], []).append(int(port["port"]))
        rules = [
            [*_ports(proto, ports), _match((fam, "daddr"), p["dst"]), *_not_from(fam, trusted), *DROP]
            for proto, ports in sorted(by_proto.items())
            for fam, _ in FAMILIES
            if _of(fam, p["dst"])
        ]
        return {"input": rules, "forward": rules}
    hosts = list(p.get("hosts", []))
    families = [fam for fam, _ in FAMILIES if _of(fam, hosts)]
    if action.verb == "block_mail":
        out = [
            [_match((f, "saddr"), hosts), *_ports("tcp", p["ports_out"]), *_not_to(f, allow), *DROP]
            for f in families
        ]
        inbound = [
            [_match((f, "daddr"), hosts), *_ports("tcp", p["ports_in"]), *_not_from(f, trusted), *DROP]
            for f in families
        ]
        return {"forward": out + inbound}
    if action.verb == "isolate_host":
        return {
            "forward": [
                rule
                for f in families
                for rule in (
                    [_match((f, "saddr"), hosts), *_not_to(f, allow), *DROP],
                    [_match((f, "daddr"), hosts), *_not_from(f, allow), *DROP],
                )
            ]
        }
    raise AdapterError(f"nftables cannot perform '{action.verb}'")


def chain_name(action: Action, hook: str) -> str:
    return f"{action.key}-{hook[:2] if hook == 'input' else 'fw'}"


class NftablesAdapter:
    name = "nftables"

    def __init__(
        self,
        firewalls: Mapping[str, Sequence[str]] | None = None,
        default: Sequence[str] | None = None,
        table: str = "rempart",
        nft: str = "nft",
    ) -> None:
        self.firewalls = {k: tuple(v) for k, v in (firewalls or {}).items()}
        # None: an establishment without an entry has no known firewall. Refusing then is deliberate:
        # falling back to the local host would load a clinic's containment into the wrong firewall.
        self.default = None if default is None else tuple(default)
        self.table = table
        self.nft = nft

    # -- building --------------------------------------------------------------------------------
    def _prefix(self, establishment: str, running: bool = True) -> tuple[str, ...]:
        prefix = self.firewalls.get(establishment, self.default)
        if prefix is None:
            if running:
                raise AdapterError(
                    f"no firewall configured for establishment '{establishment}' "
                    "(adapters file: nftables.firewalls, or nftables.default)"
                )
            return ()  # a dry run still shows the commands, as they would run on the firewall itself
        return prefix

    def _batches(self, actions: Sequence[Action]) -> dict[str, list[Action]]:
        out: dict[str, list[Action]] = {}
        for a in actions:
            out.setdefault(a.establishment, []).append(a)
        return out

    def _tbl(self) -> Json:
        return {"family": "inet", "table": self.table}

    def add_transaction(self, actions: Sequence[Action]) -> Json:
        cmds: list[Json] = [{"add": {"table": {"family": "inet", "name": self.table}}}]
        for a in actions:
            for hook, rules in rules_for(a).items():
                name = chain_name(a, hook)
                cmds.append(
                    {
                        "add": {
                            "chain": {
                                **self._tbl(),
                                "name": name,
                                "type": "filter",
                                "hook": hook,
                                "prio": PRIORITY,
                                "policy": "accept",
                            }
                        }
                    }
                )
                cmds.append({"flush": {"chain": {**self._tbl(), "name": name}}})
                for expr in rules:
                    cmds.append(
                        {
                            "add": {
                                "rule": {
                                    **self._tbl(),
                                    "chain": name,
                                    "expr": expr,
                                    "comment": f"rempart {a.verb} {a.target}"[:120],
                                }
                            }
                        }
                    )
        return {"nftables": cmds}

    def delete_transaction(self, names: Sequence[str], drop_table: bool) -> Json:
        cmds: list[Json] = [{"delete": {"chain": {**self._tbl(), "name": n}}} for n in names]
        if drop_table:
            cmds.append({"delete": {"table": {"family": "inet", "name": self.table}}})
        return {"nftables": cmds}

    def _load_op(self, prefix: tuple[str, ...], body: Json, why: str) -> Operation:
        return Operation("exec", (*prefix, self.nft, "-j", "-f", "-"), orjson.dumps(body).decode(), why=why)

    def _list_op(self, prefix: tuple[str, ...]) -> Operation:
        return Operation(
            "exec",
            (*prefix, self.nft, "-j", "list", "table", "inet", self.table),
            why="read the live ruleset back",
        )

    def _names(self, actions: Sequence[Action]) -> list[str]:
        return [chain_name(a, hook) for a in actions for hook in rules_for(a)]

    def plan(self, verb: Verb, actions: Sequence[Action]) -> list[Operation]:
        ops: list[Operation] = []
        for est, batch in self._batches(actions).items():
            prefix = self._prefix(est, running=False)
            if verb == "apply":
                ops.append(
                    self._load_op(prefix, self.add_transaction(batch), f"one atomic transaction on {est}")
                )
            elif verb == "verify":
                ops.append(self._list_op(prefix))
            else:
                ops.append(self._list_op(prefix))
                ops.append(
                    self._load_op(
                        prefix,
                        self.delete_transaction(self._names(batch), False),
                        "delete rempart's chains of these actions (those present)",
                    )
                )
        return ops

    # -- running ---------------------------------------------------------------------------------
    def _live(self, prefix: tuple[str, ...], timeout: float) -> dict[str, LiveChain]:
        """Chains of our table in the live ruleset (empty if the table is absent)."""
        done = run(self._list_op(prefix), timeout, check=False)
        if done.rc != 0:
            if "No such file or directory" in done.stderr:
                return {}
            raise AdapterError(f"cannot read the ruleset: {done.stderr.strip()[:300]}")
        chains: dict[str, LiveChain] = {}
        for item in orjson.loads(done.stdout).get("nftables", []):
            if "chain" in item:
                c = item["chain"]
                chains.setdefault(c["name"], LiveChain()).hook = c.get("hook")
            elif "rule" in item:
                r = item["rule"]
                chains.setdefault(r["chain"], LiveChain()).rules.append(r.get("expr", []))
        return chains

    @staticmethod
    def _matches(live: LiveChain | None, hook: str, rules: list[list[Json]]) -> bool:
        # the kernel prints rules back in its own normal form, so compare what matters: the chain is
        # a base chain on the right hook, holds as many rules as we loaded, and every one drops
        return (
            live is not None
            and live.hook == hook
            and len(live.rules) == len(rules)
            and all(any("drop" in e for e in expr) for expr in live.rules)
        )

    def apply(self, actions: Sequence[Action], timeout: float) -> Outcome:
        done = []
        for est, batch in self._batches(actions).items():
            op = self._load_op(self._prefix(est), self.add_transaction(batch), est)
            done.append(run(op, timeout).summary())
        return Outcome(True, done, f"{len(actions)} action(s) loaded in table inet {self.table}")

    def verify(self, actions: Sequence[Action], timeout: float) -> Verification:
        in_place: dict[str, bool] = {}
        for est, batch in self._batches(actions).items():
            live = self._live(self._prefix(est), timeout)
            for a in batch:
                in_place[a.key] = all(
                    self._matches(live.get(chain_name(a, hook)), hook, rules)
                    for hook, rules in rules_for(a).items()
                )
        return Verification(in_place, "read back with nft -j list table")

    def rollback(self, actions: Sequence[Action], timeout: float) -> Outcome:
        done = []
        for est, batch in self._batches(actions).items():
            prefix = self._prefix(est)
            live = self._live(prefix, timeout)
            names = [n for n in self._names(batch) if n in live]
            if not names:
                continue  # nothing of ours left: rolling back twice is harmless
            empty = set(live) <= set(names)
            done.append(
                run(self._load_op(prefix, self.delete_transaction(names, empty), est), timeout).summary()
            )
        return Outcome(True, done, f"removed rempart's chains for {len(actions)} action(s)")
