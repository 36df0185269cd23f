"""Messaging between the clinic and a patient (seed 000 §4): staff open threads with a patient of their clinic and
write to it; the patient reads and answers its own threads and marks messages read.

`sender_type` comes from the caller, never the body: PATIENT for a patient token, DOCTOR for doctors and
ophthalmologists, STAFF for every other role. A thread's `unread_count` (messages to the patient with no
`read_at`) is a counter kept on write: +1 per staff message, -1 when the patient first reads one.
Content is text, 1-5,000 characters, stored and returned as given (nothing interprets HTML). Every write
is one transaction with its audit entry; a new message raises `message.new` (ids and sender type, no
content). Reading threads is a PHI read: audited.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import BaseModel

from chalicelib.db import messaging as repo
from chalicelib.db import patients as patients_repo
from chalicelib.db import store
from chalicelib.errors import InvalidInput, NotFound
from chalicelib.models import Page
from chalicelib.services import audit
from chalicelib.services.roles import Role
from chalicelib.services.scope import Scope

MAX_CONTENT = 5000
MAX_SUBJECT = 200
DOCTORS = (Role.DOCTOR, Role.OPHTHALMOLOGIST)


class ThreadOut(BaseModel):
    id: str
    patient_id: str
    subject: str
    created_at: datetime
    created_by: str
    updated_at: datetime
    unread_count: int  # messages to the patient not yet read by the patient
    message_count: int


class MessageOut(BaseModel):
    id: str
    thread_id: str
    sender_type: str  # DOCTOR | STAFF | PATIENT
    sender_id: str
    content: str
    created_at: datetime
    read_at: datetime | None = None


class ThreadDetail(ThreadOut):
    messages: list[MessageOut]
    next: str | None = None  # the next page of messages


def _thread_out(thread: repo.Thread) -> ThreadOut:
    return ThreadOut(
        id=thread.thread_id, patient_id=thread.patient_id, subject=thread.subject, created_at=thread.created_at,
        created_by=thread.created_by, updated_at=thread.updated_at, unread_count=max(0, thread.unread_patient),
        message_count=thread.message_count,
    )  # fmt: skip


def _message_out(message: repo.Message) -> MessageOut:
    return MessageOut(
        id=message.message_id, thread_id=message.thread_id, sender_type=message.sender_type,
        sender_id=message.sender_id, content=message.content, created_at=message.created_at, read_at=message.read_at,
    )  # fmt: skip


def _text(value: str, name: str, limit: int) -> str:
    if not value.strip():
        raise InvalidInput(f"{name} must not be empty", code="invalid_request", field=name)
    if len(value) > limit:
        raise InvalidInput(f"{name} must be at most {limit} characters", code="invalid_request", field=name)
    return value


def sender_type(scope: Scope) -> str:
    if scope.patient_id is not None:
        return "PATIENT"
    return "DOCTOR" if scope.role in DOCTORS else "STAFF"


# --- threads ---------------------------------------------------------------------------------------------


def open_thread(scope: Scope, patient_id: str, subject: str, *, now: datetime | None = None) -> ThreadOut:
    """A new thread with a patient of the caller's clinic (404 otherwise)."""
    now = now or datetime.now(UTC)
    patient_id = scope.patient(patient_id)
    if patients_repo.load(scope.clinic_id, patient_id) is None:
        raise NotFound("no patient with this id in your clinic", code="not_found", field="patient_id")
    thread = repo.Thread(
        thread_id=uuid.uuid4().hex, patient_id=patient_id, subject=_text(subject, "subject", MAX_SUBJECT),
        created_at=now, created_by=scope.actor, updated_at=now, unread_patient=0, message_count=0,
    )  # fmt: skip
    with audit.change(scope, "message_thread.opened", resource="message_thread", resource_id=thread.thread_id,
                      at=now, patient_id=patient_id) as change:  # fmt: skip
        repo.add_thread(change, scope.clinic_id, thread)
    return _thread_out(thread)


def _staff_thread(scope: Scope, thread_id: str) -> repo.Thread:
    patient_id = repo.thread_patient(scope.clinic_id, thread_id)
    found = repo.thread(scope.clinic_id, patient_id, thread_id) if patient_id is not None else None
    if found is None:
        raise NotFound("no message thread with this id in your clinic", code="not_found")
    return found


def _own_thread(scope: Scope, thread_id: str) -> repo.Thread:
    if scope.patient_id is None:  # patient routes are PORTAL_USE: only patient tokens get here
        raise NotFound("no message thread with this id", code="not_found")
    found = repo.thread(scope.clinic_id, scope.patient_id, thread_id)
    if found is None:
        raise NotFound("no message thread with this id", code="not_found")
    return found


def _thread_of(scope: Scope, thread_id: str) -> repo.Thread:
    return _own_thread(scope, thread_id) if scope.patient_id is not None else _staff_thread(scope, thread_id)


def threads(scope: Scope, patient_id: str | None, *, limit: int, next_token: str | None) -> Page[ThreadOut]:
    """Staff: a patient's threads, or the clinic's, most recently updated first."""
    if patient_id is not None:
        found = repo.patient_threads(scope.clinic_id, scope.patient(patient_id), limit=limit, next_token=next_token)
    else:
        found = repo.clinic_threads(scope.clinic_id, limit=limit, next_token=next_token)
    audit.read(scope, "message_thread", [thread.thread_id for thread in found.items])
    return Page[ThreadOut](items=[_thread_out(thread) for thread in found.items], next=found.next)


def own_threads(scope: Scope, *, limit: int, next_token: str | None) -> Page[ThreadOut]:
    """The patient's own threads with their unread counts, most recently updated first."""
    if scope.patient_id is None:
        raise NotFound("no patient", code="not_found")
    found = repo.patient_threads(scope.clinic_id, scope.patient_id, limit=limit, next_token=next_token)
    audit.read(scope, "message_thread", [thread.thread_id for thread in found.items])
    return Page[ThreadOut](items=[_thread_out(thread) for thread in found.items], next=found.next)


def thread_detail(scope: Scope, thread_id: str, *, limit: int, next_token: str | None) -> ThreadDetail:
    """A thread and a page of its messages, oldest first (a patient: its own threads only)."""
    thread = _thread_of(scope, thread_id)
    found = repo.thread_messages(scope.clinic_id, thread.patient_id, thread.thread_id, limit=limit,
                                 next_token=next_token)  # fmt: skip
    audit.read(scope, "message_thread", [thread.thread_id])
    return ThreadDetail(
        **_thread_out(thread).model_dump(), messages=[_message_out(m) for m in found.items], next=found.next
    )


# --- messages --------------------------------------------------------------------------------------------


def post(scope: Scope, thread_id: str, content: str, *, now: datetime | None = None) -> MessageOut:
    """A message in a thread: staff in any thread of the clinic, a patient in its own threads."""
    now = now or datetime.now(UTC)
    content = _text(content, "content", MAX_CONTENT)
    thread = _thread_of(scope, thread_id)
    kind = sender_type(scope)
    message = repo.Message(
        message_id=uuid.uuid4().hex, thread_id=thread.thread_id, patient_id=thread.patient_id, sender_type=kind,
        sender_id=scope.actor, content=content, created_at=now, read_at=None,
    )  # fmt: skip
    try:
        with audit.change(scope, "message.sent", resource="message_thread", resource_id=thread.thread_id, at=now,
                          message_id=message.message_id, sender_type=kind) as change:  # fmt: skip
            repo.add_message(change, scope.clinic_id, message, to_patient=kind != "PATIENT")
            change.emit("message.new", thread_id=thread.thread_id, message_id=message.message_id,
                        patient_id=thread.patient_id, sender_type=kind)  # fmt: skip
    except store.ConditionFailed:
        raise NotFound("no message thread with this id", code="not_found") from None
    return _message_out(message)


def mark_read(scope: Scope, message_id: str, *, now: datetime | None = None) -> MessageOut:
    """The patient has read a message to it: `read_at` is set once and the thread's unread count drops by one.
    Idempotent: a message already read (or the patient's own) is returned unchanged."""
    now = now or datetime.now(UTC)
    if scope.patient_id is None:
        raise NotFound("no message with this id", code="not_found")
    message = repo.message(scope.clinic_id, scope.patient_id, message_id)
    if message is None:
        raise NotFound("no message with this id", code="not_found")
    if message.read_at is not None or message.sender_type == "PATIENT":
        return _message_out(message)
    try:
        with audit.change(scope, "message.read", resource="message_thread", resource_id=message.thread_id, at=now,
                          message_id=message.message_id) as change:  # fmt: skip
            repo.mark_read(change, scope.clinic_id, message, at=now)
    except store.ConditionFailed:
        again = repo.message(scope.clinic_id, scope.patient_id, message_id)
        if again is None:
            raise NotFound("no message with this id", code="not_found") from None
        return _message_out(again)  # read meanwhile by a concurrent request: counted once
    return _message_out(message).model_copy(update={"read_at": now})
