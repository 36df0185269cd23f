"""The spool's blob directory: raw bytes by SHA-256, written so that a crash leaves either nothing or the whole file."""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from pathlib import Path

_SHA = re.compile(r"^[0-9a-f]{64}$")


def _fsync_dir(path: Path) -> None:
    """A rename is durable only once its directory entry is on disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    """`{root}/{sha[:2]}/{sha}`; temporary files are `*.tmp-*` beside them and never read."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if not _SHA.match(sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put(self, sha256: str, data: bytes) -> Path:
        """write → fsync → rename → fsync(dir). Same bytes twice is harmless (same name, same content)."""
        final = self.path(sha256)
        folder = final.parent
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            _fsync_dir(self.root)
        # A unique temporary name: two threads storing the same bytes must not write into one file.
        tmp = folder / f"{sha256}.tmp-{uuid.uuid4().hex}"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        _fsync_dir(folder)
        return final

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def delete(self, sha256: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(sha256).unlink()

    def names(self) -> set[str]:
        """Every complete blob's sha256 (temporary files excluded)."""
        return {p.name for p in self.root.glob("??/*") if _SHA.match(p.name)}

    def remove_temporaries(self) -> int:
        """Leftovers of writes a crash interrupted; their bytes were never acknowledged to anyone."""
        count = 0
        for tmp in self.root.glob("??/*.tmp-*"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                count += 1
        return count
