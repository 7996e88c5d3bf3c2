"""Who does an action: an authenticated account, as the services receive it.

Interfaces (CLI, later the console and the API) authenticate a person and hand the services an
:class:`Actor`; no service takes a name typed on a command line. Four-eyes rules count ``person_id``: two
accounts of one person (their own and the sealed break-glass one) are still one approver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

# a destructive step is approved only with a second factor at most this old (`rempart reauth` refreshes it)
FRESH_SECOND_FACTOR = timedelta(minutes=5)

# roles that only read: they may look at everything in their scope and change nothing
READ_ONLY_ROLES = frozenset({"auditor"})

# roles that watch the plan without carrying it out: they never approve, reject or acknowledge a step (an
# outside investigator reads the case and writes findings, not containment)
OBSERVER_ROLES = READ_ONLY_ROLES | {"investigator"}

# roles that need to see patients' identities and care lines (kits, reconciliation, FHIR export): those
# who run degraded care or its IT. An auditor or an outside investigator works without them (CNIL: need
# to know), and reads the traces of those accesses instead.
PATIENT_DATA_ROLES = frozenset({"rssi", "clinic_director", "director_on_duty", "it_oncall", "care_manager"})


@dataclass(frozen=True)
class Actor:
    account: str  # the account's login name, recorded in the journal
    person_id: str | None  # the person of plan.yaml the account is bound to (None: rempart itself)
    name: str = ""
    roles: tuple[str, ...] = ()
    establishments: tuple[str, ...] = ()  # empty: the whole group
    second_factor_at: datetime | None = None  # when this session last verified a TOTP code
    via: str = "session"  # session | token | break-glass | system
    admin: bool = False  # may create, disable and reset accounts
    incidents: tuple[str, ...] = field(default=())  # empty: every incident; else (investigators) only these

    @property
    def who(self) -> str:
        """The name recorded as the author of an action: the plan's person, else the account."""
        return self.person_id or self.account

    @property
    def read_only(self) -> bool:
        return bool(self.roles) and set(self.roles) <= READ_ONLY_ROLES

    @property
    def carries_out_plans(self) -> bool:
        return bool(set(self.roles) - OBSERVER_ROLES) or not self.roles

    @property
    def sees_patient_data(self) -> bool:
        return bool(set(self.roles) & PATIENT_DATA_ROLES)

    def covers(self, establishment: str) -> bool:
        return not self.establishments or establishment in self.establishments

    def may_see(self, incident_ref: str) -> bool:
        return not self.incidents or incident_ref.upper() in {i.upper() for i in self.incidents}

    def fresh_second_factor(self, at: datetime, within: timedelta = FRESH_SECOND_FACTOR) -> bool:
        return self.second_factor_at is not None and at - self.second_factor_at <= within


# what rempart does on its own (automatic steps, the live loop): never an approver
SYSTEM = Actor(account="rempart", person_id=None, name="rempart", via="system")
