"""MedFlow cloud app: wiring only — the registered domains' blueprints, the `ingest`, `thumbnails` and `notify`
Lambdas and the scheduled `fleet` Lambda (logic: chalicelib/)."""

from __future__ import annotations

from typing import Any

from chalice import Chalice, Rate

from chalicelib import domains
from chalicelib.api.errors import framework_errors
from chalicelib.events import fleet as fleet_events
from chalicelib.events import ingest as ingest_events

app = Chalice(app_name="medflow")
app.register_middleware(framework_errors, "http")

for blueprint in domains.blueprints():
    app.register_blueprint(blueprint)


# A plain Lambda (not on_sqs_message): only so can it return batchItemFailures. Infra attaches the
# ingest queue with ReportBatchItemFailures; locally the event router calls the same function.
@app.lambda_function(name="ingest")
def ingest(event: dict[str, Any], context: Any) -> Any:
    return ingest_events.lambda_handler(event, context)


# The same shape for the scans bucket's previews: infra attaches the thumbnails queue with ReportBatchItemFailures.
@app.lambda_function(name="thumbnails")
def thumbnails(event: dict[str, Any], context: Any) -> Any:
    from chalicelib.events import thumbnails as thumbnail_events

    return thumbnail_events.lambda_handler(event, context)


# Web push: the events table's stream and the notifications queue both feed it (ReportBatchItemFailures on
# each mapping, in infra); locally the event router reads the same stream and queue and calls it.
@app.lambda_function(name="notify")
def notify(event: dict[str, Any], context: Any) -> Any:
    from chalicelib.events import notify as notify_events

    return notify_events.lambda_handler(event, context)


# Every 5 minutes: silent agents and devices raise alerts (docs/edge_agent.md "Fleet health"); locally
# `make run` calls the same handler on a timer.
@app.schedule(Rate(5, unit=Rate.MINUTES), name="fleet")
def fleet(event: Any) -> Any:
    return fleet_events.handler(event)
