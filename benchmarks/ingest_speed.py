"""Ingest speed: events/s and MB/s of ``read_paths`` on a corpus, with an optional field list.

    .venv/bin/python benchmarks/ingest_speed.py ../shared/data/security-datasets/atomic/windows --fields 550
    .venv/bin/python benchmarks/ingest_speed.py ../shared/data/evtx-attack-samples --bare-evtx

``--fields N`` keeps N field names (the most common Windows ones first, padded with synthetic names, as
the detection stage passes the fields its rules use); ``--bare-evtx`` also times the bare ``evtx``
package on the same files, for the ratio.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from rempart.ingest import IngestReport, iter_files, read_paths
from rempart.ingest.fields import KNOWN_SPELLINGS


def bare_evtx(paths: list[Path]) -> tuple[int, float]:
    from evtx import PyEvtxParser

    start, count = time.perf_counter(), 0
    for path in iter_files(paths):
        if path.suffix.lower() == ".evtx":
            try:
                count += sum(1 for _ in PyEvtxParser(str(path)).records_json())
            except (RuntimeError, OSError):
                pass
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
    start, events = time.perf_counter(), 0
    for table in read_paths(args.paths, fields=fields, report=report):
        events += table.num_rows
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{events:,} events in {elapsed:.1f} s: {events / elapsed:,.0f} events/s, "
          f"{report.bytes_read / elapsed / 1e6:.1f} MB/s of files on disk, peak RSS {peak:,.0f} MiB")
    print(f"quarantined {report.quarantined_count}, failed files {len(report.failed)}")
    if args.bare_evtx:
        count, secs = bare_evtx(args.paths)
        print(f"bare evtx: {count:,} records in {secs:.2f} s ({count / secs:,.0f}/s); "
              f"ratio read_paths/bare = {elapsed / secs:.2f}")


if __name__ == "__main__":
    main()
