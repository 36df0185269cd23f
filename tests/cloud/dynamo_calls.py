"""Records the DynamoDB calls a block of code makes (every botocore client, PynamoDB's included)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from botocore.client import BaseClient

WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


@contextmanager
def recorded() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    calls: list[tuple[str, dict[str, Any]]] = []
    original = BaseClient._make_api_call

    def spy(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            calls.append((operation, params))
        return original(client, operation, params)

    with mock.patch.object(BaseClient, "_make_api_call", spy):
        yield calls


def tables_written(calls: list[tuple[str, dict[str, Any]]]) -> set[str]:
    """The tables the recorded write calls touch."""
    tables: set[str] = set()
    for operation, params in calls:
        if operation not in WRITES:
            continue
        if operation == "TransactWriteItems":
            for entry in params.get("TransactItems", []):
                tables.update(action["TableName"] for action in entry.values() if "TableName" in action)
        elif operation == "BatchWriteItem":
            tables.update(params.get("RequestItems", {}))
        else:
            tables.add(params["TableName"])
    return tables
