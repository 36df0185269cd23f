"""The SMB tests' smbd (localdev.samba): under CI a missing or unstartable smbd fails the test; elsewhere it skips."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from localdev.samba import PASSWORD, USER, SambaServer, SambaUnavailable, free_port

__all__ = ["PASSWORD", "USER", "Blackhole", "Smbd", "free_port", "start_smbd"]

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


class Blackhole:
    """A TCP relay to smbd that can be cut like a dead network: nothing passes, nothing is closed or refused."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.cut = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.cut.is_set():  # the network is down: the SYN got an answer, nothing more will
                self._sockets.append(client)
                continue
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                return
            while self.cut.is_set():  # hold the bytes: a dead link neither delivers nor resets
                time.sleep(0.05)
            if not data:
                return
            try:
                dst.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self._listener.close()
        for s in self._sockets:
            s.close()
