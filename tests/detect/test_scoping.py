"""A rule sees only events of its logsource; a field missing from the logs reads as NULL."""

from __future__ import annotations

from pathlib import Path

from rempart.detect.backend import columns_used
from rempart.events import EventStore
from tests.detect.helpers import detect, fired, plan_for, rule
from tests.events.helpers import events_table

SYSMON = {"_product": "windows", "_service": "microsoft-windows-sysmon/operational",
          "Channel": "Microsoft-Windows-Sysmon/Operational"}
SECURITY = {"_product": "windows", "_service": "security", "Channel": "Security"}
SSHD = {"_product": "linux", "_service": "sshd"}

PROC_ID, SYSMON_ID, AUTH_ID = (f"40000000-0000-4000-8000-00000000000{n}" for n in (2, 5, 4))
KEYWORD = "  keywords:\n    - 'whoami'\n  condition: keywords\n"
LINUX_KW = rule("40000000-0000-4000-8000-000000000001", KEYWORD, logsource="product: linux")
PROC = rule("40000000-0000-4000-8000-000000000002",
            "  sel:\n    Image|endswith: '\\whoami.exe'\n  condition: sel\n",
            logsource="product: windows\n  category: process_creation")
MACOS = rule("40000000-0000-4000-8000-000000000003", KEYWORD,
             logsource="product: macos\n  category: process_creation")
AUTH = rule("40000000-0000-4000-8000-000000000004", "  sel:\n    message|contains: 'Failed password'\n"
            "  condition: sel\n", logsource="product: linux\n  service: auth")
SYSMON_ONLY = rule("40000000-0000-4000-8000-000000000005",
                   "  sel:\n    EventID: 1\n  condition: sel\n",
                   logsource="product: windows\n  service: sysmon")


def test_linux_rule_never_fires_on_windows_events(tmp_path: Path) -> None:
    rows = [{**SYSMON, "EventID": "1", "Image": "C:\\whoami.exe", "_raw": "whoami"},
            {**SECURITY, "EventID": "4688", "_raw": "whoami /all"},
            {**SSHD, "message": "session: whoami", "_raw": "sshd: whoami"}]
    alerts = detect(tmp_path, {"l.yml": LINUX_KW}, rows)
    assert [(a.rule_id, a.events[0].record) for a in alerts] == [("40000000-0000-4000-8000-000000000001", 3)]


def test_compiled_predicates_leave_the_logsource_to_the_scope(tmp_path: Path) -> None:
    # the scope table holds only the logsource's events: its conditions are not tested again per rule
    plan = plan_for(tmp_path, {"p.yml": PROC, "s.yml": SYSMON_ONLY, "a.yml": AUTH})
    read = {r.id: {f for _, f in columns_used(r.predicate or "")} for r in plan.base_rules}
    assert read == {PROC_ID: {"image"}, SYSMON_ID: {"eventid"}, AUTH_ID: {"message"}}
    scopes = {r.id: r.scope for r in plan.base_rules}
    assert scopes[PROC_ID] is not None and scopes[PROC_ID].event_ids == (1, 4688)
    assert scopes[AUTH_ID] is not None and scopes[AUTH_ID].services == ("auth", "sshd", "sudo")


def test_sysmon_rule_does_not_fire_on_security_events(tmp_path: Path) -> None:
    rows = [{**SECURITY, "EventID": "1", "Image": "C:\\Windows\\whoami.exe"},   # same fields, other channel
            {**SECURITY, "EventID": "4688", "Image": "C:\\Windows\\whoami.exe"},
            {**SYSMON, "EventID": "3", "Image": "C:\\Windows\\whoami.exe"},     # Sysmon, not process creation
            {**SYSMON, "EventID": "1", "Image": "C:\\Windows\\whoami.exe"}]
    alerts = detect(tmp_path, {"p.yml": PROC, "s.yml": SYSMON_ONLY}, rows)
    assert sorted((a.rule_id[-1], a.events[0].record) for a in alerts) == [("2", 4), ("5", 4)]


def test_rule_of_a_logsource_we_do_not_ingest_matches_nothing(tmp_path: Path) -> None:
    rows = [{**SYSMON, "EventID": "1", "_raw": "whoami"}, {**SSHD, "_raw": "whoami"}]
    assert detect(tmp_path, {"m.yml": MACOS}, rows) == []


def test_linux_auth_service_covers_sshd_lines_only_on_linux(tmp_path: Path) -> None:
    rows = [{**SSHD, "message": "Failed password for root"},
            {"_product": "linux", "_service": "syslog", "message": "Failed password for root"},
            {**SECURITY, "message": "Failed password for root"}]
    alerts = detect(tmp_path, {"a.yml": AUTH}, rows)
    assert [a.events[0].record for a in alerts] == [1]


def test_a_field_the_logs_lack_reads_as_null_and_the_rule_still_runs(tmp_path: Path) -> None:
    # no event has OriginalFileName: the selection on it is false, its negation true, nothing errors
    text = rule("40000000-0000-4000-8000-000000000006",
                "  sel:\n    Image|endswith: '\\rundll32.exe'\n  named:\n    OriginalFileName: RUNDLL32.EXE\n"
                "  condition: sel and not named\n",
                logsource="product: windows\n  category: process_creation")
    alone = rule("40000000-0000-4000-8000-000000000007",
                 "  sel:\n    OriginalFileName: RUNDLL32.EXE\n  condition: sel\n",
                 logsource="product: windows\n  category: process_creation")
    rows = [{**SYSMON, "EventID": "1", "Image": "C:\\x\\rundll32.exe"}]
    assert fired(detect(tmp_path, {"r.yml": text, "s.yml": alone}, rows)) == {
        "40000000-0000-4000-8000-000000000006": 1}


def test_channel_case_and_multi_channel_services(tmp_path: Path) -> None:
    sec = rule("40000000-0000-4000-8000-000000000008", "  sel:\n    EventID: 4625\n  condition: sel\n")
    ps = rule("40000000-0000-4000-8000-000000000009", "  sel:\n    EventID: 4104\n  condition: sel\n",
              logsource="product: windows\n  service: powershell")
    rows = [{**SECURITY, "Channel": "security", "EventID": "4625"},  # lower-case Channel, as in some JSON
            {"_product": "windows", "_service": "powershellcore/operational",
             "Channel": "PowerShellCore/Operational", "EventID": "4104"},
            {"_product": "windows", "_service": "windows powershell", "Channel": "Windows PowerShell",
             "EventID": "4104"}]
    alerts = detect(tmp_path, {"s.yml": sec, "p.yml": ps}, rows)
    assert sorted((a.rule_id[-1], a.events[0].record) for a in alerts) == [("8", 1), ("9", 2)]


def test_process_creation_rules_also_read_security_4688_with_its_own_field_names(tmp_path: Path) -> None:
    proc = rule("40000000-0000-4000-8000-000000000010",
                "  sel:\n    Image|endswith: '\\vssadmin.exe'\n    ParentImage|endswith: '\\cmd.exe'\n"
                "    CommandLine|contains: 'delete shadows'\n  filter:\n    User|contains: 'AUTHORI'\n"
                "  condition: sel and not filter\n",
                logsource="product: windows\n  category: process_creation")
    native = rule("40000000-0000-4000-8000-000000000011",
                  "  sel:\n    EventID: 4688\n    NewProcessName|endswith: '\\vssadmin.exe'\n"
                  "  condition: sel\n")
    shadow = {"NewProcessName": "C:\\Windows\\System32\\vssadmin.exe", "ParentProcessName": "C:\\x\\cmd.exe",
              "CommandLine": "vssadmin delete shadows /all /quiet"}
    rows = [
        {**SECURITY, "EventID": "4688", **shadow, "SubjectDomainName": "CLINIQUE", "SubjectUserName": "adm"},
        {**SECURITY, "EventID": "4688", **shadow,  # the same run by SYSTEM: the rule's filter applies
         "SubjectDomainName": "NT AUTHORITY", "SubjectUserName": "SYSTEM"},
        {**SECURITY, "EventID": "4689", **shadow},  # process exit: not a process creation
        {**SYSMON, "EventID": "1", "Image": "C:\\Windows\\System32\\vssadmin.exe",  # Sysmon keeps its names
         "ParentImage": "C:\\x\\cmd.exe", "CommandLine": "vssadmin delete shadows", "User": "CLINIQUE\\adm",
         "NewProcessName": "C:\\other.exe"},
    ]
    alerts = detect(tmp_path, {"p.yml": proc, "n.yml": native}, rows)
    assert sorted((a.rule_id[-2:], a.events[0].record) for a in alerts) == [
        ("10", 1), ("10", 4), ("11", 1), ("11", 2)]


def test_a_rule_runs_only_where_one_of_its_event_ids_is(tmp_path: Path) -> None:
    logons = rule("40000000-0000-4000-8000-000000000012",
                  "  sel:\n    EventID: [4624, 4625]\n    LogonType: 3\n  other:\n    EventID: 4688\n"
                  "  filter:\n    EventID: 1\n  condition: (sel or other) and not filter\n")
    anything = rule("40000000-0000-4000-8000-000000000013",
                    "  sel:\n    LogonType: 3\n  filter:\n    EventID: 4624\n"
                    "  condition: sel and not filter\n")
    plan = plan_for(tmp_path / "rules", {"l.yml": logons, "a.yml": anything})
    ids = {r.id: r.event_ids for r in plan.base_rules}
    assert ids == {"40000000-0000-4000-8000-000000000012": ("4624", "4625", "4688"),
                   "40000000-0000-4000-8000-000000000013": None}
    # the rule still fires where its event ids are, among others
    rows = [{**SECURITY, "EventID": "4625", "LogonType": "3"},
            {**SECURITY, "EventID": "4634", "LogonType": "3"}]
    assert fired(detect(tmp_path / "a", {"l.yml": logons}, rows)) == {
        "40000000-0000-4000-8000-000000000012": 1}
    # and where none is, the scope is not even evaluated
    store = EventStore()
    store.append(events_table([{**SECURITY, "EventID": "4634", "LogonType": "3"}]))
    only_logons = plan_for(tmp_path / "b", {"l.yml": logons})
    assert only_logons.evaluate(store) == [] and only_logons.groups_evaluated == 0
    assert [a.rule_id for a in plan.evaluate(store)] == ["40000000-0000-4000-8000-000000000013"]
    store.close()


def test_linux_process_creation_rules_read_sysmon_for_linux(tmp_path: Path) -> None:
    base64 = rule("40000000-0000-4000-8000-000000000012",
                  "  sel:\n    Image|endswith: '/base64'\n    CommandLine|contains: '-d'\n  condition: sel\n",
                  logsource="product: linux\n  category: process_creation")
    linux_sysmon = {"_product": "linux", "_service": "sysmon", "Channel": "Linux-Sysmon/Operational",
                    "Image": "/usr/bin/base64", "CommandLine": "base64 -d x"}
    rows = [{**linux_sysmon, "EventID": "1"},
            {**linux_sysmon, "EventID": "3"},  # a network connection of the same process
            {**SYSMON, "EventID": "1", "Image": "/usr/bin/base64", "CommandLine": "base64 -d x"},  # Windows
            {**SSHD, "Image": "/usr/bin/base64", "CommandLine": "base64 -d x"}]
    assert [a.events[0].record for a in detect(tmp_path, {"b.yml": base64}, rows)] == [1]
