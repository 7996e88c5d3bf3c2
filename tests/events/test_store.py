from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from rempart.events import EventStore
from rempart.events import store as store_module
from rempart.ingest.staged import write_staged
from tests.events.helpers import events_table


def test_append_count_and_query() -> None:
    store = EventStore()
    assert store.append(events_table([{"EventID": "4624", "TargetUserName": "alice"}] * 3)) == 3
    assert store.count() == 3
    assert store.query('SELECT DISTINCT "TargetUserName" FROM events') == [("alice",)]
    store.close()


def test_new_fields_become_columns_and_older_rows_read_null() -> None:
    store = EventStore()
    store.append(events_table([{"EventID": "1", "Image": "a.exe"}]))
    store.append(events_table([{"EventID": "3", "DestinationIp": "10.0.0.1"}]))
    rows = store.query('SELECT "EventID", "Image", "DestinationIp" FROM events ORDER BY "EventID"')
    assert rows == [("1", "a.exe", None), ("3", None, "10.0.0.1")]


def test_field_names_differing_by_case_share_one_column() -> None:
    store = EventStore()
    store.append(events_table([{"ProcessId": "10"}]))
    store.append(events_table([{"ProcessID": "20"}]))
    both = events_table([{"ProcessId": "30"}, {"ProcessID": "40"}])
    store.append(both)
    names = [c for c in store.columns.values() if c.lower() == "processid"]
    assert names == ["ProcessId"]
    assert sorted(r[0] for r in store.query('SELECT "ProcessId" FROM events')) == ["10", "20", "30", "40"]


def test_non_string_field_values_are_stored_as_text() -> None:
    table = events_table([{"Image": "x"}]).append_column("Count", pa.array([7], type=pa.int64()))
    store = EventStore()
    store.append(table)
    assert store.query('SELECT "Count" FROM events') == [("7",)]


def test_file_store_keeps_events_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "events.duckdb"
    with EventStore(path) as store:
        store.append(events_table([{"Image": "a"}, {"Image": "b"}]))
    with EventStore(path) as again:
        assert again.count() == 2
        again.append(events_table([{"Other": "c"}]))
        assert again.count() == 3


def test_field_not_materialised_is_read_from_raw() -> None:
    store = EventStore()
    store.append(events_table([{"Image": "a", "_raw": '{"Image": "a", "LogonType": "3"}'}]))
    expr = store.field_sql("LogonType")
    assert store.query(f"SELECT {expr} FROM events") == [("3",)]
    assert store.query(f"SELECT {store.field_sql('image')} FROM events") == [("a",)]


def test_field_not_materialised_is_read_from_a_key_value_raw_line() -> None:
    store = EventStore()
    line = 'date="2026-11-28" devname="fw1" action="close" srcip=10.1.2.3 sentbyte=2345'
    store.append(events_table([{"action": "close", "_raw": line}]))
    assert store.query(f"SELECT {store.field_sql('sentbyte')}, {store.field_sql('devname')} FROM events") == [
        ("2345", "fw1")
    ]
    assert store.query(f"SELECT {store.field_sql('absent')} FROM events") == [(None,)]


def test_batches_are_staged_then_inserted_together_and_the_staging_folder_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "FLUSH_ROWS", 1)  # every batch to its own staged file
    store = EventStore(tmp_path / "events.duckdb")
    store.append(events_table([{"Image": "a"}]))
    store.append(events_table([{"DestinationIp": "10.0.0.1"}]))
    store.append(events_table([{"Image": "c", "DestinationIp": "10.0.0.3"}]))
    folder = store.staging_folder()
    assert folder == tmp_path / "events.duckdb.staging"
    assert len(list(folder.glob("*.arrow"))) >= 2  # the last may still be pending
    assert store.count() == 3  # reading flushes
    assert not folder.exists()
    assert sorted(store.query('SELECT "Image", "DestinationIp" FROM events'), key=str) == [
        ("a", None), ("c", "10.0.0.3"), (None, "10.0.0.1")
    ]
    store.close()


def test_files_staged_by_another_writer_are_inserted_with_the_store_spelling(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.duckdb")
    store.append(events_table([{"ProcessId": "1"}]))
    store.flush()
    folder = store.staging_folder()
    first, second = folder / "w1.arrow", folder / "w2.arrow"
    write_staged(events_table([{"ProcessID": "2", "Image": "b"}]), first)
    write_staged(events_table([{"processid": "3", "Image": "c"}]), second)
    store.stage_files([first, second])
    assert sorted(store.query('SELECT "ProcessId", "Image" FROM events'), key=str) == [
        ("1", None), ("2", "b"), ("3", "c")
    ]
    assert [c for c in store.columns.values() if c.lower() == "processid"] == ["ProcessId"]
    assert not first.exists() and not second.exists()
    store.close()


def test_a_staging_folder_left_by_a_killed_run_is_removed(tmp_path: Path) -> None:
    leftover = tmp_path / "events.duckdb.staging"
    leftover.mkdir()
    write_staged(events_table([{"Image": "never inserted"}]), leftover / "main-000000.arrow")
    with EventStore(tmp_path / "events.duckdb") as store:
        assert not leftover.exists()
        assert store.count() == 0
