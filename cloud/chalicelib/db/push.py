"""Web push subscriptions repository: a patient's browsers (clinical table) and the clinic's pointer from an
endpoint to the patient holding it (directory table), so that subscribing upserts by endpoint.

    clinical   CLINIC#c#PATIENT#p / PUSH#{subscription}    endpoint, p256dh, auth, created_at, updated_at
    directory  CLINIC#c / PUSHENDPOINT#{subscription}      → patient id (who holds the endpoint now)

`subscription` is the SHA-256 of the endpoint (hex, 32 characters): an endpoint names one browser, so a
browser subscribing again replaces its keys, and a browser passed to another patient of the clinic (a shared
tablet, a new login) moves there, never notifying both.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.db import keys, store

PREFIX = "PUSH#"


class PushSubscriptionItem(store.ClinicalItem):
    class Meta:
        table_name = store.UNBOUND

    subscription_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    endpoint = UnicodeAttribute()
    p256dh = UnicodeAttribute()
    auth = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class PushEndpointPointer(store.DirectoryItem):
    class Meta:
        table_name = store.UNBOUND

    patient_id = UnicodeAttribute()


ITEMS = (PushSubscriptionItem, PushEndpointPointer)


@dataclass(frozen=True)
class Subscription:
    id: str
    clinic_id: str
    patient_id: str
    endpoint: str
    p256dh: str
    auth: str
    created_at: datetime
    updated_at: datetime


def subscription_id(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()[:32]


def _sk(sub_id: str) -> str:
    return f"{PREFIX}{sub_id}"


def _pointer_sk(sub_id: str) -> str:
    return f"PUSHENDPOINT#{sub_id}"


def _from_item(clinic_id: str, item: PushSubscriptionItem) -> Subscription:
    return Subscription(
        id=item.subscription_id,
        clinic_id=clinic_id,
        patient_id=item.patient_id,
        endpoint=item.endpoint,
        p256dh=item.p256dh,
        auth=item.auth,
        created_at=item.created_at,
        updated_at=item.updated_at,
    )


def get(clinic_id: str, patient_id: str, sub_id: str) -> Subscription | None:
    item = store.get(PushSubscriptionItem, keys.patient_pk(clinic_id, patient_id), _sk(sub_id))
    return _from_item(clinic_id, item) if item else None


def holder(clinic_id: str, sub_id: str) -> str | None:
    """The patient of the clinic holding this endpoint now, if any."""
    item = store.get(PushEndpointPointer, keys.clinic_pk(clinic_id), _pointer_sk(sub_id))
    return item.patient_id if item else None


def of_patient(clinic_id: str, patient_id: str, *, limit: int = 50) -> list[Subscription]:
    """The patient's subscriptions (one Query: a patient has a few browsers)."""
    found = store.query_page(
        PushSubscriptionItem, keys.patient_pk(clinic_id, patient_id), prefix=PREFIX, limit=limit, next_token=None
    )
    return [_from_item(clinic_id, item) for item in found.items]


def save(change: Any, subscription: Subscription, *, previous_holder: str | None) -> None:
    """Writes the subscription and points the endpoint at its patient, in the change's transaction; removes
    the endpoint from `previous_holder` (another patient of the clinic). The pointer must still name who it
    named when read, so two racing subscribes of one endpoint cannot both win."""
    clinic, sub_id = subscription.clinic_id, subscription.id
    change.save(
        PushSubscriptionItem(
            keys.patient_pk(clinic, subscription.patient_id),
            _sk(sub_id),
            subscription_id=sub_id,
            patient_id=subscription.patient_id,
            endpoint=subscription.endpoint,
            p256dh=subscription.p256dh,
            auth=subscription.auth,
            created_at=subscription.created_at,
            updated_at=subscription.updated_at,
        )
    )
    pointer = PushEndpointPointer(keys.clinic_pk(clinic), _pointer_sk(sub_id), patient_id=subscription.patient_id)
    seen = (
        PushEndpointPointer.pk.does_not_exist()
        if previous_holder is None
        else PushEndpointPointer.patient_id == previous_holder
    )
    change.save(pointer, condition=seen)
    if previous_holder is not None and previous_holder != subscription.patient_id:
        change.delete(PushSubscriptionItem(keys.patient_pk(clinic, previous_holder), _sk(sub_id)))


def remove(change: Any, clinic_id: str, patient_id: str, sub_id: str, *, holds_pointer: bool) -> None:
    """Deletes the patient's subscription (in the change's transaction), and the endpoint's pointer when it
    names this patient (`holds_pointer`, as read by the caller)."""
    change.delete(PushSubscriptionItem(keys.patient_pk(clinic_id, patient_id), _sk(sub_id)))
    if holds_pointer:
        change.delete(PushEndpointPointer(keys.clinic_pk(clinic_id), _pointer_sk(sub_id)))
