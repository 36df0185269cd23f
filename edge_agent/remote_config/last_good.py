"""The last published configuration the agent applied, kept as fetched in `data_dir/remote_config.json`, so a
restart without the network starts with it (and not with the TOML's sources an admin has since replaced)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from edge_agent.identity import Identity
from edge_agent.remote_config.document import Published, Rejected, read

log = logging.getLogger(__name__)

FILE_NAME = "remote_config.json"


class LastGood:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / FILE_NAME

    def load(self, ident: Identity) -> Published | None:
        """The saved configuration, checked again (the agent may have been upgraded, or its TOML now names
        another agent); None when there is none or it no longer passes: the TOML's sources then."""
        try:
            body = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("last remote configuration unreadable; using the TOML", extra={"error": type(exc).__name__})
            return None
        try:
            return read(body, ident)
        except Rejected as exc:
            log.warning("last remote configuration no longer valid; using the TOML",
                        extra={"version": exc.version, "error": exc.reason})  # fmt: skip
            return None

    def save(self, published: Published) -> None:
        """Written whole or not at all: a temporary file, fsynced, renamed over the old one, the folder fsynced."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as out:
            out.write(published.body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
