"""The respond stage declares the adapter interface and never imports a concrete adapter or a later stage."""

from __future__ import annotations

import ast
from pathlib import Path

RESPOND = Path(__file__).resolve().parents[2] / "src" / "rempart" / "respond"
FORBIDDEN = (
    "rempart.adapters",
    "rempart.continuity",
    "rempart.notify",
    "rempart.investigate",
    "rempart.recover",
    "rempart.cli",
    "rempart.demo",
)


def test_respond_imports_no_adapter_and_no_later_stage() -> None:
    found = []
    for path in RESPOND.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            found += [f"{path.name}: {n}" for n in names if n.startswith(FORBIDDEN)]
    assert found == []
