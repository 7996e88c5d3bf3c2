"""The YAML every configuration file goes through refuses alias bombs, self-containing aliases, oversized
documents and keys given twice, with the file and line of the fault (issue 13, finding 6b)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rempart.adapters.registry import load_config
from rempart.cli.app import app
from rempart.errors import ConfigError, ConfigErrors
from rempart.inventory import load_group
from rempart.notify.catalogue import load_catalogue
from rempart.respond.plan import load_plan
from rempart.yamldoc import MAX_ALIAS_NODES, MAX_BYTES, parse_yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# nine anchors of nine aliases each: 400 bytes that stand for 9**9 = 387 million strings
BOMB = 'lol0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9)
)

LOADERS: dict[str, Callable[[Path], object]] = {
    "group.yaml": load_group,
    "plan.yaml": load_plan,
    "adapters.yaml": load_config,
    "obligations.yaml": load_catalogue,
}


def _with(tmp_path: Path, name: str, extra: str) -> Path:
    path = tmp_path / name
    path.write_text((EXAMPLES / name).read_text(encoding="utf-8") + "\n" + extra, encoding="utf-8")
    return path


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", sorted(LOADERS))
def test_an_alias_bomb_is_refused_at_the_alias_that_sets_it_off(tmp_path: Path, name: str) -> None:
    path = _with(tmp_path, name, BOMB)
    with pytest.raises(ConfigError) as caught:
        LOADERS[name](path)
    err = caught.value
    assert err.location is not None and Path(str(err.location.path)) == path
    # the aliases of lol1…lol4 repeat 74,718 nodes; lol5's first alias adds 66,430 more: over 100,000
    assert err.location.line == _line_of(path, "lol5: &l5")
    assert "alias '*l4' (column 12)" in err.message and "alias bomb" in err.message
    assert err.hint and "write the repeated values out" in err.hint


@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", sorted(LOADERS))
def test_a_key_given_twice_is_refused_with_both_lines(tmp_path: Path, name: str) -> None:
    path = _with(tmp_path, name, "extra_key: 1\nextra_key: 2\n")
    with pytest.raises(ConfigErrors) as caught:
        LOADERS[name](path)
    err = caught.value.errors[0]
    first = _line_of(path, "extra_key: 1")
    assert err.location is not None and err.location.line == first + 1
    assert err.location.field == "extra_key"
    assert f"given twice in this mapping, first at line {first}" in err.message


def test_a_nested_key_given_twice_names_its_field(tmp_path: Path) -> None:
    text = (EXAMPLES / "group.yaml").read_text(encoding="utf-8")
    old = "      role: domain_controller\n"
    assert old in text
    path = tmp_path / "group.yaml"
    path.write_text(text.replace(old, old + "      role: file_server\n", 1), encoding="utf-8")
    with pytest.raises(ConfigErrors) as caught:
        load_group(path)
    err = caught.value.errors[0]
    assert err.location is not None and err.location.field == "poles[0].establishments[0].assets[2].role"
    assert err.location.line == _line_of(path, "role: file_server")


def test_small_anchors_and_merge_keys_still_work(tmp_path: Path) -> None:
    text = (EXAMPLES / "group.yaml").read_text(encoding="utf-8")
    old = "      services:\n      - NTDS\n"
    assert old in text
    path = tmp_path / "group.yaml"
    # an anchor on one asset's services, reused by another; a merge key that overrides one field
    text = text.replace(old, "      services: &dc\n      - NTDS\n", 1)
    text = text.replace("      services:\n      - smbd\n", "      services: *dc\n", 1)
    path.write_text(text, encoding="utf-8")
    group = load_group(path)
    asset = next(a for e in group.establishments for a in e.assets if a.hostname == "tls-cap-fs01")
    assert asset.services == ["NTDS"]
    data, _ = parse_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  x: 3\n", "f.yaml")
    assert data["other"] == {"x": 3, "y": 2}


def test_aliases_just_under_the_budget_are_kept() -> None:
    # 999 aliases of a 100-item list: 999 × 101 nodes repeated, under the budget; one more is over
    item = "[" + ", ".join(["1"] * 100) + "]"
    under = f"a: &a {item}\nb: [{', '.join(['*a'] * (MAX_ALIAS_NODES // 101))}]\n"
    data, _ = parse_yaml(under, "f.yaml")
    assert len(data["b"]) == MAX_ALIAS_NODES // 101
    over = f"a: &a {item}\nb: [{', '.join(['*a'] * (MAX_ALIAS_NODES // 101 + 1))}]\n"
    with pytest.raises(ConfigError, match="alias bomb"):
        parse_yaml(over, "f.yaml")


@pytest.mark.timeout(10)
def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_yaml("name: x\nloop: &me\n  - 1\n  - *me\n", "f.yaml")
    assert caught.value.location is not None and caught.value.location.line == 4
    assert "inside its own anchor '&me'" in caught.value.message


def test_an_oversized_document_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(ConfigError, match="MB, more than the"):
        parse_yaml("a: " + "x" * MAX_BYTES + "\n", "f.yaml")


@pytest.mark.timeout(10)
@pytest.mark.parametrize("loader", ["relay", "policy", "forms"])
def test_the_other_yaml_files_refuse_an_alias_bomb_too(tmp_path: Path, loader: str) -> None:
    from rempart.adapters.smtp import load_relay_settings
    from rempart.continuity.backentry import load_entries
    from rempart.recover.policy import DEFAULT_POLICY, load_policy

    path = tmp_path / f"{loader}.yaml"
    head = DEFAULT_POLICY.read_text(encoding="utf-8") + "\n" if loader == "policy" else ""
    path.write_text(head + BOMB, encoding="utf-8")
    load = {"relay": load_relay_settings, "policy": load_policy, "forms": load_entries}[loader]
    with pytest.raises(ConfigError, match="alias bomb") as caught:
        load(path)
    assert caught.value.location is not None and caught.value.location.line == _line_of(path, "lol5: &l5")


@pytest.mark.timeout(10)
def test_inventory_check_prints_the_located_error(tmp_path: Path) -> None:
    path = _with(tmp_path, "group.yaml", BOMB)
    result = CliRunner().invoke(app, ["inventory", "check", str(path)], terminal_width=300)
    assert result.exit_code == 2
    assert f"{path}:{_line_of(path, 'lol5: &l5')}" in result.output
    assert "alias bomb" in result.output and "Traceback" not in result.output
