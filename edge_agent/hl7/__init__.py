"""HL7 v2 itself, apart from any device and any transport (pure, no IO).

`lines` (bytes → text and segment lines, message splitting), `syntax` (delimiters, escapes,
fields, timestamps) and `ack` (original-mode ACK/AE/AR). Read by the HL7 adapter
(edge_agent.adapters.hl7), the MLLP source (it answers with `ack`) and the simulator.
"""
