"""Vital signs of a TRIAGE encounter: read as seed 001 writes them (numbers, or numeric strings such as
"38.5"), checked against physiological limits, BMI computed. Pure: no IO; `services/encounters.py` calls it.

The limits are the widest values a living patient can present with at a clinic, not normal ranges: a
value outside them is a typing error (a pulse of 950, a temperature in Fahrenheit), never a finding. They
follow published survival extremes and the measuring ranges of clinic devices (docs/journey.md lists them):

| field | unit | accepted |
| --- | --- | --- |
| blood_pressure | mmHg, "systolic/diastolic" | systolic 50-300, diastolic 20-200, systolic > diastolic |
| temperature | °C | 30-45 (severe hypothermia to fatal hyperpyrexia; Fahrenheit readings fail) |
| pulse | beats/min | 20-250 |
| respiratory_rate | breaths/min | 4-80 |
| spo2 | % | 50-100 (pulse oximeters do not report below 50 reliably) |
| weight_kg | kg | 0.3-400 (extreme prematurity to the heaviest recorded adults) |
| height_cm | cm | 20-260 (extremely premature neonates to the tallest recorded adults) |
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel

from chalicelib.errors import InvalidInput

# field -> (low, high, unit, integer?)
LIMITS: dict[str, tuple[Decimal, Decimal, str, bool]] = {
    "temperature": (Decimal(30), Decimal(45), "°C", False),
    "pulse": (Decimal(20), Decimal(250), "beats/min", True),
    "respiratory_rate": (Decimal(4), Decimal(80), "breaths/min", True),
    "spo2": (Decimal(50), Decimal(100), "%", False),
    "weight_kg": (Decimal("0.3"), Decimal(400), "kg", False),
    "height_cm": (Decimal(20), Decimal(260), "cm", False),
}
SYSTOLIC = (50, 300)
DIASTOLIC = (20, 200)
_BP = re.compile(r"^\s*(\d{1,3})\s*/\s*(\d{1,3})\s*$")
_NUMBER = re.compile(r"^\s*[0-9]+(\.[0-9]+)?\s*$")


class VitalSigns(BaseModel):
    """Vital signs as stored and returned: numbers (never strings), BMI computed when weight and height are known."""

    blood_pressure: str | None = None  # "140/90"
    systolic: int | None = None
    diastolic: int | None = None
    temperature: float | None = None
    pulse: int | None = None
    respiratory_rate: int | None = None
    spo2: float | None = None
    weight_kg: float | None = None
    height_cm: float | None = None
    bmi: float | None = None  # kg/m², one decimal


def _field(name: str) -> str:
    return f"vital_signs.{name}"


def _number(name: str, raw: Any) -> Decimal:
    """A JSON number or a numeric string ("38.5"), else 422 naming the field."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise InvalidInput(f"{name} must be a number or a numeric string", code="invalid_vital_sign",
                           field=_field(name))  # fmt: skip
    if isinstance(raw, float) and not math.isfinite(raw):
        raise InvalidInput(f"{name} must be a finite number", code="invalid_vital_sign", field=_field(name))
    if isinstance(raw, str) and not _NUMBER.match(raw):
        raise InvalidInput(f"{name} must be a number or a numeric string such as '38.5'", code="invalid_vital_sign",
                           field=_field(name))  # fmt: skip
    try:
        return Decimal(str(raw).strip())
    except InvalidOperation:
        raise InvalidInput(f"{name} must be a number", code="invalid_vital_sign", field=_field(name)) from None


def _in_range(name: str, value: Decimal) -> Decimal:
    low, high, unit, integer = LIMITS[name]
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be between {low} and {high} {unit}", code="vital_sign_out_of_range",
                           field=_field(name))  # fmt: skip
    if integer and value != value.to_integral_value():
        raise InvalidInput(f"{name} must be a whole number of {unit}", code="invalid_vital_sign", field=_field(name))
    return value


def _blood_pressure(raw: Any) -> tuple[int, int]:
    if not isinstance(raw, str) or not (match := _BP.match(raw)):
        raise InvalidInput("blood_pressure must be 'systolic/diastolic' in mmHg, e.g. '140/90'",
                           code="invalid_vital_sign", field=_field("blood_pressure"))  # fmt: skip
    systolic, diastolic = int(match.group(1)), int(match.group(2))
    if not SYSTOLIC[0] <= systolic <= SYSTOLIC[1]:
        raise InvalidInput(f"systolic pressure must be between {SYSTOLIC[0]} and {SYSTOLIC[1]} mmHg",
                           code="vital_sign_out_of_range", field=_field("blood_pressure"))  # fmt: skip
    if not DIASTOLIC[0] <= diastolic <= DIASTOLIC[1]:
        raise InvalidInput(f"diastolic pressure must be between {DIASTOLIC[0]} and {DIASTOLIC[1]} mmHg",
                           code="vital_sign_out_of_range", field=_field("blood_pressure"))  # fmt: skip
    if systolic <= diastolic:
        raise InvalidInput("systolic pressure must be higher than diastolic pressure", code="vital_sign_out_of_range",
                           field=_field("blood_pressure"))  # fmt: skip
    return systolic, diastolic


def bmi(weight_kg: float, height_cm: float) -> float:
    """Body-mass index, kg/m², rounded half up to one decimal."""
    metres = Decimal(str(height_cm)) / 100
    value = Decimal(str(weight_kg)) / (metres * metres)
    return float(value.quantize(Decimal("0.1"), rounding="ROUND_HALF_UP"))


def parse(raw: dict[str, Any]) -> VitalSigns:
    """The checked vital signs, or InvalidInput naming the first bad field (`vital_signs.temperature`)."""
    values: dict[str, Any] = {}
    if raw.get("blood_pressure") is not None:
        systolic, diastolic = _blood_pressure(raw["blood_pressure"])
        values.update(blood_pressure=f"{systolic}/{diastolic}", systolic=systolic, diastolic=diastolic)
    for name, (_, _, _, integer) in LIMITS.items():
        if raw.get(name) is None:
            continue
        value = _in_range(name, _number(name, raw[name]))
        values[name] = int(value) if integer else float(value)
    if not values:
        raise InvalidInput("vital_signs must hold at least one measurement", code="invalid_vital_sign",
                           field="vital_signs")  # fmt: skip
    if "weight_kg" in values and "height_cm" in values:
        values["bmi"] = bmi(values["weight_kg"], values["height_cm"])
    return VitalSigns(**values)
