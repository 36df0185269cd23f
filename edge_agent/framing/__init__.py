"""Byte streams → messages, independent of the transport: MLLP (HL7 v2) and ASTM E1381 sessions."""
