"""`bench/api_scaling.py` keeps running (`make bench-api`): at two tiny clinic sizes every journey route answers
with the same DynamoDB calls, and a login token costs one GetItem more (its session is read); on moto, and on the
dynalite backend (npm, installed into var/ by the bench), whose front adds the transactions dynalite lacks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "api_scaling.py"
JOURNEY = (
    "GET /patients/{id}", "GET /patients?q= (name prefix)", "GET /patients?q= (phone)", "GET /patients?q= (OP number)",
    "GET /patients/{id}/readings", "GET /readings/unmatched", "GET /agents", "GET /audit",
    "GET /audit?resource=&resource_id=", "GET /audit?user_id=", "GET /events", "GET /users", "GET /clinics",
    "POST /patients", "PATCH /patients/{id}", "POST /readings/unmatched/{id}/assign",
)  # fmt: skip


@pytest.mark.integration
def test_every_journey_route_makes_the_same_calls_at_two_sizes() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--backend", "moto", "--sizes", "20,60", "--requests", "3",
         "--write-requests", "2"],
        capture_output=True, text=True, timeout=150,
    )  # fmt: skip
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    for label in JOURNEY:
        table = re.search(rf"^{re.escape(label)}\s+\|\s+(\d+)\s+[\d.]+\s+[\d.]+\s+\|\s+(\d+)\s", out, re.MULTILINE)
        assert table is not None, f"no table row for {label}\n{out}"
        assert table.group(1) == table.group(2) and int(table.group(1)) >= 1, table.group(0)
        status = "201" if label == "POST /patients" else "200"
        assert re.search(rf"^{re.escape(label)} .*\(HTTP {status}\)$", out, re.MULTILINE), f"{label}: not {status}"
        verdict = re.search(rf"^{re.escape(label)}\s+(\d+) vs (\d+)\s+same calls at every size$", out, re.MULTILINE)
        assert verdict is not None, f"no verdict for {label}\n{out}"
    for size in ("20", "60"):
        session = re.search(rf"^session check at {size} patients: (\d+) -> (\d+) calls \(\+1: GetItem\); p50 ", out,
                            re.MULTILINE)  # fmt: skip
        assert session is not None, out
        assert int(session.group(2)) == int(session.group(1)) + 1


# --- the dynalite backend (`--backend dynalite`, how the 100,000-patient figures are measured) -----------------

REPO = BENCH.parents[1]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="module")
def dynalite_dir() -> Path:
    """var/bench-dynalite/ with dynalite installed by the bench (npm, the first time). Skips without node/npm, fails
    under CI (the machine has both, and the npm registry)."""
    if not (shutil.which("node") and shutil.which("npm")):
        if IN_CI:
            pytest.fail("node and npm are needed for the dynalite backend")
        pytest.skip("node/npm not installed")
    code = "import sys; sys.path.insert(0, 'bench'); import api_scaling; print(api_scaling.ensure_dynalite())"
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    return Path(run.stdout.strip().splitlines()[-1])


@pytest.mark.integration
def test_dynalite_backend_runs_every_route_with_the_same_calls_as_moto(dynalite_dir: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--backend", "dynalite", "--sizes", "20,60", "--requests", "2",
         "--write-requests", "2"],
        capture_output=True, text=True, timeout=200,
    )  # fmt: skip
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    assert re.search(r"^dynalite at http://127\.0\.0\.1:\d+;", out, re.MULTILINE), out
    assert re.search(r"^  memory after loading: dynalite \d+ MB RSS, [\d,]+ MB on disk", out, re.MULTILINE), out
    for label in JOURNEY:
        verdict = re.search(rf"^{re.escape(label)}\s+(\d+) vs (\d+)\s+same calls at every size$", out, re.MULTILINE)
        assert verdict is not None, f"no verdict for {label}\n{out}"
    # The writes (TransactWriteItems, which the front adds to dynalite) answered as the services expect.
    for label, status in (("POST /patients", "201"), ("PATCH /patients/{id}", "200"), ("POST /visits", "201"),
                          ("POST /payments", "201"), ("POST /readings/unmatched/{id}/assign", "200")):  # fmt: skip
        assert re.search(rf"^{re.escape(label)} .*TransactWriteItems\s+\(HTTP {status}\)$", out, re.MULTILINE), label


@pytest.mark.integration
def test_dynalite_front_cancels_a_transaction_whose_condition_fails_and_writes_none_of_it(dynalite_dir: Path) -> None:
    import boto3

    from localdev.moto import MotoServer

    moto = MotoServer().start()
    data = tempfile.mkdtemp(prefix="leveldb-", dir=dynalite_dir)
    front = subprocess.Popen(
        ["node", str(REPO / "bench" / "dynalite_front.js"), "--modules", str(dynalite_dir), "--path", data,
         "--other", moto.url],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert front.stdout is not None
        port = re.fullmatch(r"listening (\d+)\s*", front.stdout.readline())
        assert port is not None
        dynamodb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{port.group(1)}")
        dynamodb.create_table(
            TableName="bench-tx", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
        )  # fmt: skip

        def put(sk: str) -> dict[str, Any]:
            return {"Put": {"TableName": "bench-tx", "Item": {"pk": {"S": "p"}, "sk": {"S": sk}},
                            "ConditionExpression": "attribute_not_exists(#pk)",
                            "ExpressionAttributeNames": {"#pk": "pk"}}}  # fmt: skip

        counter = {"Update": {"TableName": "bench-tx", "Key": {"pk": {"S": "p"}, "sk": {"S": "counter"}},
                              "UpdateExpression": "ADD #v :one", "ExpressionAttributeNames": {"#v": "v"},
                              "ExpressionAttributeValues": {":one": {"N": "1"}}}}  # fmt: skip
        dynamodb.transact_write_items(TransactItems=[put("a"), counter])
        with pytest.raises(dynamodb.exceptions.TransactionCanceledException) as cancelled:
            dynamodb.transact_write_items(TransactItems=[put("b"), counter, put("a")])
        reasons = [reason["Code"] for reason in cancelled.value.response["CancellationReasons"]]
        assert reasons == ["None", "None", "ConditionalCheckFailed"]
        stored = dynamodb.query(TableName="bench-tx", KeyConditionExpression="pk = :p",
                                ExpressionAttributeValues={":p": {"S": "p"}})["Items"]  # fmt: skip
        assert sorted(item["sk"]["S"] for item in stored) == ["a", "counter"]
        assert next(item["v"]["N"] for item in stored if item["sk"]["S"] == "counter") == "1"
    finally:
        front.terminate()
        front.wait(30)
        moto.stop()
        shutil.rmtree(data, ignore_errors=True)
