"""The re-opening policy: which evidence, which attestations and which approvers each access needs.

Data, not code (YAML validated with located errors). Approvals reuse the security plan's model: the
approvers are people of the plan (``people:``), counted by role exactly as for a containment step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rempart.domain.inventory import AccessKind, ExternalAccess, Slug
from rempart.errors import ConfigError, ConfigErrors, Location
from rempart.respond.plan import Approval
from rempart.yamldoc import line_of, load_model, parse_yaml

DEFAULT_POLICY = Path(__file__).with_name("policy.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AttestationKind(_Strict):
    id: Slug
    label: str = Field(min_length=1, description="what the person vouches for, in French")


class Rule(_Strict):
    access_kinds: list[AccessKind] = Field(default_factory=list, description="empty: every kind")
    sweep_clean_hours: float = Field(default=48, ge=0, description="no indicator seen for at least this long")
    sweep_max_age_hours: float = Field(default=24, gt=0, description="the sweep must be this recent")
    require_no_data_theft: bool = True
    attestations: list[Slug] = Field(default_factory=list)
    approval: Approval = Field(default_factory=lambda: Approval(approvers=2, roles=["rssi"]))

    def applies_to(self, access: ExternalAccess) -> bool:
        return not self.access_kinds or access.kind in self.access_kinds


class RecoveryPolicy(_Strict):
    version: Literal[1] = 1
    attestations: list[AttestationKind] = Field(default_factory=list)
    rules: list[Rule] = Field(min_length=1)

    def rule_for(self, access: ExternalAccess) -> Rule:
        for rule in self.rules:
            if rule.applies_to(access):
                return rule
        raise ConfigError(
            f"no re-opening rule applies to access '{access.id}' ({access.kind})",
            hint="add a last rule with access_kinds: [] to cover every kind",
        )

    def label(self, attestation: str) -> str:
        return next((a.label for a in self.attestations if a.id == attestation), attestation)


def load_policy(path: Path | None = None) -> RecoveryPolicy:
    """Load a policy file (the shipped one by default); attestations must be declared before use."""
    source = path or DEFAULT_POLICY
    policy = load_model(RecoveryPolicy, source)
    known = {a.id for a in policy.attestations}
    problems = []
    _, lines = parse_yaml(source.read_text(encoding="utf-8"), source)
    for i, rule in enumerate(policy.rules):
        for j, att in enumerate(rule.attestations):
            if att not in known:
                loc = ("rules", i, "attestations", j)
                problems.append(
                    ConfigError(
                        f"attestation '{att}' is not declared under attestations:",
                        Location(source, line_of(lines, loc), f"rules[{i}].attestations[{j}]"),
                        hint=f"declared: {', '.join(sorted(known)) or 'none'}",
                    )
                )
    if problems:
        raise ConfigErrors(problems)
    return policy
