"""The security plan file: people who may approve, playbooks (trigger, scope, ordered steps).

Loaded with :func:`rempart.yamldoc.validate_text` (pydantic) and then cross-checked against the group,
so that a step that would select nothing, or an approval nobody can give, is caught when the plan is
written rather than during an incident. Every mistake names file, line and field.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rempart.domain.alerts import TACTICS, Level
from rempart.domain.inventory import AccessKind, AssetRole, Group, Slug
from rempart.errors import ConfigError, ConfigErrors, Location
from rempart.yamldoc import PathKey, field_name, line_of, parse_yaml, validate_text


class ActionKind(StrEnum):
    CLOSE_ACCESS = "close_access"  # an external access, at the establishment's firewall
    BLOCK_MAIL = "block_mail"  # SMTP / IMAP / submission flows of a mail server
    ISOLATE_HOST = "isolate_host"  # all traffic of a host through the firewall, SOC excepted
    STOP_SERVICE = "stop_service"  # services of a server, over SSH
    SHUTDOWN = "shutdown"  # a server, over SSH
    HOLD_QUEUE = "hold_queue"  # a Postfix relay's queue
    CALL = "call"  # an HTTP API (firewall or hypervisor)
    MANUAL = "manual"  # a person does it and acknowledges


# which adapter performs an action unless the step names another one
DEFAULT_ADAPTER: dict[ActionKind, str] = {
    ActionKind.CLOSE_ACCESS: "nftables",
    ActionKind.BLOCK_MAIL: "nftables",
    ActionKind.ISOLATE_HOST: "nftables",
    ActionKind.STOP_SERVICE: "ssh",
    ActionKind.SHUTDOWN: "ssh",
    ActionKind.HOLD_QUEUE: "postfix",
    ActionKind.CALL: "webhook",
    ActionKind.MANUAL: "manual",
}
ACCESS_ACTIONS = {ActionKind.CLOSE_ACCESS}
ASSET_ACTIONS = {
    ActionKind.BLOCK_MAIL,
    ActionKind.ISOLATE_HOST,
    ActionKind.STOP_SERVICE,
    ActionKind.SHUTDOWN,
    ActionKind.HOLD_QUEUE,
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


PersonId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=64)]


class Person(Strict):
    id: PersonId
    name: str
    roles: list[Slug] = Field(min_length=1)
    establishments: list[Slug] = Field(default_factory=list, description="empty: the whole group")

    def covers(self, establishment: str) -> bool:
        return not self.establishments or establishment in self.establishments


class Trigger(Strict):
    """Every condition given must hold; within a list, any element is enough."""

    min_level: str = "high"
    tactics: list[str] = Field(default_factory=list)
    techniques: list[str] = Field(default_factory=list, description="ATT&CK technique tags, e.g. T1486")
    rule_ids: list[str] = Field(default_factory=list)
    asset_roles: list[AssetRole] = Field(default_factory=list)
    establishments: list[Slug] = Field(default_factory=list)
    exercise: bool | None = None

    @field_validator("min_level")
    @classmethod
    def _level(cls, value: str) -> str:
        Level.parse(value)
        return value.lower()

    @field_validator("tactics")
    @classmethod
    def _tactics(cls, value: list[str]) -> list[str]:
        for t in value:
            if t not in TACTICS:
                raise ValueError(f"unknown ATT&CK tactic '{t}' (use one of: {', '.join(TACTICS)})")
        return value

    @field_validator("techniques")
    @classmethod
    def _techniques(cls, value: list[str]) -> list[str]:
        out = [t.upper().removeprefix("ATTACK.") for t in value]
        for t in out:
            if not (t.startswith("T") and t[1:5].isdigit()):
                raise ValueError(f"'{t}' is not an ATT&CK technique id like T1486 or T1003.001")
        return out


class Targets(Strict):
    access_kinds: list[AccessKind] = Field(default_factory=list)
    access_ids: list[Slug] = Field(default_factory=list)
    roles: list[AssetRole] = Field(default_factory=list)
    hosts: list[str] = Field(default_factory=list)
    compromised: bool = Field(default=False, description="only the hosts named by the incident's alerts")
    exclude_roles: list[AssetRole] = Field(
        default_factory=list,
        description="never select assets of these roles (e.g. the appliance that logged)",
    )

    @property
    def selects_accesses(self) -> bool:
        return bool(self.access_kinds or self.access_ids)

    @property
    def selects_assets(self) -> bool:
        return bool(self.roles or self.hosts or self.compromised)


class Approval(Strict):
    approvers: int = Field(default=0, ge=0, description="0: automatic")
    roles: list[Slug] = Field(default_factory=list)
    all_roles: bool = Field(default=False, description="the approvers together must hold every listed role")
    escalate_after: int | None = Field(
        default=None, ge=1, le=24 * 60,
        description="minutes of waiting after which the escalate_to roles may approve too",
    )
    escalate_to: list[Slug] = Field(
        default_factory=list,
        description="roles that stand in for missing approvers once escalate_after has passed",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Approval:
        if self.approvers and not self.roles:
            raise ValueError("an approval with approvers must name the roles that may approve")
        if self.all_roles and len(self.roles) > self.approvers:
            raise ValueError(f"all_roles needs at least {len(self.roles)} approvers, one per role")
        if (self.escalate_after is None) != (not self.escalate_to):
            raise ValueError("escalate_after and escalate_to go together: after how long, to whom")
        if self.escalate_to and self.automatic:
            raise ValueError("an automatic step waits for nobody: it has nothing to escalate")
        return self

    @property
    def automatic(self) -> bool:
        return self.approvers == 0


def _approval(value: object) -> object:
    if value == "automatic" or value is None:
        return {"approvers": 0}
    return value


class Retry(Strict):
    attempts: int = Field(default=3, ge=1, le=10)
    backoff: float = Field(
        default=0.5, ge=0, le=60, description="seconds before the 2nd attempt, doubled each time"
    )


class Step(Strict):
    id: Slug
    title: str
    action: ActionKind
    adapter: Slug | None = None
    targets: Targets = Field(default_factory=Targets)
    approval: Annotated[Approval, Field(default_factory=Approval)]
    timeout: float = Field(default=30, gt=0, le=3600, description="seconds for one attempt")
    retry: Retry = Field(default_factory=Retry)
    verify: bool = True
    rollback: bool = True
    blocks: bool = Field(default=True, description="later steps wait until this one is done")
    instruction: str | None = Field(default=None, description="for manual steps (French, for the clinic)")
    services: list[str] = Field(default_factory=list, description="stop_service: overrides the asset's")
    request: dict[str, Any] = Field(default_factory=dict, description="call: url, method, body")

    @field_validator("approval", mode="before")
    @classmethod
    def _approval(cls, value: object) -> object:
        return _approval(value)

    @model_validator(mode="after")
    def _consistent(self) -> Step:
        if self.action is ActionKind.MANUAL and not self.instruction:
            raise ValueError("a manual step needs an instruction saying what the person must do")
        if self.action in ACCESS_ACTIONS and not self.targets.selects_accesses:
            raise ValueError(f"{self.action} needs targets.access_kinds or targets.access_ids")
        if self.action in ASSET_ACTIONS and not self.targets.selects_assets:
            raise ValueError(f"{self.action} needs targets.roles, targets.hosts or targets.compromised")
        if self.action is ActionKind.CALL and not self.request.get("url"):
            raise ValueError("a call step needs request.url")
        return self

    @property
    def adapter_name(self) -> str:
        return self.adapter or DEFAULT_ADAPTER[self.action]


class Playbook(Strict):
    id: Slug
    title: str
    trigger: Trigger
    scope: Literal["establishment", "pole", "group"] = "establishment"
    steps: list[Step] = Field(min_length=1)


class Plan(Strict):
    version: Literal[1] = 1
    people: list[Person] = Field(default_factory=list)
    playbooks: list[Playbook] = Field(min_length=1)

    def person(self, person_id: str) -> Person | None:
        return next((p for p in self.people if p.id == person_id), None)


class LoadedPlan(BaseModel):
    """A plan with where it came from, so a run can say which file and version it executed."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    plan: Plan
    path: str
    digest: str


def load_plan(path: Path | str, group: Group | None = None) -> LoadedPlan:
    """Load and validate a plan; with ``group``, also check every reference against the inventory."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("plan file not found", Location(p), "give the path of your plan.yaml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read plan: {exc}", Location(p)) from None
    plan = validate_text(Plan, text, p)
    _, lines = parse_yaml(text, p)
    problems = _own_checks(plan, p, lines)
    if group is not None:
        problems += _group_checks(plan, group, p, lines)
    if problems:
        raise ConfigErrors(problems)
    return LoadedPlan(plan=plan, path=str(p), digest=hashlib.sha256(text.encode()).hexdigest())


def _err(
    source: Path, lines: dict[PathKey, int], loc: PathKey, message: str, hint: str | None = None
) -> ConfigError:
    return ConfigError(message, Location(source, line_of(lines, loc), field_name(loc)), hint)


def _own_checks(plan: Plan, source: Path, lines: dict[PathKey, int]) -> list[ConfigError]:
    errors: list[ConfigError] = []
    person_ids = Counter(p.id for p in plan.people)
    for i, person in enumerate(plan.people):
        if person_ids[person.id] > 1:
            errors.append(_err(source, lines, ("people", i, "id"), f"person id '{person.id}' is used twice"))
    held = {r for p in plan.people for r in p.roles}
    playbook_ids = Counter(b.id for b in plan.playbooks)
    for bi, book in enumerate(plan.playbooks):
        if playbook_ids[book.id] > 1:
            errors.append(
                _err(source, lines, ("playbooks", bi, "id"), f"playbook id '{book.id}' is used twice")
            )
        step_ids = Counter(s.id for s in book.steps)
        for si, step in enumerate(book.steps):
            loc: PathKey = ("playbooks", bi, "steps", si)
            if step_ids[step.id] > 1:
                errors.append(_err(source, lines, (*loc, "id"), f"step id '{step.id}' is used twice"))
            for key, roles, consequence in (
                ("roles", step.approval.roles, "nobody could approve"),
                ("escalate_to", step.approval.escalate_to, "the escalation would reach nobody"),
            ):
                for ri, role in enumerate(roles):
                    if role not in held:
                        errors.append(
                            _err(
                                source,
                                lines,
                                (*loc, "approval", key, ri),
                                f"no person in the plan holds role '{role}': {consequence}",
                                "add the person under people:",
                            )
                        )
            holders = {p.id for p in plan.people if set(p.roles) & set(step.approval.roles)}
            if step.approval.approvers > len(holders):
                errors.append(
                    _err(
                        source,
                        lines,
                        (*loc, "approval", "approvers"),
                        f"{step.approval.approvers} approvers needed but only {len(holders)} "
                        f"people hold the roles {', '.join(step.approval.roles)}",
                    )
                )
    return errors


def _group_checks(plan: Plan, group: Group, source: Path, lines: dict[PathKey, int]) -> list[ConfigError]:
    errors: list[ConfigError] = []
    est_ids = {e.id for e in group.establishments}
    roles = {a.role for e in group.establishments for a in e.assets}
    kinds = {x.kind for e in group.establishments for x in e.external_accesses}
    access_ids = {x.id for e in group.establishments for x in e.external_accesses}
    hostnames = {a.short_name for e in group.establishments for a in e.assets}
    for i, person in enumerate(plan.people):
        for ei, est in enumerate(person.establishments):
            if est not in est_ids:
                errors.append(
                    _err(
                        source,
                        lines,
                        ("people", i, "establishments", ei),
                        f"establishment '{est}' is not in the group",
                    )
                )
    for bi, book in enumerate(plan.playbooks):
        for ei, est in enumerate(book.trigger.establishments):
            if est not in est_ids:
                errors.append(
                    _err(
                        source,
                        lines,
                        ("playbooks", bi, "trigger", "establishments", ei),
                        f"establishment '{est}' is not in the group",
                    )
                )
        for si, step in enumerate(book.steps):
            loc: PathKey = ("playbooks", bi, "steps", si, "targets")
            checks: list[tuple[str, list[Any], set[Any], str]] = [
                ("roles", step.targets.roles, roles, "no asset of the group has role"),
                (
                    "access_kinds",
                    step.targets.access_kinds,
                    kinds,
                    "no external access of the group is of kind",
                ),
                ("access_ids", step.targets.access_ids, access_ids, "no external access of the group has id"),
                (
                    "hosts",
                    [h.split(".")[0].lower() for h in step.targets.hosts],
                    hostnames,
                    "no asset of the group is named",
                ),
            ]
            for name, wanted, known, message in checks:
                for wi, value in enumerate(wanted):
                    if value not in known:
                        errors.append(
                            _err(source, lines, (*loc, name, wi), f"{message} '{value}': selects nothing")
                        )
    return errors
