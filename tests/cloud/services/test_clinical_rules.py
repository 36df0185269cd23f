"""The clinical domains' pure rules, without IO: vital-sign parsing and BMI, ICD-10 normalisation, the allergy
class table, the KEPI schedule."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.errors import InvalidInput
from chalicelib.services import drug_classes, icd10, vaccines, vitals


@pytest.mark.parametrize(("weight", "height", "expected"), [(70, 175, 22.9), (3.2, 50, 12.8), (120, 160, 46.9)])
def test_bmi_is_kilograms_per_square_metre_to_one_decimal(weight: float, height: float, expected: float) -> None:
    assert vitals.bmi(weight, height) == expected


@given(st.decimals(min_value=30, max_value=45, places=1))
def test_every_temperature_in_range_is_kept_as_the_number_written(value: object) -> None:
    assert vitals.parse({"temperature": str(value)}).temperature == float(str(value))


@given(st.one_of(st.floats(max_value=29.99), st.floats(min_value=45.01)).filter(lambda v: v == v and abs(v) < 1e300))
def test_every_temperature_out_of_range_names_the_field(value: float) -> None:
    with pytest.raises(InvalidInput) as raised:
        vitals.parse({"temperature": value})
    assert raised.value.field == "vital_signs.temperature"


def test_blood_pressure_is_normalised_and_split() -> None:
    parsed = vitals.parse({"blood_pressure": " 120 / 80 "})
    assert (parsed.blood_pressure, parsed.systolic, parsed.diastolic) == ("120/80", 120, 80)


@pytest.mark.parametrize(("raw", "code"), [("j45909", "J45.909"), ("R06.02", "R06.02"), ("r0602", "R06.02"),
                                           ("A00", "A00"), ("A00-A09", ""), ("1", ""), ("J4", "")])  # fmt: skip
def test_icd10_codes_are_normalised(raw: str, code: str) -> None:
    assert icd10.normalise(raw) == code


@pytest.mark.parametrize(("medication", "substance", "why"), [
    ("Amoxicillin", "Penicillin", "penicillin class"),
    ("Ibuprofen 400mg", "ibuprofen", "same substance"),
    ("Co-trimoxazole", "Sulfa", "sulfonamide class"),
    ("Cefalexin", "Penicillin", None),
    ("Paracetamol", "Pollen", None),
    ("Pen", "Penicillin", None),  # a word, not a prefix
])  # fmt: skip
def test_the_allergy_check(medication: str, substance: str, why: str | None) -> None:
    assert drug_classes.conflicts(medication, substance) == why


def test_the_schedule_gives_the_next_dose_and_none_after_the_last() -> None:
    opv = vaccines.find("Oral polio")
    assert (opv.code, opv.doses) == ("OPV", 4)
    assert opv.next_due(1, date(2026, 1, 1)) == date(2026, 2, 12)
    assert opv.next_due(4, date(2026, 1, 1)) is None
    with pytest.raises(InvalidInput):
        vaccines.find("covid")
