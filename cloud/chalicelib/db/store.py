"""Storage primitives every repository shares: the item bases of the shared tables, binding to the settings,
one `query_page()`, and `Unit`, the transaction that carries a change with its audit entry and outbox events.

Tables (resources.TABLES): `clinical` holds patient-scoped records (partition `CLINIC#c#PATIENT#p`, a
sort-key prefix per domain: `READING#`, `VISIT#`, ...); `directory` holds clinic-level records (partition
`CLINIC#c` or `ORG#o`: clinics, users, patients, agents, quarantine, unmatched, counters, search entries).
Both carry a sparse generic index `gsi1` (`gsi1pk`/`gsi1sk`) that each domain documents its use of.
Audit, events, sessions, login throttle and the ingest ledger keep their own tables (TTL, access pattern).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pynamodb.attributes import UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.connection.base import MetaTable
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, LocalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.db import cursor
from chalicelib.resources import table_definition
from chalicelib.settings import Settings, get_settings

UNBOUND = "unbound"  # replaced by `bound()` before any call reaches DynamoDB
M = TypeVar("M", bound="Item")


class Item(Model):
    """Common key attributes. `TABLE` names the spec in resources.TABLES; each concrete class is listed
    in its domain's `ITEMS` (domains.py), which is what `bound()` binds."""

    TABLE = ""

    class Meta:
        table_name = UNBOUND

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class Gsi1(GlobalSecondaryIndex[Any]):
    """The shared tables' generic sparse index. Each item class declares its own instance
    (`gsi1 = Gsi1()`): PynamoDB binds an index to the class it is declared on."""

    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class ByType(LocalSecondaryIndex[Any]):
    """The clinical table's local index: one patient's records of one type, ordered (`type_sk`)."""

    class Meta:
        index_name = "by_type"
        projection = AllProjection()

    pk = UnicodeAttribute(hash_key=True)
    type_sk = UnicodeAttribute(range_key=True)


class ClinicalItem(Item):
    """A patient-scoped record: partition `CLINIC#c#PATIENT#p`."""

    TABLE = "clinical"

    class Meta:
        table_name = UNBOUND

    type_sk = UnicodeAttribute(null=True)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)


class DirectoryItem(Item):
    """A clinic-level record: partition `CLINIC#c` (or `ORG#o` for the organisation's own records)."""

    TABLE = "directory"

    class Meta:
        table_name = UNBOUND

    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)


_bound: Settings | None = None
_connection: Connection | None = None


def bound() -> Settings:
    """Points every registered item class at the current settings' tables, endpoint and region
    (again when the settings changed)."""
    global _bound, _connection
    settings = get_settings()
    if settings is not _bound:
        from chalicelib import domains  # the registry imports every db module, which import this one

        shared = Connection(region=settings.region, host=settings.endpoint_url)
        for spec in domains.tables():
            # The whole table as deployed (every index, whichever model declares it), not one model's view.
            shared.add_meta_table(MetaTable(table_definition(spec, settings.names.table(spec.key))))
        for model in domains.items():
            meta: Any = model.Meta
            meta.table_name = settings.names.table(model.TABLE)
            meta.host = settings.endpoint_url
            meta.region = settings.region
            model._connection = None  # PynamoDB caches it per class and does not notice a new host
            # PynamoDB builds one botocore client per model (~0.1 s each on a cold start); every
            # table shares one connection instead. Relies on pynamodb 6.1's TableConnection.connection.
            model._get_connection().connection = shared
        _connection = shared
        _bound = settings
    return settings


def connection() -> Connection:
    """The connection for transactions across tables (one per process: building a client is not free)."""
    bound()
    assert _connection is not None
    return _connection


def get(model: type[M], pk: str, sk: str, *, consistent: bool = True) -> M | None:
    bound()
    try:
        return model.get(pk, sk, consistent_read=consistent)
    except model.DoesNotExist:
        return None


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next: str | None


def query_page(
    model: type[M],
    pk: str,
    *,
    limit: int,
    next_token: str | None,
    prefix: str | None = None,
    between: tuple[str, str] | None = None,
    index: str | None = None,
    newest_first: bool = False,
    filter_condition: Condition | None = None,
) -> Page[M]:
    """One page of a Query on `pk` (of the table, or of `index`), the only way a request path lists.

    `prefix` or `between` bound the range key. The `next` token is signed and bound to this exact
    query (table, index, partition), so a token from another query or clinic is refused, never used."""
    bound()
    source: Any = getattr(model, index) if index else model
    range_attribute = _range_attribute(model, index)
    condition: Condition | None = None
    if prefix is not None:
        condition = range_attribute.startswith(prefix)
    elif between is not None:
        condition = range_attribute.between(*between)
    scope = f"{model.TABLE}/{index or ''}/{pk}"
    rows = source.query(
        pk,
        condition,
        filter_condition=filter_condition,
        scan_index_forward=not newest_first,
        page_size=limit,
        last_evaluated_key=cursor.decode(next_token, scope),
    )
    # Exactly one Query per request, whatever the partition's size: with a filter, DynamoDB may return
    # fewer items than `limit` (even none) and a `next` token; the client follows it. Reading on until
    # `limit` matches would make a filtered list's cost grow with the clinic (measured in bench/api_scaling.py).
    page = next(rows.page_iter, None)
    raw_items = page.get("Items", []) if page else []
    items = [model.from_raw_data(raw) for raw in raw_items]
    return Page(items=items, next=cursor.encode(rows.page_iter.last_evaluated_key, scope))


def _range_attribute(model: type[Item], index: str | None) -> Any:
    if index is None:
        return model.sk
    attributes = getattr(model, index).Meta.attributes.values()
    return next(attribute for attribute in attributes if attribute.is_range_key)


class Unit:
    """One transaction: the change's items plus, added by the service, its audit entry and outbox events.

    Nothing is written unless every item is (DynamoDB TransactWriteItems, at most 100 items)."""

    def __init__(self) -> None:
        self._tx = TransactWrite(connection=connection())

    def save(self, item: Item, condition: Condition | None = None) -> None:
        self._tx.save(item, condition=condition)

    def update(self, item: Item, actions: list[Action], condition: Condition | None = None) -> None:
        self._tx.update(item, actions=actions, condition=condition)

    def delete(self, item: Item, condition: Condition | None = None) -> None:
        self._tx.delete(item, condition=condition)

    def check(self, item: Item, condition: Condition) -> None:
        self._tx.condition_check(type(item), item.pk, item.sk, condition=condition)


class ConditionFailed(Exception):
    """A transaction was cancelled because one of its conditions did not hold."""

    def __init__(self, reasons: list[str | None]) -> None:
        super().__init__(f"transaction cancelled: {reasons}")
        self.reasons = reasons  # per item, in order: "ConditionalCheckFailed" or None


class Contention(Exception):
    """A transaction was cancelled because another one was writing the same item at the same time
    (safe to retry)."""


@contextmanager
def unit() -> Iterator[Unit]:
    """`with unit() as u: u.save(...)`; raises `ConditionFailed` (with the per-item reasons) when a
    condition failed, re-raises anything else."""
    work = Unit()
    try:
        with work._tx:
            yield work
    except TransactWriteError as exc:
        reasons = [getattr(r, "code", None) for r in (exc.cancellation_reasons or [])]
        if any(reason == "ConditionalCheckFailed" for reason in reasons):
            raise ConditionFailed(reasons) from None
        if any(reason == "TransactionConflict" for reason in reasons):
            raise Contention(reasons) from None
        raise


def records(rows: Iterable[Item], convert: Callable[[Any], T]) -> list[T]:
    return [convert(row) for row in rows]
