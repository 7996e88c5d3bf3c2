"""The fuzz harness of ``benchmarks/fuzz.py`` (issue 13): a fixed-seed campaign over every reader and
container, and the harness's own parts (watchdog, damage offsets) checked for real."""

from __future__ import annotations

import gzip
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT, need

CASES = 250  # per format: a few seconds per format today (1,900 cases in about 25 s)
SEED = 13


def _load(name: str) -> ModuleType:
    path = ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


fuzz = _load("fuzz")
cases = sys.modules["fuzz_cases"]


@pytest.fixture(scope="module")
def campaign() -> dict[str, object]:
    results = fuzz.run_campaign(cases.FORMATS, cases=CASES, seed=SEED, timeout=10.0)
    return {r.fmt: r for r in results}


def _summary(result: object) -> str:
    failures = result.failures  # type: ignore[attr-defined]
    lines = [f"{f.kind}: {f.case.label}: {f.detail[:160]}" for f in failures[:15]]
    return f"{len(failures)} failing cases (rerun: benchmarks/fuzz.py --format {result.fmt} "  # type: ignore[attr-defined]
    f"--cases {CASES} --seed {SEED} --save DIR):\n" + "\n".join(lines)


def _result(campaign: dict[str, object], fmt: str) -> object:
    result = campaign[fmt]
    skipped = result.skipped  # type: ignore[attr-defined]
    need(skipped is None, f"{fmt} seeds: {skipped}")
    return result


@pytest.mark.slow
@pytest.mark.parametrize("fmt", cases.FORMATS)
def test_every_seed_in_every_container_reads_whole(campaign: dict[str, object], fmt: str) -> None:
    """The campaign's first cases, unmutated: the harness's containers and record offsets are right."""
    result = _result(campaign, fmt)
    containers = cases.BINARY_CONTAINERS if fmt == "evtx" else cases.TEXT_CONTAINERS
    count = len(cases.load_seeds(fmt)) * len(containers)
    assert result.cases == CASES > count  # type: ignore[attr-defined]
    bad = [f for f in result.failures if f.case.index < count]  # type: ignore[attr-defined]
    assert not bad, [f"{f.case.label}: {f.detail}" for f in bad]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", cases.FORMATS)
def test_fuzz_campaign_finds_nothing(campaign: dict[str, object], fmt: str) -> None:
    result = _result(campaign, fmt)
    assert result.ok, _summary(result)  # type: ignore[attr-defined]


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[object]:
    w = fuzz.Worker(tmp_path, timeout=3.0, memory_mb=256, nice=0)
    yield w
    w.stop()


def test_watchdog_tells_hangs_crashes_and_memory_blow_ups(worker: object, tmp_path: Path) -> None:
    def probe(kind: str) -> object:
        return worker.run({"op": "probe", "kind": kind}, 0)  # type: ignore[attr-defined]

    log = tmp_path / "auth.log"
    log.write_bytes((cases.FIXTURES / "auth.log").read_bytes())
    read = {"op": "read", "path": str(log)}
    before = worker.run(read, log.stat().st_size)  # type: ignore[attr-defined]
    assert before.kind is None and before.events
    assert [probe(k).kind for k in ("hang", "abort", "alloc", "raise", "none")] == [  # type: ignore[attr-defined]
        "hang", "crash", "memory", "crash", None]
    after = worker.run(read, log.stat().st_size)  # type: ignore[attr-defined]
    assert after.kind is None and after.events == before.events, "the worker is restarted after a death"
    assert worker.restarts == 2  # type: ignore[attr-defined]


def test_damage_offsets_of_containers() -> None:
    content = (cases.FIXTURES / "auth.log").read_bytes()
    gz = gzip.compress(content, mtime=0)
    assert cases.container_damage("gz", content, gz, gz) == cases.INTACT
    cut = cases.container_damage("gz", content, gz, gz[: len(gz) // 2])
    assert 0 < cut < len(content)
    assert cases.container_damage("gz", content, gz, gz[:-4] + b"\0\0\0\0") == cases.INTACT  # trailer only
    _, z = cases.wrap("zip", "auth.log", content)
    assert cases.container_damage("zip", content, z, z[:-10]) == 0  # no central directory: nothing required
    flipped = bytearray(z)
    flipped[len(z) // 3] ^= 0x10
    assert cases.container_damage("zip", content, z, bytes(flipped)) < len(content)
    _, u = cases.wrap("utf16", "auth.log", content)
    assert cases.container_damage("utf16", content, u, u[:2 + 2 * 10] + b"!") == 10
    _, t = cases.wrap("tar", "auth.log", content)
    assert cases.container_damage("tar", content, t, t[: 512 + 100]) == 100
    assert cases.container_damage("tar", content, t, t[:-512]) == cases.INTACT  # the end blocks only


def test_expected_events_are_those_ending_before_the_damage() -> None:
    seed = cases.Seed("auth.log", (cases.FIXTURES / "auth.log").read_bytes(), "auth.log")
    events = [("syslog", n, f"d{n}") for n in range(1, 9)]
    baseline = fuzz.Baseline("syslog", seed, fuzz.Outcome(None, events=events))
    third = cases.line_ends(seed.data)[3]
    assert baseline.expected(third) == set(events[:3])
    assert baseline.expected(third - 1) == set(events[:2])
    assert baseline.expected(cases.INTACT) == set(events)
    case = cases.make_case("syslog", 1000, [seed], SEED, 1 << 20)
    assert case.damage == cases.INTACT or case.data != seed.data
    assert cases.make_case("syslog", 1000, [seed], SEED, 1 << 20).data == case.data, "cases are reproducible"
