"""`rempart serve` end to end: real shippers (rsyslogd over RELP, the official Elasticsearch client's bulk
helper) → receivers → journal → readers → event store → detection, against a hunt of the same lines."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from elasticsearch import Elasticsearch, helpers

from rempart.detect.compile import compile_rules
from rempart.detect.rules import load_rules
from rempart.domain.alerts import Alert
from rempart.domain.events import RECORD, SOURCE
from rempart.events.store import TABLE, EventStore
from rempart.ingest import IngestReport, read_paths
from rempart.inventory import Resolver, load_group
from rempart.serve.config import load_serve_config
from rempart.serve.decode import SENDER, SENDER_ESTABLISHMENT
from rempart.serve.senders import new_token
from rempart.serve.server import Server, shutdown, start
from tests.serve.shippers import run_rsyslogd, wait_for

ROOT = Path(__file__).resolve().parents[2]
BRUTE_FORCE = "9a4e2f61-7b3c-4d5e-8f6a-1b2c3d4e5f02"


def _syslog_lines(n: int) -> list[bytes]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    return [(f"<38>{(start + timedelta(seconds=i)).strftime('%b %d %H:%M:%S')} tls-cap-dpi01 "
             f"sshd[{100 + i}]: "
             f"Failed password for invalid user admin from 203.0.113.9 port {50000 + i} ssh2").encode()
            for i in range(n)]


def _windows_docs(n: int) -> list[dict[str, object]]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    return [{"@timestamp": (start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
             "winlog": {"channel": "Security", "event_id": 4625, "computer_name": "tls-cap-dc01",
                        "record_id": i,
                        "event_data": {"TargetUserName": f"user{i}", "IpAddress": "203.0.113.9"}}}
            for i in range(n)]


def _serve_yaml(folder: Path, token_sha: str) -> Path:
    config = folder / "serve.yaml"
    config.write_text(f"""
group: {ROOT / "examples" / "group.yaml"}
events: events.duckdb
journal: {{path: journal, min_free_mb: 1}}
detect: {{rules: [{ROOT / "rules"}], cache: rule-cache, batch_ms: 50, lateness_s: 0}}
inputs:
  syslog:
    - {{name: relp, protocol: relp, host: 127.0.0.1, port: 0}}
    - {{name: syslog-tcp, protocol: tcp, host: 127.0.0.1, port: 0}}
  http:
    - {{name: http, host: 127.0.0.1, port: 0}}
senders:
  tokens: [{{name: cap-winlogbeat, establishment: capitouls, sha256: {token_sha}}}]
  networks: [{{name: cap-loopback, establishment: capitouls, networks: [127.0.0.0/8]}}]
""")
    return config


def _rows(tables: list[pa.Table]) -> list[dict[str, object]]:
    drop = {SOURCE, RECORD, SENDER, SENDER_ESTABLISHMENT}
    rows = pa.concat_tables(tables, promote_options="default").to_pylist() if tables else []
    return sorted(({k: v for k, v in r.items() if k not in drop and v is not None} for r in rows),
                  key=lambda r: (str(r.get("_ts")), str(r.get("_raw"))))


def test_real_shippers_give_the_events_and_alerts_of_a_hunt_of_the_same_lines(tmp_path: Path) -> None:
    lines, docs = _syslog_lines(12), _windows_docs(40)
    token, digest = new_token()
    config = load_serve_config(_serve_yaml(tmp_path, digest))
    alerts: list[Alert] = []

    async def body() -> None:
        server = await start(config, on_alerts=alerts.extend)
        try:
            port = int(server.listening["relp"].rsplit(":", 1)[1])
            conf = _rsyslog_relp(tmp_path / "rsyslog", lines, port)
            http_port = int(server.listening["http"].rsplit(":", 1)[1])

            async def send() -> None:
                client = Elasticsearch(f"http://127.0.0.1:{http_port}", api_key=token)
                ok, errors = await asyncio.to_thread(
                    helpers.bulk, client, ({"_index": "winlogbeat", "_source": d} for d in docs),
                    chunk_size=15)
                assert (ok, errors) == (len(docs), [])
                await wait_for(lambda: server.loop.stats.events >= len(lines) + len(docs), timeout=20)

            await run_rsyslogd(conf, send)
        finally:
            await shutdown(server)

    asyncio.run(body())
    store = EventStore(tmp_path / "events.duckdb")
    live = store.connection.sql(f"SELECT * FROM {TABLE}").to_arrow_table()
    assert {r[SENDER] for r in live.select([SENDER]).to_pylist()} == {"cap-loopback", "cap-winlogbeat"}
    store.close()
    (tmp_path / "same").mkdir()
    (tmp_path / "same" / "auth.log").write_bytes(b"\n".join(lines) + b"\n")
    # the documents as the client serialises them (compact JSON)
    (tmp_path / "same" / "windows.ndjson").write_bytes(
        b"\n".join(json.dumps(d, separators=(",", ":")).encode() for d in docs))
    resolver = Resolver(load_group(ROOT / "examples" / "group.yaml"))
    fields = compile_rules(load_rules([ROOT / "rules"])).fields
    hunted = list(read_paths([tmp_path / "same" / "auth.log", tmp_path / "same" / "windows.ndjson"], resolver,
                             fields=fields, report=IngestReport()))
    strip = {"_service"}  # auth.log names its lines' service 'auth' where a stream has no file name
    ours = [{k: v for k, v in r.items() if k not in strip} for r in _rows([live])]
    theirs = [{k: v for k, v in r.items() if k not in strip} for r in _rows(hunted)]
    assert ours == theirs
    assert [a.rule_id for a in alerts] == [BRUTE_FORCE]


def _alerted(server: Server, n: int) -> bool:
    return server.loop.stats.alerts >= n


def _rsyslog_relp(folder: Path, lines: list[bytes], port: int) -> Path:
    folder.mkdir()
    (folder / "work").mkdir()
    source = folder / "source.log"
    source.write_bytes(b"".join(line + b"\n" for line in lines))
    conf = folder / "rsyslog.conf"
    # the line as written, nothing added: what a hunt of the same file reads
    conf.write_text(f"""
global(workDirectory="{folder / 'work'}")
module(load="imfile" mode="inotify")
module(load="omrelp")
template(name="asis" type="string" string="%rawmsg%")
ruleset(name="fwd") {{
  action(type="omrelp" target="127.0.0.1" port="{port}" template="asis" windowSize="1024")
}}
input(type="imfile" file="{source}" tag="x" ruleset="fwd")
""")
    return conf


def test_serve_runs_reports_its_status_and_stops_on_sigterm(tmp_path: Path) -> None:
    _, digest = new_token()
    config = _serve_yaml(tmp_path, digest)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "rempart", "serve", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "journal" / "status.json").exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        status = subprocess.run([sys.executable, "-m", "rempart", "serve", "status", "--config", str(config),
                                 "--json"], capture_output=True, text=True, env=env, check=True)
        data = json.loads(status.stdout)
        assert data["running"] and set(data["inputs"]) == {"relp", "syslog-tcp", "http"}
        assert data["at_most_once"] == ["syslog-tcp"]
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert "stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_mistake_in_serve_yaml_is_located(tmp_path: Path) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text(f"group: {ROOT / 'examples' / 'group.yaml'}\ndetect: {{rules: [r]}}\n"
                      "inputs:\n  syslog:\n    - {name: a, protocol: carrier-pigeon, port: 514}\n")
    run = subprocess.run([sys.executable, "-m", "rempart", "serve", "--config", str(config)],
                         capture_output=True, text=True, check=False,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert run.returncode == 2
    assert "serve.yaml:5" in run.stderr and "inputs.syslog[0].protocol" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("example", ["serve.yaml"])
def test_the_example_configuration_is_valid(example: str) -> None:
    config = load_serve_config(ROOT / "examples" / example)
    assert config.inputs.http and config.inputs.syslog


def test_an_alert_arriving_live_opens_the_incident_and_runs_the_plan_once(tmp_path: Path) -> None:
    """serve.yaml with a plan: LSASS dumps on two workstations of one clinic, in two requests (two
    micro-batches), open one incident that grows, and one run whose automatic steps are applied once."""
    from rempart.demo.generate import winlog_line
    from rempart.store.db import Store
    from rempart.store.models.core import IncidentRow, JournalRow
    from rempart.store.models.respond import PlanRunRow

    token, digest = new_token()
    config_path = _serve_yaml(tmp_path, digest)
    text = config_path.read_text().replace("group:", f"plan: {ROOT / 'examples' / 'plan.yaml'}\n"
                                           f"cases: sqlite:///{tmp_path / 'cases.sqlite'}\ngroup:", 1)
    config_path.write_text(text)
    config = load_serve_config(config_path)
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    dumps = [winlog_line(when + timedelta(seconds=i), f"tls-cap-ws00{i + 1}.horizon.local",
                         "Microsoft-Windows-Sysmon/Operational", 10, 77 + i, {
                             "SourceImage": r"C:\Users\Public\svc.exe",
                             "TargetImage": r"C:\Windows\system32\lsass.exe", "GrantedAccess": "0x1410"})
             for i in range(2)]

    async def body() -> None:
        server = await start(config)
        try:
            import httpx

            url = f"http://{server.listening['http'].split()[1]}/ingest"
            async with httpx.AsyncClient() as client:
                for i, line in enumerate(dumps):
                    reply = await client.post(url, content=line + "\n",
                                              headers={"Authorization": f"Bearer {token}"})
                    assert reply.status_code == 200, reply.text
                    await wait_for(functools.partial(_alerted, server, i + 1), timeout=30)
        finally:
            await shutdown(server)

    asyncio.run(body())
    cases = Store(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    with cases.session() as s:
        incidents = s.query(IncidentRow).all()
        runs = s.query(PlanRunRow).all()
        assert [(i.establishment, len(i.alerts)) for i in incidents] == [("capitouls", 2)]
        assert len(runs) == 1 and runs[0].incident_id == incidents[0].id
        applied = [j for j in s.query(JournalRow).all() if j.action == "apply.done"]
        assert applied and len({j.subject for j in applied}) == len(applied)  # each step applied once
    cases.close()
