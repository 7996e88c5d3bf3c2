"""The crisis in a real browser: Debian's Chromium, headless, driven by Playwright, against the console
served over HTTPS on loopback. Screenshots of the main pages go to build/console-screenshots/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from rempart.adapters import registry
from rempart.respond import service as respond
from rempart.respond.plan import load_plan
from rempart.store.models.identities import AccountRow, SessionRow
from tests.console.browser import SCREENSHOTS, chromium_path, served
from tests.console.support import RUN, TWO_ROLE_STEP, Crisis, build_template, forget_replay
from tests.identities.helpers import PASSWORD

pw = pytest.importorskip("playwright.sync_api")

STEP = f"#etape-{RUN}-{TWO_ROLE_STEP}"


@pytest.fixture
def quiet_crisis(tmp_path: Path) -> Crisis:
    """INC-0001 just opened at Capitouls, no plan started yet."""
    return build_template(tmp_path / "store", start_run=False)


@pytest.fixture
def browser() -> Any:
    with pw.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def _context(browser: Any, **kw: Any) -> Any:
    size = {"width": 1280, "height": 900}
    return browser.new_context(ignore_https_errors=True, locale="fr-FR", viewport=size, **kw)


def _code(crisis: Crisis, person: str) -> str:
    import pyotp

    store = crisis.store()
    forget_replay(store, person)
    store.close()
    return pyotp.TOTP(crisis.secrets[person]).now()


def _login(page: Any, base: str, crisis: Crisis, person: str) -> None:
    page.goto(base + "/")
    assert page.url.endswith("/connexion")
    page.get_by_label("Identifiant").fill(person)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_label("Code de l'application d'authentification (TOTP)").fill(_code(crisis, person))
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(base + "/")


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _start_plan(crisis: Crisis) -> None:
    store = crisis.store()
    plan = load_plan(crisis.folder / "plan.yaml", crisis.group)
    respond.respond(store, "INC-0001", plan, crisis.group, registry.build(None), "rempart")
    store.close()


def _age_second_factor(crisis: Crisis, person: str) -> None:
    store = crisis.store()
    with store.session() as s:
        account_id = s.query(AccountRow.id).filter(AccountRow.name == person).scalar()
        s.execute(update(SessionRow).where(SessionRow.account_id == account_id)
                  .values(second_factor_at=datetime.now(UTC) - timedelta(minutes=6)))
    store.close()


def test_a_crisis_from_login_to_a_two_person_approval(
    quiet_crisis: Crisis, browser: Any, tmp_path: Path
) -> None:
    crisis = quiet_crisis
    with served(crisis, tmp_path / "tls") as base:
        rssi = _context(browser).new_page()
        rssi.goto(base + "/")
        _shot(rssi, "01-connexion")
        _login(rssi, base, crisis, "c.martin")
        capitouls = rssi.locator("#etab-capitouls")
        assert capitouls.get_attribute("data-state") == "alerte"
        rssi.evaluate("window.__sameDocument = true")

        _start_plan(crisis)  # the plan runs; the board must show it by itself, without a reload
        rssi.wait_for_selector('#etab-capitouls[data-state="confiné"]', timeout=15_000)
        assert rssi.evaluate("window.__sameDocument === true")
        assert rssi.locator("#etab-hers").get_attribute("data-state") == "normal"
        _shot(rssi, "02-tableau-confine")

        rssi.get_by_role("link", name="INC-0001").first.click()
        rssi.wait_for_url(base + "/incidents/INC-0001")
        step = rssi.locator(STEP)
        assert step.get_attribute("data-status") == "awaiting_approval"
        step.get_by_role("button", name="Approuver").click()
        assert "Étape 6 approuvée." in rssi.locator(".message").inner_text()
        assert rssi.locator(STEP).get_attribute("data-status") == "awaiting_approval"  # one of two
        rssi.locator(STEP).get_by_role("button", name="Approuver").click()  # the same person again
        assert "a déjà approuvé" in rssi.locator(".message").inner_text()
        _shot(rssi, "03-incident-une-approbation")

        director = _context(browser).new_page()
        _login(director, base, crisis, "m.durand")
        _age_second_factor(crisis, "m.durand")  # she logged in 6 minutes ago
        director.goto(base + "/incidents/INC-0001")
        director.locator(STEP).get_by_role("button", name="Approuver").click()
        assert "exige un code TOTP" in director.locator(".message").inner_text()
        assert director.locator(STEP).get_attribute("data-status") == "awaiting_approval"
        director.locator(STEP).get_by_label("Code TOTP").fill(_code(crisis, "m.durand"))
        director.locator(STEP).get_by_role("button", name="Approuver").click()
        assert "Étape 6 approuvée." in director.locator(".message").inner_text()
        assert director.locator(STEP).get_attribute("data-status") == "verified"
        _shot(director, "04-incident-deux-approbations")

        expert = _context(browser).new_page()
        _login(expert, base, crisis, "e.expert")
        expert.goto(base + "/incidents/INC-0001")
        assert expert.get_by_role("heading", name="Main courante").is_visible()
        assert expert.get_by_role("button", name="Approuver").count() == 0
        expert.goto(base + "/journal")
        assert "cette vue couvre tout le groupe" in expert.locator(".message").inner_text()

        rssi.goto(base + "/journal")
        assert "Journal intègre" in rssi.locator(".message").inner_text()
        _shot(rssi, "05-journal")
        rssi.get_by_role("button", name="Se déconnecter").click()
        rssi.wait_for_url(base + "/connexion")
        rssi.goto(base + "/incidents/INC-0001")
        assert rssi.url.endswith("/connexion")


def _serious_violations(page: Any) -> list[str]:
    import axe_playwright_python

    page.add_script_tag(path=str(Path(axe_playwright_python.__file__).parent / "axe.min.js"))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"] if v["impact"] in ("serious", "critical")
    ]


def test_the_main_pages_have_no_serious_accessibility_violation(
    crisis: Crisis, browser: Any, tmp_path: Path
) -> None:
    with served(crisis, tmp_path / "tls") as base:
        # axe is injected as a script: this context only lifts the page's CSP, which forbids foreign scripts
        page = _context(browser, bypass_csp=True).new_page()
        page.goto(base + "/connexion")
        found = {"connexion": _serious_violations(page)}
        _login(page, base, crisis, "c.martin")
        for name, path in (("tableau", "/"), ("incident", "/incidents/INC-0001"), ("journal", "/journal")):
            page.goto(base + path)
            found[name] = _serious_violations(page)
        assert found == {name: [] for name in found}
