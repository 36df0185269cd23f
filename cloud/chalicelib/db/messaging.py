"""Messaging repository: threads between the clinic and one patient, and their messages.

Clinical table, partition `CLINIC#c#PATIENT#p` (so a patient token reaches only its own threads):
- `THREAD#{thread}`: subject, `updated_at`, `unread_patient` (the messages to the patient not yet read:
  ADDed when staff write, decremented when the patient reads one; never counted by scanning messages).
  `by_type` `THREAD#{updated}#{thread}` lists a patient's threads newest first; `gsi1`
  `CLINIC#c#THREADS` / `{updated}#{thread}` lists the clinic's threads newest first.
- `MESSAGE#{message}`: one message (content stored as given, text). `by_type` `MSG#{thread}#{created}#{message}`
  lists a thread's messages in order; `gsi1` `CLINIC#c#MESSAGES` / `{created}#{message}` the clinic's messages
  newest first (the dashboard's feed).
Directory table, partition `CLINIC#c`:
- `THREAD#{thread}` → the patient (staff routes name a thread without its patient; one consistent GetItem).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.expressions.update import Action

from chalicelib.db import keys, store


class ThreadItem(store.ClinicalItem):
    class Meta:
        table_name = store.UNBOUND

    by_type = store.ByType()
    gsi1 = store.Gsi1()
    thread_id = UnicodeAttribute()
    patient_id = UnicodeAttribute()
    subject = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    created_by = UnicodeAttribute()
    updated_at = UTCDateTimeAttribute()
    unread_patient = NumberAttribute(default=0)
    message_count = NumberAttribute(default=0)


class MessageItem(store.ClinicalItem):
    class Meta:
        table_name = store.UNBOUND

    by_type = store.ByType()
    gsi1 = store.Gsi1()
    message_id = UnicodeAttribute()
    thread_id = UnicodeAttribute()
    patient_id = UnicodeAttribute(null=True)  # null on messages written before the feed existed
    sender_type = UnicodeAttribute()  # DOCTOR | STAFF | PATIENT
    sender_id = UnicodeAttribute()
    content = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    read_at = UTCDateTimeAttribute(null=True)


class ThreadIndexItem(store.DirectoryItem):
    class Meta:
        table_name = store.UNBOUND

    patient_id = UnicodeAttribute()


ITEMS = (ThreadItem, MessageItem, ThreadIndexItem)


@dataclass(frozen=True)
class Thread:
    thread_id: str
    patient_id: str
    subject: str
    created_at: datetime
    created_by: str
    updated_at: datetime
    unread_patient: int
    message_count: int


@dataclass(frozen=True)
class Message:
    message_id: str
    thread_id: str
    patient_id: str
    sender_type: str
    sender_id: str
    content: str
    created_at: datetime
    read_at: datetime | None


def thread_sk(thread_id: str) -> str:
    return f"THREAD#{keys.segment(thread_id)}"


def message_sk(message_id: str) -> str:
    return f"MESSAGE#{keys.segment(message_id)}"


def _thread_order(updated: datetime, thread_id: str) -> str:
    return f"{keys.sortable_time(updated)}#{keys.segment(thread_id)}"


def _clinic_threads(clinic_id: str) -> str:
    return f"{keys.clinic_pk(clinic_id)}#THREADS"


def _clinic_messages(clinic_id: str) -> str:
    return f"{keys.clinic_pk(clinic_id)}#MESSAGES"


def _thread(row: ThreadItem) -> Thread:
    return Thread(
        thread_id=row.thread_id, patient_id=row.patient_id, subject=row.subject, created_at=row.created_at,
        created_by=row.created_by, updated_at=row.updated_at, unread_patient=int(row.unread_patient or 0),
        message_count=int(row.message_count or 0),
    )  # fmt: skip


def _message(row: MessageItem, patient_id: str) -> Message:
    return Message(
        message_id=row.message_id, thread_id=row.thread_id, patient_id=patient_id, sender_type=row.sender_type,
        sender_id=row.sender_id, content=row.content, created_at=row.created_at, read_at=row.read_at,
    )  # fmt: skip


# --- reading ---------------------------------------------------------------------------------------------


def thread_patient(clinic_id: str, thread_id: str) -> str | None:
    """The patient of a thread of the clinic (None: no such thread here)."""
    row = store.get(ThreadIndexItem, keys.clinic_pk(clinic_id), thread_sk(thread_id))
    return None if row is None else row.patient_id


def thread(clinic_id: str, patient_id: str, thread_id: str) -> Thread | None:
    row = store.get(ThreadItem, keys.patient_pk(clinic_id, patient_id), thread_sk(thread_id))
    return None if row is None else _thread(row)


def message(clinic_id: str, patient_id: str, message_id: str) -> Message | None:
    row = store.get(MessageItem, keys.patient_pk(clinic_id, patient_id), message_sk(message_id))
    return None if row is None else _message(row, patient_id)


def patient_threads(clinic_id: str, patient_id: str, *, limit: int, next_token: str | None) -> store.Page[Thread]:
    """A patient's threads, most recently updated first (one Query of `by_type`)."""
    found = store.query_page(ThreadItem, keys.patient_pk(clinic_id, patient_id), index="by_type", prefix="THREAD#",
                             newest_first=True, limit=limit, next_token=next_token)  # fmt: skip
    return store.Page([_thread(row) for row in found.items], found.next)


def clinic_threads(clinic_id: str, *, limit: int, next_token: str | None) -> store.Page[Thread]:
    """The clinic's threads, most recently updated first (one Query of `gsi1`)."""
    found = store.query_page(ThreadItem, _clinic_threads(clinic_id), index="gsi1", newest_first=True, limit=limit,
                             next_token=next_token)  # fmt: skip
    return store.Page([_thread(row) for row in found.items], found.next)


def thread_messages(
    clinic_id: str, patient_id: str, thread_id: str, *, limit: int, next_token: str | None
) -> store.Page[Message]:
    """A thread's messages, oldest first (one Query of `by_type`)."""
    found = store.query_page(MessageItem, keys.patient_pk(clinic_id, patient_id), index="by_type",
                             prefix=f"MSG#{keys.segment(thread_id)}#", limit=limit, next_token=next_token)  # fmt: skip
    return store.Page([_message(row, patient_id) for row in found.items], found.next)


def recent_messages(clinic_id: str, *, limit: int) -> list[Message]:
    """The clinic's newest messages, any thread (one Query of `gsi1`, newest first)."""
    found = store.query_page(MessageItem, _clinic_messages(clinic_id), index="gsi1", newest_first=True, limit=limit,
                             next_token=None)  # fmt: skip
    return [_message(row, row.patient_id or "") for row in found.items]


# --- writing (inside a change: services/messaging.py) ----------------------------------------------------


def add_thread(change: Any, clinic_id: str, thread: Thread) -> None:
    change.save(
        ThreadItem(
            keys.patient_pk(clinic_id, thread.patient_id), thread_sk(thread.thread_id),
            type_sk=f"THREAD#{_thread_order(thread.updated_at, thread.thread_id)}",
            gsi1pk=_clinic_threads(clinic_id), gsi1sk=_thread_order(thread.updated_at, thread.thread_id),
            thread_id=thread.thread_id, patient_id=thread.patient_id, subject=thread.subject,
            created_at=thread.created_at, created_by=thread.created_by, updated_at=thread.updated_at,
            unread_patient=0, message_count=0,
        ),
        condition=ThreadItem.pk.does_not_exist(),
    )  # fmt: skip
    change.save(
        ThreadIndexItem(keys.clinic_pk(clinic_id), thread_sk(thread.thread_id), patient_id=thread.patient_id),
        condition=ThreadIndexItem.pk.does_not_exist(),
    )


def add_message(change: Any, clinic_id: str, message: Message, *, to_patient: bool) -> None:
    """The message, and its thread's `updated_at`, order keys and counters (the thread must exist)."""
    pk = keys.patient_pk(clinic_id, message.patient_id)
    change.save(
        MessageItem(
            pk, message_sk(message.message_id),
            type_sk=f"MSG#{keys.segment(message.thread_id)}#{keys.sortable_time(message.created_at)}#"
            f"{keys.segment(message.message_id)}",
            gsi1pk=_clinic_messages(clinic_id),
            gsi1sk=f"{keys.sortable_time(message.created_at)}#{keys.segment(message.message_id)}",
            message_id=message.message_id, thread_id=message.thread_id, patient_id=message.patient_id,
            sender_type=message.sender_type,
            sender_id=message.sender_id, content=message.content, created_at=message.created_at,
        ),
        condition=MessageItem.pk.does_not_exist(),
    )  # fmt: skip
    order = _thread_order(message.created_at, message.thread_id)
    actions: list[Action] = [
        ThreadItem.updated_at.set(message.created_at),
        ThreadItem.type_sk.set(f"THREAD#{order}"),
        ThreadItem.gsi1sk.set(order),
        ThreadItem.message_count.add(1),
    ]
    if to_patient:
        actions.append(ThreadItem.unread_patient.add(1))
    change.update(ThreadItem(pk, thread_sk(message.thread_id)), actions=actions, condition=ThreadItem.pk.exists())


def mark_read(change: Any, clinic_id: str, message: Message, *, at: datetime) -> None:
    """Sets `read_at` once (the condition fails if it is set already) and takes one off the thread's count."""
    pk = keys.patient_pk(clinic_id, message.patient_id)
    change.update(
        MessageItem(pk, message_sk(message.message_id)),
        actions=[MessageItem.read_at.set(at)],
        condition=MessageItem.pk.exists() & MessageItem.read_at.does_not_exist(),
    )
    change.update(
        ThreadItem(pk, thread_sk(message.thread_id)),
        actions=[ThreadItem.unread_patient.add(-1)],
        condition=ThreadItem.pk.exists() & (ThreadItem.unread_patient > 0),
    )
