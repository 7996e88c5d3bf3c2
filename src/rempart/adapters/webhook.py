"""HTTP calls to a firewall or hypervisor API, with retries on transient errors.

The step's ``request`` gives ``url``, ``method`` (POST), ``body`` (JSON), and optionally ``verify``
(a GET whose 2xx answer means the effect is in place; without it the apply's 2xx answer is taken as
proof, within this process) and ``rollback`` (the call that undoes it). Connection errors and 5xx answers
are retried with backoff; 4xx answers are not (the request itself is wrong).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from rempart.respond.interface import Action, AdapterError, Operation, Outcome, Verb, Verification


class WebhookAdapter:
    name = "webhook"

    def __init__(
        self, retries: int = 2, backoff: float = 0.2, headers: Mapping[str, str] | None = None
    ) -> None:
        self.retries = retries
        self.backoff = backoff
        self.headers = dict(headers or {})
        self._applied: set[str] = set()

    def _call_of(self, verb: Verb, action: Action) -> dict[str, Any] | None:
        req = dict(action.params.get("request", {}))
        if verb == "apply":
            return {"method": req.get("method", "POST"), "url": req["url"], "body": req.get("body")}
        sub = req.get(verb)
        if not sub:
            return None
        return {
            "method": sub.get("method", "GET" if verb == "verify" else "POST"),
            "url": sub["url"],
            "body": sub.get("body"),
        }

    def plan(self, verb: Verb, actions: Sequence[Action]) -> list[Operation]:
        ops = []
        for a in actions:
            call = self._call_of(verb, a)
            if call is not None:
                ops.append(
                    Operation(
                        "http",
                        method=call["method"],
                        url=call["url"],
                        body=call["body"],
                        why=f"{verb} {a.verb} for {a.establishment}",
                    )
                )
        return ops

    def _send(self, op: Operation, timeout: float) -> dict[str, Any]:
        data = None if op.body is None else orjson.dumps(op.body)
        headers = {**self.headers, **({"Content-Type": "application/json"} if data is not None else {})}
        last = ""
        for n in range(self.retries + 1):
            request = urllib.request.Request(op.url or "", data=data, method=op.method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=timeout) as resp:
                    return {
                        "method": op.method,
                        "url": op.url,
                        "status": resp.status,
                        "answer": resp.read(400).decode("utf-8", "replace"),
                    }
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
                if exc.code < 500:
                    raise AdapterError(f"{op.method} {op.url} answered {exc.code}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last = str(getattr(exc, "reason", exc))
            if n < self.retries:
                time.sleep(self.backoff * 2**n)
        raise AdapterError(f"{op.method} {op.url} failed after {self.retries + 1} tries: {last}")

    def apply(self, actions: Sequence[Action], timeout: float) -> Outcome:
        done = [self._send(op, timeout) for op in self.plan("apply", actions)]
        self._applied |= {a.key for a in actions}
        return Outcome(True, done, f"{len(done)} call(s) made")

    def verify(self, actions: Sequence[Action], timeout: float) -> Verification:
        in_place = {}
        for a in actions:
            ops = self.plan("verify", [a])
            if not ops:
                in_place[a.key] = a.key in self._applied
                continue
            try:
                self._send(ops[0], timeout)
                in_place[a.key] = True
            except AdapterError:
                in_place[a.key] = False
        return Verification(in_place, "read back from the API" if in_place else "")

    def rollback(self, actions: Sequence[Action], timeout: float) -> Outcome:
        ops = self.plan("rollback", actions)
        if len(ops) < len(actions):
            return Outcome(False, detail="the step's request has no rollback call")
        done = [self._send(op, timeout) for op in ops]
        self._applied -= {a.key for a in actions}
        return Outcome(True, done, f"{len(done)} call(s) made")
