"""Tagging repository: a scan session's TagSet and its AI suggestions (clinical table, beside the session) and the
clinic's per-day tagging counters (directory table) that analytics read instead of counting sessions.

    clinical   CLINIC#c#PATIENT#p / SCAN#{session}#TAGSET                    the session's tag set (one)
               gsi1  CLINIC#c#TAGSETS / {created}#{session}                  the clinic's tag sets, by time
               CLINIC#c#PATIENT#p / SCAN_AI#{session}#{at}#{suggestion}      every AI suggestion, oldest first
    directory  CLINIC#c / TAGGING#DAY#{yyyy-mm-dd}                           the day's counters (UTC days)

The tag set's key extends the session's, so the staff view of a session reads session, images and tag set
with one Query (`session_view`); suggestions sit under another prefix and stay out of that Query.
Counters: `sessions` and `tagged` count on the day a session was opened (the tagging rate is "of the sessions
opened in the window, how many are tagged", seed 000), `suggestions` and tokens on the day asked, accepted /
overridden fields on the day tagged.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)

from chalicelib.db import keys, store
from chalicelib.db.scans import ScanImageItem, ScanSessionItem, session_sk

ACCURACY_FIELDS = ("overall_tracking", "oral_hygiene", "detail_tags")


class TagSetItem(store.ClinicalItem):
    class Meta:
        table_name = store.UNBOUND

    gsi1 = store.Gsi1()
    tag_set_id = UnicodeAttribute()
    session_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    overall_tracking = NumberAttribute()
    oral_hygiene = NumberAttribute()
    detail_tags = ListAttribute(of=UnicodeAttribute, null=True)
    ai_suggested = BooleanAttribute()
    ai_overridden = BooleanAttribute()
    suggestion_id = UnicodeAttribute(null=True)
    ai_fields = MapAttribute[str, Any](null=True)  # field → "accepted" | "overridden"
    tagged_by_id = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()


class SuggestionItem(store.ClinicalItem):
    class Meta:
        table_name = store.UNBOUND

    suggestion_id = UnicodeAttribute()
    session_id = UnicodeAttribute()
    overall_tracking = NumberAttribute()
    oral_hygiene = NumberAttribute()
    detail_tags = ListAttribute(of=UnicodeAttribute, null=True)
    clamped = ListAttribute(of=UnicodeAttribute, null=True)
    dropped_tags = ListAttribute(of=UnicodeAttribute, null=True)
    model = UnicodeAttribute()
    latency_ms = NumberAttribute()
    input_tokens = NumberAttribute()
    output_tokens = NumberAttribute()
    request_id = UnicodeAttribute(null=True)
    requested_by_id = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()


class TaggingDayItem(store.DirectoryItem):
    """One clinic's counters of one UTC day; absent attributes are 0 (ADD creates them)."""

    class Meta:
        table_name = store.UNBOUND

    sessions = NumberAttribute(null=True)
    tagged = NumberAttribute(null=True)
    suggestions = NumberAttribute(null=True)
    input_tokens = NumberAttribute(null=True)
    output_tokens = NumberAttribute(null=True)
    accepted_overall_tracking = NumberAttribute(null=True)
    overridden_overall_tracking = NumberAttribute(null=True)
    accepted_oral_hygiene = NumberAttribute(null=True)
    overridden_oral_hygiene = NumberAttribute(null=True)
    accepted_detail_tags = NumberAttribute(null=True)
    overridden_detail_tags = NumberAttribute(null=True)


ITEMS = (TagSetItem, SuggestionItem, TaggingDayItem)
DAY_PREFIX = "TAGGING#DAY#"


def tag_set_sk(session_id: str) -> str:
    return f"{session_sk(session_id)}#TAGSET"


def suggestion_prefix(session_id: str) -> str:
    return f"SCAN_AI#{keys.segment(session_id)}#"


def day_sk(day: date) -> str:
    return f"{DAY_PREFIX}{day.isoformat()}"


def tag_set_key(clinic_id: str, patient_id: str, session_id: str) -> TagSetItem:
    return TagSetItem(keys.patient_pk(clinic_id, patient_id), tag_set_sk(session_id))


def _clinic_tag_sets(clinic_id: str) -> str:
    return f"{keys.clinic_pk(clinic_id)}#TAGSETS"


def new_tag_set(clinic_id: str, patient_id: str, session_id: str, *, created_at: datetime, **values: Any) -> TagSetItem:
    """A session's tag set; `gsi1` orders it among the clinic's by when it was submitted (a re-tag replaces the
    item, so it moves to its new time)."""
    return TagSetItem(
        keys.patient_pk(clinic_id, patient_id), tag_set_sk(session_id), gsi1pk=_clinic_tag_sets(clinic_id),
        gsi1sk=f"{keys.sortable_time(created_at)}#{keys.segment(session_id)}", session_id=session_id,
        patient_id=patient_id, created_at=created_at, **values,
    )  # fmt: skip


def recent_tag_sets(clinic_id: str, *, limit: int) -> list[TagSetItem]:
    """The clinic's most recently submitted tag sets (one Query of `gsi1`, newest first)."""
    return store.query_page(TagSetItem, _clinic_tag_sets(clinic_id), index="gsi1", newest_first=True, limit=limit,
                            next_token=None).items  # fmt: skip


def get_tag_set(clinic_id: str, patient_id: str, session_id: str) -> TagSetItem | None:
    return store.get(TagSetItem, keys.patient_pk(clinic_id, patient_id), tag_set_sk(session_id))


def new_suggestion(
    clinic_id: str, patient_id: str, session_id: str, suggestion_id: str, at: datetime, **values: Any
) -> SuggestionItem:
    sk = f"{suggestion_prefix(session_id)}{keys.sortable_time(at)}#{suggestion_id}"
    return SuggestionItem(keys.patient_pk(clinic_id, patient_id), sk, suggestion_id=suggestion_id,
                          session_id=session_id, created_at=at, **values)  # fmt: skip


def latest_suggestion(clinic_id: str, patient_id: str, session_id: str) -> SuggestionItem | None:
    """The session's newest suggestion (one Query, newest first, one item)."""
    page = store.query_page(SuggestionItem, keys.patient_pk(clinic_id, patient_id),
                            prefix=suggestion_prefix(session_id), newest_first=True, limit=1,
                            next_token=None)  # fmt: skip
    return page.items[0] if page.items else None


def session_view(
    clinic_id: str, patient_id: str, session_id: str
) -> tuple[ScanSessionItem | None, list[ScanImageItem], TagSetItem | None]:
    """The session, its images and its tag set: one Query (their keys all extend the session's)."""
    store.bound()
    pk, own = keys.patient_pk(clinic_id, patient_id), session_sk(session_id)
    connection: Any = store.connection()
    answer = connection.query(ScanSessionItem.Meta.table_name, pk,
                              range_key_condition=ScanSessionItem.sk.startswith(own), consistent_read=True)  # fmt: skip
    session: ScanSessionItem | None = None
    images: list[ScanImageItem] = []
    tag_set: TagSetItem | None = None
    for raw in answer.get("Items", []):
        sk = raw["sk"]["S"]
        if sk == own:
            session = ScanSessionItem.from_raw_data(raw)
        elif sk.startswith(own + "#IMAGE#"):
            images.append(ScanImageItem.from_raw_data(raw))
        elif sk == tag_set_sk(session_id):
            tag_set = TagSetItem.from_raw_data(raw)
    return session, images, tag_set


def day_key(clinic_id: str, day: date) -> TaggingDayItem:
    return TaggingDayItem(keys.clinic_pk(clinic_id), day_sk(day))


def count(change: Any, clinic_id: str, day: date, increments: dict[str, int]) -> None:
    """Adds to one day's counters within `change` (a transaction): one update per day and change."""
    actions = [getattr(TaggingDayItem, name).add(amount) for name, amount in increments.items() if amount]
    if actions:
        change.update(day_key(clinic_id, day), actions=actions)


def days(clinic_id: str, first: date, last: date) -> list[TaggingDayItem]:
    """The clinic's counters from `first` to `last` (inclusive): one Query of at most a window's days."""
    page = store.query_page(TaggingDayItem, keys.clinic_pk(clinic_id), between=(day_sk(first), day_sk(last)),
                            limit=(last - first).days + 1, next_token=None)  # fmt: skip
    return page.items
