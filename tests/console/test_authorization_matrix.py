"""Every route of the console × every role, declared allow or deny, and tested (session and API token).

Each cell runs on its own copy of the crisis store: INC-0001 at Capitouls, its plan run waiting for the
two-role step 6 (one RSSI and one clinic director) and the manual step 5. A new route fails
``test_every_route_is_declared`` until it is given a line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from rempart.console.sessions import COOKIE
from tests.console.support import (
    MANUAL_STEP,
    RUN,
    TWO_ROLE_STEP,
    Console,
    Crisis,
    build_kit,
    copy_of,
    csrf_of,
    first_mar,
)
from tests.console.test_api import token_of

ANONYMOUS = "anonyme"
# the people of the crisis: the group's RSSI, Capitouls' director, the IT of another clinic, an outside
# investigator of INC-0001, an auditor, the group's IT on call
PEOPLE = ("c.martin", "m.durand", "t.moreau", "e.expert", "l.petit", "astreinte-dsi")
EVERYONE = frozenset(PEOPLE)
SEE_INCIDENT = EVERYONE - {"t.moreau"}
DECIDE_STEP_6 = frozenset({"c.martin", "m.durand"})  # astreinte-dsi's role is not one of the step's
CARRY_OUT = frozenset({"c.martin", "m.durand", "astreinte-dsi"})
GROUP_WIDE = frozenset({"c.martin", "l.petit", "astreinte-dsi"})
PATIENTS = frozenset({"c.martin", "m.durand", "astreinte-dsi"})  # see Capitouls' patients (need to know)

STEP = f"/incidents/INC-0001/plans/{RUN}/etapes"
API_STEP = f"/api/runs/{RUN}/steps"


@dataclass(frozen=True)
class Cell:
    method: str
    route: str  # as the app declares it
    path: str  # as requested
    allowed: frozenset[str]  # with a session (cookie + CSRF)
    by_token: frozenset[str] | None = None  # with a personal API token; None: as with a session
    form: dict[str, str] | None = None
    json: dict[str, str] | None = None
    setup: Callable[[Console], str] | None = None  # returns the serial a path's {mar} stands for


def _kit(console: Console) -> str:
    build_kit(console)
    return first_mar(console)


def _returned_mar(console: Console) -> str:
    build_kit(console)
    return first_mar(console, returned=True)


CONTINUITY = "/etablissements/capitouls"


MATRIX = [
    Cell("GET", "/", "/", EVERYONE),
    Cell("GET", "/fragments/tableau", "/fragments/tableau", EVERYONE),
    Cell("GET", "/incidents/{ref}", "/incidents/INC-0001", SEE_INCIDENT),
    Cell("POST", "/incidents/{ref}/plans/{run_id}/etapes/{seq}/approuver",
         f"{STEP}/{TWO_ROLE_STEP}/approuver", DECIDE_STEP_6, by_token=frozenset(), form={}),
    Cell("POST", "/incidents/{ref}/plans/{run_id}/etapes/{seq}/refuser",
         f"{STEP}/{TWO_ROLE_STEP}/refuser", DECIDE_STEP_6, form={"reason": "le DPI doit rester joignable"}),
    Cell("POST", "/incidents/{ref}/plans/{run_id}/etapes/{seq}/acquitter",
         f"{STEP}/{MANUAL_STEP}/acquitter", CARRY_OUT, form={"comment": "câble débranché"}),
    Cell("GET", "/journal", "/journal", GROUP_WIDE),
    Cell("GET", "/etablissements/{est}/continuite", f"{CONTINUITY}/continuite", SEE_INCIDENT),
    Cell("POST", "/etablissements/{est}/kits", f"{CONTINUITY}/kits", PATIENTS, form={}),
    Cell("GET", "/etablissements/{est}/kits/{number}/{index}", f"{CONTINUITY}/kits/1/0", PATIENTS,
         setup=_kit),
    Cell("POST", "/formulaires/{serial}/retour", "/formulaires/{mar}/retour", CARRY_OUT, form={}, setup=_kit),
    Cell("GET", "/formulaires/{serial}", "/formulaires/{mar}", PATIENTS, setup=_returned_mar),
    Cell("POST", "/formulaires/{serial}/saisie", "/formulaires/{mar}/saisie", PATIENTS,
         form={"given_0": "oui", "nurse": "IDE Morel"}, setup=_returned_mar),
    Cell("POST", "/deconnexion", "/deconnexion", EVERYONE, form={}),
    Cell("GET", "/api/me", "/api/me", EVERYONE),
    Cell("GET", "/api/board", "/api/board", EVERYONE),
    Cell("GET", "/api/incidents", "/api/incidents", EVERYONE),
    Cell("GET", "/api/incidents/{ref}", "/api/incidents/INC-0001", SEE_INCIDENT),
    # a token never carries a second factor: it cannot approve
    Cell("POST", "/api/runs/{run_id}/steps/{step}/approve", f"{API_STEP}/{TWO_ROLE_STEP}/approve",
         DECIDE_STEP_6, by_token=frozenset(), json={}),
    Cell("POST", "/api/runs/{run_id}/steps/{step}/reject", f"{API_STEP}/{TWO_ROLE_STEP}/reject",
         DECIDE_STEP_6, json={"reason": "le DPI doit rester joignable"}),
    Cell("POST", "/api/runs/{run_id}/steps/{step}/ack", f"{API_STEP}/{MANUAL_STEP}/ack", CARRY_OUT,
         json={"comment": "câble débranché"}),
    Cell("GET", "/api/journal", "/api/journal", GROUP_WIDE),
]
# routes anyone may reach, logged in or not
PUBLIC = {("GET", "/connexion"), ("POST", "/connexion"), ("GET", "/api/openapi.json"), ("GET", "/static")}


def _declared(routes: Any) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for route in routes:
        if hasattr(route, "original_router"):  # an included router
            out |= _declared(route.original_router.routes)
        elif isinstance(route, APIRoute):
            out |= {(m, route.path) for m in route.methods}
        elif getattr(route, "path", None) == "/static":
            out.add(("GET", "/static"))
        elif getattr(route, "path", "").startswith("/api/openapi"):
            out.add(("GET", route.path))
    return out


def test_every_route_is_declared(console: Console) -> None:
    declared = {(c.method, c.route) for c in MATRIX} | PUBLIC
    assert _declared(console.app.routes) == declared


CELLS = [
    pytest.param(cell, who, how, id=f"{cell.method} {cell.path} {who} {how}")
    for cell in MATRIX
    for who in (*PEOPLE, ANONYMOUS)
    for how in (("session", "token") if who != ANONYMOUS else ("none",))
]


def _allowed(cell: Cell, who: str, how: str) -> bool:
    if who == ANONYMOUS:
        return False
    if how == "token" and cell.by_token is not None:
        return who in cell.by_token
    return who in cell.allowed


def _request(console: Console, cell: Cell, who: str, how: str) -> Any:
    path = cell.path.replace("{mar}", cell.setup(console)) if cell.setup else cell.path
    if how == "session":
        client = console.login(who)
        headers = {"x-csrf-token": csrf_of(client.get("/").text)} if cell.json is not None else {}
        form = {**cell.form, "csrf": csrf_of(client.get("/").text)} if cell.form is not None else None
    else:
        client = console.client()
        headers = {"authorization": f"Bearer {token_of(console, who)}"} if how == "token" else {}
        form = cell.form
    return client.request(cell.method, path, data=form, json=cell.json, headers=headers)


@pytest.mark.parametrize(("cell", "who", "how"), CELLS)
def test_route_for_role(cell: Cell, who: str, how: str, crisis_template: Crisis, tmp_path: Path) -> None:
    console = Console(copy_of(crisis_template, tmp_path / "store"))
    try:
        r = _request(console, cell, who, how)
    finally:
        console.close()
    to_login = r.status_code == 303 and r.headers["location"] == "/connexion"
    if _allowed(cell, who, how):
        expected_redirect = cell.path == "/deconnexion"
        assert r.status_code in (200, 303) and to_login == expected_redirect, (r.status_code, r.text[:300])
        if r.status_code == 303 and not expected_redirect:
            assert "fait=" in r.headers["location"], r.headers["location"]  # done, not refused
    else:
        assert r.status_code in (401, 403) or to_login, (r.status_code, r.text[:300])
        assert COOKIE not in r.headers.get("set-cookie", "") or cell.path == "/deconnexion"
