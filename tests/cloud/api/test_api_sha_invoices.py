"""SHA invoices: numbering from the clinic's counter (also under concurrency), the status lifecycle, scoping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.resources import ResourceNames
from chalicelib.services.roles import Role
from tests.cloud.api.journey_helpers import OTHER, open_visit, race, register, send, set_price

YEAR = datetime.now(UTC).year


def invoice(api: Client, visit_id: str, **fields: Any) -> tuple[int, Any]:
    return send(api, "POST", "/sha-invoices", {"visit_id": visit_id, "sha_number": "SHA123456", **fields},
                role=Role.ACCOUNTANT)  # fmt: skip


def sha_visit(api: Client, clinic: str = "demo") -> str:
    return str(open_visit(api, register(api, clinic=clinic), clinic=clinic, payment_type="SHA")["id"])


def test_invoices_are_numbered_from_the_clinics_counter_and_follow_the_lifecycle(
    cloud: ResourceNames, api: Client
) -> None:
    set_price(api, "CONSULTATION", "CONSULTATION", "500.00")
    first_visit, second_visit = sha_visit(api), sha_visit(api)
    status, first = invoice(api, first_visit, client_number="OP12345", diagnosis="URTI")
    assert status == 201, first
    assert (first["invoice_number"], first["status"], first["amount"]) == (f"SHA-{YEAR}-000001", "PENDING", "500.00")
    status, second = invoice(api, second_visit, amount="350.00")
    assert (second["invoice_number"], second["amount"]) == (f"SHA-{YEAR}-000002", "350.00")

    status, body = invoice(api, first_visit)
    assert (status, body["code"], body["existing_id"]) == (409, "invoice_exists", first["id"])
    status, body = send(api, "PUT", f"/sha-invoices/{first['id']}", {"status": "PAID"}, role=Role.ACCOUNTANT)
    assert (status, body["code"]) == (409, "illegal_transition") and "SUBMITTED" in body["message"]
    for target in ("SUBMITTED", "APPROVED", "PAID"):
        status, body = send(api, "PUT", f"/sha-invoices/{first['id']}", {"status": target}, role=Role.ACCOUNTANT)
        assert (status, body["status"]) == (200, target), body
    for target in ("SUBMITTED", "REJECTED"):
        assert send(api, "PUT", f"/sha-invoices/{second['id']}", {"status": target}, role=Role.ACCOUNTANT)[0] == 200
    status, body = send(api, "PUT", f"/sha-invoices/{second['id']}", {"status": "PAID"}, role=Role.ACCOUNTANT)
    assert (status, body["code"]) == (409, "illegal_transition")
    status, again = invoice(api, second_visit)  # a rejected invoice frees its visit; its number is not reused
    assert (status, again["invoice_number"]) == (201, f"SHA-{YEAR}-000003")

    status, page = send(api, "GET", "/sha-invoices?status=PAID", role=Role.MANAGER)
    assert [item["id"] for item in page["items"]] == [first["id"]]
    status, page = send(api, "GET", "/sha-invoices", role=Role.ACCOUNTANT)
    assert len(page["items"]) == 3
    status, body = send(api, "GET", f"/sha-invoices/{first['id']}", clinic=OTHER)
    assert (status, body["code"]) == (404, "not_found")


def test_only_sha_visits_are_invoiced_and_another_clinics_visit_is_404(cloud: ResourceNames, api: Client) -> None:
    cash = open_visit(api, register(api))["id"]
    status, body = invoice(api, cash)
    assert (status, body["code"], body["field"]) == (422, "visit_not_sha", "visit_id")
    status, body = invoice(api, sha_visit(api, clinic=OTHER))
    assert (status, body["code"]) == (404, "not_found")
    status, body = invoice(api, sha_visit(api), amount=500)
    assert (status, body["field"]) == (422, "amount")


def test_concurrent_invoices_get_distinct_consecutive_numbers(
    cloud: ResourceNames, api: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    visit_ids = [sha_visit(api) for _ in range(4)]
    results = race(monkeypatch, [lambda v=v: invoice(api, v) for v in visit_ids])
    assert all(status == 201 for status, _ in results), results
    assert sorted(body["invoice_number"] for _, body in results) == [f"SHA-{YEAR}-{n:06d}" for n in range(1, 5)]
