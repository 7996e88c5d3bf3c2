"""Reading on several processes gives exactly what one process reads, report included."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pyarrow as pa
from pyarrow import ipc

from rempart.ingest import IngestReport, read_paths, stage_parallel
from rempart.inventory import Resolver, load_group

FIXTURES = Path(__file__).parent / "fixtures"


def _corpus(tmp_path: Path) -> Path:
    root = tmp_path / "logs"
    shutil.copytree(FIXTURES, root)
    # a bad line, an archive and a file of no log format, so that the report has something to merge
    with gzip.open(root / "more.jsonl.gz", "wb") as fh:
        fh.write((FIXTURES / "windows.jsonl").read_bytes() + b"{not json\n")
    (root / "README.txt").write_text("not a log\n")
    return root


def _read(root: Path, workers: int, resolver: Resolver | None) -> tuple[pa.Table, IngestReport]:
    report = IngestReport()
    fields = ["EventID", "Channel", "Image", "CommandLine", "User", "id.orig_h", "sentbyte"]
    tables = list(read_paths([root], resolver, fields=fields, report=report, workers=workers))
    return pa.concat_tables(tables, promote_options="default"), report


def test_parallel_read_equals_sequential_read(tmp_path: Path, example_group_path: Path) -> None:
    root = _corpus(tmp_path)
    resolver = Resolver(load_group(example_group_path))
    one, r1 = _read(root, 1, resolver)
    two, r2 = _read(root, 2, resolver)
    assert one.num_rows > 0
    assert one.equals(two)
    assert r2.events == r1.events and r2.files == r1.files and r2.bytes_read == r1.bytes_read
    assert r2.quarantined == r1.quarantined and r2.quarantined_count == r1.quarantined_count >= 1
    assert any("more.jsonl.gz" in q.source for q in r2.quarantined)
    assert r2.ignored == r1.ignored and r2.failed == r1.failed
    assert (r2.unattributed, r2.unattributed_hosts) == (r1.unattributed, r1.unattributed_hosts)


def test_parallel_read_reports_a_missing_path(tmp_path: Path) -> None:
    report = IngestReport()
    tables = list(read_paths([FIXTURES / "auth.log", tmp_path / "absent.log"], report=report, workers=2))
    assert sum(t.num_rows for t in tables) > 0
    assert [f.reason for f in report.failed] == ["no such file or directory"]


def test_staging_on_workers_writes_what_one_process_reads(tmp_path: Path, example_group_path: Path) -> None:
    root = _corpus(tmp_path)
    resolver = Resolver(load_group(example_group_path))
    one, r1 = _read(root, 1, resolver)
    folder = tmp_path / "staged"
    folder.mkdir()
    report = IngestReport()
    fields = ["EventID", "Channel", "Image", "CommandLine", "User", "id.orig_h", "sentbyte"]
    staged = stage_parallel([root], resolver, folder=folder, fields=fields, report=report, workers=2)
    tables = [ipc.open_file(path).read_all() for path, _ in staged]
    assert [t.num_rows for t in tables] == [rows for _, rows in staged]
    two = pa.concat_tables(tables, promote_options="default")
    # a staged table leaves out the fields none of its events has; they read NULL all the same
    assert set(two.column_names) <= set(one.column_names)
    assert two.to_pylist() == one.select(two.column_names).to_pylist()
    assert report.events == r1.events and report.quarantined_count == r1.quarantined_count
