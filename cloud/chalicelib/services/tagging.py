"""Tagging (seed 000, "Scan Review" and "Dashboard Analytics"): an AI suggestion for a scan session's TagSet
(Claude vision, `claude_vision`), the doctor's TagSet that reviews the session in one transaction, and the
clinic's tagging analytics (30-day tagging rate, discount tier, suggestion accuracy) read from per-day counters
that every write maintains (`db/tagging.py`), never by counting sessions.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from chalicelib import aws
from chalicelib.db import audit as audit_repo
from chalicelib.db import clinics as clinics_db
from chalicelib.db import scans as scans_db
from chalicelib.db import store
from chalicelib.db import tagging as tagging_db
from chalicelib.errors import Conflict, InvalidInput, NotFound, Unavailable
from chalicelib.services import audit, claude_vision, images, scan_compliance
from chalicelib.services.claude_vision import AiFailed, Photo
from chalicelib.services.scans import ImageType, ScanStatus
from chalicelib.services.scope import Scope
from chalicelib.services.tag_set import (
    FIELDS,
    SCALES,
    WINDOW_DAYS,
    DetailTag,
    TagSet,
    TagValues,
    compare,
    discount_tier,
    tag_set_of,
    tagging_rate,
    values_of_record,
)
from chalicelib.settings import get_settings

CONTENTION_RETRIES = 3  # the day's counter item is shared by the clinic's writes of that day


class AiTagSuggestion(TagValues):
    """What the model proposed, checked: scores clamped into their ranges (`clamped` names them), unknown
    tags left out (`dropped_tags`)."""

    id: str
    session_id: str
    model: str
    latency_ms: int
    input_tokens: int
    output_tokens: int
    clamped: list[str]
    dropped_tags: list[str]
    created_at: datetime


class FieldAccuracy(BaseModel):
    accepted: int
    overridden: int
    acceptance_rate: float | None  # % of suggested values the doctors kept; null before any


class SuggestionAccuracy(BaseModel):
    suggestions: int  # suggestions made in the window
    input_tokens: int
    output_tokens: int
    accepted: int  # fields kept, all fields together
    overridden: int
    acceptance_rate: float | None
    fields: dict[str, FieldAccuracy]


class TagAnalytics(BaseModel):
    window_days: int
    window_start: date
    window_end: date
    total_sessions: int
    tagged_sessions: int
    tagging_rate: float  # %
    discount_tier: int  # %
    suggestion_accuracy: SuggestionAccuracy


def _utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def _locate(scope: Scope, session_id: str) -> tuple[str, scans_db.ScanSessionItem]:
    patient_id = scans_db.patient_of(scope.clinic_id, session_id)
    session = scans_db.get_session(scope.clinic_id, scope.patient(patient_id), session_id) if patient_id else None
    if patient_id is None or session is None:
        raise NotFound("no scan session with this id in your clinic", code="not_found")
    return patient_id, session


def _reviewable(session: scans_db.ScanSessionItem) -> None:
    if session.status != ScanStatus.PENDING.value:
        raise Conflict("the scan session is already reviewed", code="already_reviewed")


# --- AI suggestion ----------------------------------------------------------------------------------------


def suggest(scope: Scope, session_id: str) -> AiTagSuggestion:
    """Sends the session's photos to the model and stores its checked answer. 503 `ai_unavailable` without a
    key, 502 `ai_failed` when the model fails (nothing stored, the attempt audited as a failure)."""
    patient_id, session = _locate(scope, session_id)
    _reviewable(session)
    settings = get_settings()
    claude_vision.ensure_configured(settings)
    photos = _photos(scope, patient_id, session_id)
    try:
        answer = claude_vision.suggest(settings, photos)
    except AiFailed as exc:
        at = datetime.now(UTC)
        audit_repo.record(audit.entry(scope, "scan.ai_suggested", at=at, resource="scan_session",
                                      resource_id=session_id, outcome="failure", reason=exc.code,
                                      images=str(len(photos))))  # fmt: skip
        raise
    at, suggestion_id = datetime.now(UTC), uuid.uuid4().hex
    checked = answer.checked
    item = tagging_db.new_suggestion(
        scope.clinic_id, patient_id, session_id, suggestion_id, at,
        overall_tracking=checked.values.overall_tracking, oral_hygiene=checked.values.oral_hygiene,
        detail_tags=[tag.value for tag in checked.values.detail_tags] or None,
        clamped=list(checked.clamped) or None, dropped_tags=list(checked.dropped_tags)[:20] or None,
        model=answer.model, latency_ms=answer.latency_ms, input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens, request_id=answer.request_id, requested_by_id=scope.user_id or scope.actor,
    )  # fmt: skip
    counts = {"suggestions": 1, "input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens}
    _with_retries(lambda: _store_suggestion(scope, item, counts, len(photos)))
    return _suggestion(item)


def _store_suggestion(scope: Scope, item: tagging_db.SuggestionItem, counts: dict[str, int], photos: int) -> None:
    with audit.change(scope, "scan.ai_suggested", resource="scan_session", resource_id=item.session_id,
                      at=item.created_at, suggestion_id=item.suggestion_id, model=item.model,
                      images=str(photos)) as c:  # fmt: skip
        c.save(item, condition=tagging_db.SuggestionItem.pk.does_not_exist())
        tagging_db.count(c, scope.clinic_id, _utc_day(item.created_at), counts)


def _photos(scope: Scope, patient_id: str, session_id: str) -> list[Photo]:
    """The session's confirmed photos, in image-type order, each downscaled to a JPEG the model needs. The
    five are fetched and scaled side by side: S3 reads and Pillow's decode and resize release the GIL."""
    _, found, _ = tagging_db.session_view(scope.clinic_id, patient_id, session_id)
    if not found:
        raise Conflict("the scan session has no confirmed photos yet", code="no_images")
    settings = get_settings()
    s3, bucket = aws.client("s3", settings), settings.names.scans_bucket
    order = list(ImageType)

    def load(image: scans_db.ScanImageItem) -> Photo:
        data = s3.get_object(Bucket=bucket, Key=image.key)["Body"].read()
        try:
            jpeg, _ = images.for_model(data)
        except images.ImageRejected as exc:  # confirmed images decode; a replaced object may not
            raise Conflict(f"the {image.image_type} photo cannot be read ({exc.code}); ask for it again",
                           code="image_unreadable") from None  # fmt: skip
        return Photo(label=image.image_type, jpeg=jpeg)

    ordered = sorted(found, key=lambda item: order.index(ImageType(item.image_type)))
    with ThreadPoolExecutor(max_workers=len(ordered)) as pool:
        return list(pool.map(load, ordered))


def _suggestion(item: tagging_db.SuggestionItem) -> AiTagSuggestion:
    return AiTagSuggestion(
        **values_of_record(item).model_dump(), id=item.suggestion_id, session_id=item.session_id, model=item.model,
        latency_ms=int(item.latency_ms), input_tokens=int(item.input_tokens), output_tokens=int(item.output_tokens),
        clamped=list(item.clamped or []), dropped_tags=list(item.dropped_tags or []), created_at=item.created_at,
    )  # fmt: skip


# --- the doctor's tags ------------------------------------------------------------------------------------


def tag(scope: Scope, session_id: str, values: TagValues, *, ai_suggested: bool, ai_overridden: bool) -> TagSet:
    """Records the TagSet and marks the session REVIEWED (reviewed_at, reviewed_by_id) in one transaction with
    the day counters, the audit entry and `scan.reviewed`. A reviewed session is a 409 `already_reviewed`."""
    patient_id, session = _locate(scope, session_id)
    _reviewable(session)
    suggestion = tagging_db.latest_suggestion(scope.clinic_id, patient_id, session_id)
    ai_fields = compare(values, values_of_record(suggestion)) if suggestion is not None else None
    previous = tagging_db.get_tag_set(scope.clinic_id, patient_id, session_id)  # a reopened session's
    at = datetime.now(UTC)
    item = tagging_db.new_tag_set(
        scope.clinic_id, patient_id, session_id, tag_set_id=uuid.uuid4().hex,
        overall_tracking=values.overall_tracking, oral_hygiene=values.oral_hygiene,
        detail_tags=[tag.value for tag in values.detail_tags] or None, ai_suggested=ai_suggested,
        ai_overridden=ai_overridden, suggestion_id=suggestion.suggestion_id if suggestion else None,
        ai_fields=ai_fields, tagged_by_id=scope.user_id or scope.actor, created_at=at,
    )  # fmt: skip
    per_day: dict[date, dict[str, int]] = defaultdict(dict)
    if previous is None:  # a session counts as tagged once, on the day it was opened
        per_day[_utc_day(session.created_at)]["tagged"] = 1
    for name, verdict in (ai_fields or {}).items():
        per_day[_utc_day(at)][f"{verdict}_{name}"] = 1
    try:
        _with_retries(lambda: _store_tags(scope, session, item, previous, per_day))
    except store.ConditionFailed:
        raise Conflict("the scan session was reviewed meanwhile", code="already_reviewed") from None
    return tag_set_of(item)


def _store_tags(
    scope: Scope,
    session: scans_db.ScanSessionItem,
    item: tagging_db.TagSetItem,
    previous: tagging_db.TagSetItem | None,
    per_day: dict[date, dict[str, int]],
) -> None:
    Session, Tags = scans_db.ScanSessionItem, tagging_db.TagSetItem
    reviewed = ScanStatus.REVIEWED.value
    new_tags = Tags.pk.does_not_exist() if previous is None else Tags.tag_set_id == previous.tag_set_id
    with audit.change(scope, "scan.tagged", resource="scan_session", resource_id=item.session_id,
                      at=item.created_at, tag_set_id=item.tag_set_id,
                      ai_suggested=str(item.ai_suggested).lower()) as c:  # fmt: skip
        c.save(item, condition=new_tags)
        c.update(
            scans_db.session_key(scope.clinic_id, item.patient_id, item.session_id),
            actions=[
                Session.status.set(reviewed),
                Session.updated_at.set(item.created_at),
                Session.gsi1pk.set(scans_db.status_pk(scope.clinic_id, reviewed)),
                Session.reviewed_at.set(item.created_at),
                Session.reviewed_by_id.set(item.tagged_by_id),
            ],
            condition=Session.status == ScanStatus.PENDING.value,
        )
        for day, increments in per_day.items():
            tagging_db.count(c, scope.clinic_id, day, increments)
        scan_compliance.pending(c, scope.clinic_id, -1)  # the session leaves PENDING (condition above)
        # The same event and subject as PATCH /scans/sessions/{id}/status: web push listens for it.
        c.emit("scan.reviewed", session_id=item.session_id, patient_id=item.patient_id)


def _with_retries(write: Any) -> None:
    for attempt in range(CONTENTION_RETRIES):
        try:
            write()
            return
        except store.Contention:
            if attempt == CONTENTION_RETRIES - 1:
                raise Unavailable("the clinic's tagging counters are busy; try again", code="tagging_busy") from None


# --- analytics --------------------------------------------------------------------------------------------


def analytics(scope: Scope, *, today: date | None = None) -> TagAnalytics:
    """The last 30 UTC days (today included) from the day counters; the discount tier is kept on the clinic."""
    last = today or datetime.now(UTC).date()
    first = last - timedelta(days=WINDOW_DAYS - 1)
    totals: dict[str, int] = defaultdict(int)
    for day in tagging_db.days(scope.clinic_id, first, last):
        for name in day.get_attributes():
            value = getattr(day, name)
            if isinstance(value, int | float) and name not in ("pk", "sk"):
                totals[name] += int(value)
    total, tagged = totals["sessions"], min(totals["tagged"], totals["sessions"])
    tier, rate = discount_tier(tagged, total), tagging_rate(tagged, total)
    _keep_on_clinic(scope, tier, rate)
    return TagAnalytics(window_days=WINDOW_DAYS, window_start=first, window_end=last, total_sessions=total,
                        tagged_sessions=tagged, tagging_rate=rate, discount_tier=tier,
                        suggestion_accuracy=_accuracy(totals))  # fmt: skip


def _share(kept: int, changed: int) -> float | None:
    return round(100.0 * kept / (kept + changed), 2) if kept + changed else None


def _accuracy(totals: dict[str, int]) -> SuggestionAccuracy:
    fields = {
        name: FieldAccuracy(accepted=totals[f"accepted_{name}"], overridden=totals[f"overridden_{name}"],
                            acceptance_rate=_share(totals[f"accepted_{name}"], totals[f"overridden_{name}"]))
        for name in FIELDS
    }  # fmt: skip
    accepted = sum(field.accepted for field in fields.values())
    overridden = sum(field.overridden for field in fields.values())
    return SuggestionAccuracy(suggestions=totals["suggestions"], input_tokens=totals["input_tokens"],
                              output_tokens=totals["output_tokens"], accepted=accepted, overridden=overridden,
                              acceptance_rate=_share(accepted, overridden), fields=fields)  # fmt: skip


def _keep_on_clinic(scope: Scope, tier: int, rate: float) -> None:
    """Persists the tier on the clinic's record (seed 000: "Persist to Practice record") when it changed; a
    clinic without a record (created implicitly by its first data) has nowhere to keep it."""
    clinic = clinics_db.get(scope.clinic_id)
    if clinic is None or (clinic.discount_tier, clinic.tagging_rate) == (tier, rate):
        return
    at = datetime.now(UTC)
    Clinic = clinics_db.ClinicItem
    actions: list[Any] = [
        Clinic.discount_tier.set(tier),
        Clinic.tagging_rate.set(rate),
        Clinic.discount_tier_at.set(at),
    ]
    try:
        with audit.change(scope, "clinic.discount_tier_updated", resource="clinic", resource_id=clinic.id, at=at,
                          discount_tier=str(tier), tagging_rate=f"{rate:g}") as c:  # fmt: skip
            for key in clinics_db.keys_of(clinic):
                c.update(key, actions=actions, condition=Clinic.pk.exists())
            if clinic.discount_tier != tier:
                c.emit("clinic.discount_tier_changed", clinic_id=clinic.id, discount_tier=str(tier))
    except (store.ConditionFailed, store.Contention):
        pass  # another request kept it (or the clinic went) meanwhile: the next read keeps it again


def values_of(overall_tracking: int, oral_hygiene: int, detail_tags: list[DetailTag]) -> TagValues:
    """The doctor's values (the request model has checked the ranges); each tag once, in the given order."""
    for name, value in (("overall_tracking", overall_tracking), ("oral_hygiene", oral_hygiene)):
        scale = SCALES[name]
        if not scale.low <= value <= scale.high:
            raise InvalidInput(f"{name} must be {scale.low}..{scale.high}", code="out_of_range", field=name)
    return TagValues(overall_tracking=overall_tracking, oral_hygiene=oral_hygiene,
                     detail_tags=list(dict.fromkeys(detail_tags)))  # fmt: skip
