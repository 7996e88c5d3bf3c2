"""Faults: a failing or hanging adapter is retried with backoff, then the step fails and the run stops
at a safe point, saying what is applied and what is not."""

from __future__ import annotations

from pathlib import Path

from rempart.adapters.dummy import DummyAdapter
from rempart.adapters.manual import ManualAdapter
from rempart.domain.inventory import Group
from rempart.respond import service
from rempart.respond.interface import Adapter
from rempart.respond.plan import LoadedPlan, load_plan
from rempart.store import journal
from rempart.store.db import Store


def adapters(**over: Adapter) -> dict[str, Adapter]:
    out: dict[str, Adapter] = {n: DummyAdapter(n) for n in ("nftables", "ssh", "postfix", "webhook", "dummy")}
    out["manual"] = ManualAdapter()
    out.update(over)
    return out


def test_failing_adapter_is_retried_with_backoff_then_run_stops(
    cases: Store, plan: LoadedPlan, group: Group
) -> None:
    sleeps: list[float] = []
    postfix = DummyAdapter("postfix", always_fail=True)
    ads = adapters(postfix=postfix)
    report = service.respond(cases, "INC-0001", plan, group, ads, "test", sleep=sleeps.append)
    assert report.status == "failed"
    step = report.step("retenir-file-postfix")
    assert step.status == "failed" and "attempt 3: injected failure" in (step.error or "")
    assert sleeps == [0.5, 1.0]  # backoff 0.5 s doubled, between the three attempts
    assert [s.step_id for s in report.applied] == [
        "fermer-acces-externes",
        "suspendre-flux-messagerie",
        "retenir-file-postfix",
    ]
    # the safe point: nothing after the failed step was touched
    assert {s.status for s in report.not_applied} == {"planned"}
    nft = ads["nftables"]
    assert isinstance(nft, DummyAdapter) and not any("isoler" in k for _, k in nft.calls)
    with cases.session() as s:
        actions = [e.action for e in journal.entries(s, f"run/{report.run_id}/step/3")]
    assert actions.count("apply.attempt_failed") == 3 and actions[-1] == "apply.failed"


def test_transient_failure_succeeds_on_retry(cases: Store, plan: LoadedPlan, group: Group) -> None:
    sleeps: list[float] = []
    ads = adapters(postfix=DummyAdapter("postfix", fail_first=2))
    report = service.respond(cases, "INC-0001", plan, group, ads, "test", sleep=sleeps.append)
    assert report.step("retenir-file-postfix").status == "verified"
    assert sleeps[:2] == [0.5, 1.0]


def test_hanging_adapter_times_out(cases: Store, group: Group, tmp_path: Path) -> None:
    text = """
version: 1
playbooks:
- id: court
  title: court
  trigger: {min_level: high}
  steps:
  - id: fermer-vpn
    title: Fermer le VPN
    action: close_access
    targets: {access_kinds: [vpn]}
    timeout: 0.2
    retry: {attempts: 2, backoff: 0.1}
  - id: fermer-rdp
    title: Fermer la passerelle RDP
    action: close_access
    targets: {access_kinds: [rdp_gateway]}
"""
    (tmp_path / "p.yaml").write_text(text)
    loaded = load_plan(tmp_path / "p.yaml", group)
    sleeps: list[float] = []
    report = service.respond(
        cases,
        "INC-0001",
        loaded,
        group,
        adapters(nftables=DummyAdapter("nftables", delay=2)),
        "test",
        sleep=sleeps.append,
    )
    assert report.status == "failed"
    assert "timed out after 0.2 s" in (report.step("fermer-vpn").error or "")
    assert sleeps == [0.1]
    assert report.step("fermer-rdp").status == "planned"


def test_failed_run_resumes_at_the_failed_step(cases: Store, plan: LoadedPlan, group: Group) -> None:
    ads = adapters(postfix=DummyAdapter("postfix", always_fail=True))
    first = service.respond(cases, "INC-0001", plan, group, ads, "test", sleep=lambda _: None)
    assert first.status == "failed"
    fixed = adapters(postfix=DummyAdapter("postfix"))
    fixed["nftables"] = ads["nftables"]
    again = service.respond(cases, "INC-0001", plan, group, fixed, "test", sleep=lambda _: None)
    assert again.run_id == first.run_id
    assert again.step("retenir-file-postfix").status == "verified"
    assert again.status == "awaiting_approval"
    nft = ads["nftables"]
    assert isinstance(nft, DummyAdapter)
    assert len([1 for verb, _ in nft.calls if verb == "apply"]) == 7  # 5 accesses + mail + 1 host, once each
