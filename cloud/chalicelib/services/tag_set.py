"""The TagSet a doctor records for a scan session (seed 000, "Scan Review"): its fields, their ranges and the
detail-tag vocabulary, as data; checking (and clamping) what the AI model answers; comparing a doctor's tags
with a suggestion (accepted / overridden per field); the discount tier of a tagging rate. Pure: no IO.

The seed gives the fields (`overallTracking`, `oralHygiene`, `detailTags`) and example values (1 and 2) but
no ranges; the ranges and the vocabulary below are ours (docs/portal.md, "Tagging"): change them here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class Scale:
    """An integer score: `low`..`high`, each value's meaning (what the doctor's form and the model are told)."""

    low: int
    high: int
    meanings: tuple[str, ...]

    def clamp(self, value: int) -> int:
        return min(self.high, max(self.low, value))


_TRACKING = (
    "on track: aligners fully seated, teeth follow the plan",
    "partially tracking: small gaps or lag; watch",
    "not tracking: clear gaps or lag; needs the orthodontist",
)
_HYGIENE = (
    "good: clean teeth and healthy gums",
    "fair: some plaque or mild gum redness",
    "poor: heavy plaque, calculus or inflamed gums",
)
SCALES: dict[str, Scale] = {"overall_tracking": Scale(1, 3, _TRACKING), "oral_hygiene": Scale(1, 3, _HYGIENE)}


class DetailTag(StrEnum):
    """Findings a doctor may add (any number, each once); the model may only pick from these."""

    ALIGNER_GAP = "ALIGNER_GAP"  # the aligner is not fully seated: air gap over a tooth
    ATTACHMENT_MISSING = "ATTACHMENT_MISSING"  # a bonded attachment is missing or broken
    ALIGNER_DAMAGED = "ALIGNER_DAMAGED"  # cracked, torn or deformed aligner
    SPACE_OPENING = "SPACE_OPENING"  # an unplanned space between teeth
    ROTATION_LAG = "ROTATION_LAG"  # a rotation lags behind the plan
    PLAQUE = "PLAQUE"
    CALCULUS = "CALCULUS"
    GINGIVITIS = "GINGIVITIS"  # red, swollen gums
    WHITE_SPOT_LESION = "WHITE_SPOT_LESION"  # decalcification
    CARIES_SUSPECTED = "CARIES_SUSPECTED"
    SOFT_TISSUE_LESION = "SOFT_TISSUE_LESION"  # ulcer or sore, e.g. from an aligner edge
    PHOTO_QUALITY_POOR = "PHOTO_QUALITY_POOR"  # blurred, dark or badly framed photos


FIELDS = ("overall_tracking", "oral_hygiene", "detail_tags")  # what a suggestion proposes, field by field


class TagValues(BaseModel):
    """The three tagged fields, in range."""

    overall_tracking: int
    oral_hygiene: int
    detail_tags: list[DetailTag]


class TagSet(TagValues):
    """A session's tags as recorded (one per session). `ai_fields`: per field, whether the doctor kept the
    stored AI suggestion (`accepted`) or changed it (`overridden`); null when no suggestion was asked for."""

    id: str
    session_id: str
    patient_id: str
    ai_suggested: bool
    ai_overridden: bool
    suggestion_id: str | None = None
    ai_fields: dict[str, str] | None = None
    tagged_by_id: str
    created_at: datetime


def values_of_record(record: Any) -> TagValues:
    """The values of a stored tag set or suggestion (db/tagging.py items)."""
    return TagValues(overall_tracking=int(record.overall_tracking), oral_hygiene=int(record.oral_hygiene),
                     detail_tags=[DetailTag(tag) for tag in record.detail_tags or []])  # fmt: skip


def tag_set_of(record: Any) -> TagSet:
    """A stored tag set (db/tagging.TagSetItem) as the API shows it."""
    return TagSet(
        **values_of_record(record).model_dump(), id=record.tag_set_id, session_id=record.session_id,
        patient_id=record.patient_id, ai_suggested=bool(record.ai_suggested),
        ai_overridden=bool(record.ai_overridden), suggestion_id=record.suggestion_id,
        ai_fields=dict(record.ai_fields.as_dict()) if record.ai_fields else None,
        tagged_by_id=record.tagged_by_id, created_at=record.created_at,
    )  # fmt: skip


class AnswerRejected(Exception):
    """The model's answer is not a TagSet (wrong shape); the message says what is wrong."""


@dataclass(frozen=True)
class Checked:
    values: TagValues
    clamped: tuple[str, ...]  # fields whose score was outside its range (brought to the nearest bound)
    dropped_tags: tuple[str, ...]  # tags outside the vocabulary (left out)


def check_answer(raw: Any) -> Checked:
    """The model's tool input as TagValues: scores must be numbers (rounded, then clamped to their range),
    tags strings (unknown ones dropped, repeats once). Anything else raises AnswerRejected."""
    if not isinstance(raw, dict):
        raise AnswerRejected(f"the tool input is a {type(raw).__name__}, not an object")
    scores: dict[str, int] = {}
    clamped: list[str] = []
    for name, scale in SCALES.items():
        value = raw.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise AnswerRejected(f"{name} is missing or not a number")
        rounded = round(value)
        scores[name] = scale.clamp(rounded)
        if scores[name] != rounded or rounded != value:
            clamped.append(name)
    tags = raw.get("detail_tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise AnswerRejected("detail_tags is not a list of strings")
    known = {tag.value for tag in DetailTag}
    kept = [DetailTag(tag) for tag in dict.fromkeys(tag.strip().upper() for tag in tags) if tag in known]
    dropped = tuple(tag for tag in tags if tag.strip().upper() not in known)
    values = TagValues(overall_tracking=scores["overall_tracking"], oral_hygiene=scores["oral_hygiene"],
                       detail_tags=kept)  # fmt: skip
    return Checked(values=values, clamped=tuple(clamped), dropped_tags=dropped)


def compare(tagged: TagValues, suggested: TagValues) -> dict[str, str]:
    """Per field: `accepted` when the doctor kept the suggested value (tags as a set), else `overridden`."""
    same = {
        "overall_tracking": tagged.overall_tracking == suggested.overall_tracking,
        "oral_hygiene": tagged.oral_hygiene == suggested.oral_hygiene,
        "detail_tags": set(tagged.detail_tags) == set(suggested.detail_tags),
    }
    return {name: "accepted" if same[name] else "overridden" for name in FIELDS}


# Seed 000, "Dashboard Analytics": the tagging rate of the last 30 days earns the clinic a discount.
# (minimum rate in %, discount in %), highest first; a rate between two steps takes the lower one.
DISCOUNT_TIERS: tuple[tuple[int, int], ...] = ((85, 30), (70, 20), (50, 10), (0, 0))
WINDOW_DAYS = 30


def discount_tier(tagged: int, total: int) -> int:
    """The discount (%) a clinic earns for tagging `tagged` of `total` sessions: exact integer comparison,
    so 84.99 % is still the 20 % tier and 85 % exactly is 30 %. No session opened: no discount."""
    if total <= 0:
        return 0
    for minimum, discount in DISCOUNT_TIERS:
        if tagged * 100 >= minimum * total:
            return discount
    return 0


def tagging_rate(tagged: int, total: int) -> float:
    """tagged / total in %, two decimals; 0 when no session was opened."""
    return round(100.0 * tagged / total, 2) if total else 0.0


def tool_schema() -> dict[str, Any]:
    """The JSON schema of the tool the model is forced to call: the TagSet, with ranges and meanings."""

    def score(name: str) -> dict[str, Any]:
        scale = SCALES[name]
        described = "; ".join(f"{scale.low + i} = {text}" for i, text in enumerate(scale.meanings))
        return {"type": "integer", "minimum": scale.low, "maximum": scale.high, "description": described}

    return {
        "type": "object",
        "properties": {
            "overall_tracking": score("overall_tracking"),
            "oral_hygiene": score("oral_hygiene"),
            "detail_tags": {
                "type": "array",
                "items": {"type": "string", "enum": [tag.value for tag in DetailTag]},
                "uniqueItems": True,
                "description": "every finding visible in the photos; empty when there is none",
            },
        },
        "required": list(FIELDS),
        "additionalProperties": False,
    }
