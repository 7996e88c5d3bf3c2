"""Ingest speed: events/s and MB/s of ``read_paths`` on a corpus, with an optional field list.

    .venv/bin/python benchmarks/ingest_speed.py ../shared/data/security-datasets/atomic/windows --fields 550
    .venv/bin/python benchmarks/ingest_speed.py ../shared/data/evtx-attack-samples --bare-evtx

``--fields N`` keeps N field names (the most common Windows ones first, padded with synthetic names, as
the detection stage passes the fields its rules use); ``--bare-evtx`` also times the bare ``evtx``
package on the same files, for the ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import time
from pathlib import Path

import pyarrow.compute as pc

from rempart.ingest import IngestReport, iter_files, read_paths
from rempart.ingest.fields import KNOWN_SPELLINGS


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bare_evtx(paths: list[Path]) -> tuple[int, float]:
    from evtx import PyEvtxParser

    start, count = time.perf_counter(), 0
    for path in iter_files(paths):
        if path.suffix.lower() == ".evtx":
            with contextlib.suppress(RuntimeError, OSError):
                count += sum(1 for _ in PyEvtxParser(str(path)).records_json())
    return count, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--fields", type=int, default=0, help="keep this many fields (0 = all)")
    parser.add_argument("--bare-evtx", action="store_true")
    args = parser.parse_args()
    fields = None
    if args.fields:
        names = list(KNOWN_SPELLINGS.values())
        fields = (names + [f"Field{i}" for i in range(args.fields)])[: args.fields]
    report = IngestReport()
    start, events, text = time.perf_counter(), 0, 0
    cpu0 = _cpu()
    for table in read_paths(args.paths, fields=fields, report=report):
        events += table.num_rows
        text += pc.sum(pc.binary_length(table.column("_raw"))).as_py() or 0
    elapsed = time.perf_counter() - start
    cpu = _cpu() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{events:,} events in {elapsed:.1f} s wall: {events / elapsed:,.0f} events/s, "
        f"{text / elapsed / 1e6:.1f} MB/s of record text, peak RSS {peak:,.0f} MiB"
    )
    # on a shared machine wall time measures the neighbours too; CPU time measures us
    print(
        f"CPU {cpu:.1f} s (user+sys, all threads): {events / cpu:,.0f} events per CPU-second, "
        f"{text / cpu / 1e6:.1f} MB of record text per CPU-second"
    )
    print(f"quarantined {report.quarantined_count}, failed files {len(report.failed)}")
    if args.bare_evtx:
        cpu0 = _cpu()
        count, secs = bare_evtx(args.paths)
        bare_cpu = _cpu() - cpu0
        print(
            f"bare evtx: {count:,} records in {secs:.2f} s ({count / secs:,.0f}/s), CPU {bare_cpu:.2f} s; "
            f"ratio read_paths/bare = {elapsed / secs:.2f} (wall), {cpu / bare_cpu:.2f} (CPU)"
        )


if __name__ == "__main__":
    main()
