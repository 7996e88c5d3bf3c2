"""Just enough of Elasticsearch for Winlogbeat, Filebeat and the official clients to send us events.

Beats' stock ``output.elasticsearch`` asks, before its first ``_bulk``: ``GET /`` (the version: Beats refuse a
server they think too old), ``GET /_license`` (elastic/beats#11296), then checks or installs its index
template, ILM policy and ingest pipelines. We answer those setup calls as if everything were already there
(``{}`` / ``acknowledged``), as VictoriaLogs' emulation does, so no ``setup.*: false`` is needed. Every reply
carries ``X-Elastic-Product: Elasticsearch``: the official clients refuse a server without it.

In ``_bulk`` only ``create`` and ``index`` actions carry events. ``delete`` and ``update`` get a per-item
400 (events are evidence: nothing a sender says can remove or rewrite one); the other items are still kept.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

PRODUCT_HEADER = {"X-Elastic-Product": "Elasticsearch"}
DEFAULT_VERSION = "8.19.0"  # a recent 8.x: Beats 8 accept it, and the 8.x and 9.x clients too

# Setup calls Beats and Logstash make; answered as done. Prefixes of the path, without the leading "/".
SETUP_PREFIXES = ("_ilm", "_index_template", "_component_template", "_template", "_ingest", "_nodes",
                  "_data_stream", "_logstash", "_xpack", "_cluster", "_security", "_alias", "_aliases")

EVENT_ACTIONS = ("create", "index")
OTHER_ACTIONS = ("delete", "update")


class BulkError(ValueError):
    """The body is not a bulk request (an action line we cannot read): the whole request is refused."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass
class BulkItem:
    action: str
    index: str
    id: str
    line: int  # the action line's number (1-based)
    document: bytes | None = None  # the source line, as received, when it is an event to keep
    error: dict[str, Any] | None = None  # why this item is refused (an ES error object); None: keep it
    reason: str = ""  # the counter's reason when refused


@dataclass
class BulkRequest:
    items: list[BulkItem] = field(default_factory=list)

    @property
    def events(self) -> list[BulkItem]:
        return [item for item in self.items if item.error is None]


def loads(raw: bytes) -> Any:
    """``json.loads`` whose error says where and why in a few words (column, or not UTF-8)."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}" if exc.lineno > 1 else f"column {exc.colno}"
        raise ValueError(f"{where}: {exc.msg}") from None
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None


def _error(kind: str, reason: str) -> dict[str, Any]:
    return {"type": kind, "reason": reason}


def parse_bulk(body: bytes, default_index: str | None) -> BulkRequest:
    """Cut a ``_bulk`` body into items. A malformed action line refuses the whole request (as Elasticsearch
    does); a document that is not a JSON object refuses only its item."""
    request = BulkRequest()
    lines = body.split(b"\n")
    n = 0
    while n < len(lines):
        raw = lines[n].strip()
        n += 1
        if not raw:
            continue
        number = n
        item = _action(raw, number, default_index)
        request.items.append(item)
        if item.action == "delete":  # no source line follows a delete
            item.error = _error("illegal_argument_exception", "rempart keeps events: delete is refused")
            item.reason = "bad_bulk"
            continue
        if n >= len(lines) or not lines[n].strip():
            raise BulkError(number, f"the {item.action} action has no document line after it")
        source = lines[n].strip()
        n += 1
        if item.action == "update":
            item.error = _error("illegal_argument_exception", "rempart keeps events: update is refused")
            item.reason = "bad_bulk"
        elif item.error is None:
            _document(item, source, n)
    return request


def _action(raw: bytes, number: int, default_index: str | None) -> BulkItem:
    try:
        action_line = loads(raw)
    except ValueError as exc:
        raise BulkError(number, f"the action line is not JSON ({exc})") from None
    if not isinstance(action_line, dict) or len(action_line) != 1:
        raise BulkError(number, 'an action line is one object with one key, such as {"create": {}}')
    action, meta = next(iter(action_line.items()))
    if action not in EVENT_ACTIONS + OTHER_ACTIONS or not isinstance(meta, dict):
        raise BulkError(number, f"unknown action {action!r}; expected create, index, delete or update")
    index = str(meta.get("_index") or default_index or "")
    item = BulkItem(action, index, str(meta.get("_id") or uuid.uuid4().hex), number)
    if not index:
        item.error = _error("action_request_validation_exception", "index is missing")
        item.reason = "bad_bulk"
    return item


def _document(item: BulkItem, source: bytes, number: int) -> None:
    try:
        document = loads(source)
    except ValueError as exc:
        item.error = _error("document_parsing_exception", f"document line {number} is not JSON ({exc})")
        item.reason = "bad_json"
        return
    if not isinstance(document, dict):
        item.error = _error("document_parsing_exception",
                            f"document line {number} is a JSON {type(document).__name__}, not an object")
        item.reason = "not_object"
        return
    item.document = source


def bulk_response(request: BulkRequest, took_ms: int, first_seq_no: int) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    seq_no = first_seq_no
    for item in request.items:
        if item.error is not None:
            items.append({item.action: {"_index": item.index, "_id": item.id, "status": 400,
                                        "error": item.error}})
            continue
        items.append({item.action: {
            "_index": item.index, "_id": item.id, "_version": 1, "result": "created",
            "_shards": {"total": 1, "successful": 1, "failed": 0}, "_seq_no": seq_no, "_primary_term": 1,
            "status": 201}})
        seq_no += 1
    return {"took": took_ms, "errors": any(item.error is not None for item in request.items),
            "items": items}


def cluster_info(version: str) -> dict[str, Any]:
    return {
        "name": "rempart", "cluster_name": "rempart", "cluster_uuid": "rempart-live-intake",
        "version": {"number": version, "build_flavor": "default", "build_type": "tar",
                    "lucene_version": "9.12.0", "minimum_wire_compatibility_version": "7.17.0",
                    "minimum_index_compatibility_version": "7.0.0"},
        "tagline": "You Know, for Search",
    }


LICENSE = {"license": {"uid": "00000000-0000-0000-0000-000000000000", "type": "basic", "status": "active",
                       "mode": "basic", "expiry_date_in_millis": 4_000_000_000_000}}


def setup_reply(method: str, path: str) -> dict[str, Any] | None:
    """What to answer to a setup call (None: not one). Reads say "it exists", writes say "done"."""
    head = path.lstrip("/").split("/", 1)[0]
    if head == "_license":
        return LICENSE
    if head == "_xpack":
        return {"build": {}, "license": LICENSE["license"], "features": {}}
    if head not in SETUP_PREFIXES:
        return None
    if path.rstrip("/") == "/_cluster/health":
        return {"cluster_name": "rempart", "status": "green", "timed_out": False, "number_of_nodes": 1}
    if method in ("PUT", "POST", "DELETE"):
        return {"acknowledged": True}
    return {}


def error_body(status: int, kind: str, reason: str) -> dict[str, Any]:
    """An error shaped as Elasticsearch's, so clients show our reason rather than a parse failure."""
    return {"error": {"root_cause": [_error(kind, reason)], "type": kind, "reason": reason}, "status": status}
