"""Staff accounts: one per email, member of one or more clinics of its organisation with one role in each.

Clinic admins manage the staff of their clinic; organisation admins may also add staff (or an existing
account of the organisation) to another clinic of the organisation. `ensure_user` / `ensure_admin`
serve the operator CLI, `make run` and the tests (the admin they create is an organisation admin).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from chalicelib.db import clinics as clinics_repo
from chalicelib.db import store
from chalicelib.db import totp as totp_repo
from chalicelib.db import users as users_repo
from chalicelib.db.users import Account, Member, UserItem
from chalicelib.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from chalicelib.models import Page, StaffUser
from chalicelib.services import audit, clinics, lockout, passwords, user_sessions
from chalicelib.services.roles import Role
from chalicelib.services.scope import Scope
from chalicelib.settings import get_settings

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")
check_clinic_id = clinics.check_clinic_id


def check_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise InvalidInput("the email address is not valid", code="invalid_email", field="email")
    return email


def ensure_user(
    clinic_id: str,
    email: str,
    password: str,
    role: Role,
    *,
    actor: str = "cli",
    now: datetime | None = None,
    org_admin: bool = False,
) -> str:
    """Creates the account (and the clinic, in the default organisation, when missing), or resets its
    password, role in this clinic and activation when it exists. Returns the user id."""
    now = now or datetime.now(UTC)
    clinic_id = check_clinic_id(clinic_id)
    email = check_email(email)
    passwords.check_policy(password, email=email)
    clinic = clinics.ensure(clinic_id, get_settings().org_id, actor=actor, now=now)
    existing = users_repo.account_by_email(email)
    if existing is not None and existing.org_id != clinic.org_id:
        raise Conflict("this email address already belongs to a user of another organisation", code="email_taken",
                       field="email")  # fmt: skip
    account = Account(
        user_id=existing.user_id if existing else uuid.uuid4().hex,
        org_id=clinic.org_id,
        email=email,
        name=existing.name if existing else "",
        password_hash=passwords.hash_password(password),
        org_admin=org_admin or (existing.org_admin if existing else False),
        memberships={**(existing.memberships if existing else {}), clinic_id: role.value},
        created_at=existing.created_at if existing else now,
    )
    action = "user.password_reset" if existing else "user.created"
    scope = Scope.system(clinic_id, actor, org_id=clinic.org_id, org_admin=True)
    _write(scope, account, action, new=existing is None, at=now, role=role.value)
    return account.user_id


def ensure_admin(clinic_id: str, email: str, password: str) -> str:
    """Idempotent: creates the clinic's admin, an organisation admin, or resets its password. Returns the user id."""
    return ensure_user(clinic_id, email, password, Role.ADMIN, org_admin=True)


def create(
    scope: Scope,
    *,
    email: str,
    password: str,
    role: Role,
    name: str,
    clinic_id: str | None = None,
    now: datetime | None = None,
) -> Member:
    """A new staff account in the caller's clinic (or, for an organisation admin, `clinic_id` of its
    organisation). An organisation admin naming an existing account of the organisation adds it to
    the clinic with `role` (its password is left as it is)."""
    now = now or datetime.now(UTC)
    target = _target(scope, clinic_id)
    email = check_email(email)
    _staff_role(role)
    existing = users_repo.account_by_email(email)
    if existing is not None:
        if not (scope.org_admin and existing.org_id == _org_of(target)) or target.clinic_id in existing.memberships:
            raise Conflict("an account with this email address already exists", code="email_taken", field="email")
        account = existing.model_copy(update={"memberships": {**existing.memberships, target.clinic_id: role.value}})
        _write(target, account, "user.membership_added", new=False, at=now, role=role.value)
    else:
        passwords.check_policy(password, email=email)
        account = Account(
            user_id=uuid.uuid4().hex,
            org_id=_org_of(target),
            email=email,
            name=name,
            password_hash=passwords.hash_password(password),
            memberships={target.clinic_id: role.value},
            created_at=now,
        )
        _write(target, account, "user.created", new=True, at=now, role=role.value)
    found = users_repo.member(target.clinic_id, account.user_id)
    assert found is not None
    return found


def list_members(scope: Scope, *, limit: int, next_token: str | None) -> Page[Member]:
    return users_repo.members(scope.clinic_id, limit=limit, next_token=next_token)


def get_member(scope: Scope, user_id: str) -> Member:
    found = users_repo.member(scope.clinic_id, user_id)
    if found is None:
        raise NotFound("no user with this id in your clinic", code="not_found", field="user_id")
    return found


def update(
    scope: Scope, user_id: str, *, role: Role | None = None, name: str | None = None, now: datetime | None = None
) -> Member:
    """Changes the user's role in this clinic and/or its name (shown in every clinic it belongs to)."""
    now = now or datetime.now(UTC)
    member, account = _member_account(scope, user_id)
    if role is not None:
        _staff_role(role)
        if not member.active:
            raise Conflict("the user is deactivated in this clinic", code="user_inactive", field="user_id")
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = name
    if role is not None:
        changes["memberships"] = {**account.memberships, scope.clinic_id: role.value}
    updated = account.model_copy(update=changes)
    fields = ",".join(sorted(k for k, v in (("name", name), ("role", role)) if v is not None))
    with audit.change(scope, "user.updated", resource="user", resource_id=user_id, at=now, fields=fields) as change:
        change.update(users_repo.account_ref(account.org_id, user_id),
                      actions=[UserItem.name.set(updated.name), UserItem.memberships.set(updated.memberships),
                               UserItem.updated_at.set(now)],
                      condition=users_repo.account_exists())  # fmt: skip
        for clinic_id in sorted(set(account.memberships) | {scope.clinic_id}):
            stored = users_repo.member(clinic_id, user_id) if clinic_id != scope.clinic_id else member
            if stored is None:
                continue
            new_role = updated.memberships.get(clinic_id, stored.role)
            change.save(users_repo.member_item(updated, clinic_id, new_role, active=stored.active,
                                               created_at=stored.created_at, at=now))  # fmt: skip
        change.emit("user.updated", user_id=user_id)
    return get_member(scope, user_id)


def deactivate(scope: Scope, user_id: str, *, now: datetime | None = None) -> Member:
    """The user loses access to this clinic: its refresh fails at once (the account is re-read) and
    `on_deactivated` hooks (its sessions) run. Other clinics it belongs to are not affected."""
    now = now or datetime.now(UTC)
    member, account = _member_account(scope, user_id)
    if member.active:
        remaining = {k: v for k, v in account.memberships.items() if k != scope.clinic_id}
        with audit.change(scope, "user.deactivated", resource="user", resource_id=user_id, at=now) as change:
            change.update(users_repo.account_ref(account.org_id, user_id),
                          actions=[UserItem.memberships.set(remaining), UserItem.updated_at.set(now)],
                          condition=users_repo.account_exists())  # fmt: skip
            change.save(users_repo.member_item(account, scope.clinic_id, member.role, active=False,
                                               created_at=member.created_at, at=now))  # fmt: skip
            change.emit("user.deactivated", user_id=user_id)
    for hook in ON_DEACTIVATED:
        hook(scope, user_id, now)
    return get_member(scope, user_id)


def reset_password(scope: Scope, user_id: str, password: str, *, now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    _member, account = _member_account(scope, user_id)
    passwords.check_policy(password, email=account.email)
    _set_hash(scope, account, passwords.hash_password(password), "user.password_reset", now)
    user_sessions.end_all(scope, user_id, "password_reset", now=now)


def unlock(scope: Scope, user_id: str, *, now: datetime | None = None) -> None:
    """Lifts a lockout (too many wrong passwords) of a user of the clinic."""
    _member, account = _member_account(scope, user_id)
    lockout.unlock(scope, user_id, account.email, now=now or datetime.now(UTC))


def change_password(scope: Scope, old_password: str, new_password: str, *, now: datetime | None = None) -> None:
    """The caller's own password; the old one is required."""
    now = now or datetime.now(UTC)
    account = own_account(scope)
    if not passwords.verify(account.password_hash, old_password):
        raise Unauthenticated("the current password is incorrect", code="invalid_credentials", field="old_password")
    try:
        passwords.check_policy(new_password, email=account.email)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, code=exc.code, field="new_password") from None
    if passwords.verify(account.password_hash, new_password):
        raise InvalidInput("the new password must differ from the current one", code="weak_password",
                           field="new_password")  # fmt: skip
    _set_hash(scope, account, passwords.hash_password(new_password), "user.password_changed", now)
    user_sessions.end_all(scope, account.user_id, "password_changed", now=now, keep=scope.session_id)


def choose_clinic(matches: list[StaffUser], clinic_id: str | None) -> StaffUser:
    """At login, once the password is verified: the account in the clinic asked for, or in its only one."""
    if clinic_id is not None:
        for user in matches:
            if user.clinic_id == clinic_id:
                return user
        raise InvalidInput("this account has no access to that clinic", code="unknown_clinic", field="clinic_id")
    if len(matches) > 1:
        raise InvalidInput(
            "this account belongs to several clinics; give clinic_id (one of: "
            + ", ".join(user.clinic_id for user in matches)
            + ")",
            code="clinic_required",
            field="clinic_id",
        )
    return matches[0]


def own_account(scope: Scope) -> Account:
    member = users_repo.member_row(scope.clinic_id, scope.user_id or "")
    account = users_repo.get_account(member.org_id, member.user_id) if member is not None else None
    if account is None or scope.clinic_id not in account.memberships:
        raise Unauthenticated("the account is no longer active", code="session_ended")
    return account


ON_DEACTIVATED: list[Callable[[Scope, str, datetime], None]] = [user_sessions.on_deactivated]


def _set_hash(scope: Scope, account: Account, password_hash: str, action: str, now: datetime) -> None:
    with audit.change(scope, action, resource="user", resource_id=account.user_id, at=now) as change:
        change.update(users_repo.account_ref(account.org_id, account.user_id),
                      actions=[UserItem.password_hash.set(password_hash), UserItem.updated_at.set(now)],
                      condition=users_repo.account_exists())  # fmt: skip


def _member_account(scope: Scope, user_id: str) -> tuple[Member, Account]:
    member = get_member(scope, user_id)
    row = users_repo.member_row(scope.clinic_id, user_id)
    account = users_repo.get_account(row.org_id, user_id) if row is not None else None
    if account is None:
        raise NotFound("no user with this id in your clinic", code="not_found", field="user_id")
    return member, account


def _target(scope: Scope, clinic_id: str | None) -> Scope:
    if clinic_id is None or clinic_id == scope.clinic_id:
        return scope
    clinics.visible(scope, clinic_id)  # 404 unless an organisation admin's clinic
    return scope.in_clinic(clinic_id)


def _org_of(scope: Scope) -> str:
    clinic = clinics_repo.get(scope.clinic_id)
    if clinic is not None:
        return clinic.org_id
    return scope.org_id or get_settings().org_id


def _staff_role(role: Role) -> None:
    if role is Role.PATIENT:
        raise InvalidInput("a staff user cannot have the role 'patient'", code="invalid_role", field="role")


def _write(scope: Scope, account: Account, action: str, *, new: bool, at: datetime, role: str) -> None:
    """The account, its email claim and its membership of `scope.clinic_id`, with the audit entry."""
    stored = users_repo.member(scope.clinic_id, account.user_id)
    try:
        with audit.change(
            scope, action, resource="user", resource_id=account.user_id, at=at, granted_role=role
        ) as change:
            change.save(totp_repo.carry(users_repo.account_item(account, at=at)))  # an existing account keeps TOTP
            change.save(
                users_repo.email_item(account),
                condition=users_repo.email_is_free() if new else users_repo.email_holds(account.user_id),
            )
            change.save(users_repo.member_item(account, scope.clinic_id, role, active=True,
                                               created_at=stored.created_at if stored else at, at=at))  # fmt: skip
            if new or action == "user.membership_added":
                change.emit(action, user_id=account.user_id)
    except store.ConditionFailed:
        raise Conflict("an account with this email address already exists", code="email_taken",
                       field="email") from None  # fmt: skip
