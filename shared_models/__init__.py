"""Schemas shared by the edge agent and the cloud: the envelope, its readings, quarantine records."""

from shared_models.agent_config import PublishedAgentConfig, RemoteConfig
from shared_models.assignment import PatientAssignment
from shared_models.envelope import (
    ENVELOPE_SCHEMA,
    AdapterInfo,
    Demographics,
    DeviceInfo,
    Envelope,
    EnvelopeKind,
    ImageRef,
    PatientRef,
    RawObject,
    SourceInfo,
)
from shared_models.heartbeat import AgentHeartbeat, ConfigRejection, DeviceActivity
from shared_models.quarantine import QuarantineReason, QuarantineRecord
from shared_models.readings import (
    Biometry,
    Eye,
    Image,
    Keratometry,
    LabObservation,
    Pachymetry,
    PupillaryDistance,
    Reading,
    Refraction,
    Tonometry,
    VisualAcuity,
    VisualField,
)

__all__ = [
    "ENVELOPE_SCHEMA",
    "AdapterInfo",
    "AgentHeartbeat",
    "Biometry",
    "ConfigRejection",
    "Demographics",
    "DeviceActivity",
    "DeviceInfo",
    "Envelope",
    "EnvelopeKind",
    "Eye",
    "Image",
    "ImageRef",
    "Keratometry",
    "LabObservation",
    "Pachymetry",
    "PatientAssignment",
    "PatientRef",
    "PublishedAgentConfig",
    "PupillaryDistance",
    "QuarantineReason",
    "QuarantineRecord",
    "RawObject",
    "Reading",
    "Refraction",
    "RemoteConfig",
    "SourceInfo",
    "Tonometry",
    "VisualAcuity",
    "VisualField",
]
