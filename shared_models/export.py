"""Writes the JSON Schemas of the shared wire models into a folder (`make schema`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from shared_models import AgentHeartbeat, Envelope, PublishedAgentConfig, QuarantineRecord, RemoteConfig

MODELS: dict[str, type[BaseModel]] = {
    "envelope.schema.json": Envelope,
    "quarantine.schema.json": QuarantineRecord,
    "heartbeat.schema.json": AgentHeartbeat,
    "agent_config.schema.json": RemoteConfig,  # the body's `config` of PUT /agents/{agent_id}/config
    "published_agent_config.schema.json": PublishedAgentConfig,  # config/{clinic}/{agent}.json
}


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "docs/schema")
    out.mkdir(parents=True, exist_ok=True)
    for filename, model in MODELS.items():
        schema = model.model_json_schema(by_alias=True)
        (out / filename).write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {out / filename}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
