"""The patient assignment record (`medflow.assignment/1`): a patient id the edge learned for bytes it had already
taken (a duplicate file whose folder names the patient), for the cloud to give the item's unmatched envelopes.

Key: `assignments/{clinic_id}/{raw_sha256}/{assignment_id}.json` (`s3keys.assignment_key`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared_models.envelope import SourceInfo


class PatientAssignment(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)  # a wire model: readers tolerate additions

    schema_: Literal["medflow.assignment/1"] = Field(default="medflow.assignment/1", alias="schema")
    assignment_id: str  # sha256 of the item's sha256 and the patient id: the same assignment is sent once
    clinic_id: str
    agent_id: str
    raw_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")  # the item (its envelopes) the patient id is for
    patient_id: str = Field(min_length=1, max_length=128)
    id_source: str  # how the edge found the id, e.g. "folder_pattern"
    pattern: str  # the source's patient-id pattern that matched
    source: SourceInfo  # where the copy that brought the id came from
    assigned_at: datetime

    def to_bytes(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()
