"""Multi-clinic logs in the real formats, with planted indicators and planted transfers.

Each clinic gets FortiGate key=value logs (traffic with ``sentbyte``, SSL-VPN events), Windows events as
Winlogbeat NDJSON (Sysmon process creation with hashes, Sysmon DNS queries, Security logons), a Linux
auth.log, and — for the clinics given a Zeek sensor — a Zeek ``conn.log`` (JSON or TSV). The files are
read by the real readers; a format with no reader yet is loaded from the generator's own records so the
tests still run (``FleetLogs.fallback`` says which files, and a test asserts it is empty once readers exist).
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pyarrow as pa

from rempart.demo.generate import winlog_line
from rempart.domain.events import CORE_SCHEMA
from rempart.domain.inventory import AssetRole, Establishment, Group

PARIS = ZoneInfo("Europe/Paris")
WEB = ["151.101.1.", "172.217.20.", "104.16.249."]


@dataclass(frozen=True)
class Plant:
    """One planted indicator occurrence: kind ip|domain|hash|account|tool, in one clinic at one time."""

    establishment: str
    kind: str
    value: str
    at: datetime


@dataclass(frozen=True)
class Transfer:
    """Outbound bytes from an inside host to an outside address in one hour (sensor: fortigate|zeek|both)."""

    establishment: str
    host_ip: str
    dst: str
    at: datetime
    nbytes: int
    sensor: str = "fortigate"
    inbound_pull: bool = False  # Zeek: the outside end originated the connection and pulled the data


@dataclass
class Record:
    path: Path
    line: int
    ts: datetime
    host: str
    product: str
    service: str
    fmt: str
    fields: dict[str, str]
    raw: str


@dataclass
class FleetLogs:
    files: list[Path]
    records: list[Record] = field(default_factory=list)
    fallback: list[Path] = field(default_factory=list)  # files loaded without a real reader

    def ref(self, predicate: object) -> list[str]:
        return [f"{r.path}#{r.line}" for r in self.records if predicate(r)]  # type: ignore[operator]


class _Writer:
    def __init__(self) -> None:
        self.by_path: dict[Path, list[Record]] = {}

    def add(self, rec: Record) -> None:
        self.by_path.setdefault(rec.path, []).append(rec)

    def flush(self, zeek_tsv: set[Path]) -> FleetLogs:
        out = FleetLogs(files=[])
        for path, recs in sorted(self.by_path.items()):
            recs.sort(key=lambda r: r.ts)
            path.parent.mkdir(parents=True, exist_ok=True)
            header: list[str] = []
            if path in zeek_tsv:
                names = list(recs[0].fields)
                header = [
                    "#separator \\x09",
                    "#set_separator\t,",
                    "#empty_field\t(empty)",
                    "#unset_field\t-",
                    "#path\tconn",
                    "#open\t2026-01-01-00-00-00",
                    "#fields\t" + "\t".join(names),
                    "#types\t" + "\t".join("string" for _ in names),
                ]
            for i, rec in enumerate(recs, start=len(header) + 1):
                rec.line = i
            text = "".join(line + "\n" for line in header) + "".join(r.raw + "\n" for r in recs)
            if path in zeek_tsv:
                text += "#close\t2026-01-01-00-00-00\n"
            path.write_text(text, encoding="utf-8")
            out.files.append(path)
            out.records.extend(recs)
        return out


class _Clinic:
    def __init__(
        self, est: Establishment, out: Path, rng: random.Random, w: _Writer, zeek: str | None
    ) -> None:
        self.est, self.rng, self.w, self.out, self.zeek = est, rng, w, out / est.id, zeek
        self.ips = {a.short_name: a.ips[0] for a in est.assets if a.ips}
        self.hosts = [
            a.short_name for a in est.assets if a.role not in (AssetRole.FIREWALL, AssetRole.VPN_GATEWAY)
        ]
        self.fw = est.assets_with_role(AssetRole.FIREWALL)[0].short_name
        self.vpn = est.assets_with_role(AssetRole.VPN_GATEWAY)[0].short_name
        self.rec = 5000

    # -- formats ------------------------------------------------------------------------------------------
    def fortigate(self, when: datetime, dev: str, service: str, fields: dict[str, str | int]) -> None:
        local = when.astimezone(PARIS)
        head: dict[str, str | int] = {
            "date": local.strftime("%Y-%m-%d"),
            "time": local.strftime("%H:%M:%S"),
            "devname": dev,
            "devid": "FG100F" + dev[-4:].upper(),
            "eventtime": int(when.timestamp() * 1e9),
            "tz": local.strftime("%z"),
        }
        allf = {**head, **fields}
        raw = " ".join(f"{k}={v}" if isinstance(v, int) else f'{k}="{v}"' for k, v in allf.items())
        self.w.add(
            Record(
                self.out / "fortigate.log",
                0,
                when,
                dev,
                "fortigate",
                service,
                "fortigate",
                {k: str(v) for k, v in allf.items()},
                raw,
            )
        )

    def windows(self, when: datetime, host: str, channel: str, event_id: int, data: dict[str, str]) -> None:
        self.rec += 1
        service = "sysmon" if "Sysmon" in channel else "security"
        fields = {"EventID": str(event_id), "Channel": channel, "Computer": f"{host}.horizon.local", **data}
        self.w.add(
            Record(
                self.out / "windows.ndjson",
                0,
                when,
                host,
                "windows",
                service,
                "winjson",
                fields,
                winlog_line(when, host, channel, event_id, self.rec, data),
            )
        )

    def auth(self, when: datetime, host: str, message: str) -> None:
        raw = f"{when.strftime('%b %e %H:%M:%S')} {host} sshd[{self.rng.randint(900, 32000)}]: {message}"
        self.w.add(
            Record(self.out / "auth.log", 0, when, host, "linux", "sshd", "syslog", {"message": message}, raw)
        )

    def conn(self, when: datetime, orig: str, resp: str, port: int, ob: int, rb: int) -> None:
        if self.zeek is None:
            return
        fields = {
            "ts": f"{when.timestamp():.6f}",
            "uid": f"C{self.rng.getrandbits(40):x}",
            "id.orig_h": orig,
            "id.orig_p": str(self.rng.randint(40000, 65000)),
            "id.resp_h": resp,
            "id.resp_p": str(port),
            "proto": "tcp",
            "service": "ssl" if port == 443 else "-",
            "duration": "12.5",
            "orig_bytes": str(ob),
            "resp_bytes": str(rb),
            "conn_state": "SF",
        }
        name = "conn.log"
        raw = (
            "\t".join(fields.values())
            if self.zeek == "tsv"
            else orjson.dumps(
                {
                    **{k: v for k, v in fields.items()},
                    "ts": when.timestamp(),
                    "orig_bytes": ob,
                    "resp_bytes": rb,
                    "id.resp_p": port,
                }
            ).decode()
        )
        self.w.add(
            Record(self.out / name, 0, when, "zeek-" + self.est.id, "zeek", "conn", "zeek", fields, raw)
        )

    # -- ordinary activity --------------------------------------------------------------------------------
    def hour(self, hour: datetime) -> None:
        rng = self.rng
        working = 7 <= hour.astimezone(PARIS).hour < 20
        for _ in range(rng.randint(4, 8) if working else rng.randint(1, 3)):
            when = hour + timedelta(seconds=rng.randint(0, 3599))
            host = rng.choice(self.hosts)
            dst = rng.choice(WEB) + str(rng.randint(1, 254))
            sent = rng.randint(2_000, 3_000_000)
            self.fortigate(
                when,
                self.fw,
                "traffic",
                {
                    "type": "traffic",
                    "subtype": "forward",
                    "srcip": self.ips[host],
                    "srcport": rng.randint(49152, 65000),
                    "dstip": dst,
                    "dstport": 443,
                    "proto": 6,
                    "action": "close",
                    "service": "HTTPS",
                    "sentbyte": sent,
                    "rcvdbyte": rng.randint(5_000, 2_000_000),
                },
            )
            self.conn(when, self.ips[host], dst, 443, sent, rng.randint(5_000, 2_000_000))
        if working and rng.random() < 0.5:
            when = hour + timedelta(seconds=rng.randint(0, 3599))
            host = rng.choice(self.hosts)
            self.windows(
                when,
                host,
                "Microsoft-Windows-Sysmon/Operational",
                1,
                {
                    "Image": r"C:\Program Files\HorizonDPI\dpi-client.exe",
                    "CommandLine": '"dpi-client.exe"',
                    "User": f"HORIZON\\soignant.{self.est.id}",
                    "Hashes": "SHA256=" + "ab" * 32,
                    "ProcessId": "4242",
                },
            )
            self.windows(
                when,
                host,
                "Microsoft-Windows-Sysmon/Operational",
                22,
                {
                    "QueryName": "www.sante.fr",
                    "Image": r"C:\Program Files\Google\Chrome\chrome.exe",
                },
            )
            self.windows(
                when,
                host,
                "Security",
                4624,
                {
                    "TargetUserName": f"soignant.{self.est.id}",
                    "LogonType": "3",
                    "IpAddress": self.ips[self.hosts[0]],
                },
            )
        if rng.random() < 0.2:
            host = rng.choice(self.hosts)
            self.auth(
                hour + timedelta(seconds=rng.randint(0, 3599)),
                host,
                f"Accepted publickey for exploit from 10.250.0.{rng.randint(10, 20)} port 50022 ssh2",
            )

    # -- planted ------------------------------------------------------------------------------------------
    def plant(self, p: Plant) -> None:
        host = self.hosts[-1]
        # the other values of a planted event derive from the planted value: two plants share nothing else
        tag = f"{zlib.crc32(p.value.encode()):08x}"
        image = rf"C:\Users\Public\upd{tag}.exe"
        if p.kind == "ip":
            self.fortigate(
                p.at,
                self.vpn,
                "vpn",
                {
                    "type": "event",
                    "subtype": "vpn",
                    "action": "ssl-login-fail",
                    "logdesc": "SSL VPN login fail",
                    "remip": p.value,
                    "user": "inconnu",
                    "reason": "sslvpn_login_permission_denied",
                },
            )
        elif p.kind == "domain":
            self.windows(
                p.at,
                host,
                "Microsoft-Windows-Sysmon/Operational",
                22,
                {
                    "QueryName": f"cdn.{p.value}",
                    "Image": image,
                },
            )
        elif p.kind == "hash":
            self.windows(
                p.at,
                host,
                "Microsoft-Windows-Sysmon/Operational",
                1,
                {
                    "Image": image,
                    "CommandLine": f"upd{tag}.exe /silent",
                    "User": f"HORIZON\\soignant.{self.est.id}",
                    "Hashes": f"MD5={tag * 4},SHA256={p.value.upper()}",
                },
            )
        elif p.kind == "account":
            self.windows(
                p.at,
                host,
                "Security",
                4624,
                {
                    "TargetUserName": p.value,
                    "TargetDomainName": "HORIZON",
                    "LogonType": "10",
                    "IpAddress": "10.250.0.99",
                },
            )
        elif p.kind == "tool":
            self.windows(
                p.at,
                host,
                "Microsoft-Windows-Sysmon/Operational",
                1,
                {
                    "Image": rf"C:\ProgramData\{p.value}",
                    "CommandLine": f"{p.value} -accepteula",
                    "User": f"HORIZON\\soignant.{self.est.id}",
                    "Hashes": "SHA256=" + tag * 8,
                },
            )
        else:
            raise ValueError(p.kind)

    def transfer(self, t: Transfer) -> None:
        port = 443
        if t.sensor in {"fortigate", "both"}:
            self.fortigate(
                t.at,
                self.fw,
                "traffic",
                {
                    "type": "traffic",
                    "subtype": "forward",
                    "srcip": t.host_ip,
                    "srcport": 51515,
                    "dstip": t.dst,
                    "dstport": port,
                    "proto": 6,
                    "action": "close",
                    "service": "HTTPS",
                    "sentbyte": t.nbytes,
                    "rcvdbyte": 40_000,
                },
            )
        if t.sensor in {"zeek", "both"}:
            if t.inbound_pull:
                self.conn(t.at, t.dst, t.host_ip, 22, 30_000, t.nbytes)
            else:
                self.conn(t.at, t.host_ip, t.dst, port, t.nbytes, 40_000)


def generate(
    group: Group,
    out: Path,
    start: datetime,
    hours: int,
    plants: list[Plant],
    transfers: list[Transfer],
    zeek: dict[str, str] | None = None,
    establishments: list[str] | None = None,
    seed: int = 7,
) -> FleetLogs:
    """Write ``hours`` of logs for each clinic (all of the group's by default) plus what is planted."""
    rng = random.Random(seed)
    w = _Writer()
    wanted = establishments or [e.id for e in group.establishments]
    clinics = {
        e.id: _Clinic(e, out, rng, w, (zeek or {}).get(e.id)) for e in group.establishments if e.id in wanted
    }
    for h in range(hours):
        for c in clinics.values():
            c.hour(start + timedelta(hours=h))
    for p in plants:
        clinics[p.establishment].plant(p)
    for t in transfers:
        clinics[t.establishment].transfer(t)
    tsv = {c.out / "conn.log" for c in clinics.values() if c.zeek == "tsv"}
    return w.flush(tsv)


def _fallback_table(recs: list[Record], group: Group) -> pa.Table:
    from rempart.inventory import Resolver

    resolver = Resolver(group)
    names = sorted({k for r in recs for k in r.fields})
    cols: dict[str, list[object]] = {n: [] for n in [*CORE_SCHEMA.names, *names, "_raw"]}
    for r in recs:
        att = resolver.resolve(r.host) or resolver.resolve(r.path.parent.name + "-fw01")
        est = att.establishment if att else r.path.parent.name
        core = [
            r.ts,
            r.host,
            r.product,
            r.service,
            r.fmt,
            str(r.path),
            r.line,
            est,
            att.asset if att else None,
        ]
        for n, v in zip(CORE_SCHEMA.names, core, strict=True):
            cols[n].append(v)
        for n in names:
            cols[n].append(r.fields.get(n))
        cols["_raw"].append(r.raw)
    fields = [*CORE_SCHEMA, *(pa.field(n, pa.string()) for n in names), pa.field("_raw", pa.string())]
    return pa.table({f.name: pa.array(cols[f.name], f.type) for f in fields}, schema=pa.schema(fields))


def load(logs: FleetLogs, group: Group, db: Path) -> None:
    """Ingest with the real readers into the real event store; per-file fallback only without a reader."""
    from rempart.events.store import EventStore
    from rempart.ingest.pipeline import read_paths
    from rempart.ingest.report import IngestReport
    from rempart.inventory import Resolver

    store = EventStore(db)
    report = IngestReport()
    for table in read_paths(logs.files, Resolver(group), report=report):
        store.append(table)
    read = {src for (src, _), n in report.events.items() if n}
    by_path: dict[Path, list[Record]] = {}
    for r in logs.records:
        by_path.setdefault(r.path, []).append(r)
    for path, recs in by_path.items():
        if str(path) not in read:
            logs.fallback.append(path)
            store.append(_fallback_table(recs, group))
    store.connection.close()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]
