"""Stop a service or shut a server down through OpenSSH, with strict host key checking.

The command is an argv list for the local ``ssh``; the remote words are quoted one by one
(``shlex.quote``) because ssh hands them to the remote shell joined by spaces: what runs there is exactly
the argv of the plan. ``StrictHostKeyChecking=yes`` with the group's own ``known_hosts`` file: an unknown
or changed host key stops the step instead of trusting a possibly impersonated server.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from rempart.adapters.execute import run
from rempart.respond.interface import Action, AdapterError, Operation, Outcome, Verb, Verification

SYSTEMD: dict[str, list[str]] = {
    "stop": ["systemctl", "stop", "{service}"],
    "start": ["systemctl", "start", "{service}"],
    "is_active": ["systemctl", "is-active", "--quiet", "{service}"],
    "poweroff": ["systemctl", "poweroff"],
    "ping": ["true"],
}


class SshAdapter:
    name = "ssh"

    def __init__(
        self,
        known_hosts: Path,
        identity: Path | None = None,
        port: int = 22,
        user: str = "root",
        addresses: Mapping[str, str] | None = None,
        commands: Mapping[str, Sequence[str]] | None = None,
        connect_timeout: int = 5,
        sudo: bool = False,
        ssh: str = "ssh",
    ) -> None:
        self.known_hosts = known_hosts
        self.identity = identity
        self.port = port
        self.user = user
        self.addresses = dict(addresses or {})
        self.commands = {**SYSTEMD, **{k: list(v) for k, v in (commands or {}).items()}}
        self.connect_timeout = connect_timeout
        self.sudo = sudo
        self.ssh = ssh

    def ssh_argv(self, action: Action, remote: Sequence[str]) -> tuple[str, ...]:
        p = action.params
        address = (
            self.addresses.get(action.target) or self.addresses.get(str(p.get("host"))) or str(p["address"])
        )
        user = str(p.get("user") or self.user)
        argv = [
            self.ssh,
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            f"ConnectTimeout={self.connect_timeout}",
            "-p",
            str(self.port),
        ]
        if self.identity is not None:
            argv += ["-o", "IdentitiesOnly=yes", "-i", str(self.identity)]
        words = (["sudo", "-n"] if self.sudo else []) + list(remote)
        return (*argv, f"{user}@{address}", "--", *(shlex.quote(w) for w in words))

    def remote(self, name: str, **values: str) -> list[str]:
        return [w.format(**values) for w in self.commands[name]]

    def _ops(self, verb: Verb, action: Action) -> list[Operation]:
        if action.verb == "shutdown":
            name = {"apply": "poweroff", "verify": "ping", "rollback": None}[verb]
            if name is None:
                return [
                    Operation("manual", text=f"restart {action.target} by hand or through its hypervisor")
                ]
            return [
                Operation("exec", self.ssh_argv(action, self.remote(name)), why=f"{verb} {action.target}")
            ]
        if action.verb != "stop_service":
            raise AdapterError(f"ssh cannot perform '{action.verb}'")
        name = {"apply": "stop", "verify": "is_active", "rollback": "start"}[verb]
        return [
            Operation(
                "exec",
                self.ssh_argv(action, self.remote(name, service=svc)),
                why=f"{verb} {svc} on {action.target}",
            )
            for svc in action.params.get("services", [])
        ]

    def plan(self, verb: Verb, actions: Sequence[Action]) -> list[Operation]:
        return [op for a in actions for op in self._ops(verb, a)]

    def apply(self, actions: Sequence[Action], timeout: float) -> Outcome:
        done = []
        for a in actions:
            for op in self._ops("apply", a):
                # poweroff drops the connection it came through: ssh exits 255, which is the expected end
                done.append(run(op, timeout, check=a.verb != "shutdown").summary())
        return Outcome(True, done, f"{len(done)} command(s) run over ssh")

    def verify(self, actions: Sequence[Action], timeout: float) -> Verification:
        in_place: dict[str, bool] = {}
        for a in actions:
            results = [run(op, timeout, check=False) for op in self._ops("verify", a)]
            if any(r.rc == 255 for r in results) and a.verb != "shutdown":
                raise AdapterError(f"cannot reach {a.target} over ssh: {results[0].stderr.strip()[:200]}")
            # stopped service: is-active fails (3); shut-down server: ssh itself fails (255)
            in_place[a.key] = all(r.rc != 0 for r in results)
        return Verification(in_place, "read back over ssh")

    def rollback(self, actions: Sequence[Action], timeout: float) -> Outcome:
        if any(a.verb == "shutdown" for a in actions):
            return Outcome(
                False, detail="a server that was shut down is restarted by hand or by its hypervisor"
            )
        done = [run(op, timeout).summary() for a in actions for op in self._ops("rollback", a)]
        return Outcome(True, done, f"{len(done)} command(s) run over ssh")
