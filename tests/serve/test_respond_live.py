"""Live response on a real case store: incidents from alert bursts, one plan run, approvers told once.

Plan steps run on the dummy adapter (nftables is tested elsewhere); the notices to approvers go to a real
SMTP server (aiosmtpd) and a real HTTP server on loopback, through the real relay and webhook adapters.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import func, select

from rempart.adapters import registry
from rempart.adapters.dummy import DummyAdapter
from rempart.adapters.smtp import RelaySettings, SMTPRelay
from rempart.adapters.smtp_sink import LocalSMTPServer
from rempart.adapters.webhook import WebhookAdapter
from rempart.detect.incidents import open_incidents
from rempart.domain.alerts import Alert, EventRef, Level
from rempart.domain.inventory import Group
from rempart.inventory import load_group
from rempart.respond import service
from rempart.respond.plan import LoadedPlan, load_plan
from rempart.serve.respond_live import ApproverChannels, LiveResponder
from rempart.store.db import Store
from rempart.store.models.core import IncidentRow, JournalRow
from rempart.store.models.respond import PlanRunRow
from tests.conftest import EXAMPLES

T0 = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
MAIL = {"c.martin": "claire.martin@secours.example", "p.nguyen": "paul.nguyen@secours.example",
        "m.durand": "marie.durand@secours.example", "a.benali": "amina.benali@secours.example",
        "j.roux": "jean.roux@secours.example", "direction-garde": "garde@secours.example"}


@pytest.fixture(scope="module")
def group() -> Group:
    return load_group(EXAMPLES / "group.yaml")


@pytest.fixture(scope="module")
def plan(group: Group) -> LoadedPlan:
    return load_plan(EXAMPLES / "plan.yaml", group)


class _Hook(BaseHTTPRequestHandler):
    posts: list[dict[str, Any]]

    def do_POST(self) -> None:
        size = int(self.headers.get("Content-Length", "0"))
        self.server.posts.append(json.loads(self.rfile.read(size)))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.posts = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def smtp() -> Iterator[LocalSMTPServer]:
    with LocalSMTPServer() as server:
        yield server


@pytest.fixture
def cases(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.close()


def responder(cases: Store, plan: LoadedPlan, group: Group, smtp: LocalSMTPServer,
              hook: ThreadingHTTPServer) -> tuple[LiveResponder, dict[str, Any]]:
    adapters = registry.build(None)
    relay = SMTPRelay(RelaySettings(host=smtp.host, port=smtp.port, security="none",
                                    sender="crise@secours.example", timeout=5))
    url = f"http://127.0.0.1:{hook.server_address[1]}/rempart"
    channels = ApproverChannels(mail=MAIL, transport=relay, webhook=WebhookAdapter(retries=0),
                                webhook_url=url)
    return LiveResponder(cases, plan, group, adapters, channels), adapters


def burst(n: int, start: datetime = T0, host: str = "tls-cap-ws002") -> list[Alert]:
    return [
        Alert("rempart-lsass-dump", "LSASS memory dump", Level.HIGH, start + timedelta(seconds=i), host,
              "capitouls", tactics=["credential-access"], techniques=["T1003.001"],
              events=[EventRef("live:syslog-tcp", i)])
        for i in range(n)
    ]


def applies(adapters: dict[str, Any]) -> Counter[tuple[str, str]]:
    return Counter((name, key) for name, a in adapters.items() if isinstance(a, DummyAdapter)
                   for verb, key in a.calls if verb == "apply")


def journal_count(cases: Store, action: str | None = None) -> int:
    with cases.session() as s:
        query = select(func.count(JournalRow.seq))
        if action:
            query = query.where(JournalRow.action == action)
        return int(s.execute(query).scalar_one())


def test_a_burst_runs_the_plan_once_and_tells_the_approvers_once(
    cases: Store, plan: LoadedPlan, group: Group, smtp: LocalSMTPServer, hook: ThreadingHTTPServer
) -> None:
    live, adapters = responder(cases, plan, group, smtp, hook)
    try:
        out = asyncio.run(live.on_alerts(burst(500)))
    finally:
        live.close()
    assert out.opened == ["INC-0001"] and out.grown == [] and out.errors == []
    assert len(out.runs) == 1
    report = out.runs[0]
    assert report.playbook == "intrusion-confirmee"
    assert report.step("arreter-dpi-fichiers").status == "awaiting_approval"
    with cases.session() as s:
        assert s.execute(select(func.count(PlanRunRow.id))).scalar_one() == 1
        assert len(s.execute(select(IncidentRow)).scalar_one().alerts) == 500
    assert journal_count(cases, "run.planned") == 1 and journal_count(cases, "run.resumed") == 0
    done = applies(adapters)
    assert done and set(done.values()) == {1}  # every automatic action applied, each once
    automatic = {s.step_id for s in report.steps if s.status in ("applied", "verified")}
    assert {"fermer-acces-externes", "isoler-postes-compromis"} <= automatic
    assert {lat.step_id for lat in out.latencies} == automatic
    assert all(0 <= lat.seconds < 30 for lat in out.latencies)

    assert len(smtp.received) == 1  # one mail for the one step waiting for approval
    mail = smtp.received[0]
    # capitouls' RSSIs and directors; not the director of another clinic
    capitouls = ("c.martin", "p.nguyen", "m.durand", "a.benali")
    assert sorted(mail.recipients) == sorted(MAIL[p] for p in capitouls)
    body = mail.message.get_content()
    assert "INC-0001" in body and "Arrêter les services du DPI" in body
    dry = next(d for d in service.dry_run(cases, "INC-0001", plan, group, adapters).steps
               if d.step_id == "arreter-dpi-fichiers")
    assert dry.operations and all(op.render() in body for op in dry.operations)
    assert len(hook.posts) == 1  # type: ignore[attr-defined]
    post = hook.posts[0]  # type: ignore[attr-defined]
    assert post["incident"] == "INC-0001" and post["step"] == "arreter-dpi-fichiers"
    assert journal_count(cases, "approval.notified") == 1


def test_replaying_the_same_alerts_changes_nothing(
    cases: Store, plan: LoadedPlan, group: Group, smtp: LocalSMTPServer, hook: ThreadingHTTPServer
) -> None:
    alerts = burst(50)
    live, _ = responder(cases, plan, group, smtp, hook)
    live.handle(alerts)
    entries = journal_count(cases)
    live.close()
    # a restart: a new responder, new adapters, the same case store; the loop replays the batch
    again, adapters2 = responder(cases, plan, group, smtp, hook)
    try:
        out = again.handle(alerts)
    finally:
        again.close()
    assert out.opened == [] and out.grown == [] and out.runs == [] and out.notices == []
    assert journal_count(cases) == entries
    assert applies(adapters2) == Counter()
    assert len(smtp.received) == 1 and len(hook.posts) == 1  # type: ignore[attr-defined]


def test_a_crash_after_the_alerts_were_stored_runs_the_plan_on_replay(
    cases: Store, plan: LoadedPlan, group: Group, smtp: LocalSMTPServer, hook: ThreadingHTTPServer
) -> None:
    alerts = burst(20)
    open_incidents(cases, alerts)  # the process died here, before the plan ran
    live, _ = responder(cases, plan, group, smtp, hook)
    try:
        out = live.handle(alerts)
        assert out.opened == out.grown == []
        assert [r.incident_ref for r in out.runs] == ["INC-0001"]
        assert len(smtp.received) == 1
        assert live.handle(alerts).runs == []
    finally:
        live.close()


def test_an_incident_that_grows_resumes_its_run(
    cases: Store, plan: LoadedPlan, group: Group, smtp: LocalSMTPServer, hook: ThreadingHTTPServer
) -> None:
    live, adapters = responder(cases, plan, group, smtp, hook)
    try:
        first = live.handle(burst(10))
        later = live.handle(burst(10, T0 + timedelta(minutes=5), host="tls-cap-ws001"))
    finally:
        live.close()
    assert first.opened == ["INC-0001"]
    assert later.opened == [] and later.grown == ["INC-0001"]
    assert [r.run_id for r in later.runs] == [first.runs[0].run_id]
    with cases.session() as s:
        assert s.execute(select(func.count(PlanRunRow.id))).scalar_one() == 1
    assert journal_count(cases, "run.planned") == 1 and journal_count(cases, "run.resumed") == 1
    assert set(applies(adapters).values()) == {1}
    assert len(smtp.received) == 1 and later.notices == []  # the same step still waits: no second mail


def test_a_notice_the_relay_refused_is_sent_at_the_next_batch(
    cases: Store, plan: LoadedPlan, group: Group, smtp: LocalSMTPServer, hook: ThreadingHTTPServer
) -> None:
    live, _ = responder(cases, plan, group, smtp, hook)
    smtp.handler.refuse = "rcpt"
    try:
        first = live.handle(burst(5))
        assert [n.error is not None for n in first.notices] == [True]
        assert "refused the recipient" in (first.notices[0].error or "")
        smtp.handler.refuse = None
        second = live.handle([])  # a batch without alerts
        third = live.handle([])
    finally:
        live.close()
    assert [(n.step_id, n.error) for n in second.notices] == [("arreter-dpi-fichiers", None)]
    assert third.notices == [] and len(smtp.received) == 1
    assert len(hook.posts) == 1  # type: ignore[attr-defined]  # the webhook had it the first time
    assert journal_count(cases, "approval.notice_failed") == 1
    assert journal_count(cases, "approval.notified") == 1


class DiesWhileMailing:
    sender = "crise@secours.example"

    def send(self, message: object) -> None:
        raise RuntimeError("the process is killed while the relay talks")


def test_a_crash_before_the_approvers_were_told_tells_them_on_replay(
    cases: Store, plan: LoadedPlan, group: Group, smtp: LocalSMTPServer, hook: ThreadingHTTPServer
) -> None:
    alerts = burst(5)
    dying = LiveResponder(cases, plan, group, registry.build(None),
                          ApproverChannels(mail=MAIL, transport=DiesWhileMailing()))
    with pytest.raises(RuntimeError):
        dying.handle(alerts)
    dying.close()
    live, adapters = responder(cases, plan, group, smtp, hook)
    try:
        out = live.handle(alerts)
    finally:
        live.close()
    assert [n.step_id for n in out.notices] == ["arreter-dpi-fichiers"] and len(smtp.received) == 1
    assert applies(adapters) == Counter()  # the automatic steps were applied before the crash, not again


def test_after_escalate_after_the_stand_ins_are_told_once(
    cases: Store, plan: LoadedPlan, group: Group, smtp: LocalSMTPServer, hook: ThreadingHTTPServer
) -> None:
    live, _ = responder(cases, plan, group, smtp, hook)
    try:
        live.handle(burst(5))
        soon = asyncio.run(live.on_tick(datetime.now(UTC) + timedelta(minutes=10)))
        late = asyncio.run(live.on_tick(datetime.now(UTC) + timedelta(minutes=31)))
        again = live.escalations(datetime.now(UTC) + timedelta(minutes=40))
    finally:
        live.close()
    assert soon.notices == [] and again.notices == []
    assert [(n.step_id, n.mailed, n.error) for n in late.notices] == [
        ("arreter-dpi-fichiers", ("garde@secours.example",), None)]
    assert len(smtp.received) == 2
    mail = smtp.received[1].message
    assert "suppléance" in str(mail["Subject"]) and "director_on_duty" in mail.get_content()
    assert [p["escalation"] for p in hook.posts] == [False, True]  # type: ignore[attr-defined]
    assert journal_count(cases, "approval.escalation_notified") == 1
