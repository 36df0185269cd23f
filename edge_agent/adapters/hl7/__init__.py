"""HL7 v2 device adapter: `adapter` (detection, message → readings and patient), `results` (OBX → readings).

The protocol itself (lines, syntax, ACKs) is edge_agent.hl7, shared with the MLLP source.
"""

from __future__ import annotations

from edge_agent.adapters.hl7.adapter import Hl7Adapter, to_parsed

__all__ = ["Hl7Adapter", "to_parsed"]
