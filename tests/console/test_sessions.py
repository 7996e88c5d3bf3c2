"""Logging in and out of the console: cookie flags, CSRF, session fixation, growing delays, revocation."""

from __future__ import annotations

import re
import time
from http.cookies import SimpleCookie

from rempart.console.sessions import COOKIE
from rempart.identities import service as identities
from rempart.store import journal
from tests.console.support import Console, csrf_of
from tests.identities.helpers import PASSWORD

APPROVE = "/incidents/INC-0001/plans/1/etapes/6/approuver"


def _message(html: str) -> str:
    m = re.search(r'<p class="message[^"]*"[^>]*>([^<]*)</p>', html)
    return m.group(1) if m else ""


def _actions(console: Console, action: str) -> int:
    with console.store.session() as s:
        return sum(1 for e in journal.entries(s) if e.action == action)


def test_login_with_password_and_code_sets_a_host_only_secure_cookie(console: Console) -> None:
    c = console.client()
    r = c.post("/connexion", data={"account": "c.martin", "password": PASSWORD,
                                   "code": console.code("c.martin")})
    assert r.status_code == 303 and r.headers["location"] == "/"
    raw = r.headers["set-cookie"]
    morsel = SimpleCookie(raw)[COOKIE]
    assert COOKIE.startswith("__Host-")
    assert morsel["secure"] and morsel["httponly"]
    assert morsel["samesite"].lower() == "strict" and morsel["path"] == "/" and not morsel["domain"]
    board = c.get("/")
    assert board.status_code == 200 and "Tableau du groupe" in board.text
    assert board.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in board.headers["content-security-policy"]


def test_a_wrong_password_or_code_is_refused_in_the_same_words(console: Console) -> None:
    c = console.client()
    wrong_password = c.post("/connexion", data={"account": "c.martin", "password": "nope", "code": "000000"})
    wrong_code = c.post("/connexion", data={"account": "c.martin", "password": PASSWORD, "code": "000000"})
    unknown = c.post("/connexion", data={"account": "nobody", "password": PASSWORD, "code": "000000"})
    assert {wrong_password.status_code, wrong_code.status_code, unknown.status_code} == {401}
    assert _message(wrong_password.text) == "Connexion refusée : identifiant, mot de passe ou code incorrect."
    assert _message(wrong_code.text) == _message(wrong_password.text)
    assert COOKIE not in c.cookies


def test_failed_logins_wait_longer_and_longer_and_never_lock_the_account(console: Console) -> None:
    c = console.client()

    def attempt(password: str = "nope") -> tuple[int, int]:
        code = console.code("c.martin") if password == PASSWORD else "000000"
        r = c.post("/connexion", data={"account": "c.martin", "password": password, "code": code})
        m = re.search(r"réessayez dans (\d+) s", r.text)
        return r.status_code, int(m.group(1)) if m else 0

    assert [attempt()[1] for _ in range(3)] == [0, 0, 0]  # refused, no delay yet
    first = attempt()[1]
    assert first > 0  # now each attempt waits
    time.sleep(first)
    assert attempt() == (401, 0)  # after the wait, a wrong password is refused and counts again …
    second = attempt()[1]
    assert second > first  # … and the next wait is longer
    time.sleep(second)
    assert attempt(PASSWORD)[0] == 303  # never locked: the right password still opens a session
    assert "compte n'est jamais bloqué" in c.get("/connexion").text


def test_changes_without_the_pages_csrf_token_are_refused_and_change_nothing(console: Console) -> None:
    c = console.login("c.martin")
    page = c.get("/incidents/INC-0001").text
    token = csrf_of(page)
    assert c.post(APPROVE, data={}).status_code == 403
    assert c.post(APPROVE, data={"csrf": "0" * 64}).status_code == 403
    other = console.login("p.nguyen")
    foreign = csrf_of(other.get("/incidents/INC-0001").text)  # a token of another session
    assert c.post(APPROVE, data={"csrf": foreign}).status_code == 403
    assert _actions(console, "approval.given") == 0
    assert c.post(APPROVE, data={"csrf": token}).status_code == 303
    assert _actions(console, "approval.given") == 1
    # HTMX sends it as a header (hx-headers on <body>)
    assert f'"X-CSRF-Token": "{token}"' in page


def test_a_session_planted_before_login_is_never_the_one_kept(console: Console) -> None:
    attacker = console.login("p.nguyen")
    planted = attacker.cookies[COOKIE]
    victim = console.client()
    victim.cookies.set(COOKIE, planted, domain="testserver.local")
    r = victim.post("/connexion", data={"account": "c.martin", "password": PASSWORD,
                                        "code": console.code("c.martin")})
    fresh = SimpleCookie(r.headers["set-cookie"])[COOKIE].value
    assert fresh != planted
    assert identities.resolve(console.store, fresh).account == "c.martin"
    assert attacker.get("/api/me").status_code == 401  # the planted session was ended


def test_logout_ends_the_session_everywhere(console: Console) -> None:
    c = console.login("c.martin")
    token = c.cookies[COOKIE]
    cli_like = console.client()
    assert cli_like.get("/api/me", headers={"authorization": f"Bearer {token}"}).status_code == 200
    page = c.get("/").text
    r = c.post("/deconnexion", data={"csrf": csrf_of(page)})
    assert r.status_code == 303 and r.headers["location"] == "/connexion"
    assert cli_like.get("/api/me", headers={"authorization": f"Bearer {token}"}).status_code == 401
    c.cookies.set(COOKIE, token, domain="testserver.local")  # even if the browser kept the cookie
    assert c.get("/").headers["location"] == "/connexion"


def test_without_a_session_pages_go_to_the_login_form_and_the_api_answers_401(console: Console) -> None:
    c = console.client()
    assert c.get("/").headers["location"] == "/connexion"
    assert c.get("/incidents/INC-0001").headers["location"] == "/connexion"
    htmx = c.get("/fragments/tableau", headers={"hx-request": "true"})
    assert htmx.headers["hx-redirect"] == "/connexion"
    api = c.get("/api/board")
    assert api.status_code == 401 and api.headers["www-authenticate"] == "Bearer"
    assert c.get("/api/me", headers={"authorization": "Bearer rpt_forged"}).status_code == 401


def test_a_crafted_link_cannot_put_words_on_a_page(console: Console) -> None:
    c = console.login("c.martin")
    forged = "Session expirée : reconnectez-vous sur rempart-secours.example"
    page = c.get("/incidents/INC-0001", params={"fait": forged, "sig": "0" * 32}).text
    assert forged not in page
    r = c.post(APPROVE, data={"csrf": csrf_of(page)})
    assert "Étape 6 approuvée." in c.get(r.headers["location"]).text  # the console's own notice shows


def test_a_login_form_posted_from_another_site_is_refused(console: Console) -> None:
    c = console.client()
    data = {"account": "c.martin", "password": PASSWORD, "code": console.code("c.martin")}
    r = c.post("/connexion", data=data, headers={"origin": "https://attacker.example"})
    assert r.status_code == 403 and "formulaire venu d'un autre site" in _message(r.text)
    assert COOKIE not in c.cookies
    ok = c.post("/connexion", data=data, headers={"origin": "https://testserver"})
    assert ok.status_code == 303
