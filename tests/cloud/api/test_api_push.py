"""Web push subscriptions over the API on in-process moto: upsert by endpoint (keys replaced, an endpoint moving to
another patient of the clinic), unsubscribe by body or query, precise 422s naming the field, staff refused, another
patient's endpoint untouched, every write audited, and the VAPID public key for the portal."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.db import push as subscriptions
from chalicelib.errors import InvalidInput
from chalicelib.resources import ResourceNames
from chalicelib.services import push
from chalicelib.services.roles import Role
from chalicelib.settings import get_settings, use_settings
from chalicelib.vapid import b64url_encode, generate
from tests.cloud.api.portal_helpers import send
from tests.cloud.builders import VAPID_PUBLIC_KEY, bearer

CLINIC = "clinic-push-api"
ENDPOINT = "https://fcm.googleapis.com/fcm/send/abc:def-123"


@pytest.fixture(scope="module")
def api(module_cloud: ResourceNames) -> Iterator[Client]:
    from app import app

    with Client(app) as client:
        yield client


def patient(patient_id: str) -> dict[str, str]:
    return bearer(CLINIC, Role.PATIENT, user_id=f"pu-{patient_id}", patient_id=patient_id)


def keys() -> dict[str, str]:
    return {"p256dh": generate()[1], "auth": b64url_encode(os.urandom(16))}


def subscribe(api: Client, patient_id: str, endpoint: str = ENDPOINT, **overrides: Any) -> Any:
    body = {"endpoint": endpoint, "keys": keys(), **overrides}
    return send(api, "POST", "/patient/push/subscribe", body, patient(patient_id))


def test_subscribing_again_upserts_by_endpoint(api: Client) -> None:
    first = subscribe(api, "P-1")
    assert first.status_code == 200, first.body
    new_keys = keys()
    again = send(api, "POST", "/patient/push/subscribe", {"endpoint": ENDPOINT, "keys": new_keys}, patient("P-1"))

    assert again.status_code == 200, again.body
    assert again.json_body["id"] == first.json_body["id"]
    assert again.json_body["created_at"] == first.json_body["created_at"]
    [stored] = subscriptions.of_patient(CLINIC, "P-1")
    assert (stored.endpoint, stored.p256dh, stored.auth) == (ENDPOINT, new_keys["p256dh"], new_keys["auth"])


def test_the_browser_s_own_json_is_accepted(api: Client) -> None:
    """`JSON.stringify(subscription)`: camelCase `expirationTime` (null), padded base64url keys."""
    padded = {name: value + "=" * (-len(value) % 4) for name, value in keys().items()}
    body = {"endpoint": ENDPOINT + "/json", "expirationTime": None, "keys": padded}
    response = send(api, "POST", "/patient/push/subscribe", body, patient("P-json"))
    assert response.status_code == 200, response.body


def test_an_endpoint_another_patient_held_moves_to_the_new_one(api: Client) -> None:
    endpoint = ENDPOINT + "/shared-tablet"
    assert subscribe(api, "P-2", endpoint).status_code == 200
    assert subscribe(api, "P-3", endpoint).status_code == 200

    assert [s.endpoint for s in subscriptions.of_patient(CLINIC, "P-2")] == []
    assert [s.endpoint for s in subscriptions.of_patient(CLINIC, "P-3")] == [endpoint]


@pytest.mark.parametrize("via", ["body", "query"])
def test_unsubscribe_by_body_or_query(api: Client, via: str) -> None:
    endpoint = f"{ENDPOINT}/{via}"
    assert subscribe(api, "P-4", endpoint).status_code == 200
    path, body = "/patient/push/subscribe", {"endpoint": endpoint}
    if via == "query":
        path, body = f"{path}?endpoint={endpoint.replace(':', '%3A').replace('/', '%2F')}", None

    gone = send(api, "DELETE", path, body, patient("P-4"))
    assert gone.status_code == 200, gone.body
    assert gone.json_body == {"endpoint": endpoint, "removed": True}
    assert all(s.endpoint != endpoint for s in subscriptions.of_patient(CLINIC, "P-4"))
    again = send(api, "DELETE", "/patient/push/subscribe", {"endpoint": endpoint}, patient("P-4"))
    assert again.json_body == {"endpoint": endpoint, "removed": False}  # idempotent


def test_another_patient_cannot_unsubscribe_someone_else_s_browser(api: Client) -> None:
    endpoint = ENDPOINT + "/mine"
    assert subscribe(api, "P-5", endpoint).status_code == 200
    other = send(api, "DELETE", "/patient/push/subscribe", {"endpoint": endpoint}, patient("P-6"))

    assert other.json_body == {"endpoint": endpoint, "removed": False}
    assert [s.endpoint for s in subscriptions.of_patient(CLINIC, "P-5")] == [endpoint]


def test_unsubscribe_needs_one_endpoint(api: Client) -> None:
    none = send(api, "DELETE", "/patient/push/subscribe", None, patient("P-7"))
    assert (none.status_code, none.json_body["field"]) == (422, "endpoint")
    both = send(api, "DELETE", "/patient/push/subscribe?endpoint=https%3A%2F%2Fa.example%2Fx",
                {"endpoint": "https://b.example/y"}, patient("P-7"))  # fmt: skip
    assert (both.status_code, both.json_body["field"]) == (422, "endpoint")


@pytest.mark.parametrize("role", [Role.DOCTOR, Role.ADMIN, Role.RECEPTIONIST])
def test_staff_tokens_are_refused(api: Client, role: Role) -> None:
    for method, path in (("POST", "/patient/push/subscribe"), ("DELETE", "/patient/push/subscribe"),
                         ("GET", "/patient/push/vapid-public-key")):  # fmt: skip
        body = {"endpoint": ENDPOINT, "keys": keys()} if method != "GET" else None
        response = send(api, method, path, body, bearer(CLINIC, role))
        assert (response.status_code, response.json_body["code"]) == (403, "forbidden"), (method, path)


def _point_off_the_curve() -> str:
    return b64url_encode(b"\x04" + b"\x01" * 64)


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"endpoint": "http://push.example/x"}, "endpoint", "invalid_endpoint"),  # http off stage local
        ({"endpoint": "http://127.0.0.1:9/x"}, "endpoint", "invalid_endpoint"),  # loopback: stage local only
        ({"endpoint": "https://10.0.0.5/x"}, "endpoint", "invalid_endpoint"),  # an IP literal
        ({"endpoint": "ftp://push.example/x"}, "endpoint", "invalid_endpoint"),
        ({"endpoint": "https://user:pw@push.example/x"}, "endpoint", "invalid_endpoint"),
        ({"endpoint": "not a url"}, "endpoint", "invalid_endpoint"),
        ({"endpoint": "https://push.example/" + "x" * 2100}, "endpoint", "invalid_request"),
        (
            {"keys": {"p256dh": b64url_encode(b"\x04" + b"\x01" * 10), "auth": "AAAAAAAAAAAAAAAAAAAAAA"}},
            "keys.p256dh",
            "invalid_key",
        ),
        ({"keys": {"p256dh": _point_off_the_curve(), "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, "keys.p256dh", "invalid_key"),
        ({"keys": {"p256dh": "BK+/" * 22, "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, "keys.p256dh", "invalid_key"),
        ({"keys": {"p256dh": generate()[1], "auth": "AAAA"}}, "keys.auth", "invalid_key"),
        ({"keys": {"p256dh": generate()[1], "auth": "not*base64url*at*all!"}}, "keys.auth", "invalid_key"),
        ({"keys": {"p256dh": generate()[1]}}, "keys.auth", "invalid_request"),
        ({"keys": None}, "keys", "invalid_request"),
    ],
)
def test_malformed_subscriptions_are_422_naming_the_field(
    api: Client, change: dict[str, Any], field: str, code: str
) -> None:
    body = {"endpoint": ENDPOINT + "/bad", "keys": keys(), **change}
    response = send(api, "POST", "/patient/push/subscribe", body, patient("P-bad"))

    assert response.status_code == 422, response.body
    assert (response.json_body["field"], response.json_body["code"]) == (field, code)
    assert subscriptions.of_patient(CLINIC, "P-bad") == []


def test_plain_http_is_for_a_loopback_push_service_on_stage_local_only() -> None:
    local = get_settings().model_copy(update={"stage": "local"})
    assert push.check_endpoint("http://127.0.0.1:8123/push/a", local) == "http://127.0.0.1:8123/push/a"
    assert push.check_endpoint("http://localhost:8123/push/a", local) == "http://localhost:8123/push/a"
    for refused in ("http://push.example/a", "http://192.168.1.2/a"):
        with pytest.raises(InvalidInput):
            push.check_endpoint(refused, local)
    with pytest.raises(InvalidInput):
        push.check_endpoint("http://127.0.0.1:8123/push/a", get_settings())


def test_writes_are_audited_with_the_subscription_id_not_the_endpoint(api: Client) -> None:
    endpoint = ENDPOINT + "/audited"
    sub_id = subscribe(api, "P-8", endpoint).json_body["id"]
    send(api, "DELETE", "/patient/push/subscribe", {"endpoint": endpoint}, patient("P-8"))

    admin = bearer(CLINIC, Role.ADMIN, org_admin=True)
    entries = send(api, "GET", "/audit?resource=patient&resource_id=P-8", None, admin).json_body["items"]
    actions = [entry["action"] for entry in entries]
    assert "push.subscribed" in actions and "push.unsubscribed" in actions
    assert all(e["target"]["subscription_id"] == sub_id for e in entries if e["action"].startswith("push."))
    assert endpoint not in str(entries)


def test_the_portal_reads_the_vapid_public_key(api: Client) -> None:
    response = send(api, "GET", "/patient/push/vapid-public-key", None, patient("P-9"))
    assert response.status_code == 200, response.body
    assert response.json_body == {"public_key": VAPID_PUBLIC_KEY}


def test_without_vapid_keys_push_says_so(api: Client) -> None:
    configured = get_settings()
    use_settings(configured.model_copy(update={"vapid_public_key": None, "vapid_private_key": None}))
    try:
        response = send(api, "GET", "/patient/push/vapid-public-key", None, patient("P-9"))
    finally:
        use_settings(configured)
    assert (response.status_code, response.json_body["code"]) == (503, "push_unavailable")
