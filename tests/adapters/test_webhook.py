"""The webhook adapter against a real HTTP server on 127.0.0.1: retries on 5xx, not 4xx; verify; rollback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from rempart.adapters.webhook import WebhookAdapter
from rempart.respond.interface import Action, AdapterError


class Api:
    def __init__(self) -> None:
        self.failures_left = 0
        self.isolated: set[str] = set()
        self.calls: list[tuple[str, str, object]] = []


@pytest.fixture
def api() -> Iterator[tuple[Api, str]]:
    state = Api()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, code: int) -> None:
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b"{}")

        def do_POST(self) -> None:
            body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.calls.append(("POST", self.path, body))
            if state.failures_left:
                state.failures_left -= 1
                return self._answer(503)
            if self.path == "/isolate":
                state.isolated.add(body["site"])
            elif self.path == "/release":
                state.isolated.discard(body["site"])
            else:
                return self._answer(404)
            return self._answer(200)

        def do_GET(self) -> None:
            state.calls.append(("GET", self.path, None))
            self._answer(200 if self.path.removeprefix("/isolate/") in state.isolated else 404)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def action(base: str, path: str = "/isolate") -> Action:
    return Action(
        "call",
        "r1-hv-capitouls",
        "capitouls",
        "capitouls",
        {
            "request": {
                "url": base + path,
                "body": {"site": "capitouls"},
                "verify": {"url": base + "/isolate/capitouls"},
                "rollback": {"url": base + "/release", "body": {"site": "capitouls"}},
            }
        },
    )


def test_call_retried_on_503_then_verified_and_rolled_back(api: tuple[Api, str]) -> None:
    state, base = api
    state.failures_left = 2
    hook = WebhookAdapter(retries=2, backoff=0.01)
    a = action(base)
    assert hook.verify([a], 5).in_place == {a.key: False}
    out = hook.apply([a], 5)
    assert out.ok and out.done[0]["status"] == 200
    assert [c[1] for c in state.calls if c[0] == "POST"] == ["/isolate"] * 3
    assert hook.verify([a], 5).all_in_place
    hook.rollback([a], 5)
    assert hook.verify([a], 5).in_place == {a.key: False}


def test_client_error_is_not_retried_and_exhausted_retries_fail(api: tuple[Api, str]) -> None:
    state, base = api
    hook = WebhookAdapter(retries=3, backoff=0.01)
    with pytest.raises(AdapterError, match="answered 404"):
        hook.apply([action(base, "/nowhere")], 5)
    assert len(state.calls) == 1
    state.failures_left = 10
    with pytest.raises(AdapterError, match="failed after 4 tries: HTTP 503"):
        hook.apply([action(base)], 5)
