"""The TagSet's pure rules: checking and clamping a model's answer, accepted / overridden per field, the discount
tier's boundaries and the tool schema the model is forced into."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.services.tag_set import (
    SCALES,
    AnswerRejected,
    DetailTag,
    TagValues,
    check_answer,
    compare,
    discount_tier,
    tagging_rate,
    tool_schema,
)


def test_a_good_answer_passes_unchanged() -> None:
    checked = check_answer({"overall_tracking": 2, "oral_hygiene": 3, "detail_tags": ["PLAQUE", "CALCULUS"]})
    assert checked.values == TagValues(overall_tracking=2, oral_hygiene=3,
                                       detail_tags=[DetailTag.PLAQUE, DetailTag.CALCULUS])  # fmt: skip
    assert (checked.clamped, checked.dropped_tags) == ((), ())


def test_scores_are_clamped_rounded_and_tags_cleaned() -> None:
    checked = check_answer({"overall_tracking": 17, "oral_hygiene": 1.6,
                            "detail_tags": ["plaque", " PLAQUE ", "MOON_DUST"]})  # fmt: skip
    assert (checked.values.overall_tracking, checked.values.oral_hygiene) == (3, 2)
    assert checked.clamped == ("overall_tracking", "oral_hygiene")
    assert checked.values.detail_tags == [DetailTag.PLAQUE] and checked.dropped_tags == ("MOON_DUST",)


def test_missing_tags_mean_none() -> None:
    assert check_answer({"overall_tracking": 1, "oral_hygiene": 1}).values.detail_tags == []


@pytest.mark.parametrize(
    "raw",
    [
        None,
        [],
        "2,1",
        {"oral_hygiene": 1},
        {"overall_tracking": True, "oral_hygiene": 1},
        {"overall_tracking": "2", "oral_hygiene": 1},
        {"overall_tracking": float("nan"), "oral_hygiene": 1},
        {"overall_tracking": 1, "oral_hygiene": 1, "detail_tags": "PLAQUE"},
        {"overall_tracking": 1, "oral_hygiene": 1, "detail_tags": [3]},
    ],
)
def test_a_wrong_shape_is_rejected(raw: Any) -> None:
    with pytest.raises(AnswerRejected):
        check_answer(raw)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9), st.integers(-1000, 1000))
def test_whatever_the_numbers_the_scores_land_in_range(tracking: float, hygiene: int) -> None:
    values = check_answer({"overall_tracking": tracking, "oral_hygiene": hygiene}).values
    for name, scale in SCALES.items():
        assert scale.low <= getattr(values, name) <= scale.high


def test_compare_treats_tags_as_a_set() -> None:
    suggested = TagValues(overall_tracking=1, oral_hygiene=2, detail_tags=[DetailTag.PLAQUE, DetailTag.GINGIVITIS])
    tagged = TagValues(overall_tracking=1, oral_hygiene=3, detail_tags=[DetailTag.GINGIVITIS, DetailTag.PLAQUE])
    assert compare(tagged, suggested) == {"overall_tracking": "accepted", "oral_hygiene": "overridden",
                                          "detail_tags": "accepted"}  # fmt: skip
    fewer = tagged.model_copy(update={"detail_tags": [DetailTag.PLAQUE]})
    assert compare(fewer, suggested)["detail_tags"] == "overridden"


@pytest.mark.parametrize(
    ("tagged", "total", "tier"),
    [
        (85, 100, 30), (100, 100, 30), (17, 20, 30),  # 85 % exactly
        (84, 100, 20), (8499, 10000, 20), (70, 100, 20), (7, 10, 20),
        (69, 100, 10), (50, 100, 10), (1, 2, 10),
        (49, 100, 0), (0, 100, 0), (0, 0, 0),
    ],
)  # fmt: skip
def test_discount_tier_boundaries(tagged: int, total: int, tier: int) -> None:
    assert discount_tier(tagged, total) == tier


def test_tagging_rate_is_a_percentage_with_two_decimals() -> None:
    assert (tagging_rate(2, 3), tagging_rate(0, 0), tagging_rate(85, 100)) == (66.67, 0.0, 85.0)


def test_the_tool_schema_states_ranges_and_vocabulary() -> None:
    schema = tool_schema()
    assert schema["required"] == ["overall_tracking", "oral_hygiene", "detail_tags"]
    tracking = schema["properties"]["overall_tracking"]
    assert (tracking["minimum"], tracking["maximum"]) == (1, 3) and "1 = on track" in tracking["description"]
    assert set(schema["properties"]["detail_tags"]["items"]["enum"]) == {tag.value for tag in DetailTag}
