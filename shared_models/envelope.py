"""The envelope (`medflow.envelope/1`): one normalized capture from a device, as the edge uploads it to S3."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared_models.readings import Reading

ENVELOPE_SCHEMA = "medflow.envelope/1"

# What the envelope carries: device observations (readings), a patient demographic update
# (e.g. HL7 ADT), or an order (HL7 ORM/OML) recorded as sent.
EnvelopeKind = Literal["observations", "patient_update", "order"]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class SourceInfo(_Wire):
    kind: str  # folder | smb | serial | mllp | astm_tcp | cli
    uri: str  # where it came from, e.g. file:///srv/inbox/P1/x.xml or mllp://10.0.0.5:2575
    device_id: str | None = None
    received_at: datetime


class RawObject(_Wire):
    key: str  # S3 key of the original bytes
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    media_type: str = "application/octet-stream"
    original_name: str | None = None


class Demographics(_Wire):
    """Carried only in `patient_update` envelopes; never logged."""

    family_name: str | None = None
    given_name: str | None = None
    birth_date: str | None = None
    sex: str | None = None
    other_ids: list[str] = Field(default_factory=list)


class PatientRef(_Wire):
    id: str | None = None
    # where the id came from: content (dicom, hl7_pid, astm_p, vendor_xml, vendor_header) or
    # the source's configured patterns (folder_pattern, filename_pattern)
    id_source: str | None = None
    demographics: Demographics | None = None


class DeviceInfo(_Wire):
    vendor: str | None = None
    model: str | None = None
    kind: str | None = None  # autorefractor | tonometer | lensmeter | phoropter | oct | lab_analyzer ...
    serial: str | None = None


class AdapterInfo(_Wire):
    name: str
    version: str


class ImageRef(_Wire):
    key: str
    media_type: str
    sha256: str | None = None
    role: str | None = None  # e.g. "printout" for a visual-field TIFF paired with its XML


class Envelope(_Wire):
    schema_: Literal["medflow.envelope/1"] = Field(default="medflow.envelope/1", alias="schema")
    envelope_id: str  # "{sha256}" or "{sha256}-{part}" when one raw item yields several envelopes
    kind: EnvelopeKind = "observations"
    part: int = Field(default=0, ge=0)
    parts: int = Field(default=1, ge=1)
    clinic_id: str
    agent_id: str
    source: SourceInfo
    raw: RawObject
    patient: PatientRef = Field(default_factory=PatientRef)
    device: DeviceInfo = Field(default_factory=DeviceInfo)
    adapter: AdapterInfo
    captured_at: datetime | None = None
    readings: list[Reading] = Field(default_factory=list)
    images: list[ImageRef] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    # Message-level context an adapter wants to keep (e.g. HL7 message control id, order ids).
    context: dict[str, str] = Field(default_factory=dict)

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def to_json(self) -> str:
        return self.to_bytes().decode()

    def to_bytes(self) -> bytes:
        """The wire JSON (UTF-8): aliases, absent values omitted.

        Each reading is serialized by its own class rather than through the discriminated union,
        which tries the union's members for every reading: the same JSON (readings last) for about
        a third of the cost, paid for every OBX of every message on a lab link.
        """
        head = self.model_dump_json(by_alias=True, exclude_none=True, exclude={"readings"}).encode()
        readings = b",".join(
            r.__pydantic_serializer__.to_json(r, by_alias=True, exclude_none=True) for r in self.readings
        )
        return b'%s,"readings":[%s]}' % (head[:-1], readings)
