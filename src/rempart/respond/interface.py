"""What the respond stage needs from an adapter, and the values they exchange.

The stage never imports a concrete adapter: it receives a mapping ``name → Adapter`` built by the CLI or
the demo. An adapter turns a batch of :class:`Action` (one step's targets) into a reviewable list of
:class:`Operation` (argv lists or HTTP calls, never shell strings), and performs the four verbs of the
fail2ban-like lifecycle: plan, apply, verify, rollback. Adapters are idempotent: applying twice leaves the
outside world as applying once, and rolling back something that is not there does nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Verb = Literal["apply", "verify", "rollback"]
VERBS: tuple[Verb, ...] = ("apply", "verify", "rollback")


@dataclass(frozen=True)
class Action:
    """One thing to do on one target, fully resolved from the inventory when the run was planned.

    ``key`` is stable for the life of the run (``r12-s3-vpn-nomade``): adapters name what they create
    after it, which is how a rollback removes exactly what an apply added.
    """

    verb: str  # close_access, block_mail, isolate_host, stop_service, shutdown, hold_queue, call, manual
    key: str
    establishment: str
    target: str  # an access id or an asset hostname
    params: dict[str, Any] = field(default_factory=dict)
    accesses: tuple[str, ...] = ()  # the external accesses this action contains (for staged re-opening)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["accesses"] = list(self.accesses)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Action:
        return cls(
            verb=str(data["verb"]),
            key=str(data["key"]),
            establishment=str(data["establishment"]),
            target=str(data["target"]),
            params=dict(data.get("params") or {}),
            accesses=tuple(data.get("accesses") or ()),
        )


@dataclass(frozen=True)
class Operation:
    """A reviewable command: what an adapter would run, as data.

    ``exec``: an argv list (and optional standard input); ``http``: one HTTP call;
    ``manual``: an instruction for a person; ``record``: the dummy adapter's note.
    """

    kind: Literal["exec", "http", "manual", "record"]
    argv: tuple[str, ...] = ()
    stdin: str | None = None
    method: str | None = None
    url: str | None = None
    body: Any = None
    text: str | None = None
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.argv:
            out["argv"] = list(self.argv)
        for name in ("stdin", "method", "url", "body", "text"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.why:
            out["why"] = self.why
        return out

    def render(self) -> str:
        """One line for a person reviewing a dry run (display only; never executed)."""
        if self.kind == "exec":
            import shlex

            line = shlex.join(self.argv)
            return line + (" < (transaction on stdin)" if self.stdin else "")
        if self.kind == "http":
            return f"{self.method} {self.url}"
        return self.text or ""


@dataclass
class Outcome:
    """What an apply or rollback did: the operations run with their results."""

    ok: bool
    done: list[dict[str, Any]] = field(default_factory=list)  # operation + rc/status + short output
    detail: str = ""
    needs_ack: bool = False  # a person must acknowledge before the step counts as applied


@dataclass
class Verification:
    """Whether each action's effect is in place in the live system, read back from it."""

    in_place: dict[str, bool]  # action key → effect present
    detail: str = ""
    # keys whose state cannot be observed now (e.g. an empty mail queue is both held and released):
    # they neither confirm nor contradict; applying and rolling back do not wait on them
    unknown: set[str] = field(default_factory=set)

    @property
    def all_in_place(self) -> bool:
        return bool(self.in_place) and all(v or k in self.unknown for k, v in self.in_place.items())

    @property
    def still_in_place(self) -> list[str]:
        return [k for k, v in self.in_place.items() if v and k not in self.unknown]


class AdapterError(Exception):
    """An adapter could not do what it was asked (command failed, host unreachable, bad answer)."""


@runtime_checkable
class Adapter(Protocol):
    """The four verbs every adapter implements. ``timeout`` is seconds for the whole call."""

    name: str

    def plan(self, verb: Verb, actions: Sequence[Action]) -> list[Operation]: ...

    def apply(self, actions: Sequence[Action], timeout: float) -> Outcome: ...

    def verify(self, actions: Sequence[Action], timeout: float) -> Verification: ...

    def rollback(self, actions: Sequence[Action], timeout: float) -> Outcome: ...


Adapters = Mapping[str, Adapter]
