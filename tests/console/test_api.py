"""The JSON API: personal tokens of each role, the same scopes as the pages, and its OpenAPI schema
exercised by Schemathesis once per role, in-process."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from rempart.identities import service as identities
from tests.console.support import MANUAL_STEP, RUN, TWO_ROLE_STEP, Console, csrf_of
from tests.identities.helpers import PASSWORD

ROLES = ("c.martin", "m.durand", "t.moreau", "e.expert", "l.petit", "astreinte-dsi")


def token_of(console: Console, person: str) -> str:
    done = identities.login(console.store, person, PASSWORD, console.code(person), "test")
    return identities.create_token(console.store, done.actor, "automation")


@pytest.fixture
def tokens(console: Console) -> dict[str, str]:
    return {p: token_of(console, p) for p in ROLES}


def _get(console: Console, token: str, path: str) -> Any:
    return console.client().get(path, headers={"authorization": f"Bearer {token}"})


def _post(console: Console, token: str, path: str, body: dict[str, str] | None = None) -> Any:
    return console.client().post(path, json=body or {}, headers={"authorization": f"Bearer {token}"})


def test_a_token_acts_with_its_accounts_scope(console: Console, tokens: dict[str, str]) -> None:
    me = _get(console, tokens["t.moreau"], "/api/me").json()
    assert me["via"] == "token" and me["establishments"] == ["saint-cyprien"]
    assert me["second_factor_at"] is None
    assert _get(console, tokens["t.moreau"], "/api/incidents").json() == []
    assert _get(console, tokens["t.moreau"], "/api/incidents/INC-0001").status_code == 403
    board = _get(console, tokens["t.moreau"], "/api/board").json()
    assert [e["id"] for e in board["establishments"]] == ["saint-cyprien"]
    assert [i["ref"] for i in _get(console, tokens["e.expert"], "/api/incidents").json()] == ["INC-0001"]
    full = _get(console, tokens["c.martin"], "/api/board").json()
    capitouls = next(e for e in full["establishments"] if e["id"] == "capitouls")
    assert capitouls["state"] == "confiné" and capitouls["incidents"] == ["INC-0001"]


def test_a_token_never_approves_a_destructive_step(console: Console, tokens: dict[str, str]) -> None:
    r = _post(console, tokens["c.martin"], f"/api/runs/{RUN}/steps/{TWO_ROLE_STEP}/approve")
    assert r.status_code == 403 and "second factor" in r.json()["detail"]
    detail = _get(console, tokens["c.martin"], "/api/incidents/INC-0001").json()
    step = next(s for s in detail["runs"][0]["steps"] if s["seq"] == TWO_ROLE_STEP)
    assert step["status"] == "awaiting_approval" and step["approved_by"] == []
    assert any("systemctl stop" in op for op in step["operations"])  # what an approver would sign off


def test_acknowledgements_go_through_the_same_checks(console: Console, tokens: dict[str, str]) -> None:
    url = f"/api/runs/{RUN}/steps/{MANUAL_STEP}/ack"
    assert _post(console, tokens["e.expert"], url, {"comment": "fait"}).status_code == 403
    assert _post(console, tokens["l.petit"], url, {"comment": "fait"}).status_code == 403
    assert _post(console, tokens["t.moreau"], url, {"comment": "fait"}).status_code == 403
    done = _post(console, tokens["astreinte-dsi"], url, {"comment": "câble débranché à 11 h 02"})
    assert done.status_code == 200
    assert next(s for s in done.json()["steps"] if s["seq"] == MANUAL_STEP)["status"] == "verified"
    assert _post(console, tokens["c.martin"], "/api/runs/99/steps/1/ack", {"comment": "x"}).status_code == 404


def test_the_api_with_the_session_cookie_still_needs_the_csrf_token(console: Console) -> None:
    c = console.login("astreinte-dsi")
    url = f"/api/runs/{RUN}/steps/{MANUAL_STEP}/ack"
    assert c.post(url, json={"comment": "fait"}).status_code == 403
    token = csrf_of(c.get("/").text)
    assert c.post(url, json={"comment": "fait"}, headers={"x-csrf-token": token}).status_code == 200


def test_the_schema_declares_bearer_authentication_on_every_operation(console: Console) -> None:
    schema = console.client().get("/api/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, ops in schema["paths"].items():
        assert path.startswith("/api/"), path  # the pages are not part of the API
        for method, op in ops.items():
            assert op.get("security") == [{"HTTPBearer": []}], f"{method} {path}"


def _fuzz_as(console: Console, token: str) -> int:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", console.app)

    @schema.auth()
    class PersonalToken:  # the role's own token, given the way Schemathesis can take it off again
        def get(self, case: Any, ctx: Any) -> str:
            return token

        def set(self, case: Any, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def each(case: Any) -> None:
            case.call_and_validate()

        each()
    return len(operations)


@pytest.mark.parametrize("person", ROLES)
def test_no_operation_errors_or_ignores_authentication_for_any_role(console: Console, person: str) -> None:
    """Schemathesis generates requests from the schema and sends them with this role's token; its checks (no
    server error, status and body as declared, authentication enforced, not merely declared) must pass."""
    assert _fuzz_as(console, token_of(console, person)) >= 8
