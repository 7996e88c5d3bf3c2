"""EVTX peak memory and speed against file size: flat from 10 MB to 1 GB (issue 13, finding 7).

    .venv/bin/python benchmarks/evtx_memory.py                      # 10, 100, 300 and 1000 MB
    .venv/bin/python benchmarks/evtx_memory.py --sizes 10 65 --keep-dir /tmp/evtx-big

(Not ``benchmarks/evtx.py``: a script's folder comes first on ``sys.path``, and a file of that name there
would hide the ``evtx`` package from every benchmark beside it.)

How the files are built: every 64 KiB chunk of the EVTX samples (``../shared/data/evtx-attack-samples``,
or ``--samples``) whose header is sound is taken in turn, round and round, until the size is reached, and
written after a 4 KiB file header made by :func:`rempart.ingest.readers.evtx.file_header`, which announces
that number of chunks and carries a right CRC-32 (chunk count and CRC fixed, as the brief asks). Chunks are
self-contained (their own string and template tables), so the result is a valid EVTX file that the bare
``evtx`` package reads whole. The files go to a temporary folder that is deleted at the end. The samples'
chunks are of many channels and often part-filled (about 27 records per chunk); ``--samples`` pointing to a
folder that holds one full file (``bits_openvpn.evtx``, about 96 per chunk) gives the density of a real
``Security.evtx``.

Each measure runs in a fresh child process (``python -c``), so that its peak RSS (``ru_maxrss`` of that
child, from ``os.wait4``) is that reading's own: ``rempart`` is ``read_paths`` on the file, every table
consumed and dropped; ``bare`` is ``evtx.PyEvtxParser(path).records_json()`` counted, one thread, the floor
any reader of the package stands on. The child's CPU time, beside the wall time, gives records per
CPU-second, steadier when other work shares the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "data" / "evtx-attack-samples"
CHUNK = 65536
HEADER = 4096

REMPART = """
import sys, time
from pathlib import Path
from rempart.ingest import IngestReport, read_paths
start, n, report = time.perf_counter(), 0, IngestReport()
for table in read_paths([Path(sys.argv[1])], report=report):
    n += table.num_rows
print(n, time.perf_counter() - start, len(report.failed) + report.quarantined_count)
"""

BARE = """
import sys, time
from evtx import PyEvtxParser
start = time.perf_counter()
n = sum(1 for _ in PyEvtxParser(sys.argv[1], number_of_threads=1).records_json())
print(n, time.perf_counter() - start, 0)
"""


def sample_chunks(root: Path) -> list[bytes]:
    """Every chunk of the samples (a folder, or one file) that starts with its signature and states sane
    offsets."""
    out = []
    for path in [root] if root.is_file() else sorted(root.rglob("*.evtx")):
        data = path.read_bytes()
        for offset in range(HEADER, len(data) - CHUNK + 1, CHUNK):
            chunk = data[offset : offset + CHUNK]
            header_size, _, free = struct.unpack_from("<III", chunk, 40)
            if chunk[:8] == b"ElfChnk\x00" and header_size == 128 and 512 < free <= CHUNK:
                out.append(chunk)
    return out


def build(path: Path, megabytes: int, chunks: list[bytes]) -> int:
    from rempart.ingest.readers.evtx import file_header

    count = max(1, (megabytes * (1 << 20) - HEADER) // CHUNK)
    if count > 0xFFFF:
        raise SystemExit(f"{megabytes} MB is over the 65,535 chunks an EVTX header can announce")
    with path.open("wb") as out:
        out.write(file_header(count))
        for i in range(count):
            out.write(chunks[i % len(chunks)])
    return count


def measure(script: str, path: Path) -> dict[str, float]:
    """Run `script` on `path` in a child process; its figures and its own peak RSS (``os.wait4`` gives the
    rusage of that one child, where ``RUSAGE_CHILDREN`` keeps the largest of every child so far)."""
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}, cwd=ROOT,
    )
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"the measuring child failed ({child.returncode}) on {path}")
    records, seconds, problems = out.split()
    return {"records": int(records), "seconds": float(seconds), "problems": int(problems),
            "cpu_s": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024}


def rows(sizes: list[int], folder: Path, chunks: list[bytes], keep: bool) -> Iterator[dict[str, object]]:
    for size in sizes:
        path = folder / f"big-{size}.evtx"
        n = build(path, size, chunks)
        real = path.stat().st_size / (1 << 20)
        for name, script in (("bare", BARE), ("rempart", REMPART)):
            got = measure(script, path)
            yield {"size_mb": round(real, 1), "chunks": n, "reader": name, **got,
                   "records_per_s": round(got["records"] / got["seconds"]),
                   "records_per_cpu_s": round(got["records"] / got["cpu_s"])}
        if not keep:
            path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 300, 1000], help="MB, ascending")
    parser.add_argument("--samples", type=Path, default=SAMPLES)
    parser.add_argument("--keep-dir", type=Path,
                        help="build the files there and keep them (default: a temporary folder, deleted)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args()
    chunks = sample_chunks(args.samples)
    if not chunks:
        raise SystemExit(f"no EVTX chunks under {args.samples}")
    folder = args.keep_dir or Path(tempfile.mkdtemp(prefix="rempart-evtx-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"{len(chunks)} sample chunks from {args.samples}; files in {folder}")
    print(f"{'size MB':>8} {'chunks':>7} {'reader':>8} {'records':>10} {'s':>7} {'records/s':>10} "
          f"{'per CPU-s':>10} {'peak RSS MB':>12} {'problems':>8}")
    start = time.perf_counter()
    try:
        for row in rows(sorted(args.sizes), folder, chunks, args.keep_dir is not None):
            if args.json:
                print(json.dumps(row))
                continue
            print(f"{row['size_mb']:>8} {row['chunks']:>7} {row['reader']:>8} {row['records']:>10,} "
                  f"{row['seconds']:>7.2f} {row['records_per_s']:>10,} {row['records_per_cpu_s']:>10,} "
                  f"{row['peak_mb']:>12.0f} "
                  f"{row['problems']:>8}", flush=True)
    finally:
        if args.keep_dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    samples = f" --samples '{args.samples}'" if args.samples != SAMPLES else ""
    print(f"total {time.perf_counter() - start:.0f} s; rerun: .venv/bin/python benchmarks/evtx_memory.py "
          f"--sizes {' '.join(map(str, sorted(args.sizes)))}{samples}")


if __name__ == "__main__":
    main()
