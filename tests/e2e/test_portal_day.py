"""Issue 13's proof, end to end over real HTTP against `make run`'s stack (started with an Anthropic key and base URL
that point at a local stand-in of the Messages API): a doctor creates a patient and invites her; she checks the
invite, registers (the refresh cookie HttpOnly, Secure, SameSite=Strict), subscribes a browser to web push at a
local push service, opens a scan session and uploads 5 real JPEG photos through the presigned POST policies to
the stack's S3, confirming each; the router's thumbnails worker makes ≤ 300x300 WebP previews (EXIF orientation
applied); the doctor lists pending sessions, opens hers, asks the AI for tags (the stand-in answers) and submits
the tags, which reviews the session; the browser receives an encrypted push that decrypts to "Scan reviewed";
doctor and patient write to each other (unread counts, a push for the doctor's message); the tagging analytics
count the session, and the doctor's dashboard shows its counters, feed and compliance. Another patient's token
gets 404 on her records, a patient token 403 on staff routes, a second clinic's doctor sees none of it, a spent
invite answers valid: false. The README's "A patient at home" walks the same steps with curl and the same bodies."""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.cookies import SimpleCookie
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image, ImageDraw

from chalicelib.vapid import b64url_decode
from tests.cloud.claude_stand_in import GOOD, StandIn
from tests.cloud.events.push_service import Browser, PushService, push_service
from tests.e2e.test_clinic_day import _hire, _ok, _refused
from tests.e2e.test_local_stack import LocalStack, _eventually
from tests.e2e.test_staff_platform import Staff

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

AI_MODEL = "claude-e2e-stand-in"
AI_KEY = "sk-ant-e2e-local"  # what the stand-in is told; never a real key

# The README's bodies (README.md, "A patient at home"): keep them in step.
PERSON = {"first_name": "Zawadi", "last_name": "Achieng", "sex": "FEMALE", "date_of_birth": "1995-05-21",
          "phone": "+254733200300", "insurance_type": "CASH"}  # fmt: skip
EMAIL = "zawadi@example.org"
PATIENT_PASSWORD = "a-long-patient-password"
IMAGE_TYPES = ("FRONT", "LEFT", "RIGHT", "UPPER", "LOWER")
TAGS = {"overall_tracking": 2, "oral_hygiene": 2, "detail_tags": ["ATTACHMENT_MISSING", "PLAQUE"],
        "ai_suggested": True, "ai_overridden": True}  # fmt: skip  # the AI said oral_hygiene 1: overridden
THREAD = {"subject": "About your scan"}
DOCTOR_MESSAGE = "One attachment is missing on the upper left; please book a visit this week."
PATIENT_REPLY = "Thank you, I will call the clinic tomorrow."


@pytest.fixture(scope="module")
def claude() -> Iterator[StandIn]:
    stand_in = StandIn().start()
    yield stand_in
    stand_in.stop()


@pytest.fixture(scope="module")
def push() -> Iterator[PushService]:
    with push_service() as service:
        yield service


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, claude: StandIn) -> Iterator[LocalStack]:
    ai = {"ANTHROPIC_API_KEY": AI_KEY, "ANTHROPIC_BASE_URL": claude.url, "MEDFLOW_AI_MODEL": AI_MODEL}
    stack = LocalStack(tmp_path_factory.mktemp("portal") / "var", env=ai)
    stack.start()
    yield stack
    stack.stop()


def photo(image_type: str) -> bytes:
    """A phone's JPEG: 1600x1200 as the sensor stores it, EXIF orientation 6 (shown rotated 90°: 1200x1600)."""
    shade = 40 * (IMAGE_TYPES.index(image_type) + 1)
    image = Image.new("RGB", (1600, 1200), (shade, 120, 255 - shade))
    draw = ImageDraw.Draw(image)
    for x in range(0, 1600, 80):
        draw.line([(x, 0), (1600 - x, 1200)], fill=(255, 255, 255), width=6)
    draw.rectangle([(0, 0), (399, 299)], fill=(220, 20, 20))  # the stored top-left: the shown top-right
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to show
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88, exif=exif)
    return out.getvalue()


def _raw(stack: LocalStack, method: str, path: str, body: dict[str, Any] | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:  # fmt: skip
    """A call whose answer's headers matter (the refresh cookie): status, JSON body, headers."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(stack.api + path, data=data, method=method,
                                     headers={"content-type": "application/json", **(headers or {})})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null"), response.headers
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null"), err.headers


def _refresh_cookie(headers: Any) -> SimpleCookie:
    [raw] = headers.get_all("Set-Cookie")
    jar: SimpleCookie = SimpleCookie()
    jar.load(raw)
    assert "patient_refresh" in jar, raw
    lowered = raw.lower()
    for attribute in ("httponly", "secure", "samesite=strict", "path=/patient-auth"):
        assert attribute in lowered, (attribute, raw)
    return jar


def _enrol(stack: LocalStack, doctor: Staff, patient_id: str, email: str, name: str) -> tuple[Staff, SimpleCookie]:
    """The doctor's invite, checked and spent by the patient: her session and refresh cookie."""
    invited = _ok(doctor("POST", f"/patients/{patient_id}/invite", {"email": email}), 201)
    token = invited["token"]
    assert invited["invite_url"].endswith(f"/register/{token}") and invited["expires_at"], invited
    check = _ok(stack.call("GET", f"/patient-auth/validate-invite/{token}"))
    assert (check["valid"], check["patient_name"], check["email"]) == (True, name, email), check
    status, registered, headers = _raw(stack, "POST", "/patient-auth/register",
                                       {"token": token, "email": email, "password": PATIENT_PASSWORD})  # fmt: skip
    assert status == 201, registered
    assert (registered["patient"]["id"], registered["patient"]["email"]) == (patient_id, email), registered
    jar = _refresh_cookie(headers)
    # The invite is spent: checking it again names nobody, registering again is refused.
    assert _ok(stack.call("GET", f"/patient-auth/validate-invite/{token}")) == {
        "valid": False, "patient_name": None, "email": None, "reason": "used"}  # fmt: skip
    status, error = stack.call("POST", "/patient-auth/register",
                               {"token": token, "email": email, "password": PATIENT_PASSWORD})  # fmt: skip
    assert (status, error["code"]) == (409, "invite_used"), error
    return Staff(stack, registered["access_token"]), jar


def _upload(target: dict[str, Any], data: bytes, name: str) -> None:
    """What the portal's browser does with the POST policy: every field first, then the file."""
    assert target["method"] == "POST" and target["fields"]["key"] == target["key"], target
    answer = requests.post(target["url"], data=target["fields"], files={"file": (name, data, "image/jpeg")},
                           timeout=30)  # fmt: skip
    assert answer.status_code in (200, 201, 204), (answer.status_code, answer.text)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return bytes(response.read())


def _vapid_claims(authorization: str, public_key: str, audience: str) -> dict[str, Any]:
    """RFC 8292 `vapid t=<JWT>, k=<public key>`: the key the API handed the portal signed the token."""
    fields = dict(part.strip().split("=", 1) for part in authorization.removeprefix("vapid ").split(","))
    assert fields["k"] == public_key
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(fields["k"]))
    return dict(jwt.decode(fields["t"], key, algorithms=["ES256"], audience=audience))


@pytest.mark.timeout(600)
def test_a_patient_at_home_and_her_doctor(running: LocalStack, claude: StandIn, push: PushService) -> None:
    admin = Staff(running, running.login())
    doctor, doctor_id = _hire(admin, "doctor")

    # --- The doctor registers the patient and invites her; she registers with the token. ------------------
    patient_id = _ok(doctor("POST", "/patients", PERSON), 201)["id"]
    patient, jar = _enrol(running, doctor, patient_id, EMAIL, "Zawadi Achieng")
    # A refresh over real HTTP: a new access token and a rotated cookie.
    cookie = f"patient_refresh={jar['patient_refresh'].value}"
    status, renewed, headers = _raw(running, "POST", "/patient-auth/refresh", headers={"cookie": cookie})
    assert status == 200 and renewed["access_token"], renewed
    assert _refresh_cookie(headers)["patient_refresh"].value != jar["patient_refresh"].value
    patient = Staff(running, renewed["access_token"])

    # --- Her browser subscribes to web push at the (local) push service with the API's VAPID key. -----------
    public_key = _ok(patient("GET", "/patient/push/vapid-public-key"))["public_key"]
    browser = Browser()
    subscribed = _ok(patient("POST", "/patient/push/subscribe", {"endpoint": push.endpoint("zawadi-phone"),
                                                                 "keys": browser.keys}))  # fmt: skip
    assert subscribed["endpoint"] == push.endpoint("zawadi-phone")
    status, error = patient("POST", "/patient/push/subscribe", {"endpoint": "http://push.example.org/x",
                                                                "keys": browser.keys})  # fmt: skip
    assert (status, error["field"]) == (422, "endpoint"), error  # plain http only to a loopback address

    # --- A scan session: 5 photos, each through its presigned POST policy to S3, then confirmed. -------------
    session = _ok(patient("POST", "/patient/scans/sessions"), 201)
    session_id = session["id"]
    assert (session["status"], session["image_count"], session["progress"]) == ("PENDING", 0, "0/5")
    photos = {image_type: photo(image_type) for image_type in IMAGE_TYPES}
    for image_type, data in photos.items():
        target = _ok(patient("POST", "/patient/scans/upload-url", {"session_id": session_id, "image_type": image_type,
                                                                   "content_type": "image/jpeg"}))  # fmt: skip
        assert target["key"].endswith(f"/{patient_id}/{session_id}/{image_type}.jpg"), target
        _upload(target, data, f"{image_type.lower()}.jpg")
        confirmed = _ok(patient("POST", "/patient/scans/upload/confirm", {"session_id": session_id,
                                                                         "image_type": image_type,
                                                                         "key": target["key"]}))  # fmt: skip
        assert (confirmed["image_type"], confirmed["key"]) == (image_type, target["key"]), confirmed
    status, error = patient("POST", "/patient/scans/upload-url", {"session_id": session_id, "image_type": "FRONT",
                                                                  "content_type": "image/jpeg"})  # fmt: skip
    assert (status, error["code"]) == (409, "image_exists"), error
    [mine] = _ok(patient("GET", "/patient/scans/sessions"))["items"]
    assert (mine["id"], mine["image_count"], mine["progress"]) == (session_id, 5, "5/5")

    # --- The doctor's queue: her session, pending; opened, each photo has its thumbnail. -------------------
    pending = _ok(doctor("GET", "/scans/sessions?status=PENDING"))
    assert [(s["id"], s["patient_id"], s["image_count"]) for s in pending["items"]] == [(session_id, patient_id, 5)]

    def with_thumbnails() -> dict[str, Any] | None:
        opened = _ok(doctor("GET", f"/scans/sessions/{session_id}"))
        images = opened["images"]
        return opened if len(images) == 5 and all(image.get("thumbnail_url") for image in images) else None

    opened = _eventually(with_thumbnails, seconds=60)
    assert opened, "the thumbnails did not appear within 60 s\n" + running.logs()
    assert (opened["status"], opened["tag_set"]) == ("PENDING", None)
    assert sorted(image["image_type"] for image in opened["images"]) == sorted(IMAGE_TYPES)
    for image in opened["images"]:
        assert _get(image["url"]) == photos[image["image_type"]]  # the original, byte for byte
        thumbnail = Image.open(io.BytesIO(_get(image["thumbnail_url"])))
        assert thumbnail.format == "WEBP" and thumbnail.size == (225, 300), (image["image_type"], thumbnail.size)
        assert not thumbnail.getexif(), "the thumbnail keeps no metadata"
        corner = thumbnail.convert("RGB").getpixel((220, 5))  # shown top-right: EXIF orientation applied
        assert isinstance(corner, tuple) and corner[0] > 150 and corner[1] < 90, (image["image_type"], corner)

    # --- The AI suggests (the stand-in answers through the SDK); the doctor corrects one field and tags. ---
    status, suggestion = running.call("POST", f"/tagging/sessions/{session_id}/suggest", token=doctor.token,
                                      timeout=60)  # fmt: skip  # the API's first suggestion imports the SDK
    assert status == 200, f"{suggestion}\n{running.logs()}"
    assert (suggestion["session_id"], suggestion["model"], suggestion["input_tokens"]) == (session_id, AI_MODEL, 6100)
    assert {k: suggestion[k] for k in GOOD} == GOOD
    [asked] = claude.requests
    sent_key = asked["headers"].get("x-api-key") or asked["headers"].get("authorization", "").removeprefix("Bearer ")
    assert sent_key == AI_KEY and asked["body"]["model"] == AI_MODEL  # the key make run was given, by either header
    sent = [part for part in asked["body"]["messages"][0]["content"] if part["type"] == "image"]
    assert len(sent) == 5 and all(part["source"]["media_type"] == "image/jpeg" for part in sent)
    assert asked["body"]["tool_choice"] == {"type": "tool", "name": "record_tag_set"}
    assert push.received == []  # nothing reviewed yet

    _refused(_hire(admin, "nurse")[0], "POST", f"/tagging/sessions/{session_id}/tags", TAGS)
    tag_set = _ok(doctor("POST", f"/tagging/sessions/{session_id}/tags", TAGS), 201)
    assert (tag_set["session_id"], tag_set["patient_id"], tag_set["suggestion_id"]) == (
        session_id, patient_id, suggestion["id"])  # fmt: skip
    assert tag_set["ai_fields"] == {"overall_tracking": "accepted", "oral_hygiene": "overridden",
                                    "detail_tags": "accepted"}  # fmt: skip
    reviewed = _ok(doctor("GET", f"/scans/sessions/{session_id}"))
    assert (reviewed["status"], reviewed["reviewed_by_id"], reviewed["tag_set"]["id"]) == (
        "REVIEWED", doctor_id, tag_set["id"])  # fmt: skip
    assert _ok(doctor("GET", "/scans/sessions?status=PENDING"))["items"] == []
    status, error = doctor("POST", f"/tagging/sessions/{session_id}/tags", TAGS)
    assert (status, error["code"]) == (409, "already_reviewed"), error
    [mine] = _ok(patient("GET", "/patient/scans/sessions"))["items"]
    assert (mine["id"], mine["status"], mine["reviewed_at"]) == (session_id, "REVIEWED", reviewed["reviewed_at"])

    # --- Her browser gets the push: encrypted for it, VAPID-signed, ids only. ------------------------------
    assert _eventually(lambda: push.received, seconds=30), "no push within 30 s\n" + running.logs()
    [first] = push.received
    assert first.path == "/push/zawadi-phone" and first.headers["content-encoding"] == "aes128gcm"
    assert int(first.headers["ttl"]) == 24 * 3600
    plain = browser.decrypt(first.body)
    assert json.loads(plain) == {"title": "Scan reviewed", "session_id": session_id}
    for phi in (PERSON["first_name"], PERSON["last_name"], EMAIL, patient_id):
        assert phi.encode() not in plain
    claims = _vapid_claims(first.headers["authorization"], public_key, audience=push.url)
    assert claims["sub"] == "mailto:e2e@clinic.test" and claims["exp"] > time.time()

    # --- Messaging: the doctor writes, she reads (unread 1 → 0) and answers; the staff side sees it. -------
    thread = _ok(doctor("POST", "/messaging/threads", {"patient_id": patient_id, **THREAD}), 201)
    thread_id = thread["id"]
    written = _ok(doctor("POST", "/messaging/messages", {"thread_id": thread_id, "content": DOCTOR_MESSAGE}), 201)
    assert written["sender_type"] == "DOCTOR"
    [inbox] = _ok(patient("GET", "/patient/messages"))["items"]
    assert (inbox["id"], inbox["subject"], inbox["unread_count"]) == (thread_id, THREAD["subject"], 1)
    [message] = _ok(patient("GET", f"/patient/messages/{thread_id}"))["messages"]
    assert (message["id"], message["content"], message["read_at"]) == (written["id"], DOCTOR_MESSAGE, None)
    assert _ok(patient("PATCH", f"/patient/messages/{message['id']}/read"))["read_at"]
    assert _ok(patient("GET", "/patient/messages"))["items"][0]["unread_count"] == 0
    reply = _ok(patient("POST", "/patient/messages", {"thread_id": thread_id, "content": PATIENT_REPLY}), 201)
    assert reply["sender_type"] == "PATIENT"
    seen = _ok(doctor("GET", f"/messaging/threads/{thread_id}"))
    assert [(m["sender_type"], m["content"]) for m in seen["messages"]] == [
        ("DOCTOR", DOCTOR_MESSAGE), ("PATIENT", PATIENT_REPLY)]  # fmt: skip
    assert [t["id"] for t in _ok(doctor("GET", f"/messaging/threads?patient_id={patient_id}"))["items"]] == [thread_id]

    assert _eventually(lambda: len(push.received) >= 2, seconds=30), "no message push within 30 s\n" + running.logs()
    assert json.loads(browser.decrypt(push.received[1].body)) == {"title": "New message", "thread_id": thread_id}

    # --- The tagging analytics: one session opened in the window, tagged: 100 %, tier 30 %. ---------------
    analytics = _ok(doctor("GET", "/tagging/analytics"))
    assert (analytics["window_days"], analytics["total_sessions"], analytics["tagged_sessions"],
            analytics["tagging_rate"], analytics["discount_tier"]) == (30, 1, 1, 100.0, 30)  # fmt: skip
    accuracy = analytics["suggestion_accuracy"]
    assert (accuracy["suggestions"], accuracy["input_tokens"], accuracy["output_tokens"]) == (1, 6100, 48), accuracy

    # --- Another patient of the clinic: her token finds nothing of Zawadi's (404). ---------------------------
    other_id = _ok(doctor("POST", "/patients", {**PERSON, "first_name": "Neema", "phone": "+254733200301"}), 201)["id"]
    neighbour, _ = _enrol(running, doctor, other_id, "neema@example.org", "Neema Achieng")
    for method, path, body in (
        ("POST", "/patient/scans/upload-url", {"session_id": session_id, "image_type": "FRONT",
                                               "content_type": "image/jpeg"}),
        ("POST", "/patient/scans/upload/confirm", {"session_id": session_id, "image_type": "FRONT",
                                                   "key": opened["images"][0]["key"]}),
        ("GET", f"/patient/messages/{thread_id}", None),
        ("PATCH", f"/patient/messages/{message['id']}/read", None),
        ("POST", "/patient/messages", {"thread_id": thread_id, "content": "Hello"}),
    ):  # fmt: skip
        status, error = neighbour(method, path, body)
        assert (status, error["code"]) == (404, "not_found"), (path, status, error)
    assert _ok(neighbour("GET", "/patient/scans/sessions"))["items"] == []
    assert _ok(neighbour("GET", "/patient/messages"))["items"] == []

    # --- A patient token on staff routes: 403, even for her own records. ----------------------------------
    for method, path, body in (
        ("GET", "/scans/sessions?status=REVIEWED", None), ("GET", f"/scans/sessions/{session_id}", None),
        ("POST", f"/tagging/sessions/{session_id}/suggest", None),
        ("POST", f"/tagging/sessions/{session_id}/tags", TAGS),
        ("GET", "/messaging/threads", None), ("POST", "/messaging/messages", {"thread_id": thread_id, "content": "x"}),
        ("GET", f"/patients/{patient_id}", None), ("POST", f"/patients/{patient_id}/invite", {"email": EMAIL}),
        ("GET", "/tagging/analytics", None),
    ):  # fmt: skip
        _refused(patient, method, path, body)

    # --- A second clinic of the organisation: its doctor sees none of it. ----------------------------------
    clinic = _ok(admin("POST", "/clinics", {"name": "Kisumu Smiles", "timezone": "Africa/Nairobi",
                                            "currency": "KES"}), 201)  # fmt: skip
    stranger, _ = _hire(admin, "doctor", clinic["id"])
    for status_filter in ("PENDING", "REVIEWED"):
        assert _ok(stranger("GET", f"/scans/sessions?status={status_filter}"))["items"] == []
    for method, path, body in (
        ("GET", f"/scans/sessions/{session_id}", None), ("POST", f"/tagging/sessions/{session_id}/suggest", None),
        ("PATCH", f"/scans/sessions/{session_id}/status", {"status": "PENDING"}),
        ("GET", f"/messaging/threads/{thread_id}", None), ("POST", f"/patients/{patient_id}/invite", {"email": EMAIL}),
    ):  # fmt: skip
        status, error = stranger(method, path, body)
        assert (status, error["code"]) == (404, "not_found"), (path, status, error)
    assert _ok(stranger("GET", "/messaging/threads"))["items"] == []
    theirs = _ok(stranger("GET", "/tagging/analytics"))
    assert (theirs["total_sessions"], theirs["tagged_sessions"], theirs["discount_tier"]) == (0, 0, 0)

    # The patient's own reply notified nobody; each push went once to her one browser.
    assert [p.path for p in push.received] == ["/push/zawadi-phone"] * 2
    assert len(claude.requests) == 1  # the stranger's suggest never reached the model

    # --- She logs out (the cookie is cleared, the token stops working) and in again with her password. -----
    status, answer, headers = _raw(
        running, "POST", "/patient-auth/logout", headers={"authorization": f"Bearer {patient.token}"}
    )
    assert status == 200 and "max-age=0" in headers["Set-Cookie"].lower(), (answer, headers["Set-Cookie"])
    status, error = patient("GET", "/patient/messages")
    assert (status, error["code"]) == (401, "session_ended"), error
    status, session_again, headers = _raw(running, "POST", "/patient-auth/login",
                                          {"email": EMAIL, "password": PATIENT_PASSWORD})  # fmt: skip
    assert status == 200, session_again
    _refresh_cookie(headers)
    again = Staff(running, session_again["access_token"])
    assert [t["id"] for t in _ok(again("GET", "/patient/messages"))["items"]] == [thread_id]

    # --- The doctor's dashboard: counters kept on write, the clinic's feed, compliance (docs/portal.md). -------
    summary = _ok(doctor("GET", "/dashboard/summary"))
    assert summary == {"pending_scans": 0, "total_patients": 2, "compliance_percentage": 100.0,
                       "tagging_rate": 100.0}, summary  # fmt: skip
    feed = _ok(doctor("GET", "/dashboard/feed"))["items"]
    assert [entry["at"] for entry in feed] == sorted((entry["at"] for entry in feed), reverse=True)
    assert sorted(entry["kind"] for entry in feed) == ["message", "message", "scan", "tag_set"], feed
    [scan] = [entry for entry in feed if entry["kind"] == "scan"]
    assert (scan["session_id"], scan["patient_id"], scan["status"], scan["image_count"]) == (
        session_id, patient_id, "REVIEWED", 5)  # fmt: skip
    [tagged] = [entry for entry in feed if entry["kind"] == "tag_set"]
    assert (tagged["session_id"], tagged["tag_set_id"]) == (session_id, tag_set["id"])
    senders = [entry["sender_type"] for entry in feed if entry["kind"] == "message"]
    assert senders == ["PATIENT", "DOCTOR"] and DOCTOR_MESSAGE not in str(feed)  # newest first, never the content
    compliance = _ok(doctor("GET", "/dashboard/compliance"))
    assert compliance["items"] == [] and compliance["totals"] == {
        "enrolled": 2, "on_time": 2, "overdue": 0, "compliance_percentage": 100.0}  # fmt: skip
    _refused(again, "GET", "/dashboard/summary")
    theirs_summary = _ok(stranger("GET", "/dashboard/summary"))
    assert (theirs_summary["pending_scans"], theirs_summary["total_patients"]) == (0, 0)
    assert _ok(stranger("GET", "/dashboard/feed"))["items"] == []
