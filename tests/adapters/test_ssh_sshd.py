"""The SSH adapter against a real OpenSSH server started on 127.0.0.1 by the test.

The "service" it stops is a harmless process managed by a small script, never a real service.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rempart.adapters.ssh import SshAdapter
from rempart.respond.interface import Action, AdapterError
from tests.conftest import need

pytestmark = pytest.mark.root

SERVICE = """#!/bin/sh
# a stand-in service: a sleep process whose pid is kept in a file
dir="$(dirname "$0")"; pidfile="$dir/$2.pid"
case "$1" in
  start) [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && exit 0
         nohup sleep 600 >/dev/null 2>&1 & echo $! > "$pidfile" ;;
  stop)  [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null; rm -f "$pidfile"; exit 0 ;;
  status) [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null ;;
esac
"""


@dataclass
class Sshd:
    port: int
    known_hosts: Path
    identity: Path
    service: Path
    proc: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    need(shutil.which("sshd") is not None or Path("/usr/sbin/sshd").exists(), "needs OpenSSH sshd")
    need(os.geteuid() == 0, "sshd with a throw-away config needs root here")
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
    port = _free_port()
    host_pub = _keygen(tmp_path / "host_key")
    user_pub = _keygen(tmp_path / "user_key")
    (tmp_path / "authorized_keys").write_text(user_pub + "\n")
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {' '.join(host_pub.split()[:2])}\n")
    config = tmp_path / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp_path / 'host_key'}\n"
        f"AuthorizedKeysFile {tmp_path / 'authorized_keys'}\nPidFile {tmp_path / 'sshd.pid'}\n"
        "StrictModes no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\n"
    )
    service = tmp_path / "svc.sh"
    service.write_text(SERVICE)
    service.chmod(0o755)
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        yield Sshd(port, known, tmp_path / "user_key", service, proc)
    finally:
        subprocess.run([str(service), "stop", "dpi-app"], check=False)
        proc.terminate()
        proc.wait(timeout=10)


def adapter(d: Sshd, known_hosts: Path | None = None) -> SshAdapter:
    script = str(d.service)
    return SshAdapter(
        known_hosts or d.known_hosts,
        d.identity,
        port=d.port,
        user="root",
        addresses={"tls-cap-dpi01": "127.0.0.1"},
        commands={
            "stop": [script, "stop", "{service}"],
            "start": [script, "start", "{service}"],
            "is_active": [script, "status", "{service}"],
        },
    )


def running(d: Sshd) -> bool:
    return subprocess.run([str(d.service), "status", "dpi-app"], check=False).returncode == 0


ACTION = Action(
    "stop_service",
    "r1-arreter-dpi-capitouls-tls-cap-dpi01",
    "capitouls",
    "tls-cap-dpi01",
    {"host": "tls-cap-dpi01", "address": "10.11.1.20", "user": None, "services": ["dpi-app"]},
)


def test_stop_verify_and_restart_a_service_over_real_ssh(sshd: Sshd) -> None:
    subprocess.run([str(sshd.service), "start", "dpi-app"], check=True)
    assert running(sshd)
    ssh = adapter(sshd)
    assert ssh.verify([ACTION], 10).in_place == {ACTION.key: False}
    out = ssh.apply([ACTION], 10)
    assert out.ok and out.done[0]["rc"] == 0
    assert not running(sshd)
    assert ssh.verify([ACTION], 10).all_in_place
    assert ssh.apply([ACTION], 10).ok  # idempotent: stopping a stopped service is fine
    ssh.rollback([ACTION], 10)
    assert running(sshd)
    assert ssh.verify([ACTION], 10).in_place == {ACTION.key: False}


def test_unknown_host_key_is_refused(sshd: Sshd, tmp_path: Path) -> None:
    subprocess.run([str(sshd.service), "start", "dpi-app"], check=True)
    other = tmp_path / "other_known_hosts"
    other.write_text(f"[127.0.0.1]:{sshd.port} {' '.join(_keygen(tmp_path / 'imposter').split()[:2])}\n")
    with pytest.raises(AdapterError, match="exited 255"):
        adapter(sshd, other).apply([ACTION], 10)
    assert running(sshd)  # nothing ran on a host whose identity is not the expected one
