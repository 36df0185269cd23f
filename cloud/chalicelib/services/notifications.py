"""Web push delivery (seed 000 §6 "Notification Delivery"), run by the `notify` function, never by a request.

Two steps, both idempotent enough to be retried:
1. `jobs_for(event)`: an outbox event that notifies (`scan.reviewed`; `message.new` from staff) becomes one job
   per subscription the patient holds. The event came from the events table's stream, so it exists only if
   the change that raised it committed.
2. `deliver(job)`: the payload is encrypted for that subscription (aes128gcm, RFC 8291) and POSTed with a VAPID
   signature (pywebpush). 2xx: delivered. 404/410: the push service forgot the subscription, so it is
   deleted (audited). Anything else (5xx, 429, a timeout, a redirect) raises `PushRetry`: the job goes back
   to the queue with a growing delay and ends in the DLQ if it never succeeds.

Payloads carry the event's ids and a title, nothing else (the portal fetches the rest with the patient's token).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict

from chalicelib.db import push as subscriptions
from chalicelib.errors import MedflowError
from chalicelib.resources import PUSH_EVENT_TYPES
from chalicelib.services import push
from chalicelib.settings import Settings, SettingsError

PUSH_TTL_SECONDS = 24 * 3600  # a push service keeps an undelivered message this long (the phone may be off)
PUSH_TIMEOUT_SECONDS = 10
MAX_RETRY_SECONDS = 15 * 60
TITLES = {"scan.reviewed": "Scan reviewed", "message.new": "New message"}
SUBJECT_IDS = {"scan.reviewed": "session_id", "message.new": "thread_id"}
GONE = (404, 410)


class NotificationJob(BaseModel):
    """One push to one subscription: the SQS message body of the notifications queue (ids only, no PHI)."""

    model_config = ConfigDict(extra="ignore", frozen=True)  # a wire model: older/newer producers may differ

    event_id: str
    type: str
    clinic_id: str
    patient_id: str
    subscription_id: str
    subject_id: str  # the session or thread the notification is about


class PushRetry(MedflowError):
    """A delivery that may succeed later; `retry_after` is the push service's wish (seconds), if it said one."""

    def __init__(self, message: str, *, status: int | None, retry_after: int | None = None) -> None:
        super().__init__(message, code="push_retry")
        self.status, self.retry_after = status, retry_after


@dataclass(frozen=True)
class Outcome:
    result: str  # delivered | expired | gone (the subscription was removed before the job ran)
    status: int | None = None


def notifying(event_type: str, subject: Mapping[str, Any]) -> bool:
    """Whether an outbox event notifies the patient: a reviewed scan; a message from staff (not the patient's own)."""
    if event_type not in PUSH_EVENT_TYPES or not subject.get("patient_id"):
        return False
    if not subject.get(SUBJECT_IDS[event_type]):
        return False
    return not (event_type == "message.new" and subject.get("sender_type") == "PATIENT")


def jobs_for(event_id: str, event_type: str, clinic_id: str, subject: Mapping[str, Any]) -> list[NotificationJob]:
    """One job per subscription of the event's patient (none when the event does not notify)."""
    if not notifying(event_type, subject):
        return []
    patient_id = str(subject["patient_id"])
    return [
        NotificationJob(
            event_id=event_id,
            type=event_type,
            clinic_id=clinic_id,
            patient_id=patient_id,
            subscription_id=subscription.id,
            subject_id=str(subject[SUBJECT_IDS[event_type]]),
        )
        for subscription in subscriptions.of_patient(clinic_id, patient_id)
    ]


def payload(job: NotificationJob) -> dict[str, str]:
    """What the service worker receives: `{"title": "Scan reviewed", "session_id": ...}` and the like."""
    return {"title": TITLES[job.type], SUBJECT_IDS[job.type]: job.subject_id}


def _session() -> requests.Session:
    session = requests.Session()
    # A push service answers, it does not redirect: never follow one (the endpoint came from a browser).
    session.max_redirects = 0
    return session


def deliver(job: NotificationJob, settings: Settings) -> Outcome:
    """Sends one notification; `PushRetry` when it should be tried again."""
    from py_vapid import Vapid02
    from pywebpush import WebPushException, webpush  # imported on the first delivery, not at cold start

    if not settings.push_sender or settings.vapid_private_key is None or settings.vapid_subject is None:
        raise SettingsError("web push needs a VAPID private key and MEDFLOW_VAPID_SUBJECT")
    subscription = subscriptions.get(job.clinic_id, job.patient_id, job.subscription_id)
    if subscription is None:
        return Outcome("gone")
    info = {"endpoint": subscription.endpoint, "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}}
    signer = Vapid02.from_raw(settings.vapid_private_key.get_secret_value().encode())
    try:
        response = webpush(
            info,
            data=json.dumps(payload(job)),
            vapid_private_key=signer,
            vapid_claims={"sub": settings.vapid_subject},
            ttl=PUSH_TTL_SECONDS,
            timeout=PUSH_TIMEOUT_SECONDS,
            requests_session=_session(),
        )
    except WebPushException as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status in GONE:
            push.expire(job.clinic_id, job.patient_id, job.subscription_id, status=status)
            return Outcome("expired", status)
        # Never the exception's text: it quotes the push service's answer and the endpoint is a capability.
        retry_after = _retry_after(exc.response.headers.get("Retry-After") if exc.response is not None else None)
        raise PushRetry(f"the push service answered {status}", status=status, retry_after=retry_after) from None
    except requests.RequestException as exc:
        raise PushRetry(f"the push service could not be reached ({type(exc).__name__})", status=None) from None
    return Outcome("delivered", getattr(response, "status_code", None))


def _retry_after(value: str | None) -> int | None:
    if value and value.strip().isdigit():
        return min(int(value.strip()), MAX_RETRY_SECONDS)
    return None


def retry_delay(receive_count: int, base_seconds: int, retry_after: int | None = None) -> int:
    """How long a failed job stays invisible: `base` doubled per earlier receive, at least the push service's
    Retry-After, at most 15 minutes."""
    delay = base_seconds * 2 ** max(0, receive_count - 1)
    return min(max(delay, retry_after or 0), MAX_RETRY_SECONDS)
