"""MedFlow cloud app: wiring only — the API blueprints and the `ingest` Lambda (logic lives in chalicelib/)."""

from __future__ import annotations

from typing import Any

from chalice import Chalice

from chalicelib.api import agents, auth, health, patients, quarantine, readings
from chalicelib.events import ingest as ingest_events

app = Chalice(app_name="medflow")

for blueprint in (health.bp, auth.bp, patients.bp, readings.bp, agents.bp, quarantine.bp):
    app.register_blueprint(blueprint)


# A plain Lambda (not on_sqs_message): only so can it return batchItemFailures. Infra attaches the
# ingest queue with ReportBatchItemFailures; locally chalicelib.events.local_router calls the same function.
@app.lambda_function(name="ingest")
def ingest(event: dict[str, Any], context: Any) -> Any:
    return ingest_events.lambda_handler(event, context)
