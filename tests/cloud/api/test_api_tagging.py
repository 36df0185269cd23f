"""Tagging over the API against the real moto server and a local HTTP stand-in for the Anthropic Messages API
(tests/cloud/claude_stand_in.py, reached by the real SDK through ANTHROPIC_BASE_URL): AI suggestions (a good,
a malformed, an out-of-range, a slow and a failing answer; no key), the doctor's TagSet that reviews the
session in one transaction, and the analytics read from the day counters (discount tiers, accuracy)."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client
from PIL import Image
from pydantic import SecretStr

from chalicelib import aws
from chalicelib.db import clinics as clinics_db
from chalicelib.db import store
from chalicelib.db import tagging as tagging_db
from chalicelib.resources import ResourceNames
from chalicelib.services import clinics
from chalicelib.services.roles import Role
from chalicelib.settings import Settings, get_settings, use_settings
from localdev.bootstrap import ensure_resources
from localdev.moto import LOCAL_CREDENTIALS, MotoServer
from tests.cloud.builders import JWT_SECRET, REGION, STAGE, bearer, call
from tests.cloud.claude_stand_in import GOOD, Answer, StandIn, running
from tests.cloud.images import photo

pytestmark = pytest.mark.integration

CLINIC, OTHER_CLINIC, ORG = "clinic-tagging", "clinic-tagging-other", "org-tagging"
KEY = "sk-ant-test-key"  # the stand-in's; never a real key


@pytest.fixture(scope="module")
def names(moto_server: MotoServer) -> Iterator[ResourceNames]:
    """Every resource of stage `test` on the moto server process, once for the module."""
    moto_server.reset()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in LOCAL_CREDENTIALS.items():
            patch.setenv(key, value)
        patch.setenv("AWS_ENDPOINT_URL", moto_server.url)
        use_settings(Settings(stage=STAGE, region=REGION, endpoint_url=moto_server.url, jwt_secret=JWT_SECRET))
        aws.reset_clients()
        created = ensure_resources(moto_server.url, STAGE, REGION)
        clinics.ensure(CLINIC, ORG, actor="cli", now=datetime.now(UTC))
        yield created
    use_settings(None)
    aws.reset_clients()


@pytest.fixture(scope="module")
def stand_in() -> Iterator[StandIn]:
    with running() as server:
        yield server


@pytest.fixture
def ai(names: ResourceNames, stand_in: StandIn) -> Iterator[StandIn]:
    """The API configured for the stand-in (a 1 s budget, so the slow answer's test is short)."""
    base = get_settings()
    stand_in.reset()
    use_settings(base.model_copy(update={"anthropic_api_key": SecretStr(KEY), "anthropic_base_url": stand_in.url,
                                         "ai_model": "claude-test-vision", "ai_timeout_seconds": 1.0}))  # fmt: skip
    yield stand_in
    use_settings(base)


@pytest.fixture(scope="module")
def api(names: ResourceNames) -> Iterator[Client]:
    from app import app

    with Client(app) as client:
        yield client


def doctor(clinic: str = CLINIC) -> dict[str, str]:
    return bearer(clinic, Role.DOCTOR, user_id="u-tag-doctor")


def patient(patient_id: str, clinic: str = CLINIC) -> dict[str, str]:
    return bearer(clinic, Role.PATIENT, user_id=f"pu-{patient_id}", patient_id=patient_id)


def session_with_photos(api: Client, names: ResourceNames, patient_id: str, photos: dict[str, bytes]) -> str:
    """A patient's session with these photos uploaded and confirmed through the patient routes."""
    headers = patient(patient_id)
    status, opened = call(api, "POST", "/patient/scans/sessions", headers)
    assert status == 201, opened
    s3 = aws.client("s3", get_settings())
    for image_type, data in photos.items():
        body = {"session_id": opened["id"], "image_type": image_type, "content_type": "image/jpeg"}
        status, target = call(api, "POST", "/patient/scans/upload-url", headers, body)
        assert status == 200, target
        s3.put_object(Bucket=names.scans_bucket, Key=target["key"], Body=data, ContentType="image/jpeg")
        confirm = {"session_id": opened["id"], "image_type": image_type, "key": target["key"]}
        status, confirmed = call(api, "POST", "/patient/scans/upload/confirm", headers, confirm)
        assert status == 200, confirmed
    return str(opened["id"])


def stored_suggestions(session_id: str, patient_id: str) -> list[Any]:
    condition = tagging_db.SuggestionItem.sk.startswith(f"SCAN_AI#{session_id}#")
    return list(tagging_db.SuggestionItem.query(f"CLINIC#{CLINIC}#PATIENT#{patient_id}", condition))


def day_counters(day: date) -> dict[str, int]:
    store.bound()
    item = store.get(tagging_db.TaggingDayItem, f"CLINIC#{CLINIC}", tagging_db.day_sk(day))
    if item is None:
        return {}
    return {name: int(getattr(item, name)) for name in item.get_attributes()
            if isinstance(getattr(item, name), int | float)}  # fmt: skip


# --- suggestions ------------------------------------------------------------------------------------------


def test_suggest_sends_downscaled_photos_forces_the_tool_and_stores_the_answer(
    api: Client, names: ResourceNames, ai: StandIn
) -> None:
    big = photo((4032, 3024))  # a 12 MP phone photo
    session_id = session_with_photos(api, names, "P-TAG-GOOD", {"FRONT": big, "UPPER": photo((800, 600))})
    before = day_counters(datetime.now(UTC).date()).get("suggestions", 0)

    started = time.perf_counter()
    status, suggestion = call(api, "POST", f"/tagging/sessions/{session_id}/suggest", doctor())
    elapsed_ms = (time.perf_counter() - started) * 1000

    assert status == 200, suggestion
    assert (suggestion["overall_tracking"], suggestion["oral_hygiene"]) == (2, 1)
    assert suggestion["detail_tags"] == ["ATTACHMENT_MISSING", "PLAQUE"]
    assert suggestion["model"] == "claude-test-vision" and suggestion["session_id"] == session_id
    assert (suggestion["input_tokens"], suggestion["output_tokens"]) == (6100, 48)
    assert 0 <= suggestion["latency_ms"] <= elapsed_ms and suggestion["clamped"] == []
    print(f"\nsuggest against the stand-in: API {elapsed_ms:.0f} ms, model call {suggestion['latency_ms']} ms")

    [request] = ai.requests
    assert request["path"] == "/v1/messages"
    headers = request["headers"]  # this SDK sends the key as a bearer token; older ones as x-api-key
    assert headers.get("x-api-key") == KEY or headers.get("authorization") == f"Bearer {KEY}"
    body = request["body"]
    assert body["model"] == "claude-test-vision"
    assert body["tool_choice"] == {"type": "tool", "name": "record_tag_set"}
    [tool] = body["tools"]
    assert tool["input_schema"]["properties"]["overall_tracking"]["maximum"] == 3
    blocks = body["messages"][0]["content"]
    pictures = [block for block in blocks if block["type"] == "image"]
    labels = [block["text"] for block in blocks if block["type"] == "text"]
    assert labels[:2] == ["FRONT photo:", "UPPER photo:"]
    sizes = []
    for picture in pictures:
        assert picture["source"]["type"] == "base64" and picture["source"]["media_type"] == "image/jpeg"
        with Image.open(io.BytesIO(base64.b64decode(picture["source"]["data"]))) as sent:
            assert sent.format == "JPEG"
            sizes.append(sent.size)
    assert sizes == [(1568, 1176), (800, 600)]  # the long side ≤ 1568, never enlarged

    [stored] = stored_suggestions(session_id, "P-TAG-GOOD")
    assert stored.suggestion_id == suggestion["id"] and stored.model == "claude-test-vision"
    assert (int(stored.input_tokens), int(stored.output_tokens)) == (6100, 48)
    assert int(stored.latency_ms) == suggestion["latency_ms"] and stored.requested_by_id == "u-tag-doctor"
    assert day_counters(datetime.now(UTC).date())["suggestions"] == before + 1


def test_an_out_of_range_answer_is_clamped(api: Client, names: ResourceNames, ai: StandIn) -> None:
    session_id = session_with_photos(api, names, "P-TAG-RANGE", {"LEFT": photo()})
    ai.reset(Answer(tool_input={"overall_tracking": 9, "oral_hygiene": -4,
                                "detail_tags": ["PLAQUE", "PLAQUE", "UNICORN_HORN"]}))  # fmt: skip

    status, suggestion = call(api, "POST", f"/tagging/sessions/{session_id}/suggest", doctor())

    assert status == 200, suggestion
    assert (suggestion["overall_tracking"], suggestion["oral_hygiene"]) == (3, 1)
    assert suggestion["clamped"] == ["overall_tracking", "oral_hygiene"]
    assert suggestion["detail_tags"] == ["PLAQUE"] and suggestion["dropped_tags"] == ["UNICORN_HORN"]


@pytest.mark.parametrize(
    "answer",
    [
        Answer(message={"id": "msg_x", "type": "message", "role": "assistant", "model": "m", "stop_reason": "end_turn",
                        "content": [{"type": "text", "text": "I think it looks fine."}],
                        "usage": {"input_tokens": 10, "output_tokens": 5}}),
        Answer(tool_input={"overall_tracking": "good", "oral_hygiene": 2, "detail_tags": []}),
        Answer(tool_input={"oral_hygiene": 2}),
        Answer(tool_input={"overall_tracking": 1, "oral_hygiene": 2, "detail_tags": "PLAQUE"}),
        Answer(tool_input=["not", "an", "object"]),
    ],
    ids=["no-tool-use", "score-not-a-number", "score-missing", "tags-not-a-list", "input-not-an-object"],
)  # fmt: skip
def test_a_malformed_answer_is_a_502_and_stores_nothing(
    api: Client, names: ResourceNames, ai: StandIn, answer: Answer
) -> None:
    session_id = session_with_photos(api, names, "P-TAG-BAD", {"RIGHT": photo()})
    ai.reset(answer)

    status, error = call(api, "POST", f"/tagging/sessions/{session_id}/suggest", doctor())

    assert (status, error["code"]) == (502, "ai_failed"), error
    assert error["message"]
    assert stored_suggestions(session_id, "P-TAG-BAD") == []


def test_a_slow_answer_times_out_as_a_502(api: Client, names: ResourceNames, ai: StandIn) -> None:
    session_id = session_with_photos(api, names, "P-TAG-SLOW", {"FRONT": photo()})
    ai.reset(Answer(delay_seconds=3.0))

    started = time.monotonic()
    status, error = call(api, "POST", f"/tagging/sessions/{session_id}/suggest", doctor())

    assert (status, error["code"]) == (502, "ai_failed"), error
    assert "did not answer within 1 s" in error["message"]
    assert time.monotonic() - started < 2.5  # the 1 s budget, no retries
    assert len(ai.requests) == 1 and stored_suggestions(session_id, "P-TAG-SLOW") == []


def test_an_api_error_is_a_502(api: Client, names: ResourceNames, ai: StandIn) -> None:
    session_id = session_with_photos(api, names, "P-TAG-500", {"FRONT": photo()})
    ai.reset(Answer(status=529))

    status, error = call(api, "POST", f"/tagging/sessions/{session_id}/suggest", doctor())

    assert (status, error["code"]) == (502, "ai_failed") and "529" in error["message"]
    assert len(ai.requests) == 1 and stored_suggestions(session_id, "P-TAG-500") == []


def test_without_a_key_suggest_is_a_503_saying_why(api: Client, names: ResourceNames, stand_in: StandIn) -> None:
    session_id = session_with_photos(api, names, "P-TAG-NOKEY", {"FRONT": photo()})
    stand_in.reset()

    status, error = call(api, "POST", f"/tagging/sessions/{session_id}/suggest", doctor())

    assert (status, error["code"]) == (503, "ai_unavailable")
    assert "ANTHROPIC_API_KEY" in error["message"]
    assert stand_in.requests == []


def test_the_key_comes_from_an_ssm_secure_string_read_once_and_a_missing_one_is_a_503_naming_it(
    api: Client, names: ResourceNames, stand_in: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deployed, the API holds only the parameter's name (MEDFLOW_ANTHROPIC_KEY_PARAM); the moto server is SSM."""
    base = get_settings()
    missing, present = f"/medflow/{STAGE}/missing-anthropic-key", f"/medflow/{STAGE}/anthropic-api-key"
    ssm = aws.client("ssm", base)
    ssm.put_parameter(Name=present, Value=KEY, Type="SecureString", Overwrite=True)
    session_id = session_with_photos(api, names, "P-TAG-SSM", {"FRONT": photo()})
    update = {"anthropic_api_key": None, "anthropic_base_url": stand_in.url, "ai_model": "claude-test-vision"}
    try:
        stand_in.reset()
        use_settings(base.model_copy(update={**update, "anthropic_api_key_param": missing}))
        status, error = call(api, "POST", f"/tagging/sessions/{session_id}/suggest", doctor())
        assert (status, error["code"]) == (503, "ai_unavailable"), error
        assert missing in error["message"] and stand_in.requests == []

        use_settings(base.model_copy(update={**update, "anthropic_api_key_param": present}))
        status, suggestion = call(api, "POST", f"/tagging/sessions/{session_id}/suggest", doctor())
        assert status == 200, suggestion
        [request] = stand_in.requests
        headers = request["headers"]
        assert headers.get("x-api-key") == KEY or headers.get("authorization") == f"Bearer {KEY}"

        # Read once per container: a rotated value is picked up by new containers, not by every request.
        ssm.delete_parameter(Name=present)
        status, again = call(api, "POST", f"/tagging/sessions/{session_id}/suggest", doctor())
        assert status == 200, again
        assert KEY not in json.dumps(error) + json.dumps(again)
    finally:
        use_settings(base)


def test_suggest_refuses_unknown_empty_and_foreign_sessions(api: Client, names: ResourceNames, ai: StandIn) -> None:
    assert call(api, "POST", f"/tagging/sessions/{'a' * 32}/suggest", doctor())[1]["code"] == "not_found"
    assert call(api, "POST", "/tagging/sessions/nope/suggest", doctor())[1]["code"] == "invalid_session_id"
    _, opened = call(api, "POST", "/patient/scans/sessions", patient("P-TAG-EMPTY"))
    status, error = call(api, "POST", f"/tagging/sessions/{opened['id']}/suggest", doctor())
    assert (status, error["code"]) == (409, "no_images")
    session_id = session_with_photos(api, names, "P-TAG-FOREIGN", {"FRONT": photo()})
    assert call(api, "POST", f"/tagging/sessions/{session_id}/suggest", doctor(OTHER_CLINIC))[0] == 404
    assert call(api, "POST", f"/tagging/sessions/{session_id}/suggest", patient("P-TAG-FOREIGN"))[0] == 403
    assert ai.requests == []


# --- the doctor's tags ------------------------------------------------------------------------------------


def test_tags_review_the_session_in_one_transaction(api: Client, names: ResourceNames, ai: StandIn) -> None:
    session_id = session_with_photos(api, names, "P-TAG-REVIEW", {"FRONT": photo(), "LOWER": photo()})
    today = datetime.now(UTC).date()
    before = day_counters(today)

    camel = {"overallTracking": 1, "oralHygiene": 2, "detailTags": ["GINGIVITIS", "GINGIVITIS"]}
    status, tag_set = call(api, "POST", f"/tagging/sessions/{session_id}/tags", doctor(), camel)

    assert status == 201, tag_set
    assert (tag_set["overall_tracking"], tag_set["oral_hygiene"], tag_set["detail_tags"]) == (1, 2, ["GINGIVITIS"])
    assert tag_set["session_id"] == session_id and tag_set["tagged_by_id"] == "u-tag-doctor"
    assert (tag_set["ai_suggested"], tag_set["ai_overridden"], tag_set["ai_fields"]) == (False, False, None)
    status, view = call(api, "GET", f"/scans/sessions/{session_id}", doctor())
    assert status == 200
    assert view["status"] == "REVIEWED" and view["reviewed_by_id"] == "u-tag-doctor" and view["reviewed_at"]
    assert view["tag_set"] == tag_set
    _, reviewed = call(api, "GET", "/scans/sessions?status=REVIEWED&limit=200", doctor())
    assert session_id in [item["id"] for item in reviewed["items"]]
    _, events = call(api, "GET", "/events?limit=200", doctor())
    mine = [event for event in events["items"] if event["subject"].get("session_id") == session_id]
    assert [event["type"] for event in mine if event["type"] == "scan.reviewed"] == ["scan.reviewed"]
    assert next(e for e in mine if e["type"] == "scan.reviewed")["subject"] == {
        "session_id": session_id, "patient_id": "P-TAG-REVIEW"}  # fmt: skip
    assert day_counters(today)["tagged"] == before.get("tagged", 0) + 1

    status, again = call(api, "POST", f"/tagging/sessions/{session_id}/tags", doctor(),
                         {"overall_tracking": 2, "oral_hygiene": 2})  # fmt: skip
    assert (status, again["code"]) == (409, "already_reviewed")
    assert call(api, "GET", f"/scans/sessions/{session_id}", doctor())[1]["tag_set"] == tag_set
    assert day_counters(today)["tagged"] == before.get("tagged", 0) + 1
    status, answer = call(api, "POST", f"/tagging/sessions/{session_id}/suggest", doctor())
    assert (status, answer["code"]) == (409, "already_reviewed")


def test_status_review_already_done_by_patch_is_a_409_for_tags(api: Client, names: ResourceNames) -> None:
    session_id = session_with_photos(api, names, "P-TAG-PATCHED", {"FRONT": photo()})
    assert call(api, "PATCH", f"/scans/sessions/{session_id}/status", doctor(), {"status": "REVIEWED"})[0] == 200
    status, error = call(api, "POST", f"/tagging/sessions/{session_id}/tags", doctor(),
                         {"overall_tracking": 1, "oral_hygiene": 1})  # fmt: skip
    assert (status, error["code"]) == (409, "already_reviewed")
    # reopened, it can be tagged: the tag set and the review come together
    assert call(api, "PATCH", f"/scans/sessions/{session_id}/status", doctor(), {"status": "PENDING"})[0] == 200
    status, tag_set = call(api, "POST", f"/tagging/sessions/{session_id}/tags", doctor(),
                           {"overall_tracking": 1, "oral_hygiene": 1})  # fmt: skip
    assert status == 201, tag_set


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"overall_tracking": 4, "oral_hygiene": 1}, "overall_tracking"),
        ({"overall_tracking": 0, "oral_hygiene": 1}, "overall_tracking"),
        ({"overall_tracking": 1, "oral_hygiene": 7}, "oral_hygiene"),
        ({"overall_tracking": 1.5, "oral_hygiene": 1}, "overall_tracking"),
        ({"overall_tracking": "1", "oral_hygiene": 1}, "overall_tracking"),
        ({"overall_tracking": 1, "oral_hygiene": 1, "detail_tags": ["UNICORN_HORN"]}, "detail_tags.0"),
        ({"oral_hygiene": 1}, "overallTracking"),  # a missing field is named as the camelCase alias
    ],
)
def test_tags_refuse_values_out_of_their_ranges(api: Client, names: ResourceNames, body: Any, field: str) -> None:
    session_id = session_with_photos(api, names, "P-TAG-422", {"FRONT": photo()})
    status, error = call(api, "POST", f"/tagging/sessions/{session_id}/tags", doctor(), body)
    assert (status, error["code"], error.get("field")) == (422, "invalid_request", field), error
    assert call(api, "GET", f"/scans/sessions/{session_id}", doctor())[1]["status"] == "PENDING"


def test_tags_after_a_suggestion_record_accepted_and_overridden_fields(
    api: Client, names: ResourceNames, ai: StandIn
) -> None:
    session_id = session_with_photos(api, names, "P-TAG-ACCURACY", {"FRONT": photo()})
    status, suggestion = call(api, "POST", f"/tagging/sessions/{session_id}/suggest", doctor())
    assert status == 200, suggestion
    _, before = call(api, "GET", "/tagging/analytics", doctor())

    # the doctor keeps the tracking score and the tags (in another order), changes the hygiene score
    body = {"overall_tracking": GOOD["overall_tracking"], "oral_hygiene": 3, "ai_suggested": True,
            "detail_tags": ["PLAQUE", "ATTACHMENT_MISSING"], "ai_overridden": True}  # fmt: skip
    status, tag_set = call(api, "POST", f"/tagging/sessions/{session_id}/tags", doctor(), body)

    assert status == 201, tag_set
    assert tag_set["suggestion_id"] == suggestion["id"] and tag_set["ai_suggested"] and tag_set["ai_overridden"]
    assert tag_set["ai_fields"] == {"overall_tracking": "accepted", "oral_hygiene": "overridden",
                                    "detail_tags": "accepted"}  # fmt: skip
    _, after = call(api, "GET", "/tagging/analytics", doctor())
    accuracy, earlier = after["suggestion_accuracy"], before["suggestion_accuracy"]
    assert (accuracy["accepted"], accuracy["overridden"]) == (earlier["accepted"] + 2, earlier["overridden"] + 1)
    assert accuracy["fields"]["oral_hygiene"]["overridden"] == earlier["fields"]["oral_hygiene"]["overridden"] + 1
    assert accuracy["fields"]["detail_tags"]["accepted"] == earlier["fields"]["detail_tags"]["accepted"] + 1


# --- analytics --------------------------------------------------------------------------------------------


def test_analytics_count_opened_and_tagged_sessions_and_keep_the_tier_on_the_clinic(
    api: Client, names: ResourceNames
) -> None:
    _, before = call(api, "GET", "/tagging/analytics", doctor())
    first = session_with_photos(api, names, "P-TAG-RATE", {"FRONT": photo()})
    session_with_photos(api, names, "P-TAG-RATE", {"FRONT": photo()})
    assert (
        call(api, "POST", f"/tagging/sessions/{first}/tags", doctor(), {"overall_tracking": 1, "oral_hygiene": 1})[0]
        == 201
    )

    status, after = call(api, "GET", "/tagging/analytics", doctor())

    assert status == 200, after
    assert after["total_sessions"] == before["total_sessions"] + 2
    assert after["tagged_sessions"] == before["tagged_sessions"] + 1
    assert after["window_days"] == 30 and after["window_end"] == datetime.now(UTC).date().isoformat()
    expected_rate = round(100 * after["tagged_sessions"] / after["total_sessions"], 2)
    assert after["tagging_rate"] == expected_rate
    clinic = clinics_db.get(CLINIC)
    assert clinic is not None and clinic.discount_tier == after["discount_tier"]
    assert clinic.tagging_rate == expected_rate and clinic.discount_tier_at is not None
    # a manager (the scan dashboard) reads it too; a nurse may not; another clinic sees only its own (nothing)
    assert call(api, "GET", "/tagging/analytics", bearer(CLINIC, Role.MANAGER))[0] == 200
    assert call(api, "GET", "/tagging/analytics", bearer(CLINIC, Role.NURSE))[0] == 403
    _, other = call(api, "GET", "/tagging/analytics", doctor(OTHER_CLINIC))
    assert (other["total_sessions"], other["tagged_sessions"], other["discount_tier"]) == (0, 0, 0)


def _seed_days(clinic_id: str, per_day: dict[date, tuple[int, int]]) -> None:
    from chalicelib.services import audit
    from chalicelib.services.scope import Scope

    for day, (sessions, tagged) in per_day.items():
        with audit.change(
            Scope.system(clinic_id, "system:test"), "test.seed", resource="clinic", resource_id=clinic_id
        ) as c:
            tagging_db.count(c, clinic_id, day, {"sessions": sessions, "tagged": tagged})


@pytest.mark.parametrize(
    ("tagged", "tier"),
    [(100, 30), (85, 30), (84, 20), (70, 20), (69, 10), (50, 10), (49, 0), (0, 0)],
)
def test_discount_tier_boundaries_over_the_30_day_window(
    api: Client, names: ResourceNames, tagged: int, tier: int
) -> None:
    """100 sessions spread over the window (and some outside it, which must not count)."""
    clinic_id = f"clinic-tier-{tagged}"
    clinics.ensure(clinic_id, ORG, actor="cli", now=datetime.now(UTC))
    today = datetime.now(UTC).date()
    days = {today - timedelta(days=offset): (0, 0) for offset in range(30)}
    days[today] = (60, min(tagged, 60))
    days[today - timedelta(days=29)] = (40, tagged - min(tagged, 60))
    days[today - timedelta(days=30)] = (500, 0)  # the 31st day back: outside the window
    _seed_days(clinic_id, {day: value for day, value in days.items() if value != (0, 0)})

    status, analytics = call(api, "GET", "/tagging/analytics", doctor(clinic_id))

    assert status == 200, analytics
    assert (analytics["total_sessions"], analytics["tagged_sessions"]) == (100, tagged)
    assert (analytics["tagging_rate"], analytics["discount_tier"]) == (float(tagged), tier)
    clinic = clinics_db.get(clinic_id)
    assert clinic is not None and clinic.discount_tier == tier
