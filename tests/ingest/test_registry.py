"""The reader registry: every module of the readers folder registers a reader; detection by content."""

from __future__ import annotations

import pkgutil
from pathlib import Path

import pytest

import rempart.ingest.readers as readers_pkg
from rempart.ingest import registry


def test_every_reader_module_is_registered() -> None:
    modules = {f"rempart.ingest.readers.{m.name}" for m in pkgutil.iter_modules(readers_pkg.__path__)}
    assert modules, "no reader modules found"
    assert modules - registry.modules == set(), "reader modules that register nothing"


def test_the_five_formats_are_there() -> None:
    assert set(registry.names) >= {"evtx", "winjson", "syslog", "fortigate", "zeek"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("auth.log", "syslog"),
        ("syslog5424.log", "syslog"),
        ("fortigate.log", "fortigate"),
        ("conn.log", "zeek"),
        ("zeek.json", "zeek"),
        ("windows.jsonl", "winjson"),
    ],
)
def test_detection_by_content(fixtures: Path, name: str, expected: str) -> None:
    head = (fixtures / name).read_bytes()[:65536]
    reader = registry.detect("renamed.log", head)  # the content decides, not the name
    assert reader is not None and reader.name == expected


def test_evtx_magic_and_unknown_content() -> None:
    reader = registry.detect("x.bin", b"ElfFile\x00" + b"\x00" * 100)
    assert reader is not None and reader.name == "evtx"
    assert registry.detect("x.bin", b"\x89PNG\r\n\x1a\n") is None
