"""The local stack's AWS recording keeps only state-changing calls, so restarts replay quickly."""

from __future__ import annotations

import json
from pathlib import Path

from localdev.moto import compact_recording


def _call(method: str, url: str, target: str | None = None) -> str:
    headers = {"X-Amz-Target": target} if target else {}
    return json.dumps({"method": method, "url": url, "headers": headers, "body": "", "body_encoded": False})


def test_reads_and_sqs_receipts_are_dropped_writes_kept_in_order(tmp_path: Path) -> None:
    path = tmp_path / "recording.jsonl"
    calls = [
        _call("GET", "http://127.0.0.1:1/moto-api/"),
        _call("PUT", "http://127.0.0.1:1/bucket"),
        _call("POST", "http://127.0.0.1:1/", "DynamoDB_20120810.CreateTable"),
        _call("POST", "http://127.0.0.1:1/", "AmazonSQS.ReceiveMessage"),
        _call("POST", "http://127.0.0.1:1/", "AmazonSQS.DeleteMessageBatch"),
        _call("GET", "http://127.0.0.1:1/bucket/raw/x"),
        _call("POST", "http://127.0.0.1:1/", "DynamoDB_20120810.Query"),
        _call("PUT", "http://127.0.0.1:1/bucket/envelopes/x.json"),
        _call("POST", "http://127.0.0.1:1/", "DynamoDB_20120810.TransactWriteItems"),
    ]
    path.write_text("\n".join(calls) + "\n", encoding="utf-8")
    assert compact_recording(path) == (4, 5)
    kept = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(c["method"], c["url"], c["headers"].get("X-Amz-Target")) for c in kept] == [
        ("PUT", "http://127.0.0.1:1/bucket", None),
        ("POST", "http://127.0.0.1:1/", "DynamoDB_20120810.CreateTable"),
        ("PUT", "http://127.0.0.1:1/bucket/envelopes/x.json", None),
        ("POST", "http://127.0.0.1:1/", "DynamoDB_20120810.TransactWriteItems"),
    ]
    assert compact_recording(path) == (4, 0)  # idempotent


def test_missing_recording_is_nothing_to_do(tmp_path: Path) -> None:
    assert compact_recording(tmp_path / "none.jsonl") == (0, 0)
