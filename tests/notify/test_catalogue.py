"""The obligations catalogue loads, and every mistake in a group's copy is reported with file, line, field."""

from __future__ import annotations

from pathlib import Path

import pytest

from rempart.errors import ConfigError, ConfigErrors
from rempart.notify.catalogue import DEFAULT_CATALOGUE, Condition, load_catalogue
from tests.conftest import EXAMPLES

ISSUE_OBLIGATIONS = {
    "csp_signalement",
    "cnil_violation",
    "breach_register",
    "patients_information",
    "nis2_anssi",
    "certfr_ose",
    "partners",
    "processor_controller",
    "police_complaint",
    "eigs",
}


def test_default_catalogue_holds_every_obligation_of_the_issue() -> None:
    cat = load_catalogue()
    assert cat.version
    assert {o.id for o in cat.obligations} == ISSUE_OBLIGATIONS
    csp = cat.obligation("csp_signalement")
    assert csp.stage("declaration").immediate and csp.stage("resolution").start == "resolution"
    assert {f.block for f in csp.stage("declaration").fields} == {
        "1. Identification de la structure et du déclarant",
        "2. Description de l'incident",
        "3. Impacts",
        "4. Causes",
    }
    nis2 = cat.obligation("nis2_anssi")
    assert [str(s.within) for s in nis2.stages] == ["PT24H", "PT72H", "P1M"]
    assert nis2.stage("final_report").after == "notification"
    assert cat.obligation("certfr_ose").trigger.all == [Condition.OES]
    assert str(cat.obligation("police_complaint").stage("complaint").within) == "PT72H"
    cnil = {f.id for f in cat.obligation("cnil_violation").stage("initial").fields}
    assert {
        "nature",
        "dpo_contact",
        "consequences",
        "measures",
        "delay_reasons",
    } <= cnil  # art. 33(3) + delay


def test_example_catalogue_is_the_packaged_one() -> None:
    example = EXAMPLES / "obligations.yaml"
    assert load_catalogue(example) == load_catalogue()
    assert example.read_text(encoding="utf-8") == DEFAULT_CATALOGUE.read_text(encoding="utf-8")


def _broken(tmp_path: Path, old: str, new: str) -> ConfigError:
    text = DEFAULT_CATALOGUE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "obligations.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_catalogue(path)
    return err.value


def _line(tmp_path: Path, needle: str) -> int:
    lines = (tmp_path / "obligations.yaml").read_text(encoding="utf-8").splitlines()
    return [i for i, line in enumerate(lines, 1) if needle in line][-1]  # the changed one is the last


@pytest.mark.parametrize(
    ("old", "new", "needle", "field", "message"),
    [
        ("within: PT24H", "within: 24 heures", "24 heures", "stages[0].within", "ISO 8601"),
        ("trigger: {all: [oes]}", "trigger: {all: [ose]}", "[ose]", "trigger.all[0]", "Input should be"),
        ("- {id: nature, label:", "- {id: natur, label:", "natur,", "fields[2].id", "unknown field 'natur'"),
        (
            "    immediate: true\n    target: PT2H\n    template: csp_annexe",
            "    immediate: true\n    template: csp_annexe",
            "Déclaration (annexe",
            "stages[0]",
            "needs a 'target'",
        ),
        ("after: notification", "after: notif", "after: notif", "stages[2].after", "not another stage"),
        ("template: plainte", "template: plainte2", "plainte2", "template", "no template 'plainte2.md.j2'"),
        ("- id: eigs\n", "- id: partners\n", "- id: partners", "obligations[9].id", "used twice"),
    ],
)
def test_mistakes_are_located(
    tmp_path: Path, old: str, new: str, needle: str, field: str, message: str
) -> None:
    err = _broken(tmp_path, old, new)
    errors = err.errors if isinstance(err, ConfigErrors) else [err]
    hits = [e for e in errors if message in e.message]
    assert hits, [str(e) for e in errors]
    located = [
        e.location for e in hits if e.location and e.location.field and e.location.field.endswith(field)
    ]
    assert located, [str(e) for e in hits]
    loc = located[0]
    assert str(loc.path).endswith("obligations.yaml")
    assert loc.line is not None and abs(loc.line - _line(tmp_path, needle)) <= 2, (loc.line, needle)


def test_missing_version_and_file(tmp_path: Path) -> None:
    err = _broken(tmp_path, 'version: "2026.1"\n', "")
    assert "version" in str(err)
    with pytest.raises(ConfigError, match="not found"):
        load_catalogue(tmp_path / "nope.yaml")


def test_an_obligation_can_be_disabled(tmp_path: Path) -> None:
    text = DEFAULT_CATALOGUE.read_text(encoding="utf-8").replace("enabled: true  #", "enabled: false  #")
    path = tmp_path / "obligations.yaml"
    path.write_text(text, encoding="utf-8")
    assert not load_catalogue(path).obligation("nis2_anssi").enabled
