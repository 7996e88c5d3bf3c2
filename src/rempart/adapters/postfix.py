"""Hold and release a Postfix relay's queue over ssh: ``postsuper -h ALL`` / ``postsuper -H ALL``.

Holding keeps every queued message on the relay (nothing leaves, nothing is lost) while the firewall
blocks the mail flows; releasing puts them back in the active queue. Verification reads the queue with
``postqueue -j`` (one JSON object per message): held means no message outside the ``hold`` queue.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from rempart.adapters.execute import run
from rempart.adapters.ssh import SshAdapter
from rempart.respond.interface import Action, AdapterError, Operation, Outcome, Verb, Verification

POSTFIX = {
    "hold": ["postsuper", "-h", "ALL"],
    "release": ["postsuper", "-H", "ALL"],
    "queue": ["postqueue", "-j"],
}


class PostfixAdapter(SshAdapter):
    name = "postfix"

    def _ops(self, verb: Verb, action: Action) -> list[Operation]:
        if action.verb != "hold_queue":
            raise AdapterError(f"postfix cannot perform '{action.verb}'")
        name = {"apply": "hold", "verify": "queue", "rollback": "release"}[verb]
        words = self.commands.get(name) or POSTFIX[name]  # e.g. with `-c /etc/postfix-relay` per instance
        return [Operation("exec", self.ssh_argv(action, words), why=f"{verb} the queue of {action.target}")]

    def plan(self, verb: Verb, actions: Sequence[Action]) -> list[Operation]:
        return [op for a in actions for op in self._ops(verb, a)]

    def apply(self, actions: Sequence[Action], timeout: float) -> Outcome:
        done = [run(op, timeout).summary() for a in actions for op in self._ops("apply", a)]
        return Outcome(True, done, "queue held")

    def verify(self, actions: Sequence[Action], timeout: float) -> Verification:
        in_place: dict[str, bool] = {}
        unknown: set[str] = set()
        for a in actions:
            (op,) = self._ops("verify", a)
            out = run(op, timeout).stdout
            queues = [orjson.loads(line).get("queue_name") for line in out.splitlines() if line.strip()]
            in_place[a.key] = bool(queues) and all(q == "hold" for q in queues)
            if not queues:
                unknown.add(a.key)  # an empty queue is held and released at once
        return Verification(in_place, "read back with postqueue -j", unknown)

    def rollback(self, actions: Sequence[Action], timeout: float) -> Outcome:
        done = [run(op, timeout).summary() for a in actions for op in self._ops("rollback", a)]
        return Outcome(True, done, "queue released")
