"""Device adapters, one module per device family; `ALL_ADAPTERS` is the registry (one line per adapter)."""

from __future__ import annotations

from edge_agent.adapters.astm import AstmAdapter
from edge_agent.adapters.base import Adapter
from edge_agent.adapters.dicom import Dicom
from edge_agent.adapters.hl7 import Hl7Adapter
from edge_agent.adapters.huvitz import HuvitzDatalab
from edge_agent.adapters.images import PlainImage
from edge_agent.adapters.joia import JoiaXml
from edge_agent.adapters.nidek_rs232 import NidekRs232
from edge_agent.adapters.oct_containers import HeidelbergE2e, TopconFds
from edge_agent.adapters.tomey import TomeyTopascope
from edge_agent.adapters.zeiss_hfa import ZeissHfaXml

ALL_ADAPTERS: list[Adapter] = [
    TomeyTopascope(),  # Tomey TOP-1000 / Rodenstock TopaScope tonometer XML
    NidekRs232(),  # NIDEK ARK-1a, TONOREF III ... RS-232 text
    JoiaXml(),  # JOIA Ophthalmology XML (NIDEK RT/LM, Topcon CV-5000) + NIDEK legacy <Data>
    HuvitzDatalab(),  # HUVITZ HTR-1A <datalab>
    ZeissHfaXml(),  # Zeiss Humphrey Field Analyzer CZM-XML
    Dicom(),  # DICOM OP/OPT/..., by the DICM marker
    TopconFds(),  # Topcon .fds/.fda OCT
    HeidelbergE2e(),  # Heidelberg Spectralis .E2E
    PlainImage(),  # JPEG/PNG/TIFF
    Hl7Adapter(),  # HL7 v2 (ORU/OUL results, ADT demographics, ORM/OML orders)
    AstmAdapter(),  # ASTM E1394 / LIS2-A2 records, framed (E1381) or not
]
