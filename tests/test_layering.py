"""The lifecycle is the architecture: no stage imports a later stage; cli, demo and serve build adapters."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "rempart"

# what each package may import from rempart (besides itself and the modules at the package root)
BASE = {"domain", "errors", "yamldoc", "settings", "pdffonts"}
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "inventory": {"domain"},
    "store": {"domain"},
    "identities": {"domain", "store"},
    "ingest": {"domain", "inventory"},
    "events": {"domain", "ingest"},
    "detect": {"domain", "inventory", "store", "ingest", "events"},
    "respond": {"domain", "inventory", "store", "detect"},
    "continuity": {"domain", "inventory", "store", "detect", "respond"},
    "notify": {"domain", "inventory", "store", "detect", "respond"},
    "investigate": {"domain", "inventory", "store", "ingest", "events", "detect", "respond"},
    "recover": {"domain", "inventory", "store", "ingest", "events", "detect", "respond", "continuity",
                "notify", "investigate"},
    # adapters implement the interfaces the stages declare, and touch the outside world
    "adapters": {"domain", "inventory", "store", "respond", "notify"},
    # the live loop (receivers → journal → ingest → detect → respond), thin like the CLI: it builds the
    # adapters the plan's automatic steps run through, as the CLI does
    # the group at a glance: reads what every stage recorded, changes nothing
    "board": {"domain", "inventory", "store", "identities", "detect", "respond", "continuity", "recover"},
    # the crisis console and its API, thin like the CLI: pages and routes over the stages' services
    "console": {"domain", "inventory", "store", "identities", "ingest", "events", "detect", "respond",
                "continuity", "notify", "investigate", "recover", "adapters", "board"},
    "serve": {"domain", "inventory", "store", "identities", "ingest", "events", "detect", "respond",
              "adapters", "notify"},
}


def _imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return [name for name in out if name.startswith("rempart.")]


def test_stages_import_only_earlier_stages() -> None:
    wrong = []
    for package, allowed in ALLOWED.items():
        for path in (SRC / package).rglob("*.py"):
            for name in _imports(path):
                target = name.split(".")[1]
                if target != package and target not in allowed | BASE:
                    wrong.append(f"{path.relative_to(SRC)} imports {name}")
    assert wrong == []


def test_every_package_is_placed() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages - set(ALLOWED) == {"cli", "demo"}
