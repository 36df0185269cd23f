"""Web push subscriptions (seed 000 §6 "Subscription"): the portal subscribes a browser with the VAPID public key
and posts the `PushSubscription`; it is upserted by endpoint in the patient's partition. Delivery is
services/notifications.py, run by the `notify` function. See docs/portal.md "Web push".

An endpoint must be an https URL of a push service (a name, not an IP literal); plain http is accepted only
for a loopback address on stage `local` (`make run` and the tests use a local push service stand-in). The
keys are checked as the browser makes them: `p256dh` a 65-byte uncompressed P-256 point, `auth` 16 bytes,
both base64url. Every write is one transaction with its audit entry (the endpoint is never audited: it is
a capability URL; the subscription id, its hash, is).
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from urllib.parse import urlsplit

from pydantic import BaseModel

from chalicelib import vapid
from chalicelib.db import push as repo
from chalicelib.db import store
from chalicelib.errors import Conflict, Forbidden, InvalidInput, Unavailable
from chalicelib.services import audit
from chalicelib.services.scope import Scope
from chalicelib.settings import LOCAL_STAGE, Settings, get_settings, is_loopback

MAX_ENDPOINT = 2048
AUTH_SECRET_BYTES = 16


class PushSubscriptionOut(BaseModel):
    id: str
    endpoint: str
    created_at: datetime
    updated_at: datetime


class PushUnsubscribed(BaseModel):
    endpoint: str
    removed: bool  # false: this browser was not subscribed (the call is idempotent)


class VapidPublicKey(BaseModel):
    public_key: str  # base64url uncompressed P-256 point: pushManager.subscribe's applicationServerKey


def _out(subscription: repo.Subscription) -> PushSubscriptionOut:
    return PushSubscriptionOut(
        id=subscription.id,
        endpoint=subscription.endpoint,
        created_at=subscription.created_at,
        updated_at=subscription.updated_at,
    )


def _own_patient(scope: Scope) -> str:
    if scope.patient_id is None:
        raise Forbidden("only a patient's own token may manage push subscriptions")
    return scope.patient_id


def check_endpoint(endpoint: str, settings: Settings) -> str:
    """The endpoint if a push service may live there; InvalidInput naming `endpoint` otherwise."""
    invalid = InvalidInput(
        "endpoint must be an https URL of a push service (http only to a loopback address on stage 'local')",
        code="invalid_endpoint",
        field="endpoint",
    )
    if len(endpoint) > MAX_ENDPOINT or any(c.isspace() for c in endpoint):
        raise invalid
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise invalid from None
    if not host or parts.username or parts.password or parts.fragment:
        raise invalid
    if parts.scheme == "http" and settings.stage == LOCAL_STAGE and is_loopback(endpoint):
        return endpoint
    if parts.scheme != "https":
        raise invalid
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return endpoint  # a name: push services are reached by name
    raise invalid  # an IP literal: no push service is; the worker must not be aimed at arbitrary hosts


def check_keys(p256dh: str, auth: str) -> tuple[str, str]:
    """The browser's keys, normalised to unpadded base64url; InvalidInput naming `keys.p256dh` / `keys.auth`."""
    try:
        vapid.p256_point(p256dh)
    except ValueError as exc:
        raise InvalidInput(f"keys.p256dh {exc}", code="invalid_key", field="keys.p256dh") from None
    try:
        secret = vapid.b64url_decode(auth)
    except ValueError:
        secret = b""
    if len(secret) != AUTH_SECRET_BYTES:
        raise InvalidInput(
            f"keys.auth must be {AUTH_SECRET_BYTES} bytes, base64url", code="invalid_key", field="keys.auth"
        )
    return p256dh.rstrip("="), auth.rstrip("=")


def subscribe(
    scope: Scope, endpoint: str, p256dh: str, auth: str, *, now: datetime | None = None
) -> PushSubscriptionOut:
    """Upserts the calling patient's subscription by endpoint (new keys replace old ones; an endpoint another
    patient of the clinic held moves to this one)."""
    patient_id = _own_patient(scope)
    now = now or datetime.now(UTC)
    endpoint = check_endpoint(endpoint, get_settings())
    p256dh, auth = check_keys(p256dh, auth)
    sub_id = repo.subscription_id(endpoint)
    existing = repo.get(scope.clinic_id, patient_id, sub_id)
    holder = repo.holder(scope.clinic_id, sub_id)
    subscription = repo.Subscription(
        id=sub_id, clinic_id=scope.clinic_id, patient_id=patient_id, endpoint=endpoint, p256dh=p256dh, auth=auth,
        created_at=existing.created_at if existing else now, updated_at=now,
    )  # fmt: skip
    action = "push.resubscribed" if existing else "push.subscribed"
    try:
        with audit.change(scope, action, resource="patient", resource_id=patient_id, at=now,
                          subscription_id=sub_id) as change:  # fmt: skip
            repo.save(change, subscription, previous_holder=holder)
    except store.ConditionFailed:
        raise Conflict("this browser was subscribed meanwhile; try again", code="subscription_changed") from None
    return _out(subscription)


def unsubscribe(scope: Scope, endpoint: str) -> PushUnsubscribed:
    """Removes the calling patient's subscription of this endpoint; `removed: false` when there was none."""
    patient_id = _own_patient(scope)
    if not endpoint or len(endpoint) > MAX_ENDPOINT:
        raise InvalidInput(f"endpoint must be 1-{MAX_ENDPOINT} characters", code="invalid_endpoint", field="endpoint")
    sub_id = repo.subscription_id(endpoint)
    if repo.get(scope.clinic_id, patient_id, sub_id) is None:
        return PushUnsubscribed(endpoint=endpoint, removed=False)
    holds_pointer = repo.holder(scope.clinic_id, sub_id) == patient_id
    with audit.change(scope, "push.unsubscribed", resource="patient", resource_id=patient_id,
                      subscription_id=sub_id) as change:  # fmt: skip
        repo.remove(change, scope.clinic_id, patient_id, sub_id, holds_pointer=holds_pointer)
    return PushUnsubscribed(endpoint=endpoint, removed=True)


def expire(clinic_id: str, patient_id: str, sub_id: str, *, status: int) -> bool:
    """The push service said the subscription is gone (404/410): the notify function deletes it, audited as
    the system. False when it was already gone."""
    if repo.get(clinic_id, patient_id, sub_id) is None:
        return False
    holds_pointer = repo.holder(clinic_id, sub_id) == patient_id
    scope = Scope.system(clinic_id, "system:notify")
    with audit.change(scope, "push.subscription_expired", resource="patient", resource_id=patient_id,
                      subscription_id=sub_id, status=str(status)) as change:  # fmt: skip
        repo.remove(change, clinic_id, patient_id, sub_id, holds_pointer=holds_pointer)
    return True


def public_key() -> VapidPublicKey:
    """The VAPID public key the portal subscribes with; 503 `push_unavailable` when none is configured."""
    key = get_settings().vapid_public_key
    if not key:
        raise Unavailable(
            "web push is not configured here (MEDFLOW_VAPID_PUBLIC_KEY or a VAPID private key)", code="push_unavailable"
        )
    return VapidPublicKey(public_key=key)
