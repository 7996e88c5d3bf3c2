"""A small network of Linux network namespaces that stands for one clinic under attack.

Used by the real-firewall tests, the demo and the containment benchmark (root and iproute2 needed)::

    out (attacker)  ─┐
    soc (10.250.0.10)┼── core (router) ──┬── gw-A (clinic A's firewall: nftables runs here) ── srv-A
    B (second clinic)┘                    (A's servers: VPN, mail, DPI … with their inventory addresses)

Every address comes from the inventory (A's firewall asset on the gateway, A's other assets behind it,
B's assets in B), plus link addresses in 100.64.0.0/10 that exist only between these namespaces.
Small Python listeners accept TCP connections on the ports of each side's external accesses, so that
connectivity is checked with real connections, never by reading rules.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from rempart.domain.inventory import AssetRole, Establishment, Group

SOC_IP = "10.250.0.10"
OUTSIDE_MAIL_PORT = 25

LISTENER = r"""
import selectors, socket, sys
sel = selectors.DefaultSelector()
for port in sys.argv[1:]:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(port))); s.listen(64); s.setblocking(False); sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        try:
            conn, _ = key.fileobj.accept(); conn.close()
        except OSError:
            pass
"""

PROBE = r"""
import socket, sys, threading
timeout = float(sys.argv[1]); checks = [c.split(",") for c in sys.argv[2:]]; out = [0] * len(checks)
def one(i, src, dst, port):
    try:
        socket.create_connection((dst, int(port)), timeout=timeout, source_address=(src, 0)).close()
        out[i] = 1
    except OSError:
        pass
ts = [threading.Thread(target=one, args=(i, *c)) for i, c in enumerate(checks)]
[t.start() for t in ts]; [t.join() for t in ts]
print("".join(map(str, out)))
"""


def _ip(*args: str, ns: str | None = None) -> None:
    argv = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    subprocess.run(argv, check=True, capture_output=True, text=True)


def available() -> str | None:
    """None when the lab can be built here, else why not."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and nftables)"
    for tool in ("ip", "nft"):
        if subprocess.run(["which", tool], check=False, capture_output=True).returncode != 0:
            return f"needs the '{tool}' command"
    return None


def _v4(ips: list[str]) -> list[str]:
    return [ip for ip in ips if ":" not in ip]


@dataclass
class Side:
    ns: str
    addresses: list[str]
    ports: list[int] = field(default_factory=list)


@dataclass
class NetLab:
    group: Group
    attacked: str
    other: str
    attacker_ip: str
    prefix: str = field(default_factory=lambda: "rp" + uuid.uuid4().hex[:6])
    sides: dict[str, Side] = field(default_factory=dict)
    listeners: list[subprocess.Popen[str]] = field(default_factory=list)

    # -- layout ------------------------------------------------------------------------------------
    def _layout(self) -> None:
        a = self.group.establishment(self.attacked)
        b = self.group.establishment(self.other)
        fw = a.assets_with_role(AssetRole.FIREWALL)[0]
        p = self.prefix
        self.sides = {
            "out": Side(f"{p}-out", [self.attacker_ip], [OUTSIDE_MAIL_PORT]),
            "soc": Side(f"{p}-soc", [SOC_IP]),
            "gw": Side(f"{p}-gwa", _v4(fw.ips), self._ports(a, {fw.short_name})),
            "srv": Side(
                f"{p}-srva",
                [ip for x in a.assets if x is not fw for ip in _v4(x.ips)],
                sorted({*self._ports(a, {x.short_name for x in a.assets if x is not fw}), 22}),
            ),
            "b": Side(f"{p}-b", [ip for x in b.assets for ip in _v4(x.ips)], self._ports(b, None)),
        }

    @staticmethod
    def _ports(est: Establishment, gateways: set[str] | None) -> list[int]:
        return sorted(
            {
                pt.port
                for x in est.external_accesses
                for pt in x.ports
                if pt.proto == "tcp" and (gateways is None or x.gateway.split(".")[0].lower() in gateways)
            }
        )

    @property
    def core(self) -> str:
        return f"{self.prefix}-core"

    @property
    def gateway_ns(self) -> str:
        return self.sides["gw"].ns

    @property
    def firewalls(self) -> dict[str, list[str]]:
        """The nftables adapter's argv prefix for the attacked clinic's firewall."""
        return {self.attacked: ["ip", "netns", "exec", self.gateway_ns]}

    # -- building ----------------------------------------------------------------------------------
    def up(self) -> NetLab:
        self._layout()
        try:
            self._build()
        except BaseException:
            self.down()
            raise
        return self

    def _link(self, i: int, left: str, right: str, lnet: str) -> None:
        la, ra = f"{self.prefix}l{i}", f"{self.prefix}r{i}"
        _ip("ip", "link", "add", la, "type", "veth", "peer", "name", ra)
        _ip("ip", "link", "set", la, "netns", left)
        _ip("ip", "link", "set", ra, "netns", right)
        _ip("ip", "addr", "add", f"{lnet}.1/24", "dev", la, ns=left)
        _ip("ip", "addr", "add", f"{lnet}.2/24", "dev", ra, ns=right)
        _ip("ip", "link", "set", la, "up", ns=left)
        _ip("ip", "link", "set", ra, "up", ns=right)

    def _build(self) -> None:
        s = self.sides
        for ns in [self.core, *(x.ns for x in s.values())]:
            _ip("ip", "netns", "add", ns)
            _ip("ip", "link", "set", "lo", "up", ns=ns)
            for key in (
                "net.ipv4.ip_forward=1",
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
            ):
                _ip("sysctl", "-qw", key, ns=ns)
        # core ↔ out, soc, gw, b; gw ↔ srv
        for i, name in enumerate(("out", "soc", "gw", "b"), start=1):
            self._link(i, self.core, s[name].ns, f"100.64.{i}")
            _ip("ip", "route", "add", "default", "via", f"100.64.{i}.1", ns=s[name].ns)
        self._link(9, s["gw"].ns, s["srv"].ns, "100.65.9")
        _ip("ip", "route", "add", "default", "via", "100.65.9.1", ns=s["srv"].ns)
        for name, side in s.items():
            for addr in side.addresses:
                _ip("ip", "addr", "add", f"{addr}/32", "dev", "lo", ns=side.ns)
                hop = {"out": 1, "soc": 2, "gw": 3, "srv": 3, "b": 4}[name]
                _ip("ip", "route", "replace", f"{addr}/32", "via", f"100.64.{hop}.2", ns=self.core)
                if name == "srv":
                    _ip("ip", "route", "replace", f"{addr}/32", "via", "100.65.9.2", ns=s["gw"].ns)
        for side in s.values():
            if side.ports:
                self._listen(side)

    def _listen(self, side: Side) -> None:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", side.ns, sys.executable, "-c", LISTENER, *map(str, side.ports)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.listeners.append(proc)
        line = proc.stdout.readline() if proc.stdout else ""
        if line.strip() != "ready":
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"listener in {side.ns} did not start: {err[-300:]}")

    def down(self) -> None:
        """Kill the listeners and delete every namespace of this lab (safe to call twice)."""
        for proc in self.listeners:
            proc.kill()
            proc.wait()
        self.listeners.clear()
        for ns in [self.core, *(x.ns for x in self.sides.values())]:
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)

    # -- probing -----------------------------------------------------------------------------------
    def probe(self, side: str, checks: list[tuple[str, str, int]], timeout: float = 0.5) -> list[bool]:
        """Real TCP connections from ``side``: (source address, destination address, port) → connected?"""
        args = [f"{src},{dst},{port}" for src, dst, port in checks]
        done = subprocess.run(
            ["ip", "netns", "exec", self.sides[side].ns, sys.executable, "-c", PROBE, str(timeout), *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return [c == "1" for c in done.stdout.strip()]

    def script(self) -> Path:
        return Path(__file__)
