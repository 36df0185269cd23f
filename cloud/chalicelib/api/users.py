"""Staff users of the caller's clinic: create, list, read, update, deactivate, reset password, unlock,
sessions. Path parameter: `{user_id}`."""

from __future__ import annotations

from datetime import datetime

from chalice import Blueprint
from pydantic import BaseModel, Field

from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import Answer, RequestModel
from chalicelib.api.paging import PageQuery
from chalicelib.db.users import Member
from chalicelib.models import Page
from chalicelib.services import users
from chalicelib.services.roles import Permission, Role

bp = Blueprint(__name__)


class NewUser(RequestModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
    role: Role
    name: str = Field(min_length=1, max_length=200)
    clinic_id: str | None = Field(default=None, min_length=1, max_length=64)


class UserChanges(RequestModel):
    role: Role | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)


class NewPassword(RequestModel):
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    id: str
    email: str
    name: str
    role: str
    clinic_id: str
    active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, member: Member) -> UserOut:
        return cls.model_validate(member.model_dump())


@endpoint(bp, "POST", "/users", permission=Permission.USERS_MANAGE, body=NewUser, response=UserOut, status=201)
def create(call: Call) -> UserOut:
    """A new staff user of the caller's clinic (an organisation admin may name another clinic of its organisation)."""
    body: NewUser = call.body
    return UserOut.of(users.create(call.scope, email=body.email, password=body.password, role=body.role,
                                   name=body.name, clinic_id=body.clinic_id))  # fmt: skip


@endpoint(bp, "GET", "/users", permission=Permission.USERS_READ, query=PageQuery, response=Page[UserOut])
def list_users(call: Call) -> Page[UserOut]:
    """The clinic's staff, deactivated ones included."""
    page = users.list_members(call.scope, limit=call.query.limit, next_token=call.query.next)
    return Page[UserOut](items=[UserOut.of(m) for m in page.items], next=page.next)


@endpoint(bp, "GET", "/users/{user_id}", permission=Permission.USERS_READ, response=UserOut)
def get_user(call: Call, user_id: str) -> UserOut:
    """One staff user of the clinic."""
    return UserOut.of(users.get_member(call.scope, user_id))


@endpoint(bp, "PATCH", "/users/{user_id}", permission=Permission.USERS_MANAGE, body=UserChanges, response=UserOut)
def update_user(call: Call, user_id: str) -> UserOut:
    """Changes the user's role in this clinic and/or its name."""
    body: UserChanges = call.body
    return UserOut.of(users.update(call.scope, user_id, role=body.role, name=body.name))


@endpoint(bp, "POST", "/users/{user_id}/deactivate", permission=Permission.USERS_MANAGE, response=UserOut)
def deactivate(call: Call, user_id: str) -> UserOut:
    """The user loses access to this clinic at once (refresh refused, sessions in this clinic ended)."""
    return UserOut.of(users.deactivate(call.scope, user_id))


@endpoint(bp, "POST", "/users/{user_id}/reset-password", permission=Permission.USERS_MANAGE, body=NewPassword,
          response=Answer)  # fmt: skip
def reset_password(call: Call, user_id: str) -> Answer:
    """Sets a new password for the user (the password policy applies)."""
    users.reset_password(call.scope, user_id, call.body.password)
    return Answer(status="password_reset")


@endpoint(bp, "POST", "/users/{user_id}/unlock", permission=Permission.USERS_MANAGE, response=Answer)
def unlock(call: Call, user_id: str) -> Answer:
    """Lifts the user's lockout after too many wrong passwords."""
    users.unlock(call.scope, user_id)
    return Answer(status="unlocked")
