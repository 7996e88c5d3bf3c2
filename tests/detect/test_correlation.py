"""Sigma correlation rules on sliding windows: inside and outside the window, group-by, generate."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.detect.helpers import detect, fired, plan_for
from tests.events.helpers import T0

FAIL = """title: VPN login failure
id: 10000000-0000-4000-8000-000000000001
name: vpn_fail
status: test
level: low
logsource:
  product: fortigate
  service: vpn
detection:
  sel:
    action: ssl-login-fail
  condition: sel
"""
OK = FAIL.replace("VPN login failure", "VPN login success").replace("0001\n", "0002\n").replace(
    "vpn_fail", "vpn_ok").replace("ssl-login-fail", "tunnel-up")


def corr(kind: str, extra: str, rules: str = "  - vpn_fail", generate: str = "") -> str:
    return f"""title: correlation {kind}
id: 20000000-0000-4000-8000-000000000001
status: test
level: high
correlation:
  type: {kind}
{generate}
  rules:
{rules}
{extra}"""


def vpn(seconds: float, action: str = "ssl-login-fail", user: str = "u", remip: str = "203.0.113.9",
        **kw: Any) -> dict[str, Any]:
    return {"_product": "fortigate", "_service": "vpn", "_ts": T0 + timedelta(seconds=seconds),
            "action": action, "user": user, "remip": remip, **kw}


CORR_ID = "20000000-0000-4000-8000-000000000001"


def test_event_count_fires_only_when_enough_events_fall_in_one_sliding_window(tmp_path: Path) -> None:
    rules = {"f.yml": FAIL, "c.yml": corr("event_count", "  group-by: [remip]\n  timespan: 60s\n"
                                           "  condition:\n    gte: 3\n")}
    # 0, 50, 100 s: no 60 s window holds 3 events; buckets of 60 s would not either
    assert CORR_ID not in fired(detect(tmp_path / "a", rules, [vpn(0), vpn(50), vpn(100)]))
    # 45, 75, 100 s: three events within 55 s, across the 60 s bucket boundary (a bucketed count misses it)
    alerts = detect(tmp_path / "b", rules, [vpn(0), vpn(45), vpn(75), vpn(100)])
    assert fired(alerts)[CORR_ID] == 1
    hit = next(a for a in alerts if a.rule_id == CORR_ID)
    assert hit.correlation and hit.time == T0 + timedelta(seconds=100)
    assert hit.details["remip"] == "203.0.113.9" and len(hit.events) == 3


def test_group_by_keeps_groups_apart(tmp_path: Path) -> None:
    rules = {"f.yml": FAIL, "c.yml": corr("event_count", "  group-by: [remip]\n  timespan: 5m\n"
                                           "  condition:\n    gte: 3\n")}
    rows = [vpn(0, remip="a"), vpn(1, remip="b"), vpn(2, remip="a"), vpn(3, remip="b"), vpn(4, remip="c")]
    assert CORR_ID not in fired(detect(tmp_path / "a", rules, rows))
    rows.append(vpn(5, remip="a"))
    alerts = detect(tmp_path / "b", rules, rows)
    assert [a.details["remip"] for a in alerts if a.rule_id == CORR_ID] == ["a"]


def test_base_rules_do_not_alert_alone_unless_generate(tmp_path: Path) -> None:
    extra = "  timespan: 5m\n  condition:\n    gte: 2\n"
    alerts = detect(tmp_path / "a", {"f.yml": FAIL, "c.yml": corr("event_count", extra)}, [vpn(0), vpn(1)])
    assert fired(alerts) == {CORR_ID: 1}
    alerts = detect(tmp_path / "b", {"f.yml": FAIL, "c.yml": corr("event_count", extra,
                                                                    generate="  generate: true\n")},
                    [vpn(0), vpn(1)])
    assert fired(alerts) == {CORR_ID: 1, "10000000-0000-4000-8000-000000000001": 2}


def test_value_count_counts_distinct_values_in_the_window(tmp_path: Path) -> None:
    rules = {"f.yml": FAIL, "c.yml": corr("value_count", "  group-by: [remip]\n  timespan: 10m\n"
                                           "  condition:\n    field: user\n    gte: 3\n")}
    same_user = [vpn(i, user="alice") for i in range(10)]
    assert CORR_ID not in fired(detect(tmp_path / "a", rules, same_user))
    spray = [vpn(0, user="alice"), vpn(30, user="bob"), vpn(700, user="carol"), vpn(720, user="dave")]
    # alice+bob, then 11 min later carol+dave: never 3 distinct users within 10 minutes
    assert CORR_ID not in fired(detect(tmp_path / "b", rules, spray))
    spray.append(vpn(740, user="erin"))
    alerts = detect(tmp_path / "c", rules, spray)
    assert fired(alerts)[CORR_ID] == 1
    assert next(a for a in alerts if a.rule_id == CORR_ID).details["count"] == "3"


def test_temporal_needs_every_rule_within_the_timespan(tmp_path: Path) -> None:
    rules = {"f.yml": FAIL, "o.yml": OK,
             "c.yml": corr("temporal", "  group-by: [user]\n  timespan: 10m\n", "  - vpn_fail\n  - vpn_ok")}
    far = [vpn(0, user="x"), vpn(900, action="tunnel-up", user="x")]
    assert CORR_ID not in fired(detect(tmp_path / "a", rules, far))
    other_user = [vpn(0, user="x"), vpn(60, action="tunnel-up", user="y")]
    assert CORR_ID not in fired(detect(tmp_path / "b", rules, other_user))
    near = [vpn(0, user="x"), vpn(60, action="tunnel-up", user="x")]
    assert fired(detect(tmp_path / "c", rules, near)) == {CORR_ID: 1}


def test_temporal_ordered_respects_order(tmp_path: Path) -> None:
    rules = {"f.yml": FAIL, "o.yml": OK,
             "c.yml": corr("temporal_ordered", "  group-by: [user]\n  timespan: 10m\n",
                           "  - vpn_fail\n  - vpn_ok")}
    wrong = [vpn(0, action="tunnel-up", user="x"), vpn(60, user="x")]
    assert CORR_ID not in fired(detect(tmp_path / "a", rules, wrong))
    right = [vpn(0, user="x"), vpn(60, action="tunnel-up", user="x")]
    assert fired(detect(tmp_path / "b", rules, right)) == {CORR_ID: 1}


def test_correlation_refers_by_id_too(tmp_path: Path) -> None:
    rules = {"f.yml": FAIL, "c.yml": corr("event_count", "  timespan: 1m\n  condition:\n    gte: 2\n",
                                           "  - 10000000-0000-4000-8000-000000000001")}
    assert fired(detect(tmp_path, rules, [vpn(0), vpn(10)])) == {CORR_ID: 1}


def test_a_correlation_groups_by_a_field_as_its_base_rule_reads_it_on_security_4688(tmp_path: Path) -> None:
    # one user starting tools, seen by Sysmon (User) and by Security 4688 (SubjectDomainName\SubjectUserName)
    base = """title: recon tool
id: 10000000-0000-4000-8000-000000000009
name: recon
status: test
level: low
logsource:
  product: windows
  category: process_creation
detection:
  sel:
    Image|endswith: ['\\whoami.exe', '\\net.exe', '\\nltest.exe']
  condition: sel
"""
    rules = {"b.yml": base, "c.yml": corr("event_count", "  group-by: [User]\n  timespan: 10m\n"
                                           "  condition:\n    gte: 3\n", rules="  - recon")}
    sysmon = {"_product": "windows", "_service": "microsoft-windows-sysmon/operational",
              "Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": "1"}
    security = {"_product": "windows", "_service": "security", "Channel": "Security", "EventID": "4688",
                "SubjectDomainName": "CLINIQUE", "SubjectUserName": "adm"}
    rows = [{**sysmon, "_ts": T0, "Image": "C:\\W\\whoami.exe", "User": "CLINIQUE\\adm"},
            {**security, "_ts": T0 + timedelta(minutes=1), "NewProcessName": "C:\\W\\net.exe"},
            {**security, "_ts": T0 + timedelta(minutes=2), "NewProcessName": "C:\\W\\nltest.exe"}]
    alerts = [a for a in detect(tmp_path / "d", rules, rows) if a.rule_id == CORR_ID]
    assert len(alerts) == 1 and alerts[0].details["User"] == "CLINIQUE\\adm"
    # a hunt materialises what the group-by reads on 4688, though the base rule never names it
    assert {"subjectdomainname", "subjectusername"} <= plan_for(tmp_path / "p", rules).fields
