"""Fixtures for the source tests: one real Samba smbd per session (started only by tests that ask for it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from smbd_testkit import Smbd


@pytest.fixture(scope="session")
def smbd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Smbd]:
    server = Smbd(tmp_path_factory.mktemp("smbd"))
    server.add_share("secure", **{"smb encrypt": "required"})
    server.set_shares(server.shares)
    server.start()
    yield server
    server.stop()
