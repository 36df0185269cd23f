"""Specimen ids (and the visit's charges total) under concurrent orders, against the moto server (in-process moto
is not thread-safe)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import botocore.endpoint
import pytest

from chalicelib.resources import ResourceNames
from chalicelib.services import charges, lab, patients, visits
from chalicelib.services.charges import ChargeKind
from chalicelib.services.lab import LabTest
from chalicelib.services.scope import Scope

pytestmark = pytest.mark.integration


def test_twenty_concurrent_orders_get_twenty_distinct_consecutive_specimen_ids_and_twenty_charges(
    cloud_server: ResourceNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Threads order at once: each reads the counter and races its transaction against the others. moto does
    not apply one TransactWriteItems atomically between concurrent requests (DynamoDB does); the lock gives
    each HTTP request that atomicity and nothing more (see test_api_patient_registration.py)."""
    one_request_at_a_time = threading.Lock()
    send = botocore.endpoint.Endpoint._send

    def atomic_send(self: Any, request: Any) -> Any:
        with one_request_at_a_time:
            return send(self, request)

    monkeypatch.setattr(botocore.endpoint.Endpoint, "_send", atomic_send)
    scope = Scope.system("conc-lab", "user:u-test")
    fields = {"first_name": "Neema", "last_name": "Atieno", "sex": "FEMALE", "age": 30, "phone": "+254712000111",
              "insurance_type": "CASH"}  # fmt: skip
    patient = patients.register(scope, fields)
    visit = visits.open_visit(
        scope,
        patient_id=patient.id,
        chief_complaint="Thirst",
        triage_category=visits.TriageCategory.NORMAL,
        payment_type=visits.PaymentType.CASH,
    )
    charges.set_prices(scope, [(ChargeKind.LAB_TEST, "GLU", "Glucose", "150.00")])

    def order(_: int) -> str:
        tests = [LabTest(code="GLU", name="Glucose")]
        return lab.create(scope, patient.id, visit.id, tests, "NORMAL", None).specimen_id

    with ThreadPoolExecutor(max_workers=20) as pool:
        specimens = list(pool.map(order, range(20)))

    assert sorted(specimens) == [f"L{n:07d}" for n in range(1, 21)]
    # Each order's charge reached the visit's total once (a retried order's charge is not counted twice).
    assert visits.require(scope, visit.id).charges_total == "3000.00"  # 20 x 150.00, the consultation unpriced
