from __future__ import annotations

from pathlib import Path

import pytest

from rempart.domain.inventory import AccessKind, NisCategory
from rempart.errors import ConfigError, ConfigErrors
from rempart.inventory import Resolver, load_group


def test_example_group_loads(example_group_path: Path) -> None:
    group = load_group(example_group_path)
    assert len(group.poles) >= 3 and len(group.establishments) >= 12
    toulouse = [e for e in group.establishments if e.city == "Toulouse"]
    assert len(toulouse) >= 2
    assert any(e.city == "Bourg-en-Bresse" for e in group.establishments)
    for est in group.establishments:
        assert {a.kind for a in est.external_accesses} == set(AccessKind)


def test_nis2_category_follows_staff(example_group_path: Path) -> None:
    group = load_group(example_group_path)
    assert group.establishment("capitouls").nis2_category is NisCategory.ESSENTIAL  # 420 staff
    assert group.establishment("coteaux").nis2_category is NisCategory.IMPORTANT  # 95 staff
    assert group.establishment("atlantique").nis2_category is NisCategory.NONE  # 45 staff


def _broken(example_group_path: Path, tmp_path: Path, old: str, new: str) -> Path:
    text = example_group_path.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "group.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_invalid_field_names_file_line_and_field(example_group_path: Path, tmp_path: Path) -> None:
    path = _broken(example_group_path, tmp_path, "staff: 420", "staff: beaucoup")
    with pytest.raises(ConfigErrors) as info:
        load_group(path)
    (err,) = info.value.errors
    assert err.location is not None
    assert err.location.line == _line_of(path, "staff: beaucoup")
    assert err.location.field == "poles[0].establishments[0].staff"
    assert str(path) in str(err)


def test_dangling_gateway_is_reported_with_its_line(example_group_path: Path, tmp_path: Path) -> None:
    path = _broken(example_group_path, tmp_path, "gateway: tls-cap-vpn01", "gateway: tls-cap-nowhere")
    with pytest.raises(ConfigErrors) as info:
        load_group(path)
    (err,) = info.value.errors
    assert "tls-cap-nowhere" in err.message and "not an asset" in err.message
    assert err.location is not None and err.location.line == _line_of(path, "gateway: tls-cap-nowhere")


def test_all_mistakes_are_reported_at_once(example_group_path: Path, tmp_path: Path) -> None:
    path = _broken(example_group_path, tmp_path, "staff: 420", "staff: -1")
    text = (
        path.read_text()
        .replace("role: firewall", "role: toaster", 1)
        .replace("- 10.11.0.1", "- 10.11.0.999", 1)
    )
    path.write_text(text)
    with pytest.raises(ConfigErrors) as info:
        load_group(path)
    fields = sorted(e.location.field or "" for e in info.value.errors if e.location)
    assert len(fields) == 3, fields


def test_duplicate_ids_and_hostnames(example_group_path: Path, tmp_path: Path) -> None:
    path = _broken(example_group_path, tmp_path, "id: saint-cyprien", "id: capitouls")
    with pytest.raises(ConfigErrors, match="establishment id 'capitouls' is used twice"):
        load_group(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("name: x\npoles: [\n", "not valid YAML"), ("- just\n- a list\n", "expected a mapping")],
)
def test_not_yaml_or_not_a_mapping(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "group.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_group(path)
    assert info.value.location is not None and info.value.location.line is not None


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="inventory file not found"):
        load_group(tmp_path / "absent.yaml")


def test_resolver_by_name_fqdn_ip_and_network(example_group_path: Path) -> None:
    r = Resolver(load_group(example_group_path))
    by_name = r.resolve("TLS-SCY-DC01.horizon.local")
    assert (
        by_name is not None and by_name.establishment == "saint-cyprien" and by_name.asset == "tls-scy-dc01"
    )
    by_ip = r.resolve("10.12.1.20")
    assert by_ip is not None and by_ip.asset == "tls-scy-dpi01"
    by_net = r.resolve("10.12.7.7")
    assert by_net is not None and (by_net.establishment, by_net.asset) == ("saint-cyprien", None)
    assert r.resolve("unknown-host") is None and r.resolve("8.8.8.8") is None and r.resolve(None) is None
    assert Resolver(None).resolve("tls-scy-dc01") is None


def test_an_unknown_time_zone_names_its_line_and_field(example_group_path: Path, tmp_path: Path) -> None:
    path = _broken(example_group_path, tmp_path, "    region: Occitanie\n",
                   "    region: Occitanie\n    timezone: Europe/Toulouse\n")
    with pytest.raises(ConfigErrors) as info:
        load_group(path)
    (err,) = info.value.errors
    assert err.location is not None and err.location.line == _line_of(path, "Europe/Toulouse")
    assert err.location.field == "poles[0].establishments[0].timezone"
    assert "unknown time zone 'Europe/Toulouse'" in str(err) and "Europe/Paris" in str(err)
    assert load_group(example_group_path).timezone == "Europe/Paris"  # the default, for a French group
