"""Appointments: booking with no double booking (also concurrent), reschedule moving the slots, cancel freeing them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from chalice.test import Client

from chalicelib.resources import ResourceNames
from chalicelib.services.roles import Role
from tests.cloud.api.journey_helpers import OTHER, race, register, send
from tests.cloud.builders import make_user

DAY = "2030-01-14"


def book(api: Client, patient: str, provider: str, time: str, **fields: Any) -> tuple[int, Any]:
    body = {"patient_id": patient, "provider_id": provider, "date": DAY, "time": time, **fields}
    return send(api, "POST", "/appointments", body, role=Role.RECEPTIONIST)


@pytest.fixture
def people(cloud: ResourceNames, api: Client) -> tuple[str, str, str]:
    doctor = make_user("demo", "doctor@demo.test", Role.DOCTOR)
    return register(api), register(api), doctor


def test_no_double_booking_of_a_providers_slot_and_overlaps(api: Client, people: tuple[str, str, str]) -> None:
    first, second, doctor = people
    status, booked = book(api, first, doctor, "09:00", duration_minutes=30, reason="Review")
    assert (status, booked["status"], booked["duration_minutes"]) == (201, "SCHEDULED", 30), booked
    for time in ("09:00", "09:15"):
        status, body = book(api, second, doctor, time)
        assert (status, body["code"]) == (409, "slot_taken")
    assert book(api, second, doctor, "09:30")[0] == 201
    status, page = send(api, "GET", f"/appointments?date={DAY}&provider={doctor}", role=Role.SECRETARY)
    assert [(a["time"], a["patient_id"]) for a in page["items"]] == [("09:00", first), ("09:30", second)]
    status, body = book(api, first, "no-such-user", "11:00")
    assert (status, body["field"]) == (404, "provider_id")
    status, body = book(api, first, doctor, "11:10")
    assert (status, body["code"]) == (422, "invalid_time")


def test_concurrent_bookings_of_one_slot_book_exactly_one(
    api: Client, people: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, doctor = people
    results = race(monkeypatch, [lambda p=p: book(api, p, doctor, "10:00") for p in (first, second, first)])
    assert sorted(status for status, _ in results) == [201, 409, 409]


def test_reschedule_moves_the_slots_and_cancel_frees_them(api: Client, people: tuple[str, str, str]) -> None:
    first, second, doctor = people
    _, booked = book(api, first, doctor, "09:00")
    _, other = book(api, second, doctor, "10:00")
    status, body = send(api, "PUT", f"/appointments/{booked['id']}", {"time": "10:00"}, role=Role.RECEPTIONIST)
    assert (status, body["code"]) == (409, "slot_taken")
    status, moved = send(api, "PUT", f"/appointments/{booked['id']}", {"time": "11:00", "duration_minutes": 45},
                         role=Role.RECEPTIONIST)  # fmt: skip
    assert (status, moved["time"], moved["version"]) == (200, "11:00", 2), moved
    assert book(api, second, doctor, "09:00")[0] == 201  # the old slot is free
    assert book(api, second, doctor, "11:30")[0] == 409  # the new one (11:00-11:45) is held
    status, cancelled = send(api, "POST", f"/appointments/{other['id']}/cancel", role=Role.RECEPTIONIST)
    assert (status, cancelled["status"]) == (200, "CANCELLED")
    assert book(api, first, doctor, "10:00")[0] == 201
    status, body = send(api, "POST", f"/appointments/{other['id']}/cancel", clinic=OTHER)
    assert (status, body["code"]) == (404, "not_found")


def test_the_day_list_defaults_to_the_clinics_today_not_utcs(api: Client, people: tuple[str, str, str]) -> None:
    """A clinic 14 hours ahead of UTC (or 11 behind) is on another date than UTC for most of the day: pick the
    zone that differs now, so the test means something whenever it runs."""
    now = datetime.now(UTC)
    zone = "Pacific/Kiritimati" if now.hour >= 10 else "Pacific/Pago_Pago"
    local_today = now.astimezone(ZoneInfo(zone)).date()
    assert local_today != now.date()
    first, _, doctor = people
    status, body = send(api, "PATCH", "/clinics/demo", {"timezone": zone})
    assert status == 200, body
    status, booked = book(api, first, doctor, "10:00", date=local_today.isoformat())
    assert status == 201, booked

    status, page = send(api, "GET", "/appointments", role=Role.RECEPTIONIST)
    assert status == 200 and [a["id"] for a in page["items"]] == [booked["id"]]
    status, page = send(api, "GET", f"/appointments?date={now.date().isoformat()}", role=Role.RECEPTIONIST)
    assert status == 200 and page["items"] == []
