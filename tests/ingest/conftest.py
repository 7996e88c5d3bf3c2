"""Helpers for the ingest tests: read paths into one table plus the report."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import pyarrow as pa
import pytest

from rempart.ingest import IngestReport, read_paths
from rempart.inventory import Resolver

FIXTURES = Path(__file__).parent / "fixtures"


def read_all(
    paths: Sequence[Path],
    resolver: Resolver | None = None,
    fields: Collection[str] | None = None,
    **kwargs: object,
) -> tuple[pa.Table | None, IngestReport]:
    report = IngestReport()
    tables = list(read_paths(paths, resolver, fields=fields, report=report, **kwargs))  # type: ignore[arg-type]
    if not tables:
        return None, report
    return pa.concat_tables(tables, promote_options="default"), report


def rows(table: pa.Table | None) -> list[dict[str, object]]:
    assert table is not None
    return table.to_pylist()


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
