"""GET /patients?q=: name prefix (accent/case-insensitive), phone, OP number, national id; paging; audit;
clinic isolation; organisation-wide search for organisation admins."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.db import audit as audit_repo
from chalicelib.db import keys
from chalicelib.db.patient_index import OrgClinicRef
from chalicelib.resources import ResourceNames
from chalicelib.services import tokens
from chalicelib.services.roles import Role
from chalicelib.settings import get_settings
from tests.cloud.builders import bearer

YEAR = datetime.now(UTC).year


def register(api: Client, clinic: str, first: str, last: str, phone: str, nid: str | None = None) -> dict[str, Any]:
    body = {"first_name": first, "last_name": last, "sex": "FEMALE", "age": 40, "phone": phone,
            "insurance_type": "CASH", **({"national_id": nid} if nid else {})}  # fmt: skip
    headers = {**bearer(clinic, Role.RECEPTIONIST), "Content-Type": "application/json"}
    response = api.http.post("/patients", headers=headers, body=json.dumps(body))
    assert response.status_code == 201, response.body
    return dict(response.json_body)


def search(api: Client, query: str, clinic: str = "demo", headers: dict[str, str] | None = None) -> Any:
    return api.http.get(f"/patients?{query}", headers=headers or bearer(clinic, Role.RECEPTIONIST))


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.body
    return [hit["id"] for hit in response.json_body["items"]]


@pytest.fixture
def clinic(cloud: ResourceNames, api: Client) -> dict[str, dict[str, Any]]:
    return {
        "njeri": register(api, "demo", "Ñjeri", "Kamau", "+254712345678", nid="12345678"),
        "jose": register(api, "demo", "José", "Ötieno", "+254722000111"),
        "kamande": register(api, "demo", "Peter", "Kamande", "+254733000222", nid="A998877"),
    }


def test_name_prefix_is_accent_and_case_insensitive_on_either_order(clinic: Any, api: Client) -> None:
    assert ids(search(api, "q=njeri")) == [clinic["njeri"]["id"]]
    assert ids(search(api, "q=OTIE")) == [clinic["jose"]["id"]]
    assert ids(search(api, "q=jose%20otieno")) == [clinic["jose"]["id"]]
    assert sorted(ids(search(api, "q=kam"))) == sorted([clinic["njeri"]["id"], clinic["kamande"]["id"]])
    assert ids(search(api, "q=zzz")) == []


def test_phone_in_e164_or_national_form(clinic: Any, api: Client) -> None:
    assert ids(search(api, "q=%2B254712345678")) == [clinic["njeri"]["id"]]
    assert ids(search(api, "q=0712%20345%20678")) == [clinic["njeri"]["id"]]
    assert ids(search(api, "q=254722")) == [clinic["jose"]["id"]]


def test_op_number_and_national_id(clinic: Any, api: Client) -> None:
    op = clinic["kamande"]["op_number"]
    assert ids(search(api, f"q={op.lower()}")) == [clinic["kamande"]["id"]]
    assert ids(search(api, "q=12345678")) == [clinic["njeri"]["id"]]
    assert ids(search(api, "q=a998877")) == [clinic["kamande"]["id"]]


def test_hits_carry_summary_fields_and_the_clinic(clinic: Any, api: Client) -> None:
    [hit] = search(api, "q=njeri").json_body["items"]
    assert hit == {"id": clinic["njeri"]["id"], "clinic_id": "demo", "op_number": clinic["njeri"]["op_number"],
                   "first_name": "Ñjeri", "last_name": "Kamau", "sex": "FEMALE", "date_of_birth": None,
                   "phone": "+254712345678", "national_id": "12345678"}  # fmt: skip


def test_pages_are_signed_and_each_page_is_one_audited_read(cloud: ResourceNames, api: Client) -> None:
    made = [register(api, "demo", f"Amani{i}", "Wekesa", f"+2547000001{i:02d}")["id"] for i in range(5)]
    first = search(api, "q=wekesa&limit=2")
    second = search(api, f"q=wekesa&limit=2&next={first.json_body['next']}")
    third = search(api, f"q=wekesa&limit=2&next={second.json_body['next']}")
    seen = ids(first) + ids(second) + ids(third)
    assert sorted(seen) == sorted(made) and len(seen) == 5

    reads = [e for e in audit_repo.list_day("demo", datetime.now(UTC)) if e.action == "patient.read"]
    assert len(reads) >= 3
    bad = search(api, "q=wekesa&next=0~forged")
    assert (bad.status_code, bad.json_body["code"]) == (422, "invalid_page_token")
    assert search(api, "q=wekesa&next=9~").status_code == 422


def test_another_clinic_finds_nothing_and_bad_queries_are_422(clinic: Any, api: Client) -> None:
    assert ids(search(api, "q=njeri", clinic="clinic-b")) == []
    assert search(api, "q=").status_code == 422
    assert search(api, "q=%20%23%23").status_code == 422
    assert search(api, "q=njeri&sort=x").status_code == 422
    assert search(api, "q=njeri", headers=bearer("demo", Role.ACCOUNTANT)).status_code == 403


def _org_admin(clinic: str) -> dict[str, str]:
    token = tokens.issue(user_id="u-org", clinic_id=clinic, role="admin", settings=get_settings(),
                         org_id="org-1", org_admin=True)  # fmt: skip
    return {"Authorization": f"Bearer {token.token}"}


def test_organisation_admin_searches_every_clinic_of_the_organisation(cloud: ResourceNames, api: Client) -> None:
    for org, clinic_id in (("org-1", "demo"), ("org-1", "north"), ("org-2", "elsewhere")):
        OrgClinicRef(f"ORG#{org}", f"CLINIC#{keys.segment(clinic_id)}").save()
    here = register(api, "demo", "Halima", "Juma", "+254711000001")
    there = register(api, "north", "Halima", "Juma", "+254711000002")
    register(api, "elsewhere", "Halima", "Juma", "+254711000003")

    local = search(api, "q=juma", headers=_org_admin("demo"))
    assert ids(local) == [here["id"]]
    wide = search(api, "q=juma&scope=organisation", headers=_org_admin("demo")).json_body["items"]
    assert sorted((hit["clinic_id"], hit["id"]) for hit in wide) == sorted(
        [("demo", here["id"]), ("north", there["id"])]
    )
    also = search(api, "q=juma&all_clinics=true", headers=_org_admin("demo"))
    assert len(ids(also)) == 2
    refused = search(api, "q=juma&scope=organisation", headers=bearer("demo", Role.ADMIN))
    assert refused.status_code == 403
