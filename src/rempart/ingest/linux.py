"""Linux authentication messages, shared by the ``syslog`` and ``journald`` readers: what an sshd or sudo
message says (user, source address, outcome, command) and which ``_service`` its event belongs to.

OpenSSH 9.8 moved the per-connection work out of ``sshd`` into ``sshd-session`` (and 10.0 the
authentication into ``sshd-auth``), so on current distributions (Debian 13, Fedora 41) "Failed password"
comes from those programs: they are sshd to the rules, and the ``program`` field keeps what was logged.
"""

from __future__ import annotations

import re

SSHD_PROGRAMS = frozenset({"sshd", "sshd-session", "sshd-auth"})
AUTH_FACILITIES = frozenset({"4", "10"})  # auth, authpriv: what auth.log / secure collect

_PEER = r" from (?P<source_ip>\S+) port (?P<source_port>\d+)"
_SSHD = [
    (re.compile(r"^Accepted (?P<auth_method>\S+) for (?P<user>\S+)" + _PEER), "success"),
    (re.compile(r"^Failed (?P<auth_method>\S+) for invalid user (?P<user>.*?)" + _PEER), "invalid_user"),
    (re.compile(r"^Failed (?P<auth_method>\S+) for (?P<user>\S+)" + _PEER), "failure"),
    (re.compile(r"^Invalid user (?P<user>.*?) from (?P<source_ip>\S+)(?: port (?P<source_port>\d+))?"),
     "invalid_user"),
]  # fmt: skip
_SUDO = re.compile(
    r"^\s*(?P<user>\S+) : (?:(?P<fail>.*?incorrect password attempts?) ; )?(?:.*?)?TTY=(?P<tty>\S+) ; "
    r"PWD=(?P<pwd>.*?) ; USER=(?P<target_user>\S+) ;(?: .*?;)? COMMAND=(?P<command>.*)$"
)


def message_fields(program: str, message: str) -> dict[str, str | None]:
    """The fields an sshd or sudo message carries; nothing for other programs."""
    program = program.lower()
    if program in SSHD_PROGRAMS:
        return _sshd(message)
    if program == "sudo":
        return _sudo(message)
    return {}


def service_of(program: str, auth: bool) -> str:
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
    m = _SUDO.match(message)
    if m is None:
        return {}
    found = m.groupdict()
    failed = found.pop("fail")
    return {**found, "outcome": "failure" if failed else "success"}
