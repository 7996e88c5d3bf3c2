"""The Elasticsearch-compatible endpoints, driven by the official ``elasticsearch`` client against a real
uvicorn on loopback: the product check passes, helpers.bulk / streaming_bulk deliver every document, a sink
that pushes back gets 429 and the helper's retry delivers each document once."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

import elasticsearch
import httpx
import pytest
from elasticsearch import Elasticsearch, helpers

from rempart.serve.contracts import Backpressure

from .http_support import GROUP_TOKEN, TOKEN, Running, serving

APIKEY = {"Authorization": f"ApiKey {TOKEN}"}


@pytest.fixture
def intake() -> Iterator[Running]:
    with serving() as running:
        yield running


def events(n: int, index: str = "winlogbeat-8.19.0") -> Iterator[dict[str, object]]:
    for i in range(n):
        yield {"_index": index, "@timestamp": "2026-12-03T10:00:00Z", "event": {"code": 4625}, "seq": i}


def test_the_client_passes_its_product_check_and_bulk_delivers_every_document(intake: Running) -> None:
    client = Elasticsearch(intake.url, api_key=TOKEN)
    info = client.info()  # raises UnsupportedProductError without X-Elastic-Product
    assert info["version"]["number"].startswith("8.")
    assert client.ping()
    ok, errors = helpers.bulk(client, events(1200), chunk_size=500)
    assert (ok, errors) == (1200, [])
    documents = intake.sink.documents()
    assert [d["seq"] for d in documents] == list(range(1200))
    assert "_index" not in documents[0]  # the action's metadata is not part of the event
    assert documents[0]["event"] == {"code": 4625}
    assert {(r.input, r.kind, r.sender.credential) for r in intake.sink.records} == {
        ("http", "json", "clinic-a-winlogbeat")}
    assert intake.accepted() == 1200


def test_streaming_bulk_with_basic_auth_and_gzip(intake: Running) -> None:
    client = Elasticsearch(intake.url, basic_auth=("winlogbeat", GROUP_TOKEN), http_compress=True)
    results = list(helpers.streaming_bulk(client, events(700, "logs"), chunk_size=250))
    assert all(ok for ok, _ in results)
    assert [item["create" if "create" in item else "index"]["status"] for _, item in results] == [201] * 700
    assert len(intake.sink.records) == 700
    assert intake.sink.records[0].sender.establishment is None


def test_backpressure_answers_429_for_the_whole_request_and_the_retry_delivers_once(intake: Running) -> None:
    intake.sink.pushback.append(Backpressure("detection is behind", 1.0))
    raw = httpx.post(intake.url + "/_bulk", headers=APIKEY,
                     content=b'{"create": {"_index": "logs"}}\n{"seq": 0}\n')
    assert raw.status_code == 429
    assert raw.headers["Retry-After"] == "1"
    assert raw.headers["X-Elastic-Product"] == "Elasticsearch"
    assert raw.json()["error"]["type"] == "es_rejected_execution_exception"
    assert intake.sink.records == []
    intake.sink.pushback.append(Backpressure("disk full on the journal's volume", 5.0))
    disk = httpx.post(intake.url + "/_bulk", headers=APIKEY, content=b'{"create": {"_index": "logs"}}\n{}\n')
    assert (disk.status_code, disk.headers["Retry-After"]) == (429, "5")  # what bulk senders retry
    assert "disk full" in disk.json()["error"]["reason"]

    intake.sink.pushback.extend([Backpressure("detection is behind", 1.0)] * 2)
    # max_retries=0: the helper's retry is what is tested, not the transport's
    client = Elasticsearch(intake.url, api_key=TOKEN, max_retries=0)
    results = list(helpers.streaming_bulk(client, events(300), chunk_size=300, max_retries=3,
                                          initial_backoff=0.05))
    assert all(ok for ok, _ in results)
    assert [d["seq"] for d in intake.sink.documents()] == list(range(300))  # each once
    assert intake.rejected("backpressure") == 2 + 2 * 300


def test_beats_setup_calls_are_answered_as_done(intake: Running) -> None:
    with httpx.Client(base_url=intake.url, headers=APIKEY) as client:
        assert client.head("/").status_code == 200
        license_ = client.get("/_license", params={"human": "false"})
        assert license_.json()["license"]["status"] == "active"
        for method, path in [("HEAD", "/_index_template/winlogbeat-8.19.0"),
                             ("GET", "/_ilm/policy/winlogbeat"), ("GET", "/_xpack"),
                             ("GET", "/_nodes/_local/ingest"), ("GET", "/_cluster/health")]:
            response = client.request(method, path)
            assert response.status_code == 200, (method, path)
            assert response.headers["X-Elastic-Product"] == "Elasticsearch"
        for path in ["/_index_template/winlogbeat-8.19.0", "/_ilm/policy/winlogbeat",
                     "/_ingest/pipeline/winlogbeat-8.19.0-routing"]:
            response = client.put(path, json={})
            assert response.json() == {"acknowledged": True}, path
        unknown = client.get("/winlogbeat/_search")
        assert unknown.status_code == 404
        assert "takes events only" in unknown.json()["error"]["reason"]
    assert intake.sink.records == []


def test_only_create_and_index_carry_events_and_bad_items_fail_alone(intake: Running) -> None:
    body = b"\n".join([
        b'{"index": {"_index": "logs", "_id": "a"}}', b'{"seq": 1}',
        b'{"delete": {"_index": "logs", "_id": "a"}}',
        b'{"update": {"_index": "logs", "_id": "a"}}', b'{"doc": {"seq": 9}}',
        b'{"create": {"_index": "logs"}}', b'{"seq": 2, "broken": }',
        b'{"create": {}}', b'["not", "an", "object"]',
        b'{"create": {}}', b'{"seq": 3}',
    ]) + b"\n"
    response = httpx.post(intake.url + "/fallback/_bulk", headers={**APIKEY, "Content-Encoding": "gzip"},
                          content=gzip.compress(body))
    assert response.status_code == 200
    result = response.json()
    assert result["errors"] is True
    statuses = [(next(iter(item)), next(iter(item.values()))["status"]) for item in result["items"]]
    assert statuses == [("index", 201), ("delete", 400), ("update", 400), ("create", 400), ("create", 400),
                        ("create", 201)]
    # the index of the URL, when the action names none
    assert result["items"][5]["create"]["_index"] == "fallback"
    assert "line 7" in result["items"][3]["create"]["error"]["reason"]
    assert intake.sink.documents() == [{"seq": 1}, {"seq": 3}]
    assert intake.rejected("bad_bulk") == 2
    assert intake.rejected("bad_json") == 1
    assert intake.rejected("not_object") == 1


def test_a_malformed_action_line_refuses_the_request_naming_the_line(intake: Running) -> None:
    body = b'{"create": {}}\n{"seq": 1}\n{"create": \n{"seq": 2}\n'
    response = httpx.post(intake.url + "/logs/_bulk", headers=APIKEY, content=body)
    assert response.status_code == 400
    assert "line 3" in response.json()["error"]["reason"]
    assert intake.sink.records == []
    assert intake.rejected("bad_bulk") == 1
    ok, _ = helpers.bulk(Elasticsearch(intake.url, api_key=TOKEN), events(5))
    assert ok == 5


def test_a_wrong_token_is_refused_and_counted_then_a_good_one_served(intake: Running) -> None:
    with pytest.raises(elasticsearch.AuthenticationException):
        Elasticsearch(intake.url, api_key="stolen").info()
    with pytest.raises(elasticsearch.AuthenticationException):
        helpers.bulk(Elasticsearch(intake.url, basic_auth=("elastic", "changeme")), events(3))
    assert intake.rejected("bad_token", "-") == 2
    assert intake.sink.records == []
    ok, _ = helpers.bulk(Elasticsearch(intake.url, api_key=TOKEN), events(3))
    assert ok == 3


def test_a_beats_api_key_id_and_token_is_accepted(intake: Running) -> None:
    client = Elasticsearch(intake.url, api_key=("winlogbeat-dc01", TOKEN))  # sent as base64("id:token")
    assert helpers.bulk(client, events(2)) == (2, [])
    assert json.loads(intake.sink.records[0].payload)["seq"] == 0


def test_the_single_document_api_of_the_client(intake: Running) -> None:
    client = Elasticsearch(intake.url, api_key=TOKEN)
    assert client.index(index="logs", document={"seq": 1})["result"] == "created"
    assert client.index(index="logs", id="a1", document={"seq": 2})["_id"] == "a1"
    assert client.create(index="logs", id="a2", document={"seq": 3})["result"] == "created"
    assert [d["seq"] for d in intake.sink.documents()] == [1, 2, 3]
    with pytest.raises(elasticsearch.BadRequestError):
        client.index(index="logs", document=["not", "an", "object"])  # type: ignore[arg-type]
    assert intake.rejected("not_object") == 1
