"""Build the ``name → adapter`` mapping the respond stage receives, from an adapters file.

The adapters file says where and how each adapter reaches its systems; it is the operator's, separate
from the plan (the plan says *what* to do, this file *how to reach it*), in the fail2ban spirit of shipped
configuration never edited in place. Without a file every adapter is the dummy: nothing outside changes.

    nftables: {firewalls: {capitouls: [ip, netns, exec, fw-capitouls]}, default: []}
    ssh: {known_hosts: /etc/rempart/known_hosts, identity: /etc/rempart/id_ed25519, user: rempart}
    postfix: {known_hosts: /etc/rempart/known_hosts, identity: /etc/rempart/id_ed25519}
    webhook: {retries: 2}
    dummy: {record: /var/lib/rempart/dummy.jsonl}
    dummy_for: [webhook]          # route these adapters to the dummy (rehearsals)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rempart.adapters.dummy import DummyAdapter
from rempart.adapters.manual import ManualAdapter
from rempart.adapters.nftables import NftablesAdapter
from rempart.adapters.postfix import PostfixAdapter
from rempart.adapters.ssh import SshAdapter
from rempart.adapters.webhook import WebhookAdapter
from rempart.respond.interface import Adapter
from rempart.yamldoc import load_model

NAMES = ("nftables", "ssh", "postfix", "webhook", "manual", "dummy")
DEFAULT_KNOWN_HOSTS = Path("/etc/rempart/known_hosts")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NftConfig(_Strict):
    firewalls: dict[str, list[str]] = Field(default_factory=dict, description="establishment → argv prefix")
    default: list[str] | None = Field(default=None, description="argv prefix for the others; [] = this host")
    table: str = "rempart"


class SshConfig(_Strict):
    known_hosts: Path = DEFAULT_KNOWN_HOSTS
    identity: Path | None = None
    port: int = Field(default=22, ge=1, le=65535)
    user: str = "root"
    addresses: dict[str, str] = Field(default_factory=dict)
    commands: dict[str, list[str]] = Field(default_factory=dict)
    sudo: bool = False
    connect_timeout: int = 5


class WebhookConfig(_Strict):
    retries: int = Field(default=2, ge=0, le=10)
    backoff: float = 0.2
    headers: dict[str, str] = Field(default_factory=dict)


class DummyConfig(_Strict):
    record: Path | None = None
    delay: float = 0.0


class AdaptersConfig(_Strict):
    nftables: NftConfig = Field(default_factory=NftConfig)
    ssh: SshConfig = Field(default_factory=SshConfig)
    postfix: SshConfig = Field(default_factory=SshConfig)
    webhook: WebhookConfig = Field(default_factory=WebhookConfig)
    dummy: DummyConfig = Field(default_factory=DummyConfig)
    dummy_for: list[Literal["nftables", "ssh", "postfix", "webhook", "manual"]] = Field(default_factory=list)


def load_config(path: Path | str) -> AdaptersConfig:
    return load_model(AdaptersConfig, path)


def _ssh_kwargs(c: SshConfig) -> dict[str, object]:
    return {
        "known_hosts": c.known_hosts,
        "identity": c.identity,
        "port": c.port,
        "user": c.user,
        "addresses": c.addresses,
        "commands": c.commands,
        "sudo": c.sudo,
        "connect_timeout": c.connect_timeout,
    }


def build(config: AdaptersConfig | None) -> dict[str, Adapter]:
    """Real adapters as configured; ``None``: the dummy under every name (a dry rehearsal)."""
    if config is None:
        # manual steps touch nothing: a person still acknowledges them in a rehearsal
        return {**{n: DummyAdapter(n) for n in NAMES}, "manual": ManualAdapter()}
    d = config.dummy
    adapters: dict[str, Adapter] = {
        "nftables": NftablesAdapter(
            config.nftables.firewalls, config.nftables.default, config.nftables.table
        ),
        "ssh": SshAdapter(**_ssh_kwargs(config.ssh)),  # type: ignore[arg-type]
        "postfix": PostfixAdapter(**_ssh_kwargs(config.postfix)),  # type: ignore[arg-type]
        "webhook": WebhookAdapter(config.webhook.retries, config.webhook.backoff, config.webhook.headers),
        "manual": ManualAdapter(),
        "dummy": DummyAdapter("dummy", d.record, d.delay),
    }
    for name in config.dummy_for:
        adapters[name] = DummyAdapter(name, d.record, d.delay)
    return adapters


def for_review(config: AdaptersConfig | None) -> dict[str, Adapter]:
    """Adapters used only to *show* their plans (``plan show``): real command lines, nothing is run."""
    return build(config or AdaptersConfig())
