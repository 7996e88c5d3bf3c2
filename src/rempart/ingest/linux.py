"""Linux messages, shared by the ``syslog``, ``journald`` and ``auditd`` readers: what an sshd or sudo message
says (user, source address, outcome, command), the event a Sysmon for Linux message carries, the fields of
an audit record (from audit.log, or forwarded to syslog by audispd), and which ``_service`` each belongs to.

Sysmon for Linux logs each event as one XML ``<Event>`` in a syslog message from ``sysmon``, with the
Windows Sysmon field names (``Image``, ``CommandLine``, ``ParentImage``, ``User``…) and event ids (1 process
creation, 3 network connection, 11 file creation…). Its events have the ``sysmon`` service, its ``EventID``
and its own UTC time; they are what SigmaHQ's Linux ``process_creation``, ``network_connection`` and
``file_event`` rules look at.

OpenSSH 9.8 moved the per-connection work out of ``sshd`` into ``sshd-session`` (and 10.0 the
authentication into ``sshd-auth``), so on current distributions (Debian 13, Fedora 41) "Failed password"
comes from those programs: they are sshd to the rules, and the ``program`` field keeps what was logged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from xml.etree.ElementTree import ParseError, fromstring

import orjson

from rempart.ingest.columns import EPOCH
from rempart.ingest.windows import MAX_XML_DEPTH, deeper_than, event_from_xml

SSHD_PROGRAMS = frozenset({"sshd", "sshd-session", "sshd-auth"})
AUTH_FACILITIES = frozenset({"4", "10"})  # auth, authpriv: what auth.log / secure collect
SYSMON = "sysmon"  # Sysmon for Linux: its program name and its events' service
AUDITD = "auditd"  # the service of audit records, from audit.log or forwarded to syslog by audispd
_AUDIT_PROGRAMS = frozenset({"audispd", "audisp-syslog", "auditd", "audit"})
_SYSMON_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$")
_PEER = r" from (?P<source_ip>\S+) port (?P<source_port>\d+)"
_SSHD = [
    (re.compile(r"^Accepted (?P<auth_method>\S+) for (?P<user>\S+)" + _PEER), "success"),
    (re.compile(r"^Failed (?P<auth_method>\S+) for invalid user (?P<user>.*?)" + _PEER), "invalid_user"),
    (re.compile(r"^Failed (?P<auth_method>\S+) for (?P<user>\S+)" + _PEER), "failure"),
    (re.compile(r"^Invalid user (?P<user>.*?) from (?P<source_ip>\S+)(?: port (?P<source_port>\d+))?"),
     "invalid_user"),
]  # fmt: skip
# sudo's "user : [3 incorrect password attempts ; ]TTY=… ; PWD=… ; USER=… ; [GROUP=… ; ]COMMAND=…", read
# piece by piece: as one regex its lazy parts made a long command cost the square of its length
_SUDO_BY = re.compile(r"\s*(\S+) : ")
_SUDO_TTY = re.compile(r"(?:^|(?<= ))TTY=(\S++) ; PWD=")  # TTY= where a word starts: each run tried once
_SUDO_FAIL = re.compile(r"(.*?incorrect password attempts?) ; ")
_SUDO_AS = re.compile(r" ; USER=(\S++) ;")
_SUDO_COMMAND = " COMMAND="
_RECORD = re.compile(
    r"^(?:node=(?P<node>\S+) )?type=(?P<type>\S+) msg=audit\((?P<sec>\d+)\.(?P<ms>\d+):(?P<serial>\d+)\):\s?"
)
# linear in the record's length (see the FortiGate reader's): keys start where words do, nothing is given
# back, and a quote that is never closed runs to the end
_PAIR = re.compile(r"(?<![\w-])([A-Za-z_][\w-]*+)=('[^']*+(?:'|\Z)|\"[^\"]*+(?:\"|\Z)|\S*+)")
# string fields auditd writes in hexadecimal when they hold a space, a quote or a control character (it
# quotes them otherwise); a0, a1… are strings only in EXECVE records (a SYSCALL's are register values)
_STRINGS = re.compile(r"^(?:proctitle|name|cwd|exe|comm|path|data|key|new|old|acct|cmd)$")
_ARGUMENT = re.compile(r"^a\d+$")
_HEX = re.compile(r"^(?:[0-9A-F]{2})+$")
ENRICHED = "\x1d"  # auditd's ENRICHED format: the interpreted values follow this separator
_ENRICHED_ESCAPED = "#035"  # the same, as rsyslog escapes control characters in what it receives


@dataclass
class LinuxMessage:
    fields: dict[str, str | None]
    service: str
    time: datetime | None = None  # a time of its own, with its zone (Sysmon's, UTC); None: the line's


def read_message(program: str, message: str, auth: bool) -> LinuxMessage:
    """What a message of `program` says; `auth`: it comes from the authentication facility."""
    name = program.lower()
    if name == SYSMON:
        event = sysmon_event(message)
        if event is not None:
            return event
    if name in _AUDIT_PROGRAMS:  # an audit record forwarded to syslog (audisp's syslog plugin)
        record = audit_record(message)
        if record is not None:
            return LinuxMessage(record[0], AUDITD, record[1])
    return LinuxMessage(_message_fields(program, message), _service_of(program, auth))


def sysmon_event(message: str) -> LinuxMessage | None:
    """The event of a Sysmon for Linux message: its EventData fields with its EventID, Channel and
    Computer; None when the message is not one (or not well-formed, or declares entities: never in Sysmon, or
    nests deeper than an event does): its line is then a plain syslog event."""
    if not message.startswith("<Event") or "<!" in message:
        return None
    try:
        element = fromstring(message)
    except ParseError:
        return None
    if message.count("<") > 2 * MAX_XML_DEPTH and deeper_than(element):
        return None  # read as the plain syslog line it also is
    event = event_from_xml(element)
    system = event.get("System") if isinstance(event, dict) else None
    if not isinstance(system, dict):
        return None
    data = event.get("EventData")
    fields = {str(k): _text(v) for k, v in data.items()} if isinstance(data, dict) else {}
    for name in ("EventID", "Channel", "Computer"):
        value = system.get(name)
        fields[name] = _text(value.get("#text") if isinstance(value, dict) else value)
    return LinuxMessage(fields, SYSMON, _sysmon_time(system.get("TimeCreated")))


def _text(value: object) -> str | None:
    """A field's value as text: an element nested where Sysmon writes text (a crafted message) is kept as
    its JSON, as the EVTX reader keeps it, rather than failing the batch its line is in."""
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode() if isinstance(value, dict | list) else str(value)


def _sysmon_time(created: object) -> datetime | None:
    stamp = created.get("#attributes", {}).get("SystemTime") if isinstance(created, dict) else None
    m = _SYSMON_TIME.match(stamp or "")
    if m is None:
        return None
    try:
        whole = datetime.fromisoformat(m[1]).replace(tzinfo=UTC)
    except ValueError:  # 10:60:03: the line's own time stands
        return None
    return whole.replace(microsecond=int((m[2] or "0")[:6].ljust(6, "0")))


def _message_fields(program: str, message: str) -> dict[str, str | None]:
    """The fields an sshd or sudo message carries; nothing for other programs."""
    program = program.lower()
    if program in SSHD_PROGRAMS:
        return _sshd(message)
    if program == "sudo":
        return _sudo(message)
    return {}


def _service_of(program: str, auth: bool) -> str:
    """``sshd`` / ``sudo`` for their messages, else ``auth`` for a message of the authentication
    facility (an ``auth.log`` / ``secure`` file, or journald's facility 4 or 10), else ``syslog``."""
    program = program.lower()
    if program in SSHD_PROGRAMS:
        return "sshd"
    if program == "sudo":
        return "sudo"
    return "auth" if auth else "syslog"


def _sshd(message: str) -> dict[str, str | None]:
    for pattern, outcome in _SSHD:
        m = pattern.match(message)
        if m:
            return {**m.groupdict(), "outcome": outcome}
    return {}


def _sudo(message: str) -> dict[str, str | None]:
    by = _SUDO_BY.match(message)
    tty = _SUDO_TTY.search(message, by.end()) if by else None
    target = _SUDO_AS.search(message, tty.end()) if tty else None
    if by is None or tty is None or target is None:
        return {}
    rest = message[target.end() :]
    if rest.startswith(_SUDO_COMMAND):  # GROUP=…, ENV=… may come between USER and COMMAND
        command = rest[len(_SUDO_COMMAND) :]
    elif rest.startswith(" ") and (at := rest.find(";" + _SUDO_COMMAND, 1)) >= 0:
        command = rest[at + 1 + len(_SUDO_COMMAND) :]
    else:
        return {}
    failed = _SUDO_FAIL.match(message[by.end() : tty.start()])
    return {
        "user": by.group(1), "tty": tty.group(1), "pwd": message[tty.end() : target.start()],
        "target_user": target.group(1), "command": command, "outcome": "failure" if failed else "success",
    }


def is_audit_record(text: str) -> bool:
    return _RECORD.match(text) is not None


def audit_record(text: str) -> tuple[dict[str, str | None], datetime] | None:
    """The fields and UTC time of a Linux audit record (see :mod:`rempart.ingest.readers.auditd`); None when
    `text` is not one, or its time is out of range."""
    m = _RECORD.match(text)
    if m is None:
        return None
    row: dict[str, str | None] = {"node": m["node"], "type": m["type"], "serial": m["serial"]}
    rest = text[m.end():]
    body, _, enriched = rest.partition(ENRICHED if ENRICHED in rest else _ENRICHED_ESCAPED)
    execve = m["type"] == "EXECVE"
    for key, value in _PAIR.findall(body):
        if key == "msg" and value.startswith("'"):  # a user message: its own pairs
            row.update(_pairs_dict(_unquoted(value)))
        else:
            row[key] = _value(key, value, execve)
    for name, interpreted in _pairs_dict(enriched).items():
        # an interpreted value replaces the raw one of the same name, as `ausearch -i` shows it: SigmaHQ's
        # rules test SYSCALL=execve, not syscall=59 (the store's names ignore case); the raw stays in _raw
        row.pop(name.lower(), None)
        row[name] = interpreted
    if len(m["sec"]) > 12:  # past the year 33658: no clock says so, and timedelta would overflow
        return None
    when = EPOCH + timedelta(seconds=int(m["sec"]), milliseconds=int(m["ms"][:3].ljust(3, "0")))
    return row, when


def _pairs_dict(text: str) -> dict[str, str | None]:
    return {key: _value(key, value, False) for key, value in _PAIR.findall(text)}


def _unquoted(value: str) -> str:
    closed = len(value) > 1 and value[-1] == value[0]
    return value[1:-1] if closed else value[1:]


def _value(key: str, value: str, execve: bool) -> str | None:
    if value[:1] in ("'", '"'):
        return _unquoted(value)
    if value == "(null)":
        return None
    encoded = _STRINGS.match(key) or (execve and _ARGUMENT.match(key))
    if encoded and _HEX.match(value):
        return bytes.fromhex(value).decode("utf-8", "replace").replace("\x00", " ").rstrip()
    return value
