"""Imported indicators: STIX 2.1 patterns, MISP events, CSV; bad values are located."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from rempart.errors import InputError
from rempart.investigate.indicators import IndicatorKind, load_file

H256 = "a" * 64


def _kinds(items: list[object]) -> set[tuple[str, str]]:
    return {(str(i.kind), i.value) for i in items}  # type: ignore[attr-defined]


def test_stix_bundle(tmp_path: Path) -> None:
    p = tmp_path / "bundle.json"
    p.write_bytes(
        orjson.dumps(
            {
                "type": "bundle",
                "id": "bundle--x",
                "objects": [
                    {
                        "type": "indicator",
                        "pattern_type": "stix",
                        "pattern": "[ipv4-addr:value = '198.51.100.7']",
                    },
                    {
                        "type": "indicator",
                        "pattern_type": "stix",
                        "pattern": f"[file:hashes.'SHA-256' = '{H256.upper()}' OR file:name = 'Rclone.exe']",
                    },
                    {
                        "type": "indicator",
                        "pattern_type": "stix",
                        "pattern": "[domain-name:value = 'evil.example'] AND [url:value = 'https://drop.example/x']",
                    },
                    {
                        "type": "indicator",
                        "pattern_type": "stix",
                        "pattern": "[user-account:user_id = 'svc_x']",
                    },
                    {
                        "type": "indicator",
                        "pattern_type": "stix",
                        "pattern": "[network-traffic:dst_ref.value = '203.0.113.9'"
                        " AND network-traffic:dst_port = 443]",
                    },
                    {"type": "indicator", "pattern_type": "sigma", "pattern": "title: not a stix pattern"},
                    {"type": "malware", "name": "x"},
                ],
            }
        )
    )
    assert _kinds(load_file(p)) == {
        ("ip", "198.51.100.7"),
        ("hash", H256),
        ("tool", "rclone.exe"),
        ("domain", "evil.example"),
        ("domain", "drop.example"),
        ("account", "svc_x"),
        ("ip", "203.0.113.9"),
    }


def test_misp_event(tmp_path: Path) -> None:
    p = tmp_path / "misp.json"
    p.write_bytes(
        orjson.dumps(
            {
                "Event": {
                    "info": "campagne",
                    "Attribute": [
                        {"type": "ip-dst|port", "value": "198.51.100.7|443"},
                        {"type": "filename|sha256", "value": f"svc.exe|{H256}"},
                        {"type": "hostname", "value": "c2.evil.example"},
                        {"type": "comment", "value": "ignored"},
                    ],
                    "Object": [{"Attribute": [{"type": "md5", "value": "b" * 32}]}],
                }
            }
        )
    )
    assert _kinds(load_file(p)) == {
        ("ip", "198.51.100.7"),
        ("tool", "svc.exe"),
        ("hash", H256),
        ("domain", "c2.evil.example"),
        ("hash", "b" * 32),
    }


def test_csv_and_located_errors(tmp_path: Path) -> None:
    p = tmp_path / "iocs.csv"
    p.write_text("# partage CERT Santé\ntype,value,comment\nip,198.51.100.7,C2\nsha256," + H256 + ",\n")
    assert {i.kind for i in load_file(p)} == {IndicatorKind.IP, IndicatorKind.HASH}
    p.write_text("type,value\nip,198.51.100.7\nip,999.1.1.1\n")
    with pytest.raises(InputError) as err:
        load_file(p)
    assert "iocs.csv:3, field 'value'" in str(err.value) and "999.1.1.1" in str(err.value)
    p.write_text("type,value\nfoo,bar\n")
    with pytest.raises(InputError, match="unknown indicator type 'foo'"):
        load_file(p)
    bad = tmp_path / "bad.json"
    bad.write_bytes(
        orjson.dumps(
            {
                "type": "bundle",
                "objects": [
                    {"type": "indicator", "pattern_type": "stix", "pattern": "[file:hashes.MD5 = 'nothex']"}
                ],
            }
        )
    )
    with pytest.raises(InputError) as err2:
        load_file(bad)
    assert "objects[0].pattern" in str(err2.value)
