"""Sigma value semantics on DuckDB: case, wildcards, modifiers, keywords, null and numbers."""

from __future__ import annotations

from pathlib import Path

from tests.detect.helpers import detect, fired, rule

SEC = {"_product": "windows", "_service": "security", "Channel": "Security"}


def one(tmp_path: Path, detection: str, rows: list[dict[str, str | None]]) -> list[int]:
    """Records (1-based) of `rows` on which a rule with `detection` fires."""
    alerts = detect(tmp_path, {"r.yml": rule("00000000-0000-4000-8000-000000000001", detection)},
                    [{**SEC, **r} for r in rows])
    return sorted(e.record for a in alerts for e in a.events)


def test_plain_equality_is_case_insensitive(tmp_path: Path) -> None:
    d = "  sel:\n    TargetUserName: Administrator\n  condition: sel\n"
    assert one(tmp_path, d, [{"TargetUserName": "ADMINISTRATOR"}, {"TargetUserName": "admin"}]) == [1]


def test_contains_startswith_endswith_and_inner_wildcards(tmp_path: Path) -> None:
    d = ("  sel:\n    CommandLine|contains: 'Invoke-Mimikatz'\n    Image|endswith: '\\powershell.exe'\n"
         "    ParentImage|startswith: 'C:\\Windows'\n    User: 'NT*\\SYS?EM'\n  condition: sel\n")
    rows = [
        {"CommandLine": "x invoke-MIMIKATZ y", "Image": "C:\\W\\PowerShell.EXE",
         "ParentImage": "c:\\windows\\explorer.exe", "User": "NT AUTHORITY\\SYSTEM"},
        {"CommandLine": "x invoke-MIMIKATZ y", "Image": "C:\\W\\PowerShell.EXE",
         "ParentImage": "d:\\windows\\explorer.exe", "User": "NT AUTHORITY\\SYSTEM"},
        {"CommandLine": "x invoke-MIMIKATZ y", "Image": "C:\\W\\PowerShell.EXE",
         "ParentImage": "c:\\windows\\explorer.exe", "User": "NT AUTHORITY\\SYSTEMS"},
    ]
    assert one(tmp_path, d, rows) == [1]


def test_literal_sql_wildcards_in_values_are_not_wildcards(tmp_path: Path) -> None:
    d = "  sel:\n    ShareName|contains: '100%_done'\n  condition: sel\n"
    assert one(tmp_path, d, [{"ShareName": "a 100%_done"}, {"ShareName": "a 100xxdone"}]) == [1]


def test_contains_all_and_lists(tmp_path: Path) -> None:
    d = ("  sel:\n    CommandLine|contains|all: [' -enc ', 'hidden']\n  sel2:\n    Image: [a.exe, b.exe]\n"
         "  condition: sel and sel2\n")
    rows = [{"CommandLine": "p -enc x -w hidden", "Image": "B.EXE"},
            {"CommandLine": "p -enc x", "Image": "a.exe"},
            {"CommandLine": "p -enc x hidden", "Image": "c.exe"}]
    assert one(tmp_path, d, rows) == [1]


def test_windash_and_base64offset(tmp_path: Path) -> None:
    d = ("  sel:\n    CommandLine|windash|contains: ' -decode '\n  condition: sel\n")
    rows = [{"CommandLine": "certutil /decode a b"}, {"CommandLine": "certutil –decode a b"},
            {"CommandLine": "certutil decode a b"}]
    assert one(tmp_path, d, rows) == [1, 2]
    import base64

    encoded = base64.b64encode(b"xxhttp://evil").decode()
    d = "  sel:\n    CommandLine|base64offset|contains: 'http://'\n  condition: sel\n"
    assert one(tmp_path / "b", d, [{"CommandLine": f"powershell -e {encoded}"}, {"CommandLine": "x"}]) == [1]


def test_regex_is_case_sensitive_unless_flagged(tmp_path: Path) -> None:
    d = "  sel:\n    CommandLine|re: 'Net\\s+user'\n  condition: sel\n"
    assert one(tmp_path, d, [{"CommandLine": "Net  user x"}, {"CommandLine": "net user x"}]) == [1]
    d = "  sel:\n    CommandLine|re|i: 'Net\\s+user'\n  condition: sel\n"
    assert one(tmp_path / "i", d, [{"CommandLine": "Net  user x"}, {"CommandLine": "net user x"}]) == [1, 2]


def test_run_of_n_characters_counts_characters_and_stops_at_newlines(tmp_path: Path) -> None:
    # compiled without running RE2 on every value (see backend.long_run_match): same answers as RE2
    rows = [
        {"CommandLine": "a" * 12},  # 1: long enough
        {"CommandLine": "a" * 9},  # 2: too short
        {"CommandLine": "a" * 6 + "\n" + "a" * 6},  # 3: 13 characters, but no run of 10 without a newline
        {"CommandLine": "a" * 10 + "\n"},  # 4: a run of 10, then a newline
        {"CommandLine": "é" * 10},  # 5: 10 characters in 20 bytes
        {"CommandLine": "é" * 9},  # 6: 9 characters in 18 bytes
        {"CommandLine": None},  # 7: no command line
    ]
    d = "  sel:\n    CommandLine|re: '.{10,}'\n  condition: sel\n"
    assert one(tmp_path, d, rows) == [1, 4, 5]
    d = "  sel:\n    CommandLine|re|s: '.{10,}'\n  condition: sel\n"
    assert one(tmp_path / "s", d, rows) == [1, 3, 4, 5]
    d = "  sel:\n    CommandLine|re: '.{10,}'\n  condition: not sel\n"
    assert one(tmp_path / "not", d, rows) == [2, 3, 6, 7]


def test_cased_modifier(tmp_path: Path) -> None:
    d = "  sel:\n    CommandLine|cased|contains: 'ExecutionPolicy'\n  condition: sel\n"
    assert one(tmp_path, d, [{"CommandLine": "-ExecutionPolicy"}, {"CommandLine": "-executionpolicy"}]) == [1]


def test_cidr(tmp_path: Path) -> None:
    d = "  sel:\n    IpAddress|cidr: ['10.1.0.0/16', '192.168.0.0/24']\n  condition: sel\n"
    rows = [{"IpAddress": "10.1.200.3"}, {"IpAddress": "10.2.0.1"}, {"IpAddress": "192.168.0.77"},
            {"IpAddress": "192.168.1.1"}]
    assert one(tmp_path, d, rows) == [1, 3]


def test_numeric_comparisons(tmp_path: Path) -> None:
    d = "  sel:\n    LogonType|gte: 10\n  condition: sel\n"
    assert one(tmp_path, d, [{"LogonType": "3"}, {"LogonType": "10"}, {"LogonType": "x"}, {}]) == [2]


def test_null_and_exists(tmp_path: Path) -> None:
    d = "  sel:\n    EventID: '4688'\n  nocmd:\n    CommandLine: null\n  condition: sel and nocmd\n"
    assert one(tmp_path, d, [{"EventID": "4688"}, {"EventID": "4688", "CommandLine": "x"}]) == [1]
    d = "  sel:\n    CommandLine|exists: true\n  condition: sel\n"
    assert one(tmp_path / "e", d, [{"EventID": "1"}, {"CommandLine": "x"}]) == [2]


def test_negated_filter_on_absent_field_still_matches(tmp_path: Path) -> None:
    d = ("  sel:\n    EventID: '4688'\n  filter:\n    ParentImage|endswith: '\\explorer.exe'\n"
         "  condition: sel and not filter\n")
    rows = [{"EventID": "4688"}, {"EventID": "4688", "ParentImage": "C:\\explorer.exe"},
            {"EventID": "4688", "ParentImage": "C:\\cmd.exe"}]
    assert one(tmp_path, d, rows) == [1, 3]


def test_keywords_search_the_raw_record(tmp_path: Path) -> None:
    d = "  keywords:\n    - 'mimikatz'\n    - 'sekurlsa::'\n  condition: keywords\n"
    rows = [{"_raw": '{"msg": "running MimiKatz"}'}, {"_raw": '{"msg": "benign"}'},
            {"_raw": "SEKURLSA::logonpasswords"}]
    assert one(tmp_path, d, rows) == [1, 3]


def test_field_reference(tmp_path: Path) -> None:
    d = "  sel:\n    SubjectUserName|fieldref: TargetUserName\n  condition: sel\n"
    rows = [{"SubjectUserName": "Bob", "TargetUserName": "bob"},
            {"SubjectUserName": "a", "TargetUserName": "b"}]
    assert one(tmp_path, d, rows) == [1]


def test_alert_carries_rule_metadata_and_event_reference(tmp_path: Path) -> None:
    text = rule("00000000-0000-4000-8000-000000000002",
                "  sel:\n    EventID: 4625\n  condition: sel\n", level="medium",
                extra="tags:\n  - attack.credential-access\n  - attack.t1110.003\n")
    rows = [{**SEC, "EventID": "4625", "_host": "dc01", "_establishment": "clinique-a", "_asset": "dc01",
             "_record": 42}]
    alerts = detect(tmp_path, {"r.yml": text}, rows)
    assert fired(alerts) == {"00000000-0000-4000-8000-000000000002": 1}
    a = alerts[0]
    assert (a.title, str(a.level), a.host, a.establishment, a.asset) == (
        "rule 00000000-0000-4000-8000-000000000002", "medium", "dc01", "clinique-a", "dc01")
    assert a.tactics == ["credential-access"] and a.techniques == ["T1110.003"]
    assert [(e.source, e.record) for e in a.events] == [("test.log", 42)]


def test_long_value_lists_match_like_short_ones(tmp_path: Path) -> None:
    # from four values on one field the backend switches to one regular expression: same semantics
    values = ["'a.b(c)$'", "'C:\\\\x*'", "'*.PS1'", "'*[in]*'", "'exact'"]
    d = ("  sel:\n    F|contains: \"q\"\n  list:\n    F:\n" + "".join(f"      - {v}\n" for v in values)
         + "  condition: list\n")
    rows = [{"F": "A.B(C)$"}, {"F": "aXb(c)$"}, {"F": "c:\\x\\y"}, {"F": "run.ps1"}, {"F": "run.ps1x"},
            {"F": "x[IN]y"}, {"F": "EXACT"}, {"F": "exactly"}, {}]
    assert one(tmp_path, d, rows) == [1, 3, 4, 6, 7]


def test_rules_over_repeated_values_fire_on_every_event(tmp_path: Path) -> None:
    # 300 events repeating 3 value sets, one of them with no Image at all: the scope is evaluated on its
    # distinct values (plan._repetitive) and every event of a matching set must still be reported
    images = ["C:\\Windows\\lsass.exe", "C:\\Tools\\Procdump.exe", None]
    rows = [{"Image": images[i % 3], "GrantedAccess": "0x1010"} for i in range(300)]
    ids = ["00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"]
    rules = {
        "a.yml": rule(ids[0], "  sel:\n    Image|endswith: '\\procdump.exe'\n  condition: sel\n"),
        "b.yml": rule(ids[1], "  sel:\n    Image|endswith: '.exe'\n  condition: not sel\n"),
    }
    alerts = detect(tmp_path, rules, [{**SEC, **r} for r in rows])
    records = {i: sorted(e.record for a in alerts if a.rule_id == i for e in a.events) for i in ids}
    assert records[ids[0]] == list(range(2, 301, 3))
    assert records[ids[1]] == list(range(3, 301, 3))
