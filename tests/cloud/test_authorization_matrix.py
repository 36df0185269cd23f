"""The authorization matrix, generated from the route table and the permission table: every route x every role
(and an organisation admin) x a token of the clinic that owns the data / of another clinic, plus anonymous.

Nothing here names a route: a new route is covered as soon as the app registers it. What each call must
answer comes from `roles.allows`: without the permission → 403 `forbidden`; with it → never 401/403 in
the own clinic, and from another clinic 404 (or 422 for a bad body) on routes with ids and never a 2xx
carrying clinic A's data; anonymous → 401 unless the route is public (`permission=None`), and a public
route must be on PUBLIC. Bodies are `{}`; a refused call writes nothing (except its audit entry).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from chalice.test import Client
from pydantic import SecretStr

from app import app
from chalicelib.api.endpoint import ROUTES, RouteSpec
from chalicelib.resources import ResourceNames
from chalicelib.services.roles import ORGANISATION_ONLY, ROLE_PERMISSIONS, Role, allows
from chalicelib.services.users import ensure_user
from chalicelib.settings import get_settings, use_settings
from tests.cloud.builders import PASSWORD, bearer
from tests.cloud.claude_stand_in import StandIn, running
from tests.cloud.dynamo_calls import recorded, tables_written
from tests.cloud.matrix_examples import CLINIC_A, CLINIC_B, ORG_A, ORG_B, World, patient_accounts, patient_headers

PUBLIC = {("GET", "/health"), ("GET", "/openapi.json"), ("POST", "/auth/login"), ("POST", "/auth/refresh")}
# The patient portal's way in (services/patient_auth.py): an invite token, a password or the refresh cookie.
PUBLIC |= {
    ("GET", "/patient-auth/validate-invite/{token}"),
    ("POST", "/patient-auth/register"),
    ("POST", "/patient-auth/login"),
    ("POST", "/patient-auth/refresh"),
}
# Routes with ids that still answer a 2xx (without clinic A's data) to another clinic instead of 404.
# test_known_gaps_are_still_gaps fails once a route answers 404: then remove it from here.
# Routes that do not yet answer 404 for another clinic's ids (each must still leak nothing). Empty: keep it so.
KNOWN_GAPS: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Principal:
    label: str
    role: Role
    org_admin: bool = False


PRINCIPALS = [Principal(role.value, role) for role in Role] + [Principal("org_admin", Role.ADMIN, org_admin=True)]
PROTECTED = [route for route in ROUTES if route.permission is not None]
OUTCOMES: Counter[str] = Counter()
USERS: dict[tuple[str, str], str] = {}  # (clinic, principal label) → the user id of its real account


def _route_id(route: RouteSpec) -> str:
    return f"{route.method} {route.path}"


@pytest.fixture(scope="module")
def claude(module_cloud: ResourceNames) -> Iterator[StandIn]:
    """AI suggestions configured, against the local stand-in of the Messages API: the suggest route runs for
    real (a 503 `ai_unavailable` would hide what the route does for each role)."""
    with running() as stand_in:
        base = get_settings()
        use_settings(base.model_copy(update={"anthropic_api_key": SecretStr("sk-ant-matrix"),
                                             "anthropic_base_url": stand_in.url}))  # fmt: skip
        yield stand_in
        use_settings(base)


@pytest.fixture(scope="module")
def world(module_cloud: ResourceNames, claude: StandIn) -> World:
    """Clinic A's data, one example per path parameter any route uses (seeded once for the module), and a
    real account for every principal in clinic A (organisation A) and clinic B (organisation B): routes
    about the caller's own account (TOTP, password, sessions) need the caller to exist."""
    world = World(module_cloud)
    for name in sorted({name for route in ROUTES for name in route.path_params}):
        world.example(name)
    for clinic_id, org_id in ((CLINIC_A, ORG_A), (CLINIC_B, ORG_B)):
        use_settings(get_settings().model_copy(update={"org_id": org_id}))
        for principal in PRINCIPALS:
            email = f"matrix.{principal.label}@{clinic_id}.test"
            USERS[(clinic_id, principal.label)] = ensure_user(
                clinic_id, email, PASSWORD, principal.role, org_admin=principal.org_admin
            )
    patient_accounts(world)
    return world


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with Client(app) as test_client:
        yield test_client


def _call(client: Client, world: World, route: RouteSpec, headers: dict[str, str]) -> tuple[Any, set[str]]:
    path = route.path
    for name in route.path_params:
        path = path.replace("{" + name + "}", world.example(name))
    headers = {**headers, "Content-Type": "application/json"}
    body = b"{}" if route.body is not None else b""
    with recorded() as calls:
        response = client.http.request(route.method, path, headers=headers, body=body)
    audit_table = world.names.table("audit")
    return response, tables_written(calls) - {audit_table}


def _leaks(response: Any, world: World) -> set[str]:
    text = response.body.decode(errors="replace") if isinstance(response.body, bytes) else json.dumps(response.body)
    return {marker for marker in world.markers() if marker in text}


def _code(response: Any) -> str | None:
    body = response.json_body
    return body.get("code") if isinstance(body, dict) else None


def test_every_route_declares_a_granted_permission_or_is_public() -> None:
    granted = set().union(*ROLE_PERMISSIONS.values())
    ungranted = [_route_id(route) for route in PROTECTED if route.permission not in granted]
    unlisted_public = [_route_id(r) for r in ROUTES if r.permission is None and (r.method, r.path) not in PUBLIC]
    assert ROUTES, "the route table is empty: was the app imported?"
    assert ungranted == [], f"routes whose permission no role has: {ungranted}"
    assert unlisted_public == [], f"routes without a permission that are not on the public allowlist: {unlisted_public}"


@pytest.mark.parametrize("clinic", ["own", "other"])
@pytest.mark.parametrize("principal", PRINCIPALS, ids=lambda p: p.label)
@pytest.mark.parametrize("route", PROTECTED, ids=_route_id)
def test_role_gets_what_the_permission_table_says(
    world: World, client: Client, route: RouteSpec, principal: Principal, clinic: str
) -> None:
    assert route.permission is not None
    clinic_id, org_id = (CLINIC_A, ORG_A) if clinic == "own" else (CLINIC_B, ORG_B)
    headers = bearer(clinic_id, principal.role, user_id=USERS[(clinic_id, principal.label)], org_id=org_id,
                     org_admin=principal.org_admin)  # fmt: skip
    if principal.role is Role.PATIENT:  # a real patient account's token, of a live session
        headers = patient_headers(world, "own" if clinic == "own" else "other")
    response, written = _call(client, world, route, headers)
    status, allowed = response.status_code, allows(principal.role, route.permission, org_admin=principal.org_admin)

    assert status < 500, response.body
    if not allowed:
        OUTCOMES["refused as expected" if status == 403 else "unauthorized success"] += 1
        assert (status, _code(response)) == (403, "forbidden"), response.body
        assert written == set(), f"a refused call wrote to {written}"
        return
    OUTCOMES["wrongly refused" if status in (401, 403) else "allowed as expected"] += 1
    assert status not in (401, 403), f"{principal.label} has {route.permission.value} but got {status}: {response.body}"
    if clinic == "own":
        return
    leaked = _leaks(response, world) if 200 <= status < 300 else set()
    if leaked:
        OUTCOMES["unauthorized success"] += 1
    assert leaked == set(), f"clinic B got clinic A's data ({leaked}): {response.body}"
    if route.path_params and (route.method, route.path) not in KNOWN_GAPS:
        assert status in (404, 422), f"another clinic's id must be 404 (or 422 for a bad body), got {status}"
        assert written == set(), f"a call with another clinic's id wrote to {written}"


@pytest.mark.parametrize("route", PROTECTED, ids=_route_id)
def test_a_patient_token_reaches_only_its_own_patient(world: World, client: Client, route: RouteSpec) -> None:
    """Another patient of the same clinic (a real account, live session): staff routes 403; patient routes with
    the own patient's ids 404 (or 422 for a bad body), writing nothing; never the own patient's data."""
    assert route.permission is not None
    response, written = _call(client, world, route, patient_headers(world, "sibling"))
    status = response.status_code

    assert status < 500, response.body
    if not allows(Role.PATIENT, route.permission):
        OUTCOMES["refused as expected" if status == 403 else "unauthorized success"] += 1
        assert (status, _code(response)) == (403, "forbidden"), response.body
        assert written == set(), f"a refused call wrote to {written}"
        return
    assert status not in (401, 403), response.body
    leaked = (_leaks(response, world) - {CLINIC_A}) if 200 <= status < 300 else set()
    if leaked:
        OUTCOMES["unauthorized success"] += 1
    assert leaked == set(), f"a patient got another patient's data ({leaked}): {response.body}"
    if route.path_params:
        assert status in (404, 422), f"another patient's id must be 404 (or 422 for a bad body), got {status}"
        assert written == set(), f"a call with another patient's id wrote to {written}"


@pytest.mark.parametrize("route", ROUTES, ids=_route_id)
def test_anonymous_is_refused_unless_the_route_is_public(world: World, client: Client, route: RouteSpec) -> None:
    response, written = _call(client, world, route, {})

    assert response.status_code < 500, response.body
    if route.permission is None:
        assert response.status_code not in (401, 403), response.body
        return
    OUTCOMES["refused as expected" if response.status_code == 401 else "unauthorized success"] += 1
    assert response.status_code == 401, response.body
    assert written == set()


def test_organisation_only_permissions_need_the_org_flag() -> None:
    for permission in ORGANISATION_ONLY:
        assert allows(Role.ADMIN, permission, org_admin=True)
        assert not any(allows(role, permission) for role in Role)


def test_known_gaps_are_still_gaps(world: World, client: Client) -> None:
    """Each entry of KNOWN_GAPS must still be a gap: once a route answers 404, its entry goes."""
    for route_key in sorted(KNOWN_GAPS):
        route = next((r for r in ROUTES if (r.method, r.path) == route_key), None)
        assert route is not None, f"{route_key} is gone: remove it from KNOWN_GAPS"
        response, _ = _call(client, world, route, bearer(CLINIC_B, Role.ADMIN))
        assert response.status_code not in (404, 422), f"{route_key} now answers 404: remove it from KNOWN_GAPS"


def test_a_path_parameter_without_an_example_fails_naming_it(world: World) -> None:
    with pytest.raises(pytest.fail.Exception, match="add an example for ward_id"):
        world.example("ward_id")


def test_matrix_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """Runs last in this module: the tallies of the whole matrix."""
    if not OUTCOMES:
        pytest.skip("the matrix did not run in this session")
    with capsys.disabled():
        print("\nauthorization matrix:", dict(sorted(OUTCOMES.items())))
    assert OUTCOMES["unauthorized success"] == 0
    assert OUTCOMES["wrongly refused"] == 0
    assert OUTCOMES["allowed as expected"] > 0 and OUTCOMES["refused as expected"] > 0
