"""What the authenticated journal costs: appends per second (each one a transaction, its anchor records
fsynced) and the time `verify` takes over the whole journal.

    .venv/bin/python benchmarks/journal.py --entries 2000 [--db postgresql+psycopg2://…]

Runs on a fresh SQLite case store in a temporary folder unless --db is given (the journal there is
emptied first). The key and the anchor go to a temporary keys folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import delete  # noqa: E402

from rempart.store import journal  # noqa: E402
from rempart.store.db import Store  # noqa: E402
from rempart.store.models.core import JournalRow  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["REMPART_KEYS_DIR"] = str(Path(tmp) / "keys")
        store = Store(args.db or f"sqlite:///{Path(tmp) / 'data' / 'cases.sqlite'}")
        with store.session() as s:
            s.execute(delete(JournalRow))
        payload = {
            "argv": ["nft", "-j", "-f", "-"],
            "establishment": "capitouls",
            "step": "fermer-acces-externes",
        }
        t0 = time.perf_counter()
        for i in range(args.entries):
            with store.session() as s:
                journal.append(s, "c.martin", "step.apply", f"run/1/step/{i % 7}", {**payload, "i": i})
        append_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        with store.session() as s:
            report = journal.check(s)
        verify_s = time.perf_counter() - t0
        store.close()
    assert not report.problems, report.problems
    print(f"backend: {store.engine.dialect.name}, {args.entries} entries")
    print(f"append: {args.entries / append_s:,.0f} entries/s ({append_s * 1000 / args.entries:.2f} ms each)")
    print(
        f"verify: {verify_s:.3f} s for {report.entries} entries ({report.entries / verify_s:,.0f} entries/s)"
    )
    print(
        f"rerun: .venv/bin/python benchmarks/journal.py --entries {args.entries}"
        + (f" --db {args.db}" if args.db else "")
    )


if __name__ == "__main__":
    main()
