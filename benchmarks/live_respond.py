"""Live response: time from a batch's alerts handed to ``LiveResponder.on_alerts`` to each automatic step
applied, and the time of a replayed batch.

    PYTHONPATH=src .venv/bin/python benchmarks/live_respond.py --reps 30 --burst 500

Each repetition hands over a burst of alerts that opens a new incident at Capitouls (bursts three days
apart, so none joins the previous incident); the example plan runs on the dummy adapter (the real nftables
path is timed by ``benchmarks/contain.py``) and the approvers of the step needing approval are mailed
through a loopback aiosmtpd relay. Prints p50 / p99 of "alerts → last automatic step applied" (the
issue's detection → containment target: p99 ≤ 1 s, with nftables), of the whole ``on_alerts``, and of
replaying the same burst (nothing new happens).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rempart.adapters import registry  # noqa: E402
from rempart.adapters.smtp import RelaySettings, SMTPRelay  # noqa: E402
from rempart.adapters.smtp_sink import LocalSMTPServer  # noqa: E402
from rempart.domain.alerts import Alert, EventRef, Level  # noqa: E402
from rempart.inventory import load_group  # noqa: E402
from rempart.respond.plan import load_plan  # noqa: E402
from rempart.serve.respond_live import ApproverChannels, LiveResponder  # noqa: E402
from rempart.store.db import Store  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def burst(n: int, start: datetime) -> list[Alert]:
    return [
        Alert("rempart-lsass-dump", "LSASS memory dump", Level.HIGH, start + timedelta(seconds=i),
              "tls-cap-ws002", "capitouls", tactics=["credential-access"], techniques=["T1003.001"],
              events=[EventRef("live:bench", i)])
        for i in range(n)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--burst", type=int, default=500, help="alerts per batch")
    args = parser.parse_args()
    group = load_group(ROOT / "examples" / "group.yaml")
    plan = load_plan(ROOT / "examples" / "plan.yaml", group)
    contain: list[float] = []
    whole: list[float] = []
    replay: list[float] = []
    mails = 0
    with tempfile.TemporaryDirectory() as tmp, LocalSMTPServer() as smtp:
        store = Store(f"sqlite:///{Path(tmp) / 'cases.sqlite'}")
        relay = SMTPRelay(RelaySettings(host=smtp.host, port=smtp.port, security="none",
                                        sender="crise@secours.example"))
        mail = {p.id: f"{p.id}@secours.example" for p in plan.plan.people}
        live = LiveResponder(store, plan, group, registry.build(None), ApproverChannels(mail, relay))
        start = datetime(2026, 1, 1, tzinfo=UTC)
        try:
            for rep in range(args.reps):
                alerts = burst(args.burst, start + timedelta(days=3 * rep))
                t0 = time.perf_counter()
                out = asyncio.run(live.on_alerts(alerts))
                whole.append(time.perf_counter() - t0)
                if len(out.opened) != 1 or not out.latencies or out.errors:
                    print(f"repetition {rep}: unexpected outcome {out}", file=sys.stderr)
                    return 1
                contain.append(max(lat.seconds for lat in out.latencies))
                t0 = time.perf_counter()
                again = asyncio.run(live.on_alerts(alerts))
                replay.append(time.perf_counter() - t0)
                if again.runs or again.notices:
                    print(f"repetition {rep}: the replay did something: {again}", file=sys.stderr)
                    return 1
            mails = len(smtp.received)
        finally:
            live.close()
            store.close()
    print(f"{args.reps} incidents, {args.burst} alerts each, dummy adapters, approvers mailed: {mails}")
    for label, values in (("alerts → last automatic step applied", contain),
                          ("on_alerts (store, plan, mail)", whole), ("replay of the same burst", replay)):
        print(f"{label + ':':38} p50 {pct(values, 0.5):.3f} s, p99 {pct(values, 0.99):.3f} s")
    print(f"rerun: PYTHONPATH=src .venv/bin/python benchmarks/live_respond.py --reps {args.reps} "
          f"--burst {args.burst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
