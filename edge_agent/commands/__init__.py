"""The operator's commands besides `run` (wired in edge_agent.__main__): parse, status, doctor, replay, simulate.

Every command answers with one clear line on an error, never a traceback, and exits with:
0 done (all parsed, healthy), 1 a finding (a check failed, an alarm, the peer refused),
2 usage (bad arguments, missing file or configuration), 3 `parse` quarantined an input.
"""

from __future__ import annotations

EXIT_OK, EXIT_FINDING, EXIT_USAGE, EXIT_QUARANTINED = 0, 1, 2, 3
