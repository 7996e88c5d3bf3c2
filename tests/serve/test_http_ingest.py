"""POST /ingest (NDJSON, arrays, gzip) on a real uvicorn: what is kept, what is refused, and that a refused
request leaves the next one served."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator

import httpx
import pytest

from rempart.serve.contracts import Backpressure

from .http_support import GROUP_TOKEN, TOKEN, Running, serving

BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def intake() -> Iterator[Running]:
    with serving(max_body_bytes=64 * 1024, max_decompressed_bytes=256 * 1024) as running:
        yield running


def post(running: Running, body: bytes | Iterator[bytes], headers: dict[str, str] | None = None,
         path: str = "/ingest") -> httpx.Response:
    return httpx.post(running.url + path, content=body, headers={**BEARER, **(headers or {})}, timeout=10)


def served_after(running: Running) -> None:
    """One bad request never affects the next one."""
    before = len(running.sink.records)
    response = post(running, b'{"after": true}\n')
    assert response.status_code == 200, response.text
    assert running.sink.documents()[before:] == [{"after": True}]


def test_ndjson_lines_become_one_record_each_with_their_sender(intake: Running) -> None:
    body = b'{"EventID": 4625, "host": "dc01"}\n\n{"EventID": 4624, "host": "dc01"}\n'
    response = post(intake, body, {"Content-Type": "application/x-ndjson"})
    assert response.status_code == 200
    assert response.json() == {"accepted": 2}
    assert [r.payload for r in intake.sink.records] == [b'{"EventID": 4625, "host": "dc01"}',
                                                          b'{"EventID": 4624, "host": "dc01"}']
    record = intake.sink.records[0]
    assert (record.input, record.kind) == ("http", "json")
    assert (record.sender.credential, record.sender.establishment) == ("clinic-a-winlogbeat", "clinic-a")
    assert record.sender.address.startswith("127.0.0.1:")
    assert intake.accepted() == 2


def test_a_json_array_as_fluent_bit_and_vector_send_it(intake: Running) -> None:
    response = post(intake, json.dumps([{"log": "a", "date": 1.5}, {"log": "b"}]).encode(),
                    {"Content-Type": "application/json"})
    assert response.status_code == 200
    assert intake.sink.documents() == [{"log": "a", "date": 1.5}, {"log": "b"}]


def test_one_pretty_printed_object_as_nxlog_may_send_it(intake: Running) -> None:
    body = b'{\n  "SourceName": "Security",\n  "EventID": 4720\n}\n'
    response = post(intake, body, {"Content-Type": "text/plain"})
    assert response.status_code == 200
    assert intake.sink.documents() == [{"SourceName": "Security", "EventID": 4720}]


def test_concatenated_objects_as_fluent_bit_json_stream_sends_them(intake: Running) -> None:
    response = post(intake, b'{"log": "a"}{"log": "b"} {"log": "c"}')
    assert response.status_code == 200
    assert intake.sink.documents() == [{"log": "a"}, {"log": "b"}, {"log": "c"}]
    response = post(intake, b'{"log": "d"}{"log": ')
    assert response.status_code == 400
    assert "line 1" in response.json()["error"]
    assert len(intake.sink.records) == 3


def test_gzip_bodies_including_several_members(intake: Running) -> None:
    body = gzip.compress(b'{"n": 1}\n') + gzip.compress(b'{"n": 2}\n')
    response = post(intake, body, {"Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert intake.sink.documents() == [{"n": 1}, {"n": 2}]


def test_invalid_json_names_the_line_and_keeps_nothing(intake: Running) -> None:
    response = post(intake, b'{"ok": 1}\n{"ok": 2}\n{"broken": \n')
    assert response.status_code == 400
    assert "line 3" in response.json()["error"]
    assert intake.sink.records == []
    assert intake.rejected("bad_json") == 1
    served_after(intake)


def test_a_non_object_item_is_refused_naming_it(intake: Running) -> None:
    response = post(intake, b'[{"ok": 1}, "just a string"]')
    assert response.status_code == 400
    assert "item 2" in response.json()["error"]
    response = post(intake, b'{"ok": 1}\n42\n')
    assert response.status_code == 400
    assert "line 2" in response.json()["error"]
    assert intake.rejected("not_object") == 2
    assert intake.sink.records == []
    served_after(intake)


def test_missing_wrong_and_unknown_tokens_get_401(intake: Running) -> None:
    no_token = httpx.post(intake.url + "/ingest", content=b'{"a": 1}')
    assert no_token.status_code == 401
    assert "token" in no_token.json()["error"]
    unknown = post(intake, b'{"a": 1}', {"Authorization": "Bearer not-a-token"})
    assert unknown.status_code == 401
    assert unknown.json()["reason"] == "bad_token"
    wrong_scheme = post(intake, b'{"a": 1}', {"Authorization": f"Digest {TOKEN}"})
    assert wrong_scheme.status_code == 401
    assert intake.rejected("no_token", "-") == 1
    assert intake.rejected("bad_token", "-") == 2
    assert intake.sink.records == []
    served_after(intake)


def test_basic_auth_with_the_token_as_password(intake: Running) -> None:
    basic = base64.b64encode(f"fluentbit:{GROUP_TOKEN}".encode()).decode()
    response = post(intake, b'{"a": 1}', {"Authorization": f"Basic {basic}"})
    assert response.status_code == 200
    assert intake.sink.records[0].sender.credential == "soc"
    assert intake.sink.records[0].sender.establishment is None


def test_a_gzip_bomb_is_refused_without_inflating_it(intake: Running) -> None:
    bomb = gzip.compress(b" " * (64 * 1024 * 1024), compresslevel=9)  # 64 MiB of blanks in ~64 KiB
    assert len(bomb) < 64 * 1024
    response = post(intake, bomb, {"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "inflates past the limit of 262144 bytes" in response.json()["error"]
    assert intake.rejected("too_large") == 1
    served_after(intake)


def test_a_body_over_the_limit_is_refused_declared_or_streamed(intake: Running) -> None:
    line = b'{"padding": "' + b"x" * 1000 + b'"}\n'
    response = post(intake, line * 100)
    assert response.status_code == 413
    assert "65536 bytes" in response.json()["error"]

    def chunks() -> Iterator[bytes]:  # chunked: no Content-Length to refuse up front
        for _ in range(100):
            yield line

    response = post(intake, chunks())
    assert response.status_code == 413
    assert intake.rejected("too_large") == 2
    assert intake.sink.records == []
    served_after(intake)


def test_a_corrupt_gzip_body_is_a_clear_400(intake: Running) -> None:
    response = post(intake, b"not gzip at all", {"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert "gzip" in response.json()["error"]
    cut = gzip.compress(b'{"a": 1}\n' * 100)[:-12]
    response = post(intake, cut, {"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert "cut short" in response.json()["error"]
    assert intake.rejected("bad_encoding") == 2
    assert intake.sink.records == []
    served_after(intake)


def test_msgpack_is_refused_with_what_to_set(intake: Running) -> None:
    response = post(intake, b"\x81\xa3log\xa1a", {"Content-Type": "application/msgpack"})
    assert response.status_code == 415
    assert "json_lines" in response.json()["error"]


def test_backpressure_429_when_lagging_503_when_the_disk_is_full(intake: Running) -> None:
    intake.sink.pushback.extend([Backpressure("detection is 50000 records behind", 2.0),
                                 Backpressure("disk full on the journal's volume", 30.0)])
    lag = post(intake, b'{"a": 1}\n{"a": 2}\n')
    assert lag.status_code == 429
    assert lag.headers["Retry-After"] == "2"
    disk = post(intake, b'{"a": 1}\n')
    assert disk.status_code == 503
    assert disk.headers["Retry-After"] == "30"
    assert "disk full" in disk.json()["error"]
    assert intake.sink.records == []
    assert intake.rejected("backpressure") == 3
    served_after(intake)


def test_the_rate_limit_is_per_sender_and_says_when_to_retry() -> None:
    with serving(rate_limit={"events_per_second": 0.5, "burst": 3}) as running:
        assert post(running, b'{"n": 1}\n{"n": 2}\n{"n": 3}\n').status_code == 200
        limited = post(running, b'{"n": 4}\n')
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        assert running.rejected("rate_limit") == 1
        other = base64.b64encode(f"x:{GROUP_TOKEN}".encode()).decode()
        assert post(running, b'{"n": 5}\n', {"Authorization": f"Basic {other}"}).status_code == 200
        assert [d["n"] for d in running.sink.documents()] == [1, 2, 3, 5]


def test_healthz_and_metrics_need_no_token(intake: Running) -> None:
    assert httpx.get(intake.url + "/healthz").status_code == 200
    intake.health[0] = False
    unhealthy = httpx.get(intake.url + "/healthz")
    assert unhealthy.status_code == 503
    assert "journal" in unhealthy.json()["status"]
    post(intake, b'{"a": 1}\n')
    text = httpx.get(intake.url + "/metrics").text
    assert 'rempart_events_accepted_total{establishment="clinic-a",input="http"} 1.0' in text


def test_otlp_logs_in_json_one_record_per_log_record(intake: Running) -> None:
    export = {"resourceLogs": [{
        "resource": {"attributes": [{"key": "host.name", "value": {"stringValue": "dc01"}}]},
        "scopeLogs": [{"scope": {"name": "journald"}, "logRecords": [
            {"timeUnixNano": "1764756000000000000", "severityText": "WARN",
             "body": {"stringValue": "Failed password for root from 203.0.113.7"}},
            {"timeUnixNano": "1764756001000000000", "body": {"stringValue": "Accepted password"}},
        ]}]}]}
    response = post(intake, gzip.compress(json.dumps(export).encode()),
                    {"Content-Type": "application/json", "Content-Encoding": "gzip"}, path="/v1/logs")
    assert response.status_code == 200
    assert response.json() == {"partialSuccess": {}}
    first, second = intake.sink.documents()
    assert first["severityText"] == "WARN"
    assert first["resource"] == export["resourceLogs"][0]["resource"]
    assert second["scope"] == {"name": "journald"}

    bad = post(intake, b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [1]}]}]}', path="/v1/logs")
    assert bad.status_code == 400
    assert "resourceLogs[0].scopeLogs[0].logRecords[0]" in bad.json()["message"]
    protobuf = post(intake, b"\x0a\x00", {"Content-Type": "application/x-protobuf"}, path="/v1/logs")
    assert protobuf.status_code == 415
    assert "http/json" in protobuf.json()["message"]
    assert len(intake.sink.records) == 2


def test_the_answer_leaves_only_once_the_sink_has_the_events(intake: Running) -> None:
    intake.sink.delay = 0.3  # a slow fsync
    response = post(intake, b'{"a": 1}\n')
    assert response.status_code == 200
    assert intake.sink.documents() == [{"a": 1}]  # already there when the 200 arrived
    assert response.elapsed.total_seconds() >= 0.3


def test_post_on_the_root_is_taken_as_events_for_fluent_bit_default_uri(intake: Running) -> None:
    response = post(intake, b'{"log": "a"}\n', {"Content-Type": "application/json"}, path="/")
    assert response.status_code == 200
    assert intake.sink.documents() == [{"log": "a"}]


def test_a_failing_journal_is_a_503_to_retry_never_a_200(
        intake: Running, caplog: pytest.LogCaptureFixture) -> None:
    intake.sink.pushback.append(OSError(5, "Input/output error"))
    response = post(intake, b'{"a": 1}\n')
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "journal failed" in response.json()["error"]
    assert intake.rejected("sink_error") == 1
    assert "Input/output error" in caplog.text  # the cause is in rempart's log, not sent to the shipper
    served_after(intake)


def test_the_sender_address_is_the_peer_whatever_x_forwarded_for_says(intake: Running) -> None:
    assert post(intake, b'{"a": 1}\n', {"X-Forwarded-For": "203.0.113.9"}).status_code == 200
    assert intake.sink.records[0].sender.address.startswith("127.0.0.1:")
