"""Dosage shapes as the kit words them, one MedicationRequest at a time (fhir_read.read_order)."""

from __future__ import annotations

from typing import Any

import pytest

from rempart.continuity.fhir_read import MISSING_DOSE, MISSING_UNIT, UNKNOWN, read_order


def _order(dosage: dict[str, Any]) -> Any:
    mr = {"id": "x", "status": "active", "medicationCodeableConcept": {"text": "Produit"}}
    return read_order({**mr, "dosageInstruction": [{"route": {"text": "IV"}, **dosage}]}, {})


@pytest.mark.parametrize(
    ("code", "frequency", "times"),
    [
        ("QD", "1 fois / 24 h", ("08:00",)),
        ("BID", "2 fois / 24 h", ("08:00", "20:00")),
        ("QID", "4 fois / 24 h", ("02:00", "08:00", "14:00", "20:00")),
        ("AM", "1 fois / 24 h (matin)", ("08:00",)),
        ("PM", "1 fois / 24 h (soir)", ("18:00",)),
        ("Q4H", "toutes les 4 h", ("02:00", "06:00", "10:00", "14:00", "18:00", "22:00")),
        ("QOD", "1 fois / 2 j", ("08:00",)),
    ],
)
def test_timing_codes(code: str, frequency: str, times: tuple[str, ...]) -> None:
    o = _order(
        {
            "timing": {"code": {"coding": [{"code": code}]}},
            "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "g"}}],
        }
    )
    assert (o.frequency, o.times) == (frequency, times)


def test_time_of_day_wins_over_when_and_when_words_are_printed() -> None:
    o = _order(
        {
            "timing": {"repeat": {"when": ["ACM", "HS"]}},
            "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "g"}}],
        }
    )
    assert (o.frequency, o.times) == ("2 fois / 24 h (avant petit-déjeuner, au coucher)", ("07:30", "22:00"))
    o = _order(
        {
            "timing": {
                "repeat": {
                    "frequency": 1,
                    "period": 1,
                    "periodUnit": "d",
                    "when": ["MORN"],
                    "timeOfDay": ["09:15:00"],
                }
            },
            "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "g"}}],
        }
    )
    assert o.times == ("09:15",)


@pytest.mark.parametrize(
    ("per", "text"), [({"value": 1, "unit": "j"}, "j"), ({"value": 21, "unit": "h"}, "21 h")]
)
def test_max_dose_per_period(per: dict[str, Any], text: str) -> None:
    o = _order(
        {
            "maxDosePerPeriod": {"numerator": {"value": 4, "unit": "g"}, "denominator": per},
            "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "g"}}],
        }
    )
    assert o.instructions == f"max 4 g / {text}" and o.missing == ()


def test_a_dose_without_unit_and_no_dose_at_all_are_unknown_not_guessed() -> None:
    o = _order({"doseAndRate": [{"doseQuantity": {"value": 2}}]})
    assert (o.dose, o.unit, o.missing) == ("2", UNKNOWN, (MISSING_UNIT,))
    o = _order({})
    assert (o.dose, o.unit) == (UNKNOWN, UNKNOWN) and o.missing == (MISSING_DOSE, MISSING_UNIT)
    o = _order(
        {
            "doseAndRate": [
                {"doseRange": {"low": {"value": 1, "unit": "g"}, "high": {"value": 500, "unit": "mg"}}}
            ]
        }
    )
    assert (o.dose, o.unit, o.missing) == (
        "1 à 500",
        UNKNOWN,
        (MISSING_UNIT,),
    )  # two units: neither is printed
