"""Settling shared by the file sources (folder, smb): a file is read only once its size and mtime hold still.

Devices and export tools write files in pieces, so seeing a file only makes it a candidate; it is
taken when its signature (size, mtime) has not changed for `settle_seconds`, and re-checked after
the read. A file that cannot be read yet (locked, spool full) is retried later with a growing delay.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

Signature = tuple[int, int]  # (size, mtime_ns)


@dataclass
class Candidate:
    signature: Signature | None
    stable_since: float
    retry_at: float = 0.0
    failures: int = 0

    def observe(self, signature: Signature, now: float, settle_seconds: float) -> bool:
        """Records the signature seen `now`; True once it has held still for `settle_seconds`."""
        if signature != self.signature:
            self.signature, self.stable_since = signature, now
            return False
        return now - self.stable_since >= settle_seconds

    def restart(self, signature: Signature | None, now: float) -> None:
        """The file changed (or was busy) while being read: its settle clock starts again."""
        self.signature, self.stable_since = signature, now

    def retry_later(self, now: float, settle_seconds: float, cap: float = 60.0) -> float:
        """Backs off after a failed read or a refused submit; returns the delay chosen."""
        self.failures += 1
        delay = min(cap, settle_seconds * 2**self.failures)
        self.retry_at = now + delay
        return delay


def file_ref(relative_path: str) -> str:
    """Logs name files by a short hash: folder and file names often hold patient names."""
    return hashlib.sha256(relative_path.encode()).hexdigest()[:12]


def excluded(parts: Iterable[str], patterns: Iterable[str]) -> bool:
    """Whether any path component matches an exclude pattern (temporary files, hidden folders)."""
    pats = list(patterns)
    return any(fnmatch.fnmatchcase(part, pat) for part in parts for pat in pats)
