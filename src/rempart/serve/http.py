"""The HTTP intake: NDJSON / JSON arrays on ``POST /ingest`` (and ``POST /``), an Elasticsearch-compatible
``_bulk`` and OTLP/HTTP logs in JSON on ``POST /v1/logs``.

Every event becomes ``IntakeRecord(kind="json")`` carrying one JSON object's bytes, handed to the
:class:`~rempart.serve.contracts.Sink`; the response leaves only once ``accept`` returned, so a 2xx means
"on disk". When the sink raises :class:`~rempart.serve.contracts.Backpressure` nothing of the request was
kept and the sender is told to wait (429 when detection lags, 503 when the journal's disk cannot take it,
``Retry-After`` in both).

What shippers send (their defaults, and what to set):
- NXLog ``om_http``: one event per request (``$raw_event``; ``to_json()`` makes it an object), or lines
  with ``BatchMode multiline``; token with ``AddHeader "Authorization: Bearer …"``.
- Fluent Bit ``http``: ``Format json`` (an array), ``json_lines`` (NDJSON) or ``json_stream`` — its
  default ``msgpack`` is refused with 415; ``compress gzip``; ``http_User``/``http_Passwd`` (Basic, the
  token as password) or ``Header Authorization Bearer …``.
- Vector ``http`` sink: ``encoding.codec = "json"`` sends an array, ``framing.method = "newline_delimited"``
  NDJSON; ``compression = "gzip"``; ``auth.strategy = "bearer"`` or ``"basic"``.
- Winlogbeat / Filebeat ``output.elasticsearch``: ``api_key: "id:TOKEN"`` (sent as ``ApiKey
  base64(id:TOKEN)``) or ``username``/``password: TOKEN`` (Basic); gzip by default (``compression_level``).
- The ``elasticsearch`` Python client: ``api_key="TOKEN"`` or ``basic_auth=("any", "TOKEN")``.
- OpenTelemetry exporters and the Collector's ``otlphttp`` exporter: ``encoding: json`` (protobuf is refused
  with 415), ``Authorization: Bearer TOKEN`` in ``headers``.

``/healthz`` and ``/metrics`` need no token: monitoring probes carry none, and they tell nothing of events.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import math
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rempart.serve import elastic
from rempart.serve.contracts import Backpressure, IntakeRecord, Sender, Senders, Sink
from rempart.serve.metrics import IntakeMetrics

log = logging.getLogger(__name__)
MiB = 1024 * 1024
# A body this large is parsed off the event loop, so that one big request does not stall the others.
THREAD_PARSE_BYTES = 256 * 1024


class RateLimit(BaseModel):
    """A token bucket per sender credential, counted in events."""

    model_config = ConfigDict(extra="forbid")
    events_per_second: float = Field(gt=0)
    burst: int = Field(gt=0, description="events a sender may send at once after a quiet spell")


class HttpInput(BaseModel):
    """One HTTP input of serve.yaml."""

    model_config = ConfigDict(extra="forbid")
    name: str = "http"
    host: str = "127.0.0.1"
    port: int = Field(9200, ge=0, le=65535)  # Elasticsearch's: Beats' default output needs no port then
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_body_bytes: int = Field(16 * MiB, gt=0, description="as received (compressed)")
    max_decompressed_bytes: int = Field(128 * MiB, gt=0, description="after gzip; larger is refused")
    rate_limit: RateLimit | None = None
    elasticsearch_version: str = elastic.DEFAULT_VERSION

    @model_validator(mode="after")
    def _tls_pair(self) -> HttpInput:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both (TLS) or neither (plain HTTP)")
        return self


class Refused(Exception):
    """A request we answer with an error: its status, the counter's reason, and a message for the user."""

    def __init__(self, status: int, reason: str, message: str, headers: dict[str, str] | None = None,
                 count: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.headers = headers or {}
        self.count = count


def credential_candidates(authorization: str) -> list[str]:
    """The tokens an ``Authorization`` header may carry: Bearer, ES ApiKey (the token itself, or
    base64 ``id:token`` as Beats send it) or Basic (the token is the password)."""
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    scheme = scheme.lower()
    if not value:
        return []
    if scheme == "bearer":
        return [value]
    if scheme in ("basic", "apikey"):
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return [value] if scheme == "apikey" else []
        if scheme == "basic":
            return [decoded.partition(":")[2]] if ":" in decoded else []
        return [value, decoded.partition(":")[2]] if ":" in decoded else [value]
    return []


class TokenBuckets:
    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}  # credential → (tokens, when)

    def take(self, key: str, n: int) -> float:
        """Take ``n`` events' worth; 0 when allowed, else the seconds to wait. A request larger than the
        burst passes on a full bucket and leaves it in debt: big batches are slowed, never refused forever."""
        now = self.clock()
        tokens, when = self.buckets.get(key, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - when) * self.limit.events_per_second)
        needed = min(float(n), float(self.limit.burst))
        if tokens < needed:
            self.buckets[key] = (tokens, now)
            return (needed - tokens) / self.limit.events_per_second
        self.buckets[key] = (tokens - n, now)
        return 0.0


def retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


async def read_body(request: Request, config: HttpInput) -> bytes:
    """The body, inflated when gzip or deflate, refused past either size limit without reading (or
    inflating) the rest: a gzip bomb costs us ``max_decompressed_bytes``, never its full size."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > config.max_body_bytes:
        raise Refused(413, "too_large", f"the body ({declared} bytes) is over the limit of "
                      f"{config.max_body_bytes} bytes: send smaller batches")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "", "gzip", "x-gzip", "deflate"):
        raise Refused(415, "bad_encoding",
                      f"Content-Encoding {encoding!r} is not supported: use gzip or none")
    inflate = None if encoding in ("identity", "") else _Inflater(encoding, config.max_decompressed_bytes)
    received = 0
    parts: list[bytes] = []
    stream: AsyncIterator[bytes] = request.stream()
    async for chunk in stream:
        received += len(chunk)
        if received > config.max_body_bytes:
            raise Refused(413, "too_large", f"the body is over the limit of {config.max_body_bytes} bytes: "
                          "send smaller batches")
        parts.append(inflate.feed(chunk) if inflate else chunk)
    if inflate:
        parts.append(inflate.finish())
    return b"".join(parts)


class _Inflater:
    def __init__(self, encoding: str, cap: int) -> None:
        self.wbits = 47 if encoding != "deflate" else 15  # 47: gzip or zlib header, detected
        self.cap = cap
        self.out = 0
        self.z = zlib.decompressobj(self.wbits)
        self.open = False  # the current stream has begun and not reached its end

    def _take(self, data: bytes) -> bytes:
        self.out += len(data)
        if self.out > self.cap:
            raise Refused(413, "too_large", f"the body inflates past the limit of {self.cap} bytes: "
                          "send smaller batches")
        return data

    def feed(self, chunk: bytes) -> bytes:
        out: list[bytes] = []
        try:
            while chunk:
                self.open = True
                # max_length bounds what one call inflates: a bomb stops at the cap, never fully expanded
                out.append(self._take(self.z.decompress(chunk, self.cap - self.out + 1)))
                chunk = self.z.unconsumed_tail
                if self.z.eof:  # gzip allows several members one after the other
                    chunk = self.z.unused_data + chunk
                    self.z = zlib.decompressobj(self.wbits)
                    self.open = False
        except zlib.error as exc:
            name = "gzip" if self.wbits == 47 else "deflate"
            raise Refused(400, "bad_encoding", f"the body is not valid {name} ({exc}): compress it whole, "
                          "or drop Content-Encoding") from None
        return b"".join(out)

    def finish(self) -> bytes:
        try:
            tail = self._take(self.z.flush())
        except zlib.error as exc:
            raise Refused(400, "bad_encoding", f"the compressed body is cut short ({exc})") from None
        if self.open and not self.z.eof:
            raise Refused(400, "bad_encoding", "the compressed body is cut short: send it whole")
        return tail


def _compact(item: dict[str, Any]) -> bytes:
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()


def parse_events(body: bytes) -> list[bytes]:
    """A JSON array of objects, NDJSON (one object per line), or objects one after the other (one over
    several lines, as NXLog may send it; Fluent Bit's ``json_stream``): each object's bytes. Raises
    :class:`Refused` naming the line or item."""
    text = body.strip()
    if not text:
        return []
    if text[:1] == b"[":
        try:
            items = elastic.loads(text)
        except ValueError as exc:
            raise Refused(400, "bad_json", f"the JSON array is not valid JSON ({exc})") from None
        for number, item in enumerate(items, 1):
            if not isinstance(item, dict):
                raise Refused(400, "not_object", f"item {number} of the array is a JSON "
                              f"{type(item).__name__}, not an object: send one object per event")
        return [_compact(item) for item in items]
    events: list[bytes] = []
    for number, raw in enumerate(text.split(b"\n"), 1):
        line = raw.strip()
        if not line:
            continue
        try:
            value = elastic.loads(line)
        except ValueError as exc:
            objects = _concatenated(text) if number == 1 else None
            if objects is not None:
                return objects
            raise Refused(400, "bad_json", f"line {number} is not valid JSON ({exc}): "
                          "send one JSON object per line") from None
        if not isinstance(value, dict):
            raise Refused(400, "not_object", f"line {number} is a JSON {type(value).__name__}, "
                          "not an object: send one object per event")
        events.append(line)
    return events


def parse_otlp_logs(body: bytes) -> list[bytes]:
    """OTLP/HTTP logs in JSON: one object per log record, the record's fields with its ``resource`` and
    ``scope`` beside them (attributes stay in OTLP's key/value form, for the reader to flatten)."""
    try:
        export = elastic.loads(body) if body.strip() else {}
    except ValueError as exc:
        raise Refused(400, "bad_json", f"the OTLP request is not valid JSON ({exc})") from None
    if not isinstance(export, dict) or not isinstance(export.get("resourceLogs", []), list):
        raise Refused(400, "not_object", "an OTLP logs request is an object with a resourceLogs list")
    events: list[bytes] = []
    for r, resource_logs in enumerate(export.get("resourceLogs", [])):
        resource = resource_logs.get("resource", {}) if isinstance(resource_logs, dict) else None
        scopes = resource_logs.get("scopeLogs", []) if isinstance(resource_logs, dict) else None
        if not isinstance(scopes, list):
            raise Refused(400, "not_object", f"resourceLogs[{r}] is not an object with a scopeLogs list")
        for s, scope_logs in enumerate(scopes):
            records = scope_logs.get("logRecords", []) if isinstance(scope_logs, dict) else None
            if not isinstance(records, list):
                raise Refused(400, "not_object",
                              f"resourceLogs[{r}].scopeLogs[{s}] is not an object with a logRecords list")
            scope = scope_logs.get("scope", {})
            for n, record in enumerate(records):
                if not isinstance(record, dict):
                    raise Refused(400, "not_object",
                                  f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{n}] is not an object")
                events.append(_compact({**record, "resource": resource, "scope": scope}))
    return events


def _concatenated(text: bytes) -> list[bytes] | None:
    """Objects one after the other, however laid out: one pretty-printed object (NXLog), or Fluent Bit's
    ``json_stream`` (no separator at all). None when the text is not only objects."""
    decoder = json.JSONDecoder()
    try:
        rest = text.decode()
    except UnicodeDecodeError:
        return None
    events: list[bytes] = []
    at = 0
    while at < len(rest):
        try:
            value, end = decoder.raw_decode(rest, at)
        except ValueError:
            return None
        if not isinstance(value, dict):
            return None
        events.append(_compact(value))
        at = end
        while at < len(rest) and rest[at] in " \t\r\n":
            at += 1
    return events


async def _off_loop_if_large(body: bytes, parse: Callable[[bytes], Any]) -> Any:
    if len(body) >= THREAD_PARSE_BYTES:
        return await asyncio.to_thread(parse, body)
    return parse(body)


@dataclass
class HttpIntake:
    """The app's state: what it was given by the live loop."""

    config: HttpInput
    sink: Sink
    senders: Senders
    metrics: IntakeMetrics
    healthy: Callable[[], bool]
    buckets: TokenBuckets | None = None
    seq_no: int = 0

    def authenticate(self, request: Request) -> Sender:
        address = f"{request.client.host}:{request.client.port}" if request.client else "-"
        header = request.headers.get("authorization", "")
        if not header:
            raise Refused(401, "no_token", "no token: send 'Authorization: Bearer <token>' (or ApiKey, or "
                          "Basic with the token as password)")
        for candidate in credential_candidates(header):
            sender = self.senders.by_token(candidate, address)
            if sender is not None:
                return sender
        raise Refused(401, "bad_token", "this token is not one of serve.yaml's: check the shipper's token")

    def limit(self, sender: Sender, n: int) -> None:
        if self.buckets is None or n == 0:
            return
        wait = self.buckets.take(sender.credential, n)
        if wait:
            raise Refused(429, "rate_limit", f"credential {sender.credential!r} is over its rate limit of "
                          f"{self.buckets.limit.events_per_second:g} events/s: retry later",
                          retry_after(wait), count=n)

    async def deliver(self, sender: Sender, payloads: Sequence[bytes]) -> None:
        """Hand the events to the sink; returns once they are durable."""
        name, est = self.config.name, sender.establishment or "-"
        self.metrics.received.labels(name, est).inc(len(payloads))
        self.limit(sender, len(payloads))
        if not payloads:
            return
        now = time.time()
        records = [IntakeRecord(name, "json", sender, now, payload) for payload in payloads]
        try:
            await self.sink.accept(records)
        except Backpressure as exc:
            # "disk…" reasons come from the journal (nothing can be written); the others are lag
            status = 503 if exc.reason.lower().startswith(("disk", "journal")) else 429
            raise Refused(status, "backpressure", f"not accepted, retry later: {exc.reason}",
                          retry_after(exc.retry_after), count=len(records)) from None
        except Exception:  # a journal bug or I/O error: the sender keeps its events only if told to retry
            log.exception("%s: the journal failed to take %d events", name, len(records))
            raise Refused(503, "sink_error", "not accepted, retry later: the journal failed "
                          "(see rempart's log)", retry_after(5), count=len(records)) from None
        self.metrics.accepted.labels(name, est).inc(len(records))

    def count_refusal(self, refused: Refused, sender: Sender | None) -> None:
        self.metrics.reject(self.config.name, sender.establishment if sender else None, refused.reason,
                            refused.count)

    async def ingest(self, request: Request) -> Response:
        sender: Sender | None = None
        try:
            sender = self.authenticate(request)
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind in ("application/msgpack", "application/x-msgpack"):
                raise Refused(415, "bad_format", "msgpack is not accepted: send JSON (Fluent Bit: "
                              "Format json_lines)")
            body = await read_body(request, self.config)
            payloads: list[bytes] = await _off_loop_if_large(body, parse_events)
            await self.deliver(sender, payloads)
        except Refused as refused:
            self.count_refusal(refused, sender)
            return _json(refused.status, {"error": refused.message, "reason": refused.reason},
                         refused.headers)
        return _json(200, {"accepted": len(payloads)})

    async def otlp_logs(self, request: Request) -> Response:
        sender: Sender | None = None
        try:
            sender = self.authenticate(request)
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind == "application/x-protobuf":
                raise Refused(415, "bad_format", "OTLP protobuf is not accepted: send OTLP JSON "
                              "(OTEL_EXPORTER_OTLP_PROTOCOL=http/json)")
            body = await read_body(request, self.config)
            payloads: list[bytes] = await _off_loop_if_large(body, parse_otlp_logs)
            await self.deliver(sender, payloads)
        except Refused as refused:
            self.count_refusal(refused, sender)
            # a google.rpc.Status, as OTLP/HTTP answers errors in JSON
            status = {"code": GRPC_CODES.get(refused.status, 3), "message": refused.message}
            return _json(refused.status, status, refused.headers)
        return _json(200, {"partialSuccess": {}})

    async def bulk(self, request: Request) -> Response:
        sender: Sender | None = None
        started = time.monotonic()
        try:
            sender = self.authenticate(request)
            body = await read_body(request, self.config)
            index = request.path_params.get("index")
            try:
                parsed: elastic.BulkRequest = await _off_loop_if_large(
                    body, lambda data: elastic.parse_bulk(data, index))
            except elastic.BulkError as exc:
                raise Refused(400, "bad_bulk", f"not a bulk request, {exc}") from None
            for item in parsed.items:
                if item.error is not None:
                    self.metrics.reject(self.config.name, sender.establishment, item.reason)
            events = [item.document for item in parsed.events if item.document is not None]
            await self.deliver(sender, events)
        except Refused as refused:
            self.count_refusal(refused, sender)
            if refused.reason == "backpressure":
                # 429 even for a full disk: it is what the ES clients and Beats retry (503 is not, for
                # helpers.streaming_bulk); the reason in the body says which
                refused.status = 429
            return _es_refusal(refused)
        first = self.seq_no
        self.seq_no += len(events)
        took = int((time.monotonic() - started) * 1000)
        return _json(200, elastic.bulk_response(parsed, took, first), elastic.PRODUCT_HEADER)

    async def document(self, request: Request) -> Response:
        """The single-document API (``POST /{index}/_doc``, ``PUT /{index}/_doc|_create/{id}``), as the
        clients' ``index()`` and ``create()`` call it."""
        sender: Sender | None = None
        try:
            sender = self.authenticate(request)
            body = await read_body(request, self.config)
            try:
                value = elastic.loads(body)
            except ValueError as exc:
                raise Refused(400, "bad_json", f"the document is not valid JSON ({exc})") from None
            if not isinstance(value, dict):
                raise Refused(400, "not_object",
                              f"the document is a JSON {type(value).__name__}, not an object")
            await self.deliver(sender, [body.strip()])
        except Refused as refused:
            self.count_refusal(refused, sender)
            if refused.reason == "backpressure":
                refused.status = 429
            return _es_refusal(refused)
        self.seq_no += 1
        return _json(201, {"_index": request.path_params["index"],
                           "_id": request.path_params.get("id") or uuid.uuid4().hex, "_version": 1,
                           "result": "created", "_shards": {"total": 1, "successful": 1, "failed": 0},
                           "_seq_no": self.seq_no - 1, "_primary_term": 1}, elastic.PRODUCT_HEADER)

    async def elasticsearch(self, request: Request) -> Response:
        """``GET``/``HEAD /`` and the setup calls Beats make before their first bulk."""
        try:
            self.authenticate(request)
        except Refused as refused:
            self.count_refusal(refused, None)
            return _es_refusal(refused)
        path = request.url.path
        if path == "/":
            if request.method == "HEAD":
                return Response(status_code=200, headers=elastic.PRODUCT_HEADER)
            return _json(200, elastic.cluster_info(self.config.elasticsearch_version), elastic.PRODUCT_HEADER)
        reply = elastic.setup_reply(request.method, path)
        if reply is None:
            return _json(404, elastic.error_body(404, "resource_not_found_exception",
                                                 f"rempart takes events only: {request.method} {path} "
                                                 "is not one of its Elasticsearch calls"),
                         elastic.PRODUCT_HEADER)
        return _json(200, reply, elastic.PRODUCT_HEADER)

    async def healthz(self, request: Request) -> Response:
        if self.healthy():
            return _json(200, {"status": "serving"})
        return _json(503, {"status": "journal not writable"}, retry_after(5))

    async def prometheus(self, request: Request) -> Response:
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


# HTTP status → gRPC code: INVALID_ARGUMENT 3, UNAUTHENTICATED 16, RESOURCE_EXHAUSTED 8, UNAVAILABLE 14
GRPC_CODES = {401: 16, 429: 8, 503: 14}
ES_ERROR_TYPES = {401: "security_exception", 413: "content_too_long_exception",
                  429: "es_rejected_execution_exception", 503: "es_rejected_execution_exception"}


def _es_refusal(refused: Refused) -> JSONResponse:
    kind = ES_ERROR_TYPES.get(refused.status, "parse_exception")
    body = elastic.error_body(refused.status, kind, refused.message)
    return _json(refused.status, body, {**elastic.PRODUCT_HEADER, **refused.headers})


def create_app(config: HttpInput, sink: Sink, senders: Senders, metrics: IntakeMetrics,
               healthy: Callable[[], bool] = lambda: True) -> Starlette:
    """The ASGI app of one HTTP input. ``healthy`` says whether the journal can be written."""
    intake = HttpIntake(config, sink, senders, metrics, healthy,
                        TokenBuckets(config.rate_limit) if config.rate_limit else None)
    routes = [
        Route("/healthz", intake.healthz, methods=["GET"]),
        Route("/metrics", intake.prometheus, methods=["GET"]),
        Route("/ingest", intake.ingest, methods=["POST", "PUT"]),
        Route("/v1/logs", intake.otlp_logs, methods=["POST"]),
        Route("/_bulk", intake.bulk, methods=["POST", "PUT"]),
        Route("/{index}/_bulk", intake.bulk, methods=["POST", "PUT"]),
        Route("/{index}/_doc", intake.document, methods=["POST"]),
        Route("/{index}/_doc/{id}", intake.document, methods=["POST", "PUT"]),
        Route("/{index}/_create/{id}", intake.document, methods=["POST", "PUT"]),
        # POST / is Fluent Bit's default uri: its events, not a ping (answering 200 there would lose them)
        Route("/", intake.ingest, methods=["POST"]),
        Route("/", intake.elasticsearch, methods=["GET", "HEAD"]),
        Route("/{path:path}", intake.elasticsearch, methods=["GET", "HEAD", "POST", "PUT", "DELETE"]),
    ]
    app = Starlette(routes=routes)
    app.state.intake = intake
    return app


class _Server(uvicorn.Server):
    def capture_signals(self) -> Any:  # the live loop owns SIGTERM/SIGINT, and stops us through stop()
        return contextlib.nullcontext()


class HttpServer:
    """uvicorn serving one HTTP input: ``await start()``, then ``await stop()`` finishes the requests in
    flight (their events reach the sink and are answered) before closing."""

    def __init__(self, app: Starlette, config: HttpInput, graceful_seconds: float = 10.0) -> None:
        self.config = config
        self.server = _Server(uvicorn.Config(
            app, host=config.host, port=config.port, lifespan="off", access_log=False, log_config=None,
            proxy_headers=False, server_header=False,  # the peer is the sender: X-Forwarded-For ignored
            ssl_certfile=str(config.tls_cert) if config.tls_cert else None,
            ssl_keyfile=str(config.tls_key) if config.tls_key else None,
            timeout_graceful_shutdown=int(graceful_seconds)))
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():  # the port is taken, the certificate unreadable…
                with contextlib.suppress(SystemExit):  # uvicorn exits when it cannot bind
                    self.task.result()
                where = f"{self.config.host}:{self.config.port}"
                raise OSError(f"{self.config.name}: could not listen on {where}")
            await asyncio.sleep(0.01)

    @property
    def port(self) -> int:
        """The port listened on (the one the OS chose when configured with 0)."""
        for server in self.server.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self.config.port

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task
            self.task = None


async def serve_http(app: Starlette, config: HttpInput, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set, then shut down gracefully."""
    server = HttpServer(app, config)
    await server.start()
    try:
        await stop.wait()
    finally:
        await server.stop()
