"""The incident page: the plan's steps with exactly what they do, and four-eyes approvals by two people."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from rempart.store import journal
from rempart.store.models.identities import SessionRow
from tests.console.support import RUN, TWO_ROLE_STEP, Console, csrf_of

INCIDENT = "/incidents/INC-0001"
APPROVE = f"{INCIDENT}/plans/{RUN}/etapes/{TWO_ROLE_STEP}/approuver"


def _message(html: str) -> str:
    m = re.search(r'<p class="message[^"]*"[^>]*>([^<]*)</p>', html)
    return m.group(1) if m else ""


def _step_status(console: Console, client_html: str, seq: int) -> str:
    m = re.search(rf'id="etape-{RUN}-{seq}" class="[^"]*" data-status="([a-z_]+)"', client_html)
    assert m, f"step {seq} not on the page"
    return m.group(1)


def _age_second_factors(console: Console, minutes: int) -> None:
    with console.store.session() as s:
        s.execute(update(SessionRow).values(second_factor_at=datetime.now(UTC) - timedelta(minutes=minutes)))


def test_the_page_shows_each_step_and_the_exact_commands_awaiting_approval(console: Console) -> None:
    c = console.login("c.martin")
    html = c.get(INCIDENT).text
    assert "Clinique des Capitouls" in html and "confiné" in html
    assert _step_status(console, html, 1) == "verified"
    assert _step_status(console, html, TWO_ROLE_STEP) == "awaiting_approval"
    step = html[html.index(f'id="etape-{RUN}-{TWO_ROLE_STEP}"'):]
    step = step[: step.index("</li>")]
    # the dummy adapters of this run record instead of acting: the page shows what they would record
    assert "Ce que fait l'étape (simulation exacte" in step and "<pre>" in step
    assert "Approuver" in step and "Refuser" in step
    assert "Main courante" in html and "LSASS memory dump" in html


def test_two_different_people_approve_a_two_role_step_and_one_person_cannot_twice(console: Console) -> None:
    rssi = console.login("c.martin")
    token = csrf_of(rssi.get(INCIDENT).text)
    assert rssi.post(APPROVE, data={"csrf": token}).status_code == 303
    again = rssi.post(APPROVE, data={"csrf": token})
    assert again.status_code == 403
    assert "a déjà approuvé" in _message(again.text)
    second_rssi = console.login("p.nguyen")  # a second RSSI does not stand for the director
    same_role = second_rssi.post(APPROVE, data={"csrf": csrf_of(second_rssi.get(INCIDENT).text)})
    assert same_role.status_code == 403 and "déjà représenté" in _message(same_role.text)
    assert _step_status(console, rssi.get(INCIDENT).text, TWO_ROLE_STEP) == "awaiting_approval"
    director = console.login("m.durand")
    r = director.post(APPROVE, data={"csrf": csrf_of(director.get(INCIDENT).text)})
    assert r.status_code == 303
    assert _step_status(console, director.get(INCIDENT).text, TWO_ROLE_STEP) == "verified"
    with console.store.session() as s:
        given = [e for e in journal.entries(s) if e.action == "approval.given"]
    assert [e.actor for e in given] == ["c.martin", "m.durand"]


def test_an_approval_needs_a_second_factor_of_the_last_minutes(console: Console) -> None:
    c = console.login("c.martin")
    token = csrf_of(c.get(INCIDENT).text)
    _age_second_factors(console, 6)
    stale = c.post(APPROVE, data={"csrf": token})
    assert stale.status_code == 403
    assert _message(stale.text).startswith("Approuver exige un code TOTP de moins de 5 minutes")
    wrong = c.post(APPROVE, data={"csrf": token, "code": "000000"})
    assert wrong.status_code == 403 and _message(wrong.text).startswith("Code refusé")
    assert c.post(APPROVE, data={"csrf": token, "code": console.code("c.martin")}).status_code == 303
    with console.store.session() as s:
        refused = [e for e in journal.entries(s) if e.action == "approval.refused"]
    assert len(refused) == 1  # the stale attempt is on the record


def test_an_investigator_reads_their_incident_and_decides_nothing(console: Console) -> None:
    c = console.login("e.expert")
    html = c.get(INCIDENT).text
    assert "LSASS memory dump" in html
    r = c.post(APPROVE, data={"csrf": csrf_of(html)})
    assert r.status_code == 403 and "e.expert" in _message(r.text)
    ack_url = f"{INCIDENT}/plans/{RUN}/etapes/5/acquitter"
    ack = c.post(ack_url, data={"csrf": csrf_of(html), "comment": "fait"})
    assert ack.status_code == 403 and "observe le plan" in _message(ack.text)
    assert c.get("/journal").status_code == 403


def test_an_auditor_sees_everything_and_is_offered_no_decision(console: Console) -> None:
    c = console.login("l.petit")
    html = c.get(INCIDENT).text
    assert "Approuver" not in html
    r = c.post(APPROVE, data={"csrf": csrf_of(html)})
    assert r.status_code == 403 and "lecture seule" in r.text
    assert "Journal intègre" in c.get("/journal").text


def test_the_it_of_another_clinic_neither_sees_nor_acts_on_this_one(console: Console) -> None:
    c = console.login("t.moreau")
    assert c.get(INCIDENT).status_code == 403
    board = c.get("/").text
    assert "Clinique Saint-Cyprien" in board and "Clinique des Capitouls" not in board
    token = csrf_of(board)
    assert c.post(APPROVE, data={"csrf": token}).status_code == 403


def test_a_manual_step_is_acknowledged_with_what_was_done(console: Console) -> None:
    c = console.login("astreinte-dsi")
    html = c.get(INCIDENT).text
    url = f"{INCIDENT}/plans/{RUN}/etapes/5/acquitter"
    empty = c.post(url, data={"csrf": csrf_of(html), "comment": " "})
    assert empty.status_code == 403 and "Dites ce qui a été fait" in _message(empty.text)
    assert c.post(url, data={"csrf": csrf_of(html), "comment": "sauvegardes débranchées"}).status_code == 303
    page = c.get(INCIDENT).text
    assert _step_status(console, page, 5) == "verified" and "sauvegardes débranchées" in page


def test_the_board_shows_the_clinic_confined_and_refreshes_itself(console: Console) -> None:
    c = console.login("c.martin")
    board = c.get("/").text
    row = re.search(r'<tr id="etab-capitouls" data-state="([^"]+)"', board)
    assert row and row.group(1) == "confiné"
    assert re.search(r'<tr id="etab-hers" data-state="normal"', board)
    assert 'hx-get="/fragments/tableau" hx-trigger="every 1s"' in board
    fragment = c.get("/fragments/tableau", headers={"hx-request": "true"}).text
    assert fragment.lstrip().startswith('<section id="tableau"') and "<html" not in fragment


def test_a_rejection_without_a_reason_is_refused_and_the_step_still_waits(console: Console) -> None:
    c = console.login("c.martin")
    html = c.get(INCIDENT).text
    url = f"{INCIDENT}/plans/{RUN}/etapes/{TWO_ROLE_STEP}/refuser"
    r = c.post(url, data={"csrf": csrf_of(html), "reason": " "})
    assert r.status_code == 403 and _message(r.text) == "Un refus doit être motivé."
    assert _step_status(console, c.get(INCIDENT).text, TWO_ROLE_STEP) == "awaiting_approval"
