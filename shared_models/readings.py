"""Reading kinds carried by an envelope: one pydantic model per clinical measurement, discriminated by `kind`.

Units are fixed here for every device (see ARCHITECTURE §3): dioptres, whole degrees, mmHg,
mm, µm. A value the device marks as absent is omitted (None), never 0.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Eye = Literal["OD", "OS"]
EyeOrBoth = Literal["OD", "OS", "OU"]


class _Reading(BaseModel):
    # Wire models tolerate unknown fields: agents and cloud are upgraded at different times.
    model_config = ConfigDict(extra="allow")


class Refraction(_Reading):
    kind: Literal["refraction"] = "refraction"
    eye: Eye
    method: Literal["objective", "subjective", "final", "lensmeter", "habitual"]
    sphere: float | None = None
    cylinder: float | None = None
    axis: int | None = Field(default=None, ge=0, le=180)
    add: float | None = None
    prism_h: float | None = None
    prism_v: float | None = None
    prism_base_h: str | None = None
    prism_base_v: str | None = None
    vertex_mm: float | None = None
    spherical_equivalent: float | None = None
    confidence: int | None = None
    representative: bool = True
    lens: str | None = None  # e.g. contact / trial, when the device says which lens was measured
    correction_type: str | None = None
    test: str | None = None
    series: str | None = None  # a device's second data set (e.g. NIDEK lower-case blocks)


class Keratometry(_Reading):
    kind: Literal["keratometry"] = "keratometry"
    eye: Eye
    r1_mm: float | None = None
    r1_d: float | None = None
    r1_axis: int | None = Field(default=None, ge=0, le=180)
    r2_mm: float | None = None
    r2_d: float | None = None
    r2_axis: int | None = Field(default=None, ge=0, le=180)
    avg_mm: float | None = None
    avg_d: float | None = None
    cyl_d: float | None = None
    refractive_index: float | None = None
    representative: bool = True
    series: str | None = None


class Tonometry(_Reading):
    kind: Literal["tonometry"] = "tonometry"
    eye: Eye
    iop_mmhg: float
    method: str = "air-puff"
    representative: bool = True
    corrected_iop_mmhg: float | None = None
    quality: str | None = None


class Pachymetry(_Reading):
    kind: Literal["pachymetry"] = "pachymetry"
    eye: Eye
    cct_um: float
    representative: bool = True


class PupillaryDistance(_Reading):
    kind: Literal["pd"] = "pd"
    far_mm: float | None = None
    near_mm: float | None = None
    od_mm: float | None = None
    os_mm: float | None = None


class VisualAcuity(_Reading):
    kind: Literal["visual_acuity"] = "visual_acuity"
    eye: EyeOrBoth
    value: str
    decimal: float | None = None
    logmar: float | None = None
    correction: str | None = None


class VisualField(_Reading):
    kind: Literal["visual_field"] = "visual_field"
    eye: Eye
    test: str | None = None
    strategy: str | None = None
    md_db: float | None = None
    psd_db: float | None = None
    vfi_pct: float | None = None
    fixation_losses: str | None = None  # as shown, e.g. "2/15"
    fixation_errors: int | None = None
    fixation_trials: int | None = None
    ght: str | None = None  # glaucoma hemifield test result as shown
    false_positive_pct: float | None = None
    false_negative_pct: float | None = None
    duration_s: float | None = None


class Biometry(_Reading):
    kind: Literal["biometry"] = "biometry"
    eye: Eye
    axial_length_mm: float | None = None
    acd_mm: float | None = None
    lens_thickness_mm: float | None = None
    k1_d: float | None = None
    k2_d: float | None = None
    corneal_diameter_mm: float | None = None
    pupil_diameter_mm: float | None = None


class LabObservation(_Reading):
    kind: Literal["lab"] = "lab"
    code: str
    code_system: str | None = None
    name: str | None = None
    value: str
    numeric: float | None = None
    unit: str | None = None
    reference_range: str | None = None
    flags: list[str] = Field(default_factory=list)
    status: str | None = None
    specimen_id: str | None = None
    observed_at: datetime | None = None
    order_id: str | None = None
    instrument: str | None = None
    comments: list[str] = Field(default_factory=list)
    # HL7: the OBR's placer (OBR-2) and filler (OBR-3) order numbers and the order's test code (OBR-4.1),
    # which a lab request's specimen id and ordered tests are matched against (cloud, services/lab.py).
    placer_order_id: str | None = None
    filler_order_id: str | None = None
    order_code: str | None = None


class Image(_Reading):
    kind: Literal["image"] = "image"
    modality: str | None = None
    laterality: EyeOrBoth | None = None
    key: str | None = None
    media_type: str | None = None
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    container: str | None = None  # dicom | topcon_fds | topcon_fda | heidelberg_e2e | jpeg | png | tiff
    sop_class_uid: str | None = None
    study_uid: str | None = None
    series_uid: str | None = None
    sop_instance_uid: str | None = None
    transfer_syntax: str | None = None
    mode: str | None = None  # pixel mode / photometric interpretation
    note: str | None = None


Reading = Annotated[
    Refraction
    | Keratometry
    | Tonometry
    | Pachymetry
    | PupillaryDistance
    | VisualAcuity
    | VisualField
    | Biometry
    | LabObservation
    | Image,
    Field(discriminator="kind"),
]
