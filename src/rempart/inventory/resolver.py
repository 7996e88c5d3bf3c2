"""Attribute a host name or an address seen in a log to an establishment and an asset."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from rempart.domain.inventory import Group


@dataclass(frozen=True)
class Attribution:
    establishment: str
    asset: str | None  # the asset's hostname, None when only the network matched


class Resolver:
    """Host → establishment lookup; an unknown host resolves to None (kept, attributed to nobody).

    It also tells the time zone of an event's zone-less times (see :meth:`zone`): the asset's, else its
    establishment's, else the group's; ``default_zone`` (else the group's, else UTC) for a host outside
    the inventory.
    """

    def __init__(self, group: Group | None, default_zone: str | None = None) -> None:
        self.group = group
        self.default_zone = default_zone or (group.timezone if group is not None else "UTC")
        self._zones: dict[tuple[str, str | None], str] = {}
        self._by_name: dict[str, Attribution] = {}
        self._by_ip: dict[str, Attribution] = {}
        self._networks: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = []
        if group is None:
            return
        for est in group.establishments:
            zone = est.timezone or group.timezone
            self._zones[(est.id, None)] = zone
            for asset in est.assets:
                self._zones[(est.id, asset.hostname)] = asset.timezone or zone
                att = Attribution(est.id, asset.hostname)
                self._by_name[asset.short_name] = att
                self._by_name[asset.hostname.lower()] = att
                for ip in asset.ips:
                    self._by_ip[ip] = att
            for net in est.networks:
                self._networks.append((ipaddress.ip_network(net, strict=False), est.id))
        # most specific network first
        self._networks.sort(key=lambda item: item[0].prefixlen, reverse=True)
        self.resolve = lru_cache(maxsize=65536)(self._resolve)  # type: ignore[method-assign]

    def resolve(self, host: str | None) -> Attribution | None:
        return self._resolve(host)

    def zone(self, establishment: str | None, asset: str | None) -> str:
        """The time zone of zone-less times logged by `asset` of `establishment` (both None: outside the
        inventory)."""
        if establishment is None:
            return self.default_zone
        return self._zones.get((establishment, asset)) or self._zones.get((establishment, None)) or \
            self.default_zone

    def _resolve(self, host: str | None) -> Attribution | None:
        if not host:
            return None
        text = host.strip().lower()
        found = self._by_name.get(text) or self._by_name.get(text.split(".")[0])
        if found is not None:
            return found
        return self.resolve_ip(text)

    def resolve_ip(self, text: str | None) -> Attribution | None:
        if not text:
            return None
        found = self._by_ip.get(text)
        if found is not None:
            return found
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            return None
        for net, est in self._networks:
            if addr.version == net.version and addr in net:
                return Attribution(est, None)
        return None
