"""The SMB tests' smbd (localdev.samba): under CI a missing or unstartable smbd fails the test; elsewhere it skips."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from localdev.samba import PASSWORD, USER, SambaServer, SambaUnavailable, free_port

__all__ = ["PASSWORD", "USER", "Smbd", "free_port", "start_smbd"]

Smbd = SambaServer


def start_smbd(base: Path, **options: Any) -> SambaServer:
    """A started server; `options` go to SambaServer (password, max_protocol)."""
    try:
        server = SambaServer(base, **options)
        server.start()
    except SambaUnavailable as exc:
        reason = f"smbd needed: {exc} (make system-deps installs samba)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return server
