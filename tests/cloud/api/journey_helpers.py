"""Helpers of the outpatient-journey API tests: registered patients, visits and prices made through the API."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import botocore.endpoint
import pytest
from chalice.test import Client

from chalicelib.services.roles import Role
from tests.cloud.builders import bearer

CLINIC = "demo"
OTHER = "elsewhere"
_phones = iter(range(10_000_000, 99_999_999))


def send(api: Client, method: str, path: str, body: Any = None, *, role: Role = Role.ADMIN, clinic: str = CLINIC,
         raw: str | None = None, patient_id: str | None = None) -> tuple[int, Any]:  # fmt: skip
    headers = {**bearer(clinic, role, patient_id=patient_id), "Content-Type": "application/json"}
    payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
    response = getattr(api.http, method.lower())(path, headers=headers, body=payload)
    return response.status_code, response.json_body


def register(api: Client, clinic: str = CLINIC, **fields: Any) -> str:
    """A registered patient of `clinic` (its id)."""
    body = {"first_name": "Amani", "last_name": "Okello", "sex": "FEMALE", "age": 34,
            "phone": f"+2547{next(_phones)}", "insurance_type": "CASH", **fields}  # fmt: skip
    status, answer = send(api, "POST", "/patients", body, role=Role.RECEPTIONIST, clinic=clinic)
    assert status == 201, answer
    return str(answer["id"])


def new_visit(patient_id: str, **fields: Any) -> dict[str, Any]:
    return {"patient_id": patient_id, "chief_complaint": "Fever and headache", "triage_category": "NORMAL",
            "payment_type": "CASH", **fields}  # fmt: skip


def open_visit(api: Client, patient_id: str, clinic: str = CLINIC, **fields: Any) -> dict[str, Any]:
    status, answer = send(api, "POST", "/visits", new_visit(patient_id, **fields), role=Role.RECEPTIONIST,
                          clinic=clinic)  # fmt: skip
    assert status == 201, answer
    return dict(answer)


def set_price(api: Client, kind: str, code: str, price: str, clinic: str = CLINIC) -> None:
    entry = {"kind": kind, "code": code, "name": code, "price": price}
    status, answer = send(api, "PUT", "/prices", {"items": [entry]}, role=Role.ACCOUNTANT, clinic=clinic)
    assert status == 200, answer


def move(api: Client, visit_id: str, *statuses: str, clinic: str = CLINIC) -> dict[str, Any]:
    answer: dict[str, Any] = {}
    for status_name in statuses:
        status, answer = send(api, "PUT", f"/visits/{visit_id}", {"status": status_name}, role=Role.DOCTOR,
                              clinic=clinic)  # fmt: skip
        assert status == 200, answer
    return answer


def race(monkeypatch: pytest.MonkeyPatch, attempts: list[Callable[[], Any]]) -> list[Any]:
    """Runs `attempts` at once (threads released together) and returns their results in order.

    moto applies a TransactWriteItems non-atomically (it checks, then writes, with no lock), whereas DynamoDB
    executes each request atomically; a lock around each AWS request gives moto that atomicity and nothing
    more: the threads still interleave freely between their reads and their transactions (as in
    test_api_patient_registration's concurrency test)."""
    one_request_at_a_time = threading.Lock()
    original = botocore.endpoint.Endpoint._do_get_response

    def atomic(self: Any, *args: Any, **kwargs: Any) -> Any:
        with one_request_at_a_time:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(botocore.endpoint.Endpoint, "_do_get_response", atomic)
    barrier = threading.Barrier(len(attempts))
    results: list[Any] = [None] * len(attempts)

    def run(position: int) -> None:
        barrier.wait()
        results[position] = attempts[position]()

    threads = [threading.Thread(target=run, args=(position,)) for position in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
