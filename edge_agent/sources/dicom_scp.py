"""DICOM C-STORE receive: a Storage SCP (pynetdicom) for modalities that push; answers success only once spooled.

A modality (fundus camera, OCT, perimeter) associates with our AE title, proposes the SOP
classes it holds and sends each instance in a C-STORE request. Each request's data set is
taken as received (not decoded: `Event.encoded_dataset` gives the bytes of the peer's transfer
syntax with a Part 10 preamble and file meta in front) and handed to the one intake door,
`IntakePort.submit`, from the association's own thread (pynetdicom runs one per association).
The answer follows the same rule as the MLLP ACK:
- 0x0000 Success once the file is durable in the spool — also for a duplicate (a modality
  that lost our response sends the same instance again and the spool keeps one copy) and
  for a file the adapters quarantine (its bytes are kept and uploaded under `quarantine/`;
  a failure would only make the modality resend the same bytes forever);
- 0xA700 Refused: Out of Resources when the spool refused it (full, disk error): the
  modality keeps the image and retries later;
- 0xC211 (pynetdicom's answer when a handler raises) for anything unexpected.
An association whose calling AE title is not in `allowed_calling_aes`, or that calls another
AE title than ours, is rejected (A-ASSOCIATE-RJ, permanent). The same adapter as for DICOM
files (`adapters/dicom.py`) describes the file, since the bytes are a Part 10 file.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pydicom.uid import UID
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from edge_agent.config import DicomScpSourceConfig
from edge_agent.errors import EdgeAgentError
from edge_agent.intake.port import IntakePort, Origin

log = logging.getLogger(__name__)

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700  # Storage "Refused: Out of Resources": the SCU keeps the instance and retries
UNEXPECTED = 0xC211  # the status pynetdicom itself answers when a C-STORE handler raises

# Accepted by default: the ophthalmic storage SOP classes (PS3.4 Annex B) and Secondary Capture,
# which many devices use for screenshots and reports. `extra_sop_classes` adds to these.
OPHTHALMIC_SOP_CLASSES: dict[str, str] = {
    "1.2.840.10008.5.1.4.1.1.77.1.5.1": "Ophthalmic Photography 8 Bit Image",
    "1.2.840.10008.5.1.4.1.1.77.1.5.2": "Ophthalmic Photography 16 Bit Image",
    "1.2.840.10008.5.1.4.1.1.77.1.5.3": "Stereometric Relationship",
    "1.2.840.10008.5.1.4.1.1.77.1.5.4": "Ophthalmic Tomography Image (OCT)",
    "1.2.840.10008.5.1.4.1.1.77.1.5.5": "Wide Field Ophthalmic Photography Stereographic Projection Image",
    "1.2.840.10008.5.1.4.1.1.77.1.5.6": "Wide Field Ophthalmic Photography 3D Coordinates Image",
    "1.2.840.10008.5.1.4.1.1.77.1.5.7": "Ophthalmic OCT En Face Image",
    "1.2.840.10008.5.1.4.1.1.77.1.5.8": "Ophthalmic OCT B-scan Volume Analysis",
    "1.2.840.10008.5.1.4.1.1.78.1": "Lensometry Measurements",
    "1.2.840.10008.5.1.4.1.1.78.2": "Autorefraction Measurements",
    "1.2.840.10008.5.1.4.1.1.78.3": "Keratometry Measurements",
    "1.2.840.10008.5.1.4.1.1.78.4": "Subjective Refraction Measurements",
    "1.2.840.10008.5.1.4.1.1.78.5": "Visual Acuity Measurements",
    "1.2.840.10008.5.1.4.1.1.78.7": "Ophthalmic Axial Measurements",
    "1.2.840.10008.5.1.4.1.1.78.8": "Intraocular Lens Calculations",
    "1.2.840.10008.5.1.4.1.1.80.1": "Ophthalmic Visual Field Static Perimetry Measurements",
    "1.2.840.10008.5.1.4.1.1.81.1": "Ophthalmic Thickness Map",
    "1.2.840.10008.5.1.4.1.1.82.1": "Corneal Topography Map",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.1": "Multi-frame Single Bit Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word Secondary Capture Image",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture Image",
}
_NAME_SAFE = re.compile(r"[^0-9A-Za-z.]")


def sop_classes(config: DicomScpSourceConfig) -> list[str]:
    """The storage SOP classes this source accepts, in a stable order, without repeats."""
    return list(dict.fromkeys([*OPHTHALMIC_SOP_CLASSES, *config.extra_sop_classes]))


class DicomScpSource:
    def __init__(self, config: DicomScpSourceConfig, intake: IntakePort) -> None:
        self.config = config
        self.intake = intake
        self.port: int | None = None  # the bound port, once started
        self.stored = 0  # C-STORE requests answered with success, for status and tests
        self._server: Any = None

    def build_ae(self) -> AE:
        ae = AE(ae_title=self.config.ae_title)
        ae.require_called_aet = True  # a modality configured for another node must not land here
        ae.require_calling_aet = list(self.config.allowed_calling_aes)
        ae.maximum_associations = self.config.max_associations
        ae.network_timeout = self.config.network_timeout_seconds
        ae.acse_timeout = self.config.network_timeout_seconds
        ae.dimse_timeout = self.config.network_timeout_seconds
        # The SCP never decodes pixels, so every transfer syntax the peer holds is fine (JPEG, RLE, ...).
        for uid in sop_classes(self.config):
            ae.add_supported_context(UID(uid), ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)  # C-ECHO: the modality's "test connection" button
        return ae

    def start(self) -> None:
        # pynetdicom logs every PDU at INFO; its lines are of no use to a clinic and some name patients.
        logging.getLogger("pynetdicom").setLevel(logging.WARNING)
        handlers: list[Any] = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_REJECTED, self._on_rejected)]
        try:
            self._server = self.build_ae().start_server(
                (self.config.host, self.config.port), block=False, evt_handlers=handlers
            )
        except OSError as exc:
            raise EdgeAgentError(f"dicom_scp source {self.config.name}: cannot listen: {exc}") from exc
        self.port = int(self._server.server_address[1])
        log.info(
            "dicom scp listening",
            extra={"source": self.config.name, "port": self.port, "ae_title": self.config.ae_title},
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()  # closes the listener and aborts associations still open
            self._server = None

    def _on_rejected(self, event: Any) -> None:
        requestor = event.assoc.requestor
        log.warning(  # AE titles and addresses only: a modality's name is not PHI
            "dicom association rejected",
            extra={"source": self.config.name, "calling_ae": requestor.ae_title, "peer": requestor.address},
        )

    def _on_store(self, event: Any) -> int:
        requestor = event.assoc.requestor
        calling = str(requestor.ae_title).strip()
        instance = _NAME_SAFE.sub("_", str(event.request.AffectedSOPInstanceUID or ""))[:64] or "instance"
        origin = Origin(
            f"{instance}.dcm",
            "dicom_scp",
            f"dicom://{calling}@{requestor.address}:{requestor.port}",
            device_id=self.config.device_id or calling,
            source=self.config.name,
        )
        try:
            raw = event.encoded_dataset(include_meta=True)  # preamble + file meta + the data set as received
            self.intake.submit(raw, origin)
        except EdgeAgentError as exc:
            log.error("dicom instance refused by spool", extra={"source": self.config.name, "error": str(exc)})
            return OUT_OF_RESOURCES
        except Exception:  # logged; the failure status makes the modality send it again
            log.exception("dicom instance not stored", extra={"source": self.config.name})
            return UNEXPECTED
        self.stored += 1
        return SUCCESS
