"""The hunt service: a second hunt into the same event store evaluates only its own events."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from rempart.detect.hunt import HuntResult, hunt
from rempart.errors import InputError
from rempart.events import EventStore
from tests.detect.helpers import rule, write_rules

RULES = Path(__file__).resolve().parents[2] / "rules"
SAMPLES = RULES / "samples"
FIXTURES = Path(__file__).resolve().parents[1] / "ingest" / "fixtures"


def test_second_hunt_into_the_same_store_alerts_only_on_its_own_events(tmp_path: Path) -> None:
    first = SAMPLES / "win_shadow_copy_deletion" / "positive.ndjson"
    second = SAMPLES / "win_lsass_dump_tools" / "positive.ndjson"
    assert first.exists() and second.exists()
    store = EventStore(tmp_path / "events.duckdb")
    try:
        a = hunt([first], [RULES], store=store, cache_dir=tmp_path / "cache")
        b = hunt([second], [RULES], store=store, cache_dir=tmp_path / "cache")
        assert store.count() == a.events + b.events
    finally:
        store.close()
    assert a.alerts and b.alerts
    assert {e.source for al in a.alerts for e in al.events} == {str(first)}
    assert {e.source for al in b.alerts for e in al.events} == {str(second)}
    assert b.timings.rules < 5 and b.plan.rules  # second compile comes from the cache


def test_scopes_evaluated_side_by_side_give_the_alerts_of_one_at_a_time(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import rempart.detect.plan as plan_mod

    def alerts(threads: int) -> list[tuple[str, str, int]]:
        monkeypatch.setattr(plan_mod, "DETECT_THREADS", threads)
        with EventStore() as store:
            found = hunt([SAMPLES], [RULES], store=store, cache_dir=tmp_path / "cache")
        assert found.plan.groups_evaluated > 2  # several scopes, so several threads have work
        return sorted((a.rule_id, e.source, e.record) for a in found.alerts for e in a.events)

    one = alerts(1)
    assert len({rule for rule, _, _ in one}) >= 5
    assert alerts(3) == one


def test_a_field_is_stored_only_on_the_services_whose_rules_read_it_and_stays_in_raw(tmp_path: Path) -> None:
    import json

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "app.yml").write_text(
        "title: app\nid: 30000000-0000-4000-8000-000000000001\nstatus: test\nlevel: high\n"
        "logsource:\n  product: windows\n  service: application\n"
        "detection:\n  sel:\n    Message|contains: 'atera'\n  condition: sel\n")
    (rules / "sec.yml").write_text(
        "title: sec\nid: 30000000-0000-4000-8000-000000000002\nstatus: test\nlevel: high\n"
        "logsource:\n  product: windows\n  service: security\n"
        "detection:\n  sel:\n    TargetUserName: admin\n  condition: sel\n")
    base = {"@timestamp": "2026-11-20T09:00:00Z", "Hostname": "srv1"}
    events = [
        {**base, "Channel": "Application", "EventID": 11707, "Message": "Product: AteraAgent installed"},
        {**base, "Channel": "Security", "EventID": 4624, "TargetUserName": "admin",
         "Message": "An account was successfully logged on. atera"},
    ]
    log = tmp_path / "events.ndjson"
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    with EventStore() as store:
        found = hunt([log], [rules], store=store, cache_dir=tmp_path / "cache")
        message = store.field_sql("Message")
        stored = store.query(f'SELECT "Channel", "Message", {message} FROM events ORDER BY 1')
    assert sorted(a.rule_id[-1] for a in found.alerts) == ["1", "2"]  # the Security message does not fire
    assert stored == [
        ("Application", "Product: AteraAgent installed", "Product: AteraAgent installed"),
        ("Security", None, "An account was successfully logged on. atera"),  # not stored, still in _raw
    ]


def test_a_hunt_that_cannot_write_its_events_says_where_and_stores_none_of_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rempart.events.store as store_mod

    def full_disk(table: object, path: Path | str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(store_mod, "FLUSH_ROWS", 1)  # every batch staged on disk
    monkeypatch.setattr(store_mod, "write_staged", full_disk)
    path = tmp_path / "events.duckdb"
    with EventStore(path) as store:
        with pytest.raises(InputError) as caught:
            hunt([SAMPLES], [RULES], store=store, cache_dir=tmp_path / "cache", workers=1)
        assert "No space left on device" in str(caught.value)
        assert "events.duckdb.staging" in str(caught.value)
        assert store.count() == 0


def test_a_service_install_shipped_by_nxlog_fires_a_provider_name_rule(tmp_path: Path) -> None:
    # NXLog names the provider 'SourceName'; 106 SigmaHQ rules test 'Provider_Name'
    psexec = rule("40000000-0000-4000-8000-000000000042",
                  "  sel:\n    Provider_Name: 'Service Control Manager'\n    EventID: 7045\n"
                  "    ImagePath|contains: 'PSEXESVC'\n  condition: sel\n",
                  logsource="product: windows\n  service: system")
    result = _hunt_fixture("nxlog_system.json", write_rules(tmp_path / "rules", {"p.yml": psexec}), tmp_path)
    assert [a.rule_id for a in result.alerts] == ["40000000-0000-4000-8000-000000000042"]


def _hunt_fixture(fixture: str, rules: Path, tmp_path: Path) -> HuntResult:
    """Hunt one of the ingest tests' sample files with the rules of `rules`."""
    store = EventStore(":memory:")
    try:
        return hunt([FIXTURES / fixture], [rules], store=store, cache_dir=tmp_path / "cache")
    finally:
        store.close()


def _sigmahq_rules(shared_data: Path, tmp_path: Path, *names: str) -> Path:
    """A folder holding the SigmaHQ rules `names` (paths under rules/linux) and no other."""
    folder = tmp_path / "rules"
    folder.mkdir()
    for name in names:
        (folder / Path(name).name).write_bytes((shared_data / "sigma/rules/linux" / name).read_bytes())
    return folder


@pytest.mark.shared
def test_sigmahq_linux_process_rules_fire_on_sysmon_for_linux(shared_data: Path, tmp_path: Path) -> None:
    # Image|endswith '/base64', CommandLine|contains '-d'
    rules = _sigmahq_rules(shared_data, tmp_path, "process_creation/proc_creation_lnx_base64_decode.yml")
    result = _hunt_fixture("sysmon_linux.log", rules, tmp_path)
    assert [a.title for a in result.alerts] == ["Decode Base64 Encoded Text"]


@pytest.mark.shared
def test_sigmahq_auditd_rules_fire_on_audit_records(shared_data: Path, tmp_path: Path) -> None:
    rules = _sigmahq_rules(
        shared_data, tmp_path,
        "auditd/execve/lnx_auditd_data_exfil_wget.yml",  # a1|startswith '--post-file=': written in hex
        "auditd/execve/lnx_auditd_user_discovery.yml",  # a0 whoami, on the record forwarded by node
        "auditd/lnx_auditd_susp_c2_commands.yml",  # key 'susp_activity', on the SYSCALL record
    )
    result = _hunt_fixture("audit.log", rules, tmp_path)
    assert sorted((a.title, a.events[0].record) for a in result.alerts) == [
        ("Data Exfiltration with Wget", 2), ("Suspicious C2 Activities", 1),
        ("System Owner or User Discovery - Linux", 7)]
