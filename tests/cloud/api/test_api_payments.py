"""Payments, refunds and the bill: POST /payments, GET /visits/{visit_id}/bill, the price list (GET/PUT /prices)."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib.db import events as events_repo
from chalicelib.resources import ResourceNames
from chalicelib.services.roles import Role
from tests.cloud.api.journey_helpers import CLINIC, OTHER, open_visit, race, register, send, set_price


def pay(api: Client, visit_id: str, amount: Any, **fields: Any) -> tuple[int, Any]:
    body = {"visit_id": visit_id, "amount": amount, "payment_type": "CASH", **fields}
    return send(api, "POST", "/payments", body, role=Role.CASHIER)


@pytest.fixture
def visit_id(cloud: ResourceNames, api: Client) -> str:
    set_price(api, "CONSULTATION", "CONSULTATION", "500.00")
    return str(open_visit(api, register(api))["id"])


def test_payments_move_the_visit_from_unpaid_to_partial_to_paid_and_the_bill_shows_them(
    api: Client, visit_id: str
) -> None:
    status, first = pay(api, visit_id, "200.00", reference="R-1")
    assert status == 201, first
    assert (first["amount"], first["reference"], first["visit"]["payment_status"]) == ("200.00", "R-1", "PARTIAL")
    assert first["visit"]["balance"] == "300.00"
    status, second = pay(api, visit_id, "300", payment_type="MOBILE_MONEY")
    assert (status, second["amount"], second["visit"]["payment_status"]) == (201, "300.00", "PAID")

    status, bill = send(api, "GET", f"/visits/{visit_id}/bill", role=Role.ACCOUNTANT)
    assert status == 200, bill
    assert [(line["kind"], line["amount"]) for line in bill["charges"]] == [("CONSULTATION", "500.00")]
    assert [(p["amount"], p["payment_type"]) for p in bill["payments"]] == [("200.00", "CASH"),
                                                                           ("300.00", "MOBILE_MONEY")]  # fmt: skip
    assert (bill["charges_total"], bill["paid_total"], bill["balance"], bill["payment_status"], bill["currency"]) == (
        "500.00", "500.00", "0.00", "PAID", "KES")  # fmt: skip
    completed = [e for e in events_repo.after(CLINIC, None, limit=100, next_token=None).items
                 if e.type == "payment.completed"]  # fmt: skip
    assert [e.subject["amount"] for e in completed] == ["200.00", "300.00"]


def test_money_must_be_a_decimal_string_with_at_most_two_decimals(api: Client, visit_id: str) -> None:
    for amount, code in ((500, "invalid_request"), (500.0, "invalid_request"), ("500.001", "invalid_amount"),
                         ("5e2", "invalid_amount"), ("", "invalid_request"), ("0.00", "invalid_amount"),
                         ("abc", "invalid_amount")):  # fmt: skip
        status, body = pay(api, visit_id, amount)
        assert (status, body["code"], body["field"]) == (422, code, "amount"), (amount, body)
    status, body = send(api, "PUT", "/prices", {"items": [{"kind": "LAB_TEST", "code": "FBC", "name": "FBC",
                                                           "price": 350}]}, role=Role.ACCOUNTANT)  # fmt: skip
    assert (status, body["field"]) == (422, "items.0.price")
    _, visit = send(api, "GET", f"/visits/{visit_id}")
    assert visit["paid_total"] == "0.00"


def test_refunds_need_a_reason_and_never_exceed_what_was_paid(api: Client, visit_id: str) -> None:
    assert pay(api, visit_id, "300.00")[0] == 201
    status, body = pay(api, visit_id, "-50.00")
    assert (status, body["code"], body["field"]) == (422, "refund_reason_required", "reason")
    status, body = pay(api, visit_id, "-300.01", reason="overcharged")
    assert (status, body["code"], body["field"]) == (409, "refund_exceeds_paid", "amount")
    status, body = pay(api, visit_id, "-100.00", reason="lab test not done")
    assert (status, body["amount"], body["reason"], body["visit"]["paid_total"]) == (
        201, "-100.00", "lab test not done", "200.00")  # fmt: skip
    assert body["visit"]["payment_status"] == "PARTIAL"


def test_concurrent_refunds_cannot_together_exceed_what_was_paid(
    api: Client, visit_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert pay(api, visit_id, "100.00")[0] == 201
    results = race(monkeypatch, [lambda: pay(api, visit_id, "-80.00", reason="refund")] * 3)
    assert sorted(status for status, _ in results) == [201, 409, 409]
    _, visit = send(api, "GET", f"/visits/{visit_id}")
    assert visit["paid_total"] == "20.00"


def test_another_clinics_visit_cannot_be_paid_or_billed(api: Client, visit_id: str) -> None:
    elsewhere = open_visit(api, register(api, clinic=OTHER), clinic=OTHER)["id"]
    status, body = pay(api, elsewhere, "10.00")
    assert (status, body["code"], body["field"]) == (404, "not_found", "visit_id")
    status, body = send(api, "GET", f"/visits/{elsewhere}/bill")
    assert (status, body["code"]) == (404, "not_found")


def test_a_cancelled_visit_takes_no_payment(api: Client, visit_id: str) -> None:
    assert send(api, "PUT", f"/visits/{visit_id}", {"status": "CANCELLED"})[0] == 200
    status, body = pay(api, visit_id, "10.00")
    assert (status, body["code"]) == (409, "visit_cancelled")


def test_the_price_list_is_per_clinic_and_prices_new_charges(cloud: ResourceNames, api: Client) -> None:
    set_price(api, "CONSULTATION", "DEFAULT", "450.00")
    set_price(api, "LAB_TEST", "FBC", "350.00")
    set_price(api, "LAB_TEST", "FBC", "375.50")  # replaced
    status, page = send(api, "GET", "/prices", role=Role.CASHIER)
    assert status == 200
    assert [(p["kind"], p["code"], p["price"]) for p in page["items"]] == [
        ("CONSULTATION", "DEFAULT", "450.00"), ("LAB_TEST", "FBC", "375.50")]  # fmt: skip
    assert send(api, "GET", "/prices", clinic=OTHER)[1]["items"] == []
    visit = open_visit(api, register(api))
    assert visit["charges_total"] == "450.00"  # the kind's DEFAULT price
    status, body = send(api, "PUT", "/prices", {"items": [{"kind": "LAB_TEST", "code": "FBC", "name": "a",
                                                           "price": "1.00"}] * 2}, role=Role.ACCOUNTANT)  # fmt: skip
    assert (status, body["code"], body["field"]) == (422, "duplicate_item", "items.1.code")
    status, body = send(api, "PUT", "/prices", {"items": [{"kind": "LAB_TEST", "code": "FBC", "name": "a",
                                                           "price": "1.00"}]}, role=Role.CASHIER)  # fmt: skip
    assert (status, body["code"]) == (403, "forbidden")
