"""Web push: the portal reads the VAPID public key, subscribes a browser (upsert by endpoint) and unsubscribes it.
Delivery happens in the `notify` function, never in a request. See docs/portal.md "Web push"."""

from __future__ import annotations

from chalice import Blueprint
from pydantic import ConfigDict, Field

from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import RequestModel
from chalicelib.errors import InvalidInput
from chalicelib.services import push
from chalicelib.services.push import PushSubscriptionOut, PushUnsubscribed, VapidPublicKey
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)

EXAMPLE_ENDPOINT = (
    "https://fcm.googleapis.com/fcm/send/dpH5lCsTSSM:APA91bHqjZxM0VImWWqDRN7U0a3AycjUf4O-byuxb_wJsKRaKvV_iKw"
)
EXAMPLE_P256DH = "BKLc9DrdfJX2UZHVhymwxGYMV5waCLLXJDbLISkZN1BHK9AbRWt_wPBUF1WUjfYgzH8qndQoTRkHLUJ1lrq7pcw"
EXAMPLE_AUTH = "RmoJwnLRP966jm0VzoIH_A"


class PushKeys(RequestModel):
    p256dh: str = Field(min_length=1, max_length=200, examples=[EXAMPLE_P256DH])
    auth: str = Field(min_length=1, max_length=100, examples=[EXAMPLE_AUTH])


class SubscribeBody(RequestModel):
    """`PushSubscription.toJSON()` as the browser gives it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"endpoint": EXAMPLE_ENDPOINT, "keys": {"p256dh": EXAMPLE_P256DH, "auth": EXAMPLE_AUTH}}]
        }
    )

    endpoint: str = Field(min_length=1, max_length=push.MAX_ENDPOINT)
    keys: PushKeys
    expiration_time: float | None = None  # toJSON() sends `expirationTime` (usually null); not used


class UnsubscribeBody(RequestModel):
    endpoint: str = Field(min_length=1, max_length=push.MAX_ENDPOINT, examples=[EXAMPLE_ENDPOINT])


class UnsubscribeQuery(RequestModel):
    endpoint: str | None = Field(default=None, min_length=1, max_length=push.MAX_ENDPOINT)


@endpoint(bp, "GET", "/patient/push/vapid-public-key", permission=Permission.PORTAL_USE, response=VapidPublicKey)
def vapid_public_key(call: Call) -> VapidPublicKey:
    """The VAPID public key to pass to `pushManager.subscribe` (503 `push_unavailable` when none is configured)."""
    return push.public_key()


@endpoint(bp, "POST", "/patient/push/subscribe", permission=Permission.PORTAL_USE, body=SubscribeBody,
          response=PushSubscriptionOut)  # fmt: skip
def subscribe(call: Call) -> PushSubscriptionOut:
    """Subscribes the calling patient's browser to web push (upsert by endpoint)."""
    body: SubscribeBody = call.body
    return push.subscribe(call.scope, body.endpoint, body.keys.p256dh, body.keys.auth)


@endpoint(bp, "DELETE", "/patient/push/subscribe", permission=Permission.PORTAL_USE, body=UnsubscribeBody,
          body_required=False, query=UnsubscribeQuery, response=PushUnsubscribed)  # fmt: skip
def unsubscribe(call: Call) -> PushUnsubscribed:
    """Unsubscribes a browser of the calling patient; the endpoint in the body or as `?endpoint=`."""
    named = [value for value in (call.body.endpoint if call.body else None, call.query.endpoint) if value]
    if not named:
        raise InvalidInput("name the endpoint in the body or as ?endpoint=", code="invalid_request", field="endpoint")
    if len(set(named)) > 1:
        raise InvalidInput("the body and the query name different endpoints", code="invalid_request", field="endpoint")
    return push.unsubscribe(call.scope, named[0])
