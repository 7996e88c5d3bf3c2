"""Crash safety: `rempart respond` killed by SIGKILL mid-run, then restarted, applies nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson

from rempart.respond import service
from rempart.store import journal
from rempart.store.db import Store
from tests.conftest import EXAMPLES
from tests.identities.helpers import People
from tests.respond.helpers import make_incident


def applies(record: Path) -> list[str]:
    if not record.exists():
        return []
    lines = [orjson.loads(x) for x in record.read_bytes().splitlines() if x.strip()]
    return [e["key"] for e in lines if e["verb"] == "apply"]


def _token(url: str, tokens: dict[str, str] = {}) -> str:  # noqa: B006  (one account per store)
    """A personal API token of the RSSI: the restarted process acts as an account like any other."""
    if url not in tokens:
        tokens[url] = People(url).token("c.martin")
    return tokens[url]


def respond_cmd(tmp: Path, delay: float) -> tuple[list[str], dict[str, str]]:
    adapters = tmp / f"adapters-{delay}.yaml"
    adapters.write_text(
        f"dummy: {{record: {tmp / 'record.jsonl'}, delay: {delay}}}\n"
        "dummy_for: [nftables, ssh, postfix, webhook]\n"
    )
    url = f"sqlite:///{tmp / 'cases.sqlite'}"
    env = {**os.environ, "REMPART_DATABASE_URL": url, "REMPART_TOKEN": _token(url)}
    argv = [
        sys.executable,
        "-m",
        "rempart",
        "respond",
        "INC-0001",
        "--plan",
        str(EXAMPLES / "plan.yaml"),
        "--inventory",
        str(EXAMPLES / "group.yaml"),
        "--adapters",
        str(adapters),
    ]
    return argv, env


def kill_after(tmp: Path, n_applies: int) -> None:
    argv, env = respond_cmd(tmp, delay=0.4)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(applies(tmp / "record.jsonl")) < n_applies:
        assert proc.poll() is None, "respond ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_killed_run_resumes_without_applying_a_step_twice(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    make_incident(store)
    store.close()
    kill_after(tmp_path, 6)  # step 1 (5 accesses) applied, step 2's apply just recorded, not yet committed
    argv, env = respond_cmd(tmp_path, delay=0.0)
    done = subprocess.run(argv, check=False, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr

    counts = Counter(applies(tmp_path / "record.jsonl"))
    assert len(counts) == 8  # 5 accesses + mail flows + mail queue + the compromised workstation
    assert set(counts.values()) == {1}, counts

    store = Store(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    report = service.show_run(store, 1)
    status = {s.step_id: s.status for s in report.steps}
    assert [
        status[s]
        for s in (
            "fermer-acces-externes",
            "suspendre-flux-messagerie",
            "retenir-file-postfix",
            "isoler-postes-compromis",
        )
    ] == ["verified"] * 4
    assert status["arreter-dpi-fichiers"] == "awaiting_approval"
    assert all(s.applies <= 1 for s in report.steps)
    with store.session() as s:
        assert journal.verify(s) == []
        actions = [e.action for e in journal.entries(s, "run/1")]
    assert actions.count("run.resumed") == 1
    # killed right after an apply was recorded: on resume the step was verified, not applied again
    assert "apply.recovered" in actions
    store.close()
