"""Manual steps: a person does it (unplug the backups, call the ARS…) and acknowledges with a comment.

Applying only hands the instruction over; the step waits in ``awaiting_ack`` until
``rempart ack RUN STEP --comment …`` (as the logged-in account). Nothing here can check the physical world, so
verification reports nothing in place and a resumed run asks again rather than assume.
"""

from __future__ import annotations

from collections.abc import Sequence

from rempart.respond.interface import Action, Operation, Outcome, Verb, Verification


class ManualAdapter:
    name = "manual"

    def plan(self, verb: Verb, actions: Sequence[Action]) -> list[Operation]:
        if verb == "verify":
            return [Operation("manual", text="acknowledgement by the person who did it")]
        prefix = "" if verb == "apply" else "undo by hand: "
        return [
            Operation("manual", text=prefix + str(a.params.get("instruction", a.verb)), why=a.target)
            for a in actions
        ]

    def apply(self, actions: Sequence[Action], timeout: float) -> Outcome:
        text = " / ".join(dict.fromkeys(str(a.params.get("instruction", a.verb)) for a in actions))
        return Outcome(True, [op.to_dict() for op in self.plan("apply", actions)], text, needs_ack=True)

    def verify(self, actions: Sequence[Action], timeout: float) -> Verification:
        return Verification(
            {a.key: False for a in actions}, "a manual step is verified by its acknowledgement"
        )

    def rollback(self, actions: Sequence[Action], timeout: float) -> Outcome:
        return Outcome(False, detail="a manual step is undone by a person, not by rempart")
