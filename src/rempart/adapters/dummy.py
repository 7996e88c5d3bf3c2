"""The dummy adapter: records what it is asked and changes nothing outside.

It is the operator's dry run and the test double of every other adapter. With ``record`` it keeps its
state in a JSON-lines file, so that a run killed and restarted in another process sees what was applied
(the crash-safety test counts applies there). ``fail_first`` / ``always_fail`` / ``delay`` inject faults.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import orjson

from rempart.respond.interface import Action, AdapterError, Operation, Outcome, Verb, Verification


class DummyAdapter:
    def __init__(
        self,
        name: str = "dummy",
        record: Path | None = None,
        delay: float = 0.0,
        fail_first: int = 0,
        always_fail: bool = False,
    ) -> None:
        self.name = name
        self.record = record
        self.delay = delay
        self.fail_first = fail_first
        self.always_fail = always_fail
        self.calls: list[tuple[str, str]] = []  # (verb, key) in this process
        self._memory: list[dict[str, str]] = []

    def plan(self, verb: Verb, actions: Sequence[Action]) -> list[Operation]:
        return [
            Operation("record", text=f"{verb} {a.verb} on {a.establishment}/{a.target}", why=a.key)
            for a in actions
        ]

    def _write(self, verb: str, key: str) -> None:
        entry = {"adapter": self.name, "verb": verb, "key": key, "pid": str(os.getpid())}
        self.calls.append((verb, key))
        if self.record is None:
            self._memory.append(entry)
            return
        with self.record.open("ab") as fh:  # one write per line: a kill leaves whole lines
            fh.write(orjson.dumps(entry) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())

    def entries(self) -> list[dict[str, str]]:
        if self.record is None:
            return list(self._memory)
        if not self.record.exists():
            return []
        return [orjson.loads(line) for line in self.record.read_bytes().splitlines() if line.strip()]

    def _in_place(self) -> set[str]:
        state: set[str] = set()
        for e in self.entries():
            if e["adapter"] != self.name:
                continue
            if e["verb"] == "apply":
                state.add(e["key"])
            elif e["verb"] == "rollback":
                state.discard(e["key"])
        return state

    def _fault(self) -> None:
        if self.always_fail:
            raise AdapterError("injected failure")
        if self.fail_first > 0:
            self.fail_first -= 1
            raise AdapterError("injected failure (transient)")

    def apply(self, actions: Sequence[Action], timeout: float) -> Outcome:
        time.sleep(self.delay / 2)
        self._fault()
        present = self._in_place()
        for a in actions:
            if a.key not in present:  # idempotent: applying twice records once
                self._write("apply", a.key)
        time.sleep(self.delay / 2)
        return Outcome(True, [op.to_dict() for op in self.plan("apply", actions)])

    def verify(self, actions: Sequence[Action], timeout: float) -> Verification:
        present = self._in_place()
        return Verification({a.key: a.key in present for a in actions}, "dummy: read back from its record")

    def rollback(self, actions: Sequence[Action], timeout: float) -> Outcome:
        self._fault()
        present = self._in_place()
        for a in actions:
            if a.key in present:
                self._write("rollback", a.key)
        return Outcome(True, [op.to_dict() for op in self.plan("rollback", actions)])
