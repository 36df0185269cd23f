"""The envelope contract: discriminated readings, tolerant wire models, exported schema kept in sync."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared_models import Envelope, LabObservation, QuarantineReason, QuarantineRecord, Tonometry
from shared_models.export import MODELS

REPO = Path(__file__).resolve().parents[2]
SHA = "a" * 64


def _envelope(**extra: object) -> dict[str, object]:
    return {
        "schema": "medflow.envelope/1",
        "envelope_id": SHA,
        "clinic_id": "demo",
        "agent_id": "a1",
        "source": {"kind": "folder", "uri": "file:///inbox/x.xml", "received_at": "2026-11-23T10:00:00+00:00"},
        "raw": {"key": f"raw/demo/2026/11/23/{SHA}.xml", "sha256": SHA, "size": 10},
        "adapter": {"name": "tomey_topascope", "version": "1"},
        "readings": [
            {"kind": "tonometry", "eye": "OD", "iop_mmhg": 15.6},
            {"kind": "lab", "code": "718-7", "value": "13.2", "numeric": 13.2, "unit": "g/dL"},
        ],
        **extra,
    }


def test_readings_are_parsed_into_their_kind() -> None:
    env = Envelope.model_validate(_envelope())
    assert isinstance(env.readings[0], Tonometry) and env.readings[0].iop_mmhg == 15.6
    assert isinstance(env.readings[1], LabObservation) and env.readings[1].numeric == 13.2


def test_unknown_fields_from_newer_agents_are_kept_not_rejected() -> None:
    env = Envelope.model_validate(_envelope(future_field={"x": 1}))
    assert json.loads(env.to_json())["future_field"] == {"x": 1}


def test_round_trip_uses_the_schema_alias_and_omits_absent_values() -> None:
    env = Envelope.model_validate(_envelope())
    data = json.loads(env.to_json())
    assert data["schema"] == "medflow.envelope/1"
    assert "corrected_iop_mmhg" not in data["readings"][0]
    assert Envelope.model_validate(data) == env


@pytest.mark.parametrize(
    ("field", "value"),
    [("schema", "medflow.envelope/2"), ("readings", [{"kind": "tonometry", "eye": "OU", "iop_mmhg": 1}])],
)
def test_invalid_envelopes_are_rejected(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Envelope.model_validate(_envelope(**{field: value}))


def test_axis_outside_0_180_is_rejected() -> None:
    bad = _envelope(readings=[{"kind": "refraction", "eye": "OD", "method": "objective", "axis": 181}])
    with pytest.raises(ValidationError):
        Envelope.model_validate(bad)


def test_quarantine_reason_is_from_the_fixed_list() -> None:
    base = {
        "detail": "x",
        "clinic_id": "demo",
        "agent_id": "a1",
        "source": {"kind": "cli", "uri": "file:///x", "received_at": datetime.now(UTC)},
        "raw": {"key": "raw/demo/2026/11/23/" + SHA, "sha256": SHA, "size": 0},
        "quarantined_at": datetime.now(UTC),
    }
    assert QuarantineRecord.model_validate({**base, "reason": "empty"}).reason is QuarantineReason.EMPTY
    with pytest.raises(ValidationError):
        QuarantineRecord.model_validate({**base, "reason": "because"})


def test_exported_json_schemas_match_the_models() -> None:
    for filename, model in MODELS.items():
        on_disk = json.loads((REPO / "docs" / "schema" / filename).read_text(encoding="utf-8"))
        assert on_disk == model.model_json_schema(by_alias=True), f"run `make schema`: {filename} is stale"
