"""What the console serves: one case store, the group it describes, and where its adapters are set."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request

from rempart.adapters import registry
from rempart.domain.inventory import Group
from rempart.respond import service as respond
from rempart.respond.interface import Adapter
from rempart.settings import Settings
from rempart.store.db import Store


@dataclass
class ConsoleContext:
    store: Store
    group: Group
    adapters_path: Path | None = None  # a run started elsewhere keeps the adapters file it was started with
    settings: Settings = field(default_factory=Settings)  # where snapshots, kits and their keys live

    def kits_dir(self, establishment: str) -> Path:
        return self.settings.home / "kits" / establishment

    def run_adapters(self, run_id: int) -> dict[str, Adapter]:
        """The adapters an approval advances the run with: the run's own file, else the console's, else the
        dummy (the run then changes nothing outside, as with the CLI)."""
        source = respond.adapters_source(self.store, run_id)
        path = Path(source) if source else self.adapters_path
        return registry.build(registry.load_config(path) if path else None)

    def review_adapters(self, run_id: int) -> dict[str, Adapter]:
        """Adapters that only show the commands a step makes (nothing is run)."""
        source = respond.adapters_source(self.store, run_id)
        path = Path(source) if source else self.adapters_path
        return registry.for_review(registry.load_config(path) if path else None)


def context_of(request: Request) -> ConsoleContext:
    """The console a request reached (set by ``create_app``)."""
    ctx: ConsoleContext = request.app.state.console
    return ctx
