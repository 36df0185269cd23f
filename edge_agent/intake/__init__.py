"""Intake: what happens to an input between its source and the spool (hash, dedupe, describe, commit).

- `port`: the one interface sources use (`IntakePort`, `Origin`, `IntakeResult`);
- `intake`: `Intake`, that interface's implementation, with its listener hooks;
- `describe` (pure: bytes, name, context → envelopes or a quarantine record) and `patient_ids`;
- `describer`: the describe step for a spool item; `loop`: the event-loop door (MLLP);
- `parse_pool`, `parse_worker`: describing in worker processes, for a busy lab link.
"""
