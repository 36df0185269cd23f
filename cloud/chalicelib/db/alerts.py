"""Fleet alerts: a silent agent or device (docs/edge_agent.md "Fleet health").

Directory: `CLINIC#c` / `ALERT#{alert_id}`; `gsi1` `CLINIC#c#ALERTS#{OPEN|RESOLVED}` / `{opened}#{alert_id}`
lists a clinic's open (or resolved) alerts oldest first. Which alerts are open is also kept on the agent's
item (`open_alerts`, subject → alert id), so a heartbeat resolves its alerts without a Query.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.expressions.update import Action

from chalicelib.db import keys, store

OPEN, RESOLVED = "OPEN", "RESOLVED"


class AlertItem(store.DirectoryItem):
    class Meta:
        table_name = store.UNBOUND

    gsi1 = store.Gsi1()
    alert_id = UnicodeAttribute()
    clinic_id = UnicodeAttribute()
    agent_id = UnicodeAttribute()
    subject = UnicodeAttribute()  # "agent" or "device:{source}/{device or -}"
    kind = UnicodeAttribute()  # agent_silent | device_silent
    source = UnicodeAttribute(null=True)
    device_id = UnicodeAttribute(null=True)
    state = UnicodeAttribute()
    opened_at = UTCDateTimeAttribute()
    resolved_at = UTCDateTimeAttribute(null=True)
    last_seen_at = UTCDateTimeAttribute(null=True)  # when it last spoke, as of opening
    silent_after_seconds = NumberAttribute()


ITEMS = (AlertItem,)


def _index_pk(clinic_id: str, state: str) -> str:
    return f"{keys.clinic_pk(clinic_id)}#ALERTS#{state}"


def new_item(
    clinic_id: str, agent_id: str, alert_id: str, subject: str, *, kind: str, source: str | None,
    device_id: str | None, opened_at: datetime, last_seen_at: datetime | None, silent_after_seconds: int,
) -> AlertItem:  # fmt: skip
    return AlertItem(
        keys.clinic_pk(clinic_id), f"ALERT#{alert_id}",
        gsi1pk=_index_pk(clinic_id, OPEN), gsi1sk=f"{keys.sortable_time(opened_at)}#{alert_id}",
        alert_id=alert_id, clinic_id=clinic_id, agent_id=agent_id, subject=subject, kind=kind, source=source,
        device_id=device_id, state=OPEN, opened_at=opened_at, last_seen_at=last_seen_at,
        silent_after_seconds=silent_after_seconds,
    )  # fmt: skip


def resolve(clinic_id: str, alert_id: str, at: datetime) -> tuple[AlertItem, list[Action]]:
    item = AlertItem(keys.clinic_pk(clinic_id), f"ALERT#{alert_id}")
    return item, [
        AlertItem.state.set(RESOLVED),
        AlertItem.resolved_at.set(at),
        AlertItem.gsi1pk.set(_index_pk(clinic_id, RESOLVED)),
    ]


def page(clinic_id: str, state: str, *, limit: int, next_token: str | None) -> store.Page[AlertItem]:
    return store.query_page(AlertItem, _index_pk(clinic_id, state), index="gsi1", limit=limit, next_token=next_token)
