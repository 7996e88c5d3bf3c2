"""A case store in mid-crisis for the console tests, and people logging in to it over HTTPS.

One template is built per test session (INC-0001 at Capitouls, its plan run started with the dummy
adapters, an account per person); each test gets its own copy, so a test's approvals touch no other.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import update

from rempart.adapters import registry
from rempart.console.app import create_app
from rempart.console.context import ConsoleContext
from rempart.continuity import service as continuity
from rempart.continuity import synthetic
from rempart.domain.inventory import Group
from rempart.inventory import load_group
from rempart.respond import service as respond
from rempart.respond.plan import load_plan
from rempart.settings import Settings
from rempart.store.db import Store
from rempart.store.models.identities import AccountRow
from tests.conftest import EXAMPLES
from tests.identities.helpers import PASSWORD, account
from tests.respond.helpers import make_incident

# the example plan's people, and those a real group adds: an auditor, the IT of another clinic, an
# outside investigator opened for INC-0001 only
EXTRA_PEOPLE = (
    "- id: l.petit\n  name: Luc Petit (auditeur)\n  roles: [auditor]\n"
    "- id: t.moreau\n  name: Théo Moreau (informatique, Saint-Cyprien)\n  roles: [it_oncall]\n"
    "  establishments: [saint-cyprien]\n"
    "- id: e.expert\n  name: Eve Expert (investigatrice mandatée)\n  roles: [investigator]\n"
)
INCIDENTS = {"e.expert": ("INC-0001",)}
PEOPLE = ("c.martin", "p.nguyen", "m.durand", "j.roux", "astreinte-dsi", "l.petit", "t.moreau", "e.expert")

# the plan run of INC-0001 once started with the dummy adapters
RUN = 1
MANUAL_STEP = 5  # deconnecter-sauvegardes: a person does it, then acknowledges
TWO_ROLE_STEP = 6  # arreter-dpi-fichiers: one RSSI and one clinic director


def write_plan(folder: Path) -> Path:
    text = (EXAMPLES / "plan.yaml").read_text(encoding="utf-8")
    path = folder / "plan.yaml"
    path.write_text(text.replace("\nplaybooks:", EXTRA_PEOPLE + "\nplaybooks:", 1), encoding="utf-8")
    return path


@dataclass
class Crisis:
    folder: Path
    group: Group
    secrets: dict[str, str]
    started: bool = True

    @property
    def url(self) -> str:
        return f"sqlite:///{self.folder / 'cases.sqlite'}"

    def store(self) -> Store:
        return Store(self.url)

    @property
    def settings(self) -> Settings:
        # the snapshot keys beside the journal's key: both in the store's folder, copied with it
        return Settings(home=self.folder / "home", keys_dir=self.folder / "keys")


def build_template(folder: Path, *, start_run: bool = True) -> Crisis:
    folder.mkdir(parents=True, exist_ok=True)
    group = load_group(EXAMPLES / "group.yaml")
    plan = write_plan(folder)
    crisis = Crisis(folder, group, {}, start_run)
    store = crisis.store()
    make_incident(store)
    # the patients of Capitouls as its last export before the attack (synthetic, 24 patients)
    taken = datetime.now(UTC) - timedelta(hours=6)
    synthetic.generate("capitouls", folder / "fhir", patients=24, seed=3, taken_at=taken)
    continuity.import_snapshot(store, crisis.settings, "capitouls", [folder / "fhir"], now=taken)
    for person in PEOPLE:
        crisis.secrets[person] = account(store, person, plan=plan, admin=person == "c.martin",
                                         incidents=INCIDENTS.get(person, ()))
    if start_run:
        respond.respond(store, "INC-0001", load_plan(plan, group), group, registry.build(None), "rempart")
    store.close()
    return crisis


def copy_of(template: Crisis, folder: Path) -> Crisis:
    shutil.copytree(template.folder, folder)
    return Crisis(folder, template.group, template.secrets, template.started)


def forget_replay(store: Store, person: str) -> None:
    """Tests log in and re-authenticate within one 30 s TOTP step: let the step be used again."""
    with store.session() as s:
        s.execute(update(AccountRow).where(AccountRow.name == person).values(totp_last_step=None))


class Console:
    """The console app on one crisis store, and a browser-like client per person."""

    def __init__(self, crisis: Crisis) -> None:
        self.crisis = crisis
        self.store = crisis.store()
        ctx = ConsoleContext(self.store, crisis.group, settings=crisis.settings)
        self.app = create_app(ctx, refresh_seconds=1)

    def client(self) -> TestClient:
        # https: the session cookie is Secure, a client sends it back over TLS only
        return TestClient(self.app, base_url="https://testserver", follow_redirects=False)

    def code(self, person: str) -> str:
        forget_replay(self.store, person)
        return pyotp.TOTP(self.crisis.secrets[person]).now()

    def login(self, person: str) -> TestClient:
        c = self.client()
        r = c.post("/connexion", data={"account": person, "password": PASSWORD, "code": self.code(person)})
        assert r.status_code == 303, r.text
        return c

    def close(self) -> None:
        self.store.close()


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def build_kit(console: Console) -> continuity.KitBuild:
    """Capitouls' downtime kit, as the console's button builds it (no viewer: set-up, not a person),
    printed 3 hours ago: its first planned doses are due, whatever the time of day the test runs."""
    crisis = console.crisis
    out = crisis.settings.home / "kits" / "capitouls"
    return continuity.build_kits(console.store, crisis.settings, crisis.group, "capitouls", out, "INC-0001",
                                 now=datetime.now(UTC) - timedelta(hours=3))


def first_mar(console: Console, *, returned: bool = False) -> str:
    """The serial of the first pre-filled MAR of the latest kit (returned from the ward if asked)."""
    from rempart.continuity import register

    with console.store.session() as s:
        serial = next(f.serial for f in register.forms_of(s, "capitouls") if f.form_type == "mar"
                      and f.status == register.ISSUED)
        if returned:
            register.return_form(s, serial, datetime.now(UTC), "cadre")
    return serial
