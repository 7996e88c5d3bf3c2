"""Indicators of compromise: taken from the incident's own alerts, or imported (STIX 2.1, MISP JSON, CSV).

Kinds are the few things the sweep can look for in normalised events: addresses, domains, file hashes,
account names and tool (program) names. Values are kept lower-case, the way the sweep compares them.
"""

from __future__ import annotations

import base64
import binascii
import csv
import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb
import orjson
from sqlalchemy.orm import Session

from rempart.domain.inventory import Group
from rempart.errors import InputError, Location
from rempart.investigate import eventdb
from rempart.store.models.core import IncidentRow


class IndicatorKind(StrEnum):
    IP = "ip"
    DOMAIN = "domain"
    HASH = "hash"
    ACCOUNT = "account"
    TOOL = "tool"


@dataclass(frozen=True)
class Indicator:
    kind: IndicatorKind
    value: str
    source: str  # "alert:<rule id>" or the file it was imported from

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}$")
_HEX = re.compile(r"(?<![0-9a-f])([0-9a-f]{64}|[0-9a-f]{40}|[0-9a-f]{32})(?![0-9a-f])")
# file extensions that make a dotted word a file name, not a domain
_FILE_EXT = re.compile(r"\.(exe|dll|sys|ps1|bat|cmd|vbs|js|msi|zip|rar|7z|txt|log|tmp|dat|bin|py|sh)$")

# Fields of the normalised events each kind is read from when extracting from an alert's events.
# accounts that logged on (Windows logon target, VPN user) and the users the alert's processes ran as: in
# an alert's own events these are the accounts the intruder holds. Failed logons are left out (below).
ACCOUNT_FIELDS = (
    "TargetUserName",
    "user",
    "usrname",
    "AccountName",
    "UserName",
    "User",
    "SourceUser",
    "SubjectUserName",
)
TOOL_FIELDS = ("Image", "SourceImage", "NewProcessName", "OriginalFileName", "ServiceFileName", "ImagePath")
DOMAIN_FIELDS = ("QueryName", "query", "DestinationHostname", "host", "server_name", "hostname")

FAILED_LOGON_IDS = frozenset({"4625", "4771", "4776", "529", "530", "531", "532", "533", "534", "535", "539"})
# Names seen on every Windows host: sweeping the fleet for them would flag every clinic.
GENERIC_ACCOUNTS = frozenset(
    {
        "-",
        "system",
        "local service",
        "network service",
        "anonymous logon",
        "administrator",
        "administrateur",
        "guest",
        "invité",
        "root",
        "nobody",
        "dwm-1",
        "umfd-0",
        "umfd-1",
    }
)
GENERIC_TOOLS = frozenset(
    {
        "cmd.exe",
        "powershell.exe",
        "pwsh.exe",
        "conhost.exe",
        "svchost.exe",
        "explorer.exe",
        "rundll32.exe",
        "services.exe",
        "lsass.exe",
        "wininit.exe",
        "winlogon.exe",
        "taskhostw.exe",
        "dllhost.exe",
        "wmiprvse.exe",
        "msiexec.exe",
        "net.exe",
        "net1.exe",
        "sc.exe",
        "reg.exe",
        "mmc.exe",
        "wsmprovhost.exe",
        "whoami.exe",
        "ipconfig.exe",
        "systeminfo.exe",
        "tasklist.exe",
        "schtasks.exe",
        "bash",
        "sh",
        "sudo",
        "sshd",
        "sshd-session",  # OpenSSH 9.8+
        "sshd-auth",  # OpenSSH 10
        "python",
        "python3",
        "-",
    }
)
_PRIVATE = [
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "0.0.0.0/8",
        "224.0.0.0/4",
        "255.255.255.255/32",
        "::1/128",
        "fe80::/10",
        "fc00::/7",
        "ff00::/8",
        "::/128",
    )
]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class Internal:
    """Addresses that belong to the group (its networks, asset addresses, SOC) or to no one outside."""

    def __init__(self, group: Group | None) -> None:
        nets = list(_PRIVATE)
        self._ips: set[str] = set()
        if group is not None:
            nets += [ipaddress.ip_network(n, strict=False) for n in group.soc.allowlist]
            for est in group.establishments:
                nets += [ipaddress.ip_network(n, strict=False) for n in est.networks]
                self._ips.update(ip for a in est.assets for ip in a.ips)
        self._nets = nets

    def __contains__(self, text: object) -> bool:
        if not isinstance(text, str):
            return False
        if text in self._ips:
            return True
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            return False
        return any(addr.version == n.version and addr in n for n in self._nets)


def normalise(kind: IndicatorKind, raw: str, source: str, where: Location | None = None) -> Indicator:
    """Validate one value for its kind; a bad value is an InputError naming where it came from."""
    value = raw.strip().strip("'\"").lower()
    if kind is IndicatorKind.IP:
        ok = _is_ip(value)
    elif kind is IndicatorKind.DOMAIN:
        ok = bool(_DOMAIN.match(value.rstrip(".")))
    elif kind is IndicatorKind.HASH:
        ok = bool(_HEX.fullmatch(value))
    else:
        ok = 0 < len(value) <= 255
    if not ok:
        raise InputError(f"'{raw}' is not a valid {kind} indicator", where)
    if kind is IndicatorKind.DOMAIN:
        value = value.rstrip(".")
    return Indicator(kind, value, source)


def dedupe(items: Iterable[Indicator]) -> list[Indicator]:
    seen: dict[tuple[IndicatorKind, str], Indicator] = {}
    for item in items:
        seen.setdefault((item.kind, item.value), item)
    return sorted(seen.values(), key=lambda i: (str(i.kind), i.value))


# ----------------------------------------------------------------------------------------------------------
# From the incident's alerts


def _alert_events(con: duckdb.DuckDBPyConnection, refs: list[str]) -> list[dict[str, str]]:
    pairs = []
    for ref in refs:
        source, _, record = ref.rpartition("#")
        if source and record.isdigit():
            pairs.append((source, int(record)))
    if not pairs or not eventdb.has_events(con):
        return []
    con.execute("CREATE OR REPLACE TEMP TABLE _refs(src VARCHAR, rec BIGINT)")
    con.executemany("INSERT INTO _refs VALUES (?, ?)", pairs)
    cur = con.execute(
        f"SELECT e.* EXCLUDE (_ts) FROM {eventdb.EVENTS} e"
        # correlation alerts name their events host#record, the others source#record
        " JOIN _refs r ON (e._source = r.src OR e._host = r.src) AND e._record = r.rec"
    )
    names = [d[0] for d in cur.description]
    out = []
    for row in cur.fetchall():
        values = dict(zip(names, row, strict=True))
        fields = {n: str(v) for n, v in values.items() if v is not None and not n.startswith("_")}
        for k, v in _raw_fields(values.get("_raw")).items():
            fields.setdefault(k, v)  # fields ingest did not materialise are still in _raw
        out.append(fields)
    return out


_KV = re.compile(r'(?:^|\s)([A-Za-z_][\w.]*)=(?:"((?:[^"\\]|\\.)*)"|(\S*))')


def _raw_fields(raw: object) -> dict[str, str]:
    """The fields of a raw record: flattened JSON (Winlogbeat, Zeek) or key=value (FortiGate)."""
    if not isinstance(raw, str) or not raw:
        return {}
    if raw.lstrip().startswith("{"):
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return {}
        flat: dict[str, str] = {}
        stack: list[tuple[str, Any]] = [("", doc)]
        while stack:  # leaves by their own name: event_data.TargetUserName → TargetUserName
            key, obj = stack.pop()
            if isinstance(obj, dict):
                stack.extend(obj.items())
            elif obj is not None and not isinstance(obj, list) and key:
                flat.setdefault(key, str(obj))
        return flat
    return {m.group(1): m.group(2) if m.group(2) is not None else m.group(3) for m in _KV.finditer(raw)}


_ENC = re.compile(r"\s-(?:e|ec|enc|encodedcommand)\s+([A-Za-z0-9+/=]{16,})", re.IGNORECASE)
_URL = re.compile(r"\b(?:https?|ftp)://([^/\s:'\"]+)", re.IGNORECASE)


def _command_hosts(command: str) -> Iterator[str]:
    """Hosts of the URLs in a command line, including inside a PowerShell ``-enc`` payload."""
    texts = [command]
    for payload in _ENC.findall(command):
        try:
            texts.append(base64.b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-16-le", "ignore"))
        except (binascii.Error, ValueError):
            continue
    for text in texts:
        yield from (h.lower().rstrip(".") for h in _URL.findall(text))


def _addresses_and_hashes(fields: dict[str, str], internal: Internal, source: str) -> Iterator[Indicator]:
    for name, value in fields.items():
        text = value.strip()
        if _is_ip(text) and text not in internal:
            yield Indicator(IndicatorKind.IP, text.lower(), source)
        if "hash" in name.lower() or name.lower() in {"md5", "sha1", "sha256"}:
            for h in _HEX.findall(text.lower()):
                yield Indicator(IndicatorKind.HASH, h, source)


def _accounts_and_tools(fields: dict[str, str], source: str) -> Iterator[Indicator]:
    # a name tried in a failed logon is a target of the attacker, not an account it holds
    failed = fields.get("EventID") in FAILED_LOGON_IDS or any(
        "fail" in fields.get(k, "").lower() for k in ("action", "status", "logdesc", "msg")
    )
    for name in () if failed else ACCOUNT_FIELDS:
        account = fields.get(name, "").split("\\")[-1].strip().lower()
        if account and account not in GENERIC_ACCOUNTS and not account.endswith("$"):
            yield Indicator(IndicatorKind.ACCOUNT, account, source)
    for name in TOOL_FIELDS:
        tool = re.split(r"[\\/]", fields.get(name, "").strip().strip('"'))[-1].lower()
        if tool and tool not in GENERIC_TOOLS:
            yield Indicator(IndicatorKind.TOOL, tool, source)


def _names(fields: dict[str, str], internal: Internal, source: str) -> Iterator[Indicator]:
    names = [fields.get(n, "") for n in DOMAIN_FIELDS]
    names += [h for k in ("CommandLine", "ParentCommandLine") for h in _command_hosts(fields.get(k, ""))]
    for raw in names:
        domain = raw.strip().lower().rstrip(".")
        if _is_ip(domain):
            if domain not in internal:
                yield Indicator(IndicatorKind.IP, domain, source)
        elif _DOMAIN.match(domain) and not _FILE_EXT.search(domain):
            yield Indicator(IndicatorKind.DOMAIN, domain, source)


def _from_event(fields: dict[str, str], internal: Internal, source: str) -> Iterator[Indicator]:
    yield from _addresses_and_hashes(fields, internal, source)
    yield from _accounts_and_tools(fields, source)
    yield from _names(fields, internal, source)


def from_alerts(
    session: Session, con: duckdb.DuckDBPyConnection, incident: IncidentRow, group: Group | None
) -> list[Indicator]:
    """Indicators found in the events that made the incident's alerts fire.

    External addresses only (the clinic's own addresses would match its normal traffic everywhere), and no
    account or program name that every Windows host has (see GENERIC_ACCOUNTS, GENERIC_TOOLS).
    """
    internal = Internal(group)
    found: list[Indicator] = []
    for alert in incident.alerts:
        for fields in _alert_events(con, list(alert.events)):
            found.extend(_from_event(fields, internal, f"alert:{alert.rule_id}"))
        for value in (alert.details or {}).values():
            text = str(value).strip()
            if _is_ip(text) and text not in internal:
                found.append(Indicator(IndicatorKind.IP, text, f"alert:{alert.rule_id}"))
    return dedupe(found)


# ----------------------------------------------------------------------------------------------------------
# Imported files

_STIX_COMPARISON = re.compile(
    r"([a-z0-9-]+):([a-z0-9_.\-']+(?:\.'[^']+')?[a-z0-9_.]*)\s*=\s*'((?:[^'\\]|\\.)*)'", re.IGNORECASE
)


def _stix_kind(obj: str, path: str) -> IndicatorKind | None:
    obj, path = obj.lower(), path.lower()
    if obj in {"ipv4-addr", "ipv6-addr"} or (obj == "network-traffic" and path.endswith("_ref.value")):
        return IndicatorKind.IP
    if obj in {"domain-name", "url"}:
        return IndicatorKind.DOMAIN
    if obj == "file" and path.startswith("hashes"):
        return IndicatorKind.HASH
    if (obj == "file" and path == "name") or (obj == "process" and path in {"name", "binary_ref.name"}):
        return IndicatorKind.TOOL
    if obj == "user-account" and path in {"user_id", "account_login"}:
        return IndicatorKind.ACCOUNT
    return None


def parse_stix_pattern(pattern: str, source: str, where: Location) -> list[Indicator]:
    """The equality comparisons of a STIX 2.1 pattern; other operators cannot be swept for and are skipped."""
    out: list[Indicator] = []
    for obj, path, value in _STIX_COMPARISON.findall(pattern):
        kind = _stix_kind(obj, path)
        if kind is None:
            continue
        text = value.replace("\\'", "'").replace("\\\\", "\\")
        if obj.lower() == "url":
            text = urlsplit(text).hostname or ""
        out.append(normalise(kind, text, source, where))
    return out


def _stix(doc: dict[str, Any], path: Path) -> list[Indicator]:
    out: list[Indicator] = []
    for i, obj in enumerate(doc.get("objects", [])):
        if not isinstance(obj, dict) or obj.get("type") != "indicator":
            continue
        where = Location(path, field=f"objects[{i}].pattern")
        if obj.get("pattern_type", "stix") != "stix" or not isinstance(obj.get("pattern"), str):
            continue
        out.extend(parse_stix_pattern(obj["pattern"], f"stix:{path.name}", where))
    return out


MISP_TYPES: dict[str, IndicatorKind] = {
    "ip-src": IndicatorKind.IP,
    "ip-dst": IndicatorKind.IP,
    "domain": IndicatorKind.DOMAIN,
    "hostname": IndicatorKind.DOMAIN,
    "url": IndicatorKind.DOMAIN,
    "md5": IndicatorKind.HASH,
    "sha1": IndicatorKind.HASH,
    "sha256": IndicatorKind.HASH,
    "filename": IndicatorKind.TOOL,
    "target-user": IndicatorKind.ACCOUNT,
    "user-account": IndicatorKind.ACCOUNT,
}


def _misp_attribute(attr: dict[str, Any], source: str, where: Location) -> list[Indicator]:
    atype, value = str(attr.get("type", "")), str(attr.get("value", ""))
    parts = list(zip(atype.split("|"), value.split("|"), strict=False))  # ip-dst|port, filename|sha256 …
    out: list[Indicator] = []
    for t, v in parts:
        kind = MISP_TYPES.get(t)
        if kind is None:
            continue
        text = (urlsplit(v).hostname or "") if t == "url" else v
        out.append(normalise(kind, text, source, where))
    return out


def _misp(doc: Any, path: Path) -> list[Indicator]:
    events: list[dict[str, Any]] = []
    if isinstance(doc, dict) and "response" in doc:
        doc = doc["response"]
    for item in doc if isinstance(doc, list) else [doc]:
        if isinstance(item, dict):
            events.append(item.get("Event", item))
    out: list[Indicator] = []
    for e, event in enumerate(events):
        attrs = [(f"Event[{e}].Attribute[{i}]", a) for i, a in enumerate(event.get("Attribute", []))]
        for o, obj in enumerate(event.get("Object", [])):
            attrs += [
                (f"Event[{e}].Object[{o}].Attribute[{i}]", a) for i, a in enumerate(obj.get("Attribute", []))
            ]
        for field, attr in attrs:
            out.extend(_misp_attribute(attr, f"misp:{path.name}", Location(path, field=field)))
    return out


CSV_KINDS: dict[str, IndicatorKind] = {
    "ip": IndicatorKind.IP,
    "ipv4": IndicatorKind.IP,
    "ipv6": IndicatorKind.IP,
    "ip-src": IndicatorKind.IP,
    "ip-dst": IndicatorKind.IP,
    "domain": IndicatorKind.DOMAIN,
    "hostname": IndicatorKind.DOMAIN,
    "hash": IndicatorKind.HASH,
    "md5": IndicatorKind.HASH,
    "sha1": IndicatorKind.HASH,
    "sha256": IndicatorKind.HASH,
    "account": IndicatorKind.ACCOUNT,
    "user": IndicatorKind.ACCOUNT,
    "tool": IndicatorKind.TOOL,
    "process": IndicatorKind.TOOL,
    "filename": IndicatorKind.TOOL,
}


def _csv(path: Path) -> list[Indicator]:
    """``type,value[,comment]`` with a header line; ``#`` starts a comment line."""
    out: list[Indicator] = []
    with path.open(newline="", encoding="utf-8") as fh:
        lines = [(n, line) for n, line in enumerate(fh, start=1) if line.strip() and not line.startswith("#")]
    reader = csv.DictReader((line for _, line in lines))
    if not reader.fieldnames or {"type", "value"} - {f.strip().lower() for f in reader.fieldnames}:
        raise InputError("CSV indicators need a header with 'type' and 'value' columns", Location(path, 1))
    for (number, _), raw in zip(lines[1:], reader, strict=False):
        row = {k.strip().lower(): (v or "") for k, v in raw.items() if k}
        kind = CSV_KINDS.get(row["type"].strip().lower())
        if kind is None:
            raise InputError(
                f"unknown indicator type '{row['type']}'",
                Location(path, number, "type"),
                hint=f"use one of {', '.join(sorted(CSV_KINDS))}",
            )
        out.append(normalise(kind, row["value"], f"csv:{path.name}", Location(path, number, "value")))
    return out


def load_file(path: Path) -> list[Indicator]:
    """Indicators from a STIX 2.1 bundle, a MISP event export (JSON) or a CSV file."""
    if not path.is_file():
        raise InputError("indicator file not found", Location(path))
    if path.suffix.lower() == ".csv":
        return dedupe(_csv(path))
    try:
        doc = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", Location(path)) from None
    if isinstance(doc, dict) and doc.get("type") == "bundle":
        return dedupe(_stix(doc, path))
    if isinstance(doc, dict | list):
        return dedupe(_misp(doc, path))
    raise InputError("neither a STIX 2.1 bundle nor a MISP event", Location(path))
