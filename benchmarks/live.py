"""Live mode under load: ``rempart serve`` as a separate process, detection → containment timed from outside.

    sudo .venv/bin/python benchmarks/live.py --rate 10000 --seconds 300 [--json] [--ceiling]
    (root, iproute2, nftables and fail2ban needed; quick look: --rate 2000 --seconds 20)

One run:
1. a network of namespaces per attacked clinic (:mod:`rempart.adapters.netlab`): that clinic's remote
   desktop gateway is a real path through the clinic firewall's nftables; a prober in the attacker's
   namespace opens a TCP connection through it every few milliseconds and notes when they stop getting
   through;
2. ``rempart serve --config serve.yaml`` (HTTP and syslog TCP inputs, a token per clinic, SigmaHQ's rules
   plus ours, a plan whose automatic step closes the clinic's external accesses on its lab firewall);
3. the load process (``benchmarks/live_load.py``) sends Windows JSON over HTTP and syslog over TCP at the
   rate asked, and injects one intrusion per attacked clinic at known times (an SSH brute force or a
   shadow-copy deletion); latency = the prober's "stopped getting through" − the send of the event that
   completed the detection;
4. fail2ban (Debian's, in the foreground, its own config in the run's folder) reads the same SSH brute-force
   lines from a log file; its latency is from the write of the line that crosses ``maxretry`` to the ban;
5. after SIGTERM, the server's DuckDB store is read: events stored, lost (acknowledged, not stored) and
   duplicated (stored twice), by the unique id each event carries; CPU seconds and peak RSS of the server.

``--ceiling`` then reruns at growing rates (no intrusions, no fail2ban) and reports the highest rate at
which the journal lag (``rempart_journal_lag_records`` on /metrics) did not keep growing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rempart.adapters import netlab  # noqa: E402
from rempart.adapters.netlab import NetLab  # noqa: E402
from rempart.demo.generate import SERVER_ROLES  # noqa: E402
from rempart.domain.inventory import AssetRole, Group  # noqa: E402
from rempart.inventory import load_group  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
SIGMA_RULES = DATA / "sigma" / "rules"
RULE_CACHE = Path(tempfile.gettempdir()) / "rempart-livebench-rule-cache"  # compiled once per machine
BRUTE_FORCE = "9a4e2f61-7b3c-4d5e-8f6a-1b2c3d4e5f02"  # rules/linux/sshd_brute_force.yml (gte 10)
THRESHOLD = 10
SHADOW_DELETE = (
    "c947b146-0abc-4c87-9c64-b17e9d7274a2"  # SigmaHQ proc_creation_win_susp_shadow_copies_deletion
)
ATTACKER = "203.0.113.66"
PROBE_PORT = 3389  # the clinic's remote desktop gateway, on its firewall: closed by the plan
PYTHON = sys.executable
SRC = Path(os.environ.get("LIVEBENCH_SRC", ROOT / "src"))  # the tree the server runs (default: this one)

PROBER = r"""
import socket, sys, time
src, dst, port, every = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
def through():
    try:
        socket.create_connection((dst, port), timeout=0.25, source_address=(src, 0)).close()
        return True
    except OSError:
        return False
while not through():
    time.sleep(0.05)
print("open", flush=True)
while True:
    t = time.time()
    if not through():
        print(f"closed {t:.6f}", flush=True)
        break
    time.sleep(every)
"""

PLAN = """\
version: 1
people: []
playbooks:
- id: confinement-live
  title: Intrusion détectée en direct — fermeture des accès externes de l'établissement
  trigger:
    min_level: medium           # the brute-force correlation is medium (a trigger's default is high)
    rule_ids: [{rules}]
  scope: establishment
  steps:
  - id: fermer-acces-externes
    title: Fermer les accès externes de l'établissement
    action: close_access
    targets:
      access_kinds: [vpn, remote_maintenance, rdp_gateway, partner_link, patient_portal]
    approval: automatic
    timeout: 10
    retry: {{attempts: 3, backoff: 0.2}}
"""


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clinic_hosts(group: Group) -> dict[str, dict[str, list[str]]]:
    out = {}
    for est in group.establishments:
        servers = [
            a.short_name
            for a in est.assets_with_role(*SERVER_ROLES)
        ]
        out[est.id] = {
            "workstations": [a.short_name for a in est.assets_with_role(AssetRole.WORKSTATION)],
            "servers": servers,
        }
    return out


# -- the server -----------------------------------------------------------------------------------
@dataclass
class ServerRun:
    folder: Path
    http_port: int
    syslog_port: int
    tokens: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    starts: int = 0
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.folder / "server.log"

    @property
    def config(self) -> Path:
        return self.folder / "serve.yaml"

    @property
    def cases_url(self) -> str:
        return f"sqlite:///{self.folder / 'cases.sqlite'}"

    def start(self, timeout: float = 900.0) -> None:
        env = {**os.environ, "PYTHONPATH": str(SRC), "REMPART_DATABASE_URL": self.cases_url}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "rempart", "serve", "--config", str(self.config)],
                stdout=log,
                stderr=log,
                env=env,
                cwd=self.folder,
            )
        self.starts += 1
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"rempart serve ended (exit {self.proc.returncode}): "
                    f"{self.log.read_text(errors='replace')[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"rempart serve not listening after {timeout:.0f} s")

    def _reap(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.cpu_s += usage.ru_utime + usage.ru_stime
        self.peak_rss_mb = max(self.peak_rss_mb, usage.ru_maxrss / 1024)
        self.proc = None
        return int(os.waitstatus_to_exitcode(status))

    def stop(self) -> int:
        return self._reap(signal.SIGTERM)

    def kill(self) -> int:
        return self._reap(signal.SIGKILL)

    def _metrics(self) -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=2) as r:
                return str(r.read().decode())
        except OSError:
            return None

    def lag(self) -> float | None:
        for line in (self._metrics() or "").splitlines():
            if line.startswith("rempart_journal_lag_records"):
                return float(line.split()[-1])
        return None

    def stages(self) -> dict[str, dict[str, float]]:
        """Per loop stage: batches and mean milliseconds per batch (``rempart_loop_stage_seconds``)."""
        sums: dict[str, float] = {}
        counts: dict[str, float] = {}
        for line in (self._metrics() or "").splitlines():
            for suffix, into in (("_sum{", sums), ("_count{", counts)):
                if line.startswith("rempart_loop_stage_seconds" + suffix):
                    into[line.split('stage="', 1)[1].split('"', 1)[0]] = float(line.split()[-1])
        return {k: {"batches": counts[k], "mean_ms": 1000 * sums.get(k, 0.0) / counts[k]}
                for k in counts if counts[k]}


def write_config(
    folder: Path,
    group: Group,
    firewalls: dict[str, list[str]],
    lateness: float = 0.5,
    dummy: bool = False,
    rules: list[Path] | None = None,
) -> ServerRun:
    """serve.yaml, the benchmark's plan and adapters, in ``folder``."""
    tokens = {est.id: secrets.token_urlsafe(24) for est in group.establishments}
    run = ServerRun(folder, free_port(), free_port(), tokens)
    (folder / "plan.yaml").write_text(PLAN.format(rules=f"{BRUTE_FORCE}, {SHADOW_DELETE}"), encoding="utf-8")
    adapters = {
        "nftables": {"firewalls": firewalls, "table": "rempart"},
        "dummy_for": ["ssh", "postfix", "webhook", *(["nftables"] if dummy else [])],
    }
    (folder / "adapters.yaml").write_text(json.dumps(adapters), encoding="utf-8")
    config = {
        "group": str(ROOT / "examples" / "group.yaml"),
        "plan": "plan.yaml",
        "adapters": "adapters.yaml",
        "events": "events.duckdb",
        "cases": run.cases_url,
        "journal": {"path": "journal", "min_free_mb": 64},
        "detect": {
            "rules": [str(r) for r in rules or [SIGMA_RULES, ROOT / "rules"]],
            "cache": str(RULE_CACHE if rules is None else RULE_CACHE.with_name(RULE_CACHE.name + "-some")),
            "batch_ms": 200,
            "lateness_s": lateness,
        },
        "inputs": {
            "syslog": [
                {"name": "syslog-tcp", "protocol": "tcp", "host": "127.0.0.1", "port": run.syslog_port}
            ],
            "http": [{"name": "http", "host": "127.0.0.1", "port": run.http_port}],
        },
        "senders": {
            "tokens": [
                {
                    "name": f"{est}-bench",
                    "establishment": est,
                    "sha256": hashlib.sha256(tok.encode()).hexdigest(),
                }
                for est, tok in tokens.items()
            ],
            "networks": [{"name": "loopback-rsyslog", "networks": ["127.0.0.0/8"]}],
        },
    }
    run.config.write_text(json.dumps(config, indent=1), encoding="utf-8")  # JSON is YAML
    return run


# -- fail2ban -------------------------------------------------------------------------------------
class Fail2ban:
    """fail2ban-server in the foreground on ``auth.log`` of the run's folder; its ban action stamps a file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder / "fail2ban"
        self.conf = self.folder / "conf"
        self.log = self.folder / "auth.log"
        self.bans = self.folder / "bans.txt"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        shutil.copytree(
            "/etc/fail2ban", self.conf, ignore=shutil.ignore_patterns("jail.d", "jail.local", "fail2ban.d")
        )
        self.log.touch()
        (self.conf / "fail2ban.local").write_text(
            f"[Definition]\nloglevel = INFO\nlogtarget = {self.folder / 'fail2ban.log'}\n"
            f"socket = {self.folder / 'f2b.sock'}\npidfile = {self.folder / 'f2b.pid'}\ndbfile = :memory:\n"
        )
        (self.conf / "action.d" / "bench-stamp.conf").write_text(
            "[Definition]\nactionstart =\nactionstop =\nactioncheck =\nactionunban =\n"
            f'actionban = echo "<ip> $(date +%%s.%%N)" >> {self.bans}\n'
        )
        (self.conf / "jail.local").write_text(
            "[DEFAULT]\nignoreip = 127.0.0.1/8\n"
            f"[sshd]\nenabled = true\nfilter = sshd\nbackend = auto\nlogpath = {self.log}\n"
            f"maxretry = {THRESHOLD}\nfindtime = 300\nbantime = 3600\naction = bench-stamp\n"
        )
        self.proc = subprocess.Popen(
            [
                "fail2ban-server",
                "-f",
                "-x",
                "-c",
                str(self.conf),
                "-s",
                str(self.folder / "f2b.sock"),
                "-p",
                str(self.folder / "f2b.pid"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.folder / "stderr.txt").open("wb"),
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            if "Jail 'sshd' started" in self._text("fail2ban.log"):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(
            f"fail2ban did not start: {self._text('stderr.txt')[-800:]}{self._text('fail2ban.log')[-800:]}"
        )

    def _text(self, name: str) -> str:
        path = self.folder / name
        return path.read_text(errors="replace") if path.exists() else ""

    def banned(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for line in self._text("bans.txt").splitlines():
            ip, at = line.split()
            out.setdefault(ip, float(at))
        return out

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- containment probes ---------------------------------------------------------------------------
def public_ip(group: Group, clinic: str) -> str:
    import ipaddress

    est = group.establishment(clinic)
    fw = est.assets_with_role(AssetRole.FIREWALL)[0]
    nets = [ipaddress.ip_network(n) for n in est.networks]
    return next(ip for ip in fw.ips if ":" not in ip and not any(ipaddress.ip_address(ip) in n for n in nets))


class Prober:
    def __init__(self, lab: NetLab, dst: str, every: float = 0.005) -> None:
        self.proc = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                lab.sides["out"].ns,
                PYTHON,
                "-c",
                PROBER,
                ATTACKER,
                dst,
                str(PROBE_PORT),
                str(every),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != "open":
            raise RuntimeError(f"the access {dst}:{PROBE_PORT} is not open before the run")

    def closed_at(self, wait: float) -> float | None:
        assert self.proc.stdout is not None
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if sel.select(wait):
            line = self.proc.stdout.readline().split()
            if len(line) == 2 and line[0] == "closed":
                return float(line[1])
        return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


# -- the load -------------------------------------------------------------------------------------
def intrusion_schedule(group: Group, clinics: list[str], seconds: float) -> list[dict[str, Any]]:
    """One intrusion per clinic, spread over the run's middle, alternating SSH brute force and shadow-copy
    deletion; each from its own attacker address, so no correlation window mixes two of them."""
    hosts = clinic_hosts(group)
    out = []
    n = len(clinics)
    for i, clinic in enumerate(clinics):
        at = seconds * (0.15 + 0.7 * (i / max(1, n - 1) if n > 1 else 0.5))
        est = group.establishment(clinic)
        if i % 2 == 0:
            host = est.assets_with_role(AssetRole.HIS_SERVER)[0].short_name
            out.append(
                {
                    "kind": "ssh",
                    "clinic": clinic,
                    "host": host,
                    "at": at,
                    "threshold": THRESHOLD,
                    "attacker_ip": f"198.18.{i // 250}.{i % 250 + 1}",
                }
            )
        else:
            fs = [h for h in hosts[clinic]["servers"] if "-fs" in h] or hosts[clinic]["servers"]
            out.append({"kind": "windows", "clinic": clinic, "host": fs[0], "at": at})
    return out


def load_spec(
    folder: Path,
    run: ServerRun,
    group: Group,
    rate: float,
    seconds: float,
    intrusions: list[dict[str, Any]],
    fail2ban_log: Path | None,
    name: str = "load",
    connections: int = 4,
) -> Path:
    spec = {
        "http": f"http://127.0.0.1:{run.http_port}",
        "syslog": ["127.0.0.1", run.syslog_port],
        "tokens": run.tokens,
        "clinics": clinic_hosts(group),
        "rate": rate,
        "seconds": seconds,
        "connections": connections,
        "intrusions": intrusions,
        "fail2ban_log": str(fail2ban_log) if fail2ban_log else None,
        "acked_ids": str(folder / f"{name}-acked.bin"),
        "result": str(folder / f"{name}-result.json"),
    }
    path = folder / f"{name}-spec.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def start_load(spec: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["nice", "-n", "5", PYTHON, str(ROOT / "benchmarks" / "live_load.py"), str(spec)],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )


def load_result(spec: Path) -> tuple[dict[str, Any], array]:  # type: ignore[type-arg]
    s = json.loads(spec.read_text())
    result = json.loads(Path(s["result"]).read_text())
    acked = array("q")
    acked.frombytes(Path(s["acked_ids"]).read_bytes())
    return result, acked


# -- after the run --------------------------------------------------------------------------------
def stored_ids(events: Path) -> tuple[int, dict[int, int]]:
    """Rows the live inputs stored, and how many times each bench id is stored."""
    import duckdb

    con = duckdb.connect(str(events), read_only=True)
    try:
        # the readers keep each record's text in _raw: the JSON field bench_id, or the syslog PID
        rows = con.execute(
            "SELECT TRY_CAST(COALESCE(NULLIF(regexp_extract(_raw, '\"bench_id\":(\\d+)', 1), ''), "
            "NULLIF(regexp_extract(_raw, '^<\\d+>1 \\S+ \\S+ \\S+ (\\d+) ', 1), '')) AS BIGINT) AS id, "
            "count(*) FROM events WHERE _source LIKE 'live:%' GROUP BY id"
        ).fetchall()
        total = con.execute("SELECT count(*) FROM events WHERE _source LIKE 'live:%'").fetchone()
    finally:
        con.close()
    return int(total[0] if total else 0), {int(i) if i is not None else -1: int(n) for i, n in rows}


def tally(acked: array, counts: dict[int, int]) -> tuple[int, int]:  # type: ignore[type-arg]
    """(lost, duplicated): acknowledged ids never stored; extra copies of ids stored more than once."""
    lost = sum(1 for i in set(acked) if counts.get(i, 0) == 0)
    duplicated = sum(n - 1 for i, n in counts.items() if i >= 0 and n > 1)
    return lost, duplicated


def containments(
    result: dict[str, Any], probers: dict[str, Prober], f2b: Fail2ban | None, wait: float
) -> tuple[list[float], list[float], list[dict[str, Any]]]:
    """Per intrusion: rempart's latency (prober's "closed" − send of the completing event) and fail2ban's."""
    latencies, f2b_latencies, per = [], [], []
    end = time.time() + wait
    for intr in result["intrusions"]:
        closed = probers[intr["clinic"]].closed_at(max(0.0, end - time.time()))
        lat = closed - intr["sent_at"] if closed is not None and "sent_at" in intr else None
        if lat is not None:
            latencies.append(lat)
        per.append({**intr, "closed_at": closed, "latency_s": lat})
    if f2b is not None:
        time.sleep(3)  # fail2ban's own cycle
        bans = f2b.banned()
        for intr in per:
            if intr["kind"] == "ssh" and intr["attacker_ip"] in bans:
                intr["fail2ban_s"] = bans[intr["attacker_ip"]] - intr["fail2ban_written_at"]
                f2b_latencies.append(intr["fail2ban_s"])
    return latencies, f2b_latencies, per


# -- one measured run -----------------------------------------------------------------------------
def measure(args: argparse.Namespace, group: Group, folder: Path) -> dict[str, Any]:
    clinics = [e.id for e in group.establishments][: args.intrusions]
    labs: list[NetLab] = []
    probers: dict[str, Prober] = {}
    f2b: Fail2ban | None = None
    run: ServerRun | None = None
    try:
        for clinic in clinics:
            other = next(e.id for e in group.establishments if e.id != clinic)
            lab = NetLab(group, clinic, other, ATTACKER)
            labs.append(lab)
            lab.up()
        firewalls = {k: v for lab in labs for k, v in lab.firewalls.items()}
        run = write_config(folder, group, firewalls, args.lateness, rules=rule_folders(args))
        for lab, clinic in zip(labs, clinics, strict=True):
            probers[clinic] = Prober(lab, public_ip(group, clinic))
        if not args.no_fail2ban:
            f2b = Fail2ban(folder)
            f2b.start()
        print(f"starting rempart serve (rules compiled once into {RULE_CACHE}) …", file=sys.stderr)
        run.start()
        intrusions = intrusion_schedule(group, clinics, args.seconds)
        spec = load_spec(folder, run, group, args.rate, args.seconds, intrusions, f2b.log if f2b else None)
        load = start_load(spec)
        lags: list[tuple[float, float]] = []
        t0 = time.time()
        while load.poll() is None:
            lag = run.lag()
            if lag is not None:
                lags.append((time.time() - t0, lag))
            time.sleep(0.5)
        if load.returncode != 0:
            raise RuntimeError(f"the load process failed (exit {load.returncode})")
        result, acked = load_result(spec)
        # detection may lag behind the load: containment is awaited until the journal is caught up
        deadline = time.time() + args.catch_up
        while time.time() < deadline and (lag := run.lag()) is not None and lag > 0:
            lags.append((time.time() - t0, lag))
            time.sleep(0.5)
        caught_up_s = time.time() - t0 - result["seconds"]
        latencies, f2b_latencies, per = containments(result, probers, f2b, args.wait)
        status = json.loads((folder / "journal" / "status.json").read_text())
        stages = run.stages()
        drain_started = time.time()
        run.stop()
        drain_s = time.time() - drain_started
        stored, counts = stored_ids(folder / "events.duckdb")
        lost, duplicated = tally(acked, counts)
        missed = sum(1 for p in per if p["latency_s"] is None)
        return {
            "rate": args.rate,
            "seconds": args.seconds,
            "achieved_rate": result["sent"] / result["seconds"],
            "sent": result["sent"],
            "acknowledged": result["acknowledged"],
            "stored": stored,
            "lost": lost,
            "duplicated": duplicated,
            "p50_s": pct(latencies, 0.5),
            "p99_s": pct(latencies, 0.99),
            "max_s": max(latencies) if latencies else None,
            "intrusions": len(per),
            "contained": len(latencies),
            "not_contained": missed,
            "fail2ban_p50_s": pct(f2b_latencies, 0.5),
            "fail2ban_p99_s": pct(f2b_latencies, 0.99),
            "fail2ban_max_s": max(f2b_latencies, default=None),
            "fail2ban_bans": len(f2b_latencies),
            "ssh_p99_s": pct([p["latency_s"] for p in per if p["kind"] == "ssh" and p["latency_s"]], 0.99),
            "cpu_s": round(run.cpu_s, 1),
            "peak_rss_mb": round(run.peak_rss_mb, 1),
            "max_lag": max((lag for _, lag in lags), default=None),
            "caught_up_s": round(caught_up_s, 1),
            "rules": status.get("rules"),
            "drain_s": round(drain_s, 1),
            "http_retries": result["http_retries"],
            "http_errors": result["http_errors"],
            "per_intrusion": per,
            "stages": stages,
            "lags": lags,
        }
    finally:
        if run is not None and run.proc is not None:
            run.kill()
        for p in probers.values():
            p.stop()
        if f2b is not None:
            f2b.stop()
        for lab in labs:
            lab.down()


def ceiling(args: argparse.Namespace, group: Group, base: Path) -> tuple[float | None, list[dict[str, Any]]]:
    """Ramp the rate; the ceiling is the last rate whose lag stayed bounded (last third ≤ 2× first third,
    and below one second of events)."""
    steps = []
    best = None
    rate = args.ceiling_from
    while rate <= args.ceiling_to:
        folder = base / f"ceiling-{int(rate)}"
        folder.mkdir()
        run = write_config(folder, group, {}, args.lateness, dummy=True, rules=rule_folders(args))
        try:
            run.start()
            spec = load_spec(folder, run, group, rate, args.ceiling_seconds, [], None, connections=6)
            load = start_load(spec)
            lags = []
            while load.poll() is None:
                lag = run.lag()
                if lag is not None:
                    lags.append(lag)
                time.sleep(0.5)
            result, _ = load_result(spec)
        finally:
            if run.proc is not None:
                run.kill()
        # a batch costs about the same whatever its size, so the lag settles near rate x that cost: it
        # grows when the last third of the run holds a lag above the middle third's by a quarter
        third = max(1, len(lags) // 3)
        early, late = lags[third : 2 * third] or lags, lags[-third:]
        achieved = result["sent"] / result["seconds"]
        bounded = bool(lags) and max(late) <= max(1.25 * max(early), rate) and achieved >= 0.95 * rate
        steps.append(
            {
                "rate": rate,
                "achieved": round(achieved),
                "lag_early": max(early, default=None),
                "lag_late": max(late, default=None),
                "bounded": bounded,
            }
        )
        print(
            f"  ceiling: {rate:>8.0f}/s asked, {achieved:>8.0f}/s sent, lag {max(early, default=0):>9.0f} → "
            f"{max(late, default=0):>9.0f}  {'holds' if bounded else 'grows'}",
            file=sys.stderr,
        )
        if not bounded:
            break
        best = rate
        rate *= args.ceiling_step
    return best, steps


def rule_folders(args: argparse.Namespace) -> list[Path] | None:
    """None: SigmaHQ's whole ``rules/`` and ours; ``--some-rules``: its Windows process creation and ours
    (the pipeline's own latency, detection made cheap)."""
    return [SIGMA_RULES / "windows" / "process_creation", ROOT / "rules"] if args.some_rules else None


def fmt(v: float | None, unit: str = "s") -> str:
    return "—" if v is None else (f"{v * 1000:.0f} ms" if unit == "s" else f"{v:,.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--intrusions", type=int, default=13, help="attacked clinics (one intrusion each)")
    parser.add_argument(
        "--wait", type=float, default=5.0, help="seconds to wait for containments, once caught up"
    )
    parser.add_argument(
        "--catch-up", type=float, default=600.0, help="seconds to wait for the lag to fall to 0"
    )
    parser.add_argument(
        "--lateness",
        type=float,
        default=0.5,
        help="serve.yaml's detect.lateness_s: a correlation alerts once the stream is this far past",
    )
    parser.add_argument("--no-fail2ban", action="store_true")
    parser.add_argument("--some-rules", action="store_true", help="SigmaHQ's Windows process creation only")
    parser.add_argument("--ceiling", action="store_true", help="then ramp the rate to find the ceiling")
    parser.add_argument("--ceiling-from", type=float, default=1000)
    parser.add_argument("--ceiling-to", type=float, default=40000)
    parser.add_argument("--ceiling-step", type=float, default=1.5)
    parser.add_argument("--ceiling-seconds", type=float, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (printed)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    why = netlab.available()
    if why:
        print(f"cannot run: {why}")
        return 2
    group = load_group(ROOT / "examples" / "group.yaml")
    args.intrusions = min(args.intrusions, len(group.establishments))
    base = Path(tempfile.mkdtemp(prefix="rempart-live-"))
    try:
        (base / "run").mkdir()
        out = measure(args, group, base / "run")
        if args.ceiling:
            out["ceiling"], out["ceiling_steps"] = ceiling(args, group, base)
    finally:
        if args.keep:
            print(f"run folder kept: {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    report(out, args)
    if args.json:
        keys = (
            "rate",
            "seconds",
            "sent",
            "acknowledged",
            "stored",
            "lost",
            "duplicated",
            "p50_s",
            "p99_s",
            "max_s",
            "cpu_s",
            "peak_rss_mb",
        )
        print(
            json.dumps(
                {
                    **{k: out[k] for k in keys},
                    **{k: v for k, v in out.items() if k not in keys and k not in ("lags", "per_intrusion")},
                }
            )
        )
    ok = (
        out["lost"] == 0
        and out["duplicated"] == 0
        and out["p99_s"] is not None
        and out["p99_s"] <= 1.0
        and out["not_contained"] == 0
    )
    return 0 if ok else 1


def report(out: dict[str, Any], args: argparse.Namespace) -> None:
    print(
        f"rempart serve, {out['rate']:,.0f} events/s asked for {out['seconds']:.0f} s "
        f"({out['achieved_rate']:,.0f}/s sent), {out['intrusions']} intrusions, lateness {args.lateness} s, "
        f"{out['rules']} rules"
    )
    rows = [
        ("events sent", fmt(out["sent"], "n")),
        ("acknowledged", fmt(out["acknowledged"], "n")),
        ("stored (live:)", fmt(out["stored"], "n")),
        ("lost (acked, not stored)", fmt(out["lost"], "n")),
        ("duplicated", fmt(out["duplicated"], "n")),
        ("requests told to wait / failed", fmt(out["http_retries"], "n")),
        ("server CPU", f"{out['cpu_s']:.1f} s"),
        ("server peak RSS", f"{out['peak_rss_mb']:.0f} MB"),
        ("max journal lag", fmt(out["max_lag"], "n")),
        ("lag back to 0, after the load", f"{out['caught_up_s']:.1f} s"),
        ("drain at SIGTERM", f"{out['drain_s']:.1f} s"),
    ]
    for name, value in rows:
        print(f"  {name:<34}{value:>14}")
    print(f"  {'detection → containment':<34}{'p50':>14}{'p99':>10}{'max':>10}   n")
    print(
        f"  {'  rempart (all intrusions)':<34}{fmt(out['p50_s']):>14}{fmt(out['p99_s']):>10}"
        f"{fmt(out['max_s']):>10}   {out['contained']}/{out['intrusions']}"
    )
    print(f"  {'  rempart (SSH brute force)':<34}{'':>14}{fmt(out['ssh_p99_s']):>10}")
    print(
        f"  {'  fail2ban (same SSH lines)':<34}{fmt(out['fail2ban_p50_s']):>14}"
        f"{fmt(out['fail2ban_p99_s']):>10}"
        f"{fmt(out['fail2ban_max_s']):>10}   {out['fail2ban_bans']}"
    )
    if out.get("stages"):
        print("  loop stages, mean per batch: " + ", ".join(
            f"{k} {v['mean_ms']:.1f} ms" for k, v in out["stages"].items())
            + f" ({max(v['batches'] for v in out['stages'].values()):.0f} batches)")
    for p in out["per_intrusion"]:
        print(
            f"    {p['kind']:<8} {p['clinic']:<16} at {p['at']:6.1f} s  → "
            f"{fmt(p['latency_s']):>8}"
            + (f"   fail2ban {fmt(p.get('fail2ban_s')):>8}" if p["kind"] == "ssh" else "")
        )
    if "ceiling" in out:
        print(f"  sustained ceiling (lag bounded): {fmt(out['ceiling'], 'n')} events/s")
    f2b = out["fail2ban_p99_s"]
    if out["p99_s"] is not None and f2b is not None:
        print(f"  rempart p99 {'<' if out['p99_s'] < f2b else '≥'} fail2ban p99")
    targets = out["lost"] == 0 and out["duplicated"] == 0 and out["p99_s"] is not None and out["p99_s"] <= 1.0
    print(
        ("targets met" if targets else "TARGETS MISSED") + " (p99 ≤ 1 s, 0 lost, 0 duplicated; the issue's "
        "run is 10,000/s for 300 s); rerun: sudo .venv/bin/python benchmarks/live.py "
        f"--rate {args.rate:.0f} --seconds {args.seconds:.0f}"
        + (" --ceiling" if args.ceiling else "")
        + (" --some-rules" if args.some_rules else "")
        + (" --json" if args.json else "")
    )


if __name__ == "__main__":
    sys.exit(main())
