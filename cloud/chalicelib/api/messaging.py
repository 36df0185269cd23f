"""Messaging (seed 000 §4): the staff side (/messaging/...: MESSAGES_READ / MESSAGES_WRITE) and the patient side
(/patient/messages...: PORTAL_USE, the patient's own threads only). See docs/portal.md."""

from __future__ import annotations

import re

from chalice import Blueprint
from pydantic import Field

from chalicelib.api import params
from chalicelib.api.endpoint import Call, endpoint
from chalicelib.api.models import RequestModel
from chalicelib.api.paging import PageQuery
from chalicelib.errors import NotFound
from chalicelib.models import Page
from chalicelib.services import messaging
from chalicelib.services.messaging import MAX_CONTENT, MAX_SUBJECT, MessageOut, ThreadDetail, ThreadOut
from chalicelib.services.roles import Permission

bp = Blueprint(__name__)

_ID = re.compile(r"^[0-9a-f]{32}$")
Content = Field(min_length=1, max_length=MAX_CONTENT, examples=["Your scan looks good; keep brushing twice a day."])
ThreadId = Field(min_length=1, max_length=64, examples=["0123456789abcdef0123456789abcdef"])


class NewThread(RequestModel):
    patient_id: str = Field(min_length=1, max_length=params.MAX_PATIENT_ID, examples=["P-1001"])
    subject: str = Field(min_length=1, max_length=MAX_SUBJECT, examples=["About your last scan"])


class NewMessage(RequestModel):
    thread_id: str = ThreadId
    content: str = Content


class ThreadsQuery(PageQuery):
    patient_id: str | None = Field(default=None, min_length=1, max_length=params.MAX_PATIENT_ID)


def _id(raw: str, what: str) -> str:
    """A thread or message id from the path; anything that is not one is simply not found."""
    if not _ID.match(raw):
        raise NotFound(f"no {what} with this id", code="not_found")
    return raw


# --- staff -----------------------------------------------------------------------------------------------


@endpoint(bp, "POST", "/messaging/threads", permission=Permission.MESSAGES_WRITE, body=NewThread,
          response=ThreadOut, status=201)  # fmt: skip
def open_thread(call: Call) -> ThreadOut:
    """Opens a message thread with a patient of the clinic."""
    body: NewThread = call.body
    return messaging.open_thread(call.scope, params.patient_id(body.patient_id), body.subject)


@endpoint(bp, "POST", "/messaging/messages", permission=Permission.MESSAGES_WRITE, body=NewMessage,
          response=MessageOut, status=201)  # fmt: skip
def staff_message(call: Call) -> MessageOut:
    """Writes to a patient in a thread of the clinic (sender DOCTOR or STAFF, from the role)."""
    body: NewMessage = call.body
    return messaging.post(call.scope, _id(body.thread_id, "message thread"), body.content)


@endpoint(bp, "GET", "/messaging/threads", permission=Permission.MESSAGES_READ, query=ThreadsQuery,
          response=Page[ThreadOut])  # fmt: skip
def staff_threads(call: Call) -> Page[ThreadOut]:
    """The clinic's threads (or one patient's: `?patient_id=`), most recently updated first."""
    query: ThreadsQuery = call.query
    patient_id = params.patient_id(query.patient_id) if query.patient_id is not None else None
    return messaging.threads(call.scope, patient_id, limit=query.limit, next_token=query.next)


@endpoint(bp, "GET", "/messaging/threads/{thread_id}", permission=Permission.MESSAGES_READ, query=PageQuery,
          response=ThreadDetail)  # fmt: skip
def staff_thread(call: Call, thread_id: str) -> ThreadDetail:
    """A thread of the clinic with a page of its messages, oldest first."""
    return messaging.thread_detail(call.scope, _id(thread_id, "message thread"), limit=call.query.limit,
                                   next_token=call.query.next)  # fmt: skip


# --- the patient's own -----------------------------------------------------------------------------------


@endpoint(bp, "GET", "/patient/messages", permission=Permission.PORTAL_USE, query=PageQuery,
          response=Page[ThreadOut])  # fmt: skip
def own_threads(call: Call) -> Page[ThreadOut]:
    """The patient's threads with their unread counts, most recently updated first."""
    return messaging.own_threads(call.scope, limit=call.query.limit, next_token=call.query.next)


# `{ref}` is a thread id in GET /patient/messages/{ref} and a message id in PATCH /patient/messages/{ref}/read
# (seed 000's paths): API Gateway allows one variable name per path level, so the two share it.


@endpoint(bp, "GET", "/patient/messages/{ref}", permission=Permission.PORTAL_USE, query=PageQuery,
          response=ThreadDetail)  # fmt: skip
def own_thread(call: Call, ref: str) -> ThreadDetail:
    """One of the patient's threads (`ref`: the thread id) with a page of its messages, oldest first."""
    return messaging.thread_detail(call.scope, _id(ref, "message thread"), limit=call.query.limit,
                                   next_token=call.query.next)  # fmt: skip


@endpoint(bp, "PATCH", "/patient/messages/{ref}/read", permission=Permission.PORTAL_USE, response=MessageOut)
def read_message(call: Call, ref: str) -> MessageOut:
    """Marks a message to the patient (`ref`: the message id) read: once; again is a no-op."""
    return messaging.mark_read(call.scope, _id(ref, "message"))


@endpoint(bp, "POST", "/patient/messages", permission=Permission.PORTAL_USE, body=NewMessage, response=MessageOut,
          status=201)  # fmt: skip
def own_message(call: Call) -> MessageOut:
    """The patient writes in one of its threads (sender PATIENT)."""
    body: NewMessage = call.body
    return messaging.post(call.scope, _id(body.thread_id, "message thread"), body.content)
