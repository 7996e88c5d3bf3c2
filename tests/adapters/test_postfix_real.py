"""The Postfix adapter on a real Postfix: a private instance started by the test (no network listener,
every transport deferred, so nothing is ever delivered), driven over a real sshd on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from rempart.adapters.postfix import PostfixAdapter
from rempart.respond.interface import Action
from tests.adapters.test_ssh_sshd import Sshd, sshd  # noqa: F401  (the sshd fixture)
from tests.conftest import need

pytestmark = pytest.mark.root

MAIN_CF = """compatibility_level = 3.6
queue_directory = {base}/queue
data_directory = {base}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = relay.test.invalid
mydestination =
relayhost = [127.0.0.1]:9
defer_transports = smtp, relay, local, error
maillog_file = {base}/maillog
maillog_file_prefixes = {base}
"""
# no smtpd: this instance listens on no port; mail enters only through sendmail/postdrop
MASTER_CF = (
    "\n".join(
        f"{name:<9} {kind:<10} {private:<3} - n {wake:<5} {limit:<3} {command}"
        for name, kind, private, wake, limit, command in [
            ("pickup", "unix", "n", "60", "1", "pickup"),
            ("cleanup", "unix", "n", "-", "0", "cleanup"),
            ("qmgr", "unix", "n", "300", "1", "qmgr"),
            ("rewrite", "unix", "-", "-", "-", "trivial-rewrite"),
            ("bounce", "unix", "-", "-", "0", "bounce"),
            ("defer", "unix", "-", "-", "0", "bounce"),
            ("trace", "unix", "-", "-", "0", "bounce"),
            ("verify", "unix", "-", "-", "1", "verify"),
            ("flush", "unix", "n", "1000?", "0", "flush"),
            ("proxymap", "unix", "-", "-", "-", "proxymap"),
            ("showq", "unix", "n", "-", "-", "showq"),
            ("error", "unix", "-", "-", "-", "error"),
            ("retry", "unix", "-", "-", "-", "error"),
            ("discard", "unix", "-", "-", "-", "discard"),
            ("local", "unix", "-", "-", "-", "local"),
            ("smtp", "unix", "-", "-", "-", "smtp"),
            ("relay", "unix", "-", "-", "-", "smtp"),
            ("anvil", "unix", "-", "-", "1", "anvil"),
            ("scache", "unix", "-", "-", "1", "scache"),
            ("postlog", "unix-dgram", "n", "-", "1", "postlogd"),
        ]
    )
    + "\n"
)


def queue(conf: Path) -> list[str]:
    out = subprocess.run(
        ["postqueue", "-c", str(conf), "-j"], capture_output=True, text=True, check=True
    ).stdout
    return sorted(orjson.loads(line)["queue_name"] for line in out.splitlines() if line.strip())


@pytest.fixture
def relay() -> Iterator[Path]:
    need(
        shutil.which("postfix") is not None and shutil.which("postsuper") is not None,
        "needs Postfix (Debian package postfix)",
    )
    need(os.geteuid() == 0, "a private Postfix instance needs root")
    # not under pytest's tmp folder: it is private to root and Postfix's daemons must enter it
    base = Path(tempfile.mkdtemp(prefix="rempart-postfix-"))
    os.chmod(base, 0o755)
    conf = base / "etc"
    conf.mkdir()
    (base / "queue").mkdir()
    (base / "data").mkdir()
    shutil.chown(base / "data", "postfix")
    (conf / "main.cf").write_text(MAIN_CF.format(base=base))
    (conf / "master.cf").write_text(MASTER_CF)
    subprocess.run(["postfix", "-c", str(conf), "start"], check=True, capture_output=True)
    try:
        for rcpt in ("a@test.invalid", "b@test.invalid"):
            subprocess.run(
                ["sendmail", "-C", str(conf), "-f", "x@test.invalid", rcpt],
                input="Subject: test\n\nnot delivered\n",
                text=True,
                check=True,
            )
        deadline = time.monotonic() + 30
        while queue(conf) != ["deferred", "deferred"]:
            assert time.monotonic() < deadline, f"messages not queued: {queue(conf)}"
            time.sleep(0.2)
        yield conf
    finally:
        subprocess.run(["postfix", "-c", str(conf), "stop"], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_hold_verify_and_release_a_real_postfix_queue(sshd: Sshd, relay: Path) -> None:  # noqa: F811
    c = str(relay)
    adapter = PostfixAdapter(
        sshd.known_hosts,
        sshd.identity,
        port=sshd.port,
        user="root",
        addresses={"tls-cap-mail01": "127.0.0.1"},
        commands={
            "hold": ["postsuper", "-c", c, "-h", "ALL"],
            "release": ["postsuper", "-c", c, "-H", "ALL"],
            "queue": ["postqueue", "-c", c, "-j"],
        },
    )
    action = Action(
        "hold_queue",
        "r1-retenir-capitouls-tls-cap-mail01",
        "capitouls",
        "tls-cap-mail01",
        {"host": "tls-cap-mail01", "address": "10.11.1.40", "user": None},
        ("messagerie",),
    )
    assert adapter.verify([action], 10).in_place == {action.key: False}
    assert adapter.apply([action], 10).ok
    assert queue(relay) == ["hold", "hold"]
    assert adapter.verify([action], 10).all_in_place
    assert adapter.apply([action], 10).ok  # idempotent
    assert adapter.rollback([action], 10).ok
    assert queue(relay) == ["deferred", "deferred"]  # released, and no message lost
    seen = adapter.verify([action], 10)
    assert seen.in_place == {action.key: False} and not seen.still_in_place
