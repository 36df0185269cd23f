"""systemd's notify protocol (sd_notify) over `$NOTIFY_SOCKET` with a plain datagram socket: READY, WATCHDOG, STOPPING.

Under `Type=notify` systemd counts the agent started only when it says `READY=1` (after its sources
listen), and with `WatchdogSec=` restarts it when `WATCHDOG=1` stops coming: the heartbeat loop
sends it (`__main__` subscribes `SdNotifier.watchdog` to `Heartbeat.on_beat`), so a wedged agent
is restarted. Outside systemd (`NOTIFY_SOCKET` unset: a terminal, Windows, tests) every call is
a no-op. The protocol is one datagram of `KEY=VALUE` lines to a unix socket; a name starting
with `@` is in the abstract namespace (a leading NUL byte). No library needed.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class SdNotifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        self.address: str | None = ("\0" + path[1:] if path.startswith("@") else path) or None
        usec = env.get("WATCHDOG_USEC", "")
        # systemd sets WATCHDOG_USEC (and WATCHDOG_PID) when the unit has WatchdogSec=.
        self.watchdog_seconds: float | None = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 else None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, state: str) -> bool:
        """Sends one datagram; False (logged once per failure) when there is no socket or it fails."""
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(state.encode(), self.address)
        except OSError as exc:  # systemd gone or the socket replaced: the agent keeps working
            log.warning("sd_notify failed", extra={"error": exc.strerror or type(exc).__name__})
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")
