"""What a login costs with the production Argon2id profile (t=3, 64 MiB, p=4), on this machine.

    .venv/bin/python benchmarks/login.py --reps 20

A login is one Argon2id verification, one TOTP check and a few writes to the SQLite case store;
resolving a session (every later command) is one SHA-256 and one read. Prints p50 / p95 of each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import pyotp  # noqa: E402

from rempart.identities import service  # noqa: E402
from rempart.store.db import Store  # noqa: E402

PASSWORD = "Correct-horse-Battery-Staple-9"


def _ms(values: list[float]) -> str:
    q = statistics.quantiles(values, n=20) if len(values) > 1 else values * 19
    return f"p50 {statistics.median(values) * 1000:.1f} ms, p95 {q[18] * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'cases.sqlite'}")
        ref = service.PersonRef("c.martin", "Claire Martin", ("rssi",))
        service.create(store, ref, PASSWORD, None, admin=True)
        secret = service.start_totp(store, "c.martin")
        t0 = datetime.now(UTC)
        service.confirm_totp(store, "c.martin", pyotp.TOTP(secret).at(t0), "bench", at=t0)
        logins, resolves = [], []
        for i in range(args.reps):
            at = t0 + timedelta(seconds=30 * (i + 1))  # each login a new TOTP step: no replay
            start = time.perf_counter()
            done = service.login(store, "c.martin", PASSWORD, pyotp.TOTP(secret).at(at), "bench", at=at)
            logins.append(time.perf_counter() - start)
            start = time.perf_counter()
            service.resolve(store, done.token, at=at)
            resolves.append(time.perf_counter() - start)
        store.close()
    print(f"login (Argon2id t=3 64 MiB p=4 + TOTP + session), {args.reps} reps: {_ms(logins)}")
    print(f"session resolve (every command), {args.reps} reps: {_ms(resolves)}")
    print("rerun: .venv/bin/python benchmarks/login.py --reps", args.reps)


if __name__ == "__main__":
    main()
