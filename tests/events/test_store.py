from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from rempart.events import EventStore
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
