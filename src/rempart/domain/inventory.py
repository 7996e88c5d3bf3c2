"""The group as the security plan sees it: group → poles → establishments → assets and external accesses."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
ZONE_HELP = ("time zone (IANA name) of the times that logs write without one: RFC 3164 syslog, FortiGate "
             "logs without tz, NXLog's EventTime")


def time_zone(value: str) -> str:
    """`value` when it names a time zone of the IANA database, else a ValueError saying what to write."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone '{value}': give an IANA name such as Europe/Paris or Indian/Reunion"
        ) from None
    return value


Zone = Annotated[str, AfterValidator(time_zone)]


class AssetRole(StrEnum):
    DOMAIN_CONTROLLER = "domain_controller"
    HIS_SERVER = "his_server"  # DPI / dossier patient informatisé
    FILE_SERVER = "file_server"
    MAIL_SERVER = "mail_server"
    VPN_GATEWAY = "vpn_gateway"
    FIREWALL = "firewall"
    DATABASE_SERVER = "database_server"
    WEB_SERVER = "web_server"
    BACKUP_SERVER = "backup_server"
    PACS_SERVER = "pacs_server"
    LAB_SERVER = "lab_server"
    PRINT_SERVER = "print_server"
    WORKSTATION = "workstation"
    DOWNTIME_PC = "downtime_pc"


class AccessKind(StrEnum):
    VPN = "vpn"
    REMOTE_MAINTENANCE = "remote_maintenance"
    PARTNER_LINK = "partner_link"
    RDP_GATEWAY = "rdp_gateway"
    MESSAGING = "messaging"
    PATIENT_PORTAL = "patient_portal"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Port(Strict):
    proto: Literal["tcp", "udp"] = "tcp"
    port: int = Field(ge=1, le=65535)

    def __str__(self) -> str:
        return f"{self.port}/{self.proto}"


def _parse_port(value: object) -> object:
    # "443/tcp" and 443 are both accepted: people write ports the way firewalls print them
    if isinstance(value, int):
        return {"proto": "tcp", "port": value}
    if isinstance(value, str):
        m = re.fullmatch(r"(\d+)(?:/(tcp|udp))?", value.strip())
        if not m:
            raise ValueError(f"port '{value}' is not of the form 443 or 443/tcp")
        return {"proto": m.group(2) or "tcp", "port": int(m.group(1))}
    return value


class Asset(Strict):
    hostname: str = Field(min_length=1)
    ips: list[str] = Field(default_factory=list)
    role: AssetRole
    services: list[str] = Field(
        default_factory=list, description="systemd / Windows services the plan may stop"
    )
    critical: bool = False
    ssh_user: str | None = None
    timezone: Zone | None = Field(default=None, description=ZONE_HELP + "; default: its establishment's")

    @field_validator("ips")
    @classmethod
    def _valid_ips(cls, value: list[str]) -> list[str]:
        for ip in value:
            ipaddress.ip_address(ip)
        return value

    @property
    def short_name(self) -> str:
        return self.hostname.split(".")[0].lower()


class ExternalAccess(Strict):
    id: Slug
    kind: AccessKind
    gateway: str = Field(description="hostname of the asset that carries this access")
    ports: list[Port] = Field(min_length=1)
    peer: str | None = Field(default=None, description="partner, vendor or network on the other side")
    peer_networks: list[str] = Field(default_factory=list)
    description: str = ""

    @field_validator("ports", mode="before")
    @classmethod
    def _ports(cls, value: object) -> object:
        if isinstance(value, list):
            return [_parse_port(v) for v in value]
        return value

    @field_validator("peer_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for net in value:
            ipaddress.ip_network(net, strict=False)
        return value


class NisCategory(StrEnum):
    ESSENTIAL = "essential"
    IMPORTANT = "important"
    NONE = "none"


class Establishment(Strict):
    id: Slug
    name: str
    finess: str = Field(pattern=r"^\d{2}[0-9AB]\d{6}$", description="FINESS number (9 characters)")
    city: str
    region: str = Field(description="administrative region, which names the ARS")
    staff: int = Field(ge=0)
    legal_entity: str | None = Field(default=None, description="legal entity (FINESS juridique) if shared")
    networks: list[str] = Field(default_factory=list, description="internal address ranges")
    oes: bool = Field(default=False, description="designated OSE / OIV: CERT-FR must be notified too")
    nis2: NisCategory | None = Field(default=None, description="NIS2 category; derived from staff if absent")
    assets: list[Asset] = Field(default_factory=list)
    external_accesses: list[ExternalAccess] = Field(default_factory=list)
    timezone: Zone | None = Field(default=None, description=ZONE_HELP + "; default: the group's")

    @field_validator("networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for net in value:
            ipaddress.ip_network(net, strict=False)
        return value

    @property
    def nis2_category(self) -> NisCategory:
        # ANSSI's health-sector reading: > 250 staff essential, 50-250 important
        if self.nis2 is not None:
            return self.nis2
        if self.staff > 250:
            return NisCategory.ESSENTIAL
        if self.staff >= 50:
            return NisCategory.IMPORTANT
        return NisCategory.NONE

    def asset(self, hostname: str) -> Asset | None:
        wanted = hostname.split(".", maxsplit=1)[0].lower()
        return next((a for a in self.assets if a.short_name == wanted), None)

    def assets_with_role(self, *roles: AssetRole) -> list[Asset]:
        return [a for a in self.assets if a.role in roles]


class Pole(Strict):
    id: Slug
    name: str
    establishments: list[Establishment] = Field(min_length=1)


class Contact(Strict):
    name: str
    role: str
    phone: str | None = None
    email: str | None = None


class SocSettings(Strict):
    """Addresses that containment must never cut: the SOC and management networks."""

    allowlist: list[str] = Field(default_factory=list)

    @field_validator("allowlist")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for net in value:
            ipaddress.ip_network(net, strict=False)
        return value


class Group(Strict):
    name: str
    legal_entity: str | None = None
    soc: SocSettings = Field(default_factory=SocSettings)
    contacts: list[Contact] = Field(default_factory=list)
    poles: list[Pole] = Field(min_length=1)
    timezone: Zone = Field(default="Europe/Paris", description=ZONE_HELP)

    @property
    def establishments(self) -> list[Establishment]:
        return [e for p in self.poles for e in p.establishments]

    def establishment(self, establishment_id: str) -> Establishment:
        for e in self.establishments:
            if e.id == establishment_id:
                return e
        raise KeyError(establishment_id)

    def pole_of(self, establishment_id: str) -> Pole:
        for p in self.poles:
            if any(e.id == establishment_id for e in p.establishments):
                return p
        raise KeyError(establishment_id)
