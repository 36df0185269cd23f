"""A private Samba smbd on 127.0.0.1 (foreground, own config and state): the SMB source's tests and `make run`'s share.

The SMB account `medflow` is mapped (`username map`) to the Unix user running the tests, so no
system user is created; its password lives in a private tdbsam database. Shares are folders under
the server's own temporary directory; `set_shares` rewrites the config and reloads it (SIGHUP),
`restart` stops and starts the process on the same port.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

USER = "medflow"
PASSWORD = "s3cret-1"  # noqa: S105 - a local test server's account, nothing real


class SambaUnavailable(RuntimeError):
    """smbd is not installed, or it cannot be set up or started here (the message says which)."""


def smbd_binary() -> str | None:
    return shutil.which("smbd") or next((p for p in ("/usr/sbin/smbd",) if os.path.exists(p)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SambaServer:
    def __init__(
        self, base: Path, *, password: str = PASSWORD, max_protocol: str = "SMB3", port: int | None = None
    ) -> None:
        binary = smbd_binary()
        if binary is None:
            raise SambaUnavailable("smbd is not installed")
        self.binary = binary
        self.base = base
        self.state = base / "state"
        self.state.mkdir(parents=True, exist_ok=True)
        self.conf = base / "smb.conf"
        self.port = port or free_port()
        self.max_protocol = max_protocol
        self.shares: dict[str, dict[str, str]] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        (base / "usermap").write_text(f"{getpass.getuser()} = {USER}\n")
        self.add_share("exports")
        self._write()
        self.set_password(password)

    # --- configuration --------------------------------------------------------------------------

    def share_dir(self, name: str) -> Path:
        return self.base / "shares" / name

    def add_share(self, name: str, **options: str) -> Path:
        path = self.share_dir(name)
        path.mkdir(parents=True, exist_ok=True)
        self.shares[name] = {"path": str(path), "read only": "yes", **options}
        return path

    def set_shares(self, shares: dict[str, dict[str, str]]) -> None:
        """Rewrites the share list and has the running smbd reload it (removed shares close)."""
        self.shares = shares
        self._write()
        self.reload()

    def _write(self) -> None:
        s = self.state
        lines = [
            "[global]",
            f"  smb ports = {self.port}",
            "  interfaces = lo",
            "  bind interfaces only = yes",
            *(f"  {k} = {s}" for k in ("pid directory", "lock directory", "state directory", "cache directory")),
            f"  private dir = {s}",
            f"  ncalrpc dir = {s / 'ncalrpc'}",
            f"  passdb backend = tdbsam:{s / 'passdb.tdb'}",
            f"  username map = {self.base / 'usermap'}",
            f"  log file = {s / 'log.smbd'}",
            "  log level = 1",
            "  server role = standalone server",
            "  map to guest = never",
            "  load printers = no",
            "  printcap name = /dev/null",
            "  disable spoolss = yes",
            "  server min protocol = SMB2_02",
            f"  server max protocol = {self.max_protocol}",
            "  server signing = mandatory",
            "  server smb encrypt = " + ("desired" if self.max_protocol.startswith("SMB3") else "off"),
        ]
        for name, options in self.shares.items():
            lines.append(f"[{name}]")
            lines += [f"  {k} = {v}" for k, v in options.items()]
        self.conf.write_text("\n".join(lines) + "\n")

    def set_password(self, password: str) -> None:
        """Sets (or changes, live) the account's password."""
        user = getpass.getuser()
        args = ["smbpasswd", "-c", str(self.conf), "-s", "-a", user]
        done = subprocess.run(args, input=f"{password}\n{password}\n".encode(), capture_output=True, timeout=20)
        if done.returncode != 0:
            raise SambaUnavailable(f"smbpasswd failed: {done.stderr.decode(errors='replace').strip()}")

    # --- process --------------------------------------------------------------------------------

    def start(self) -> None:
        args = [self.binary, "--foreground", "--no-process-group", f"--configfile={self.conf}", "--debug-stdout"]
        self._log = log = (self.state / "smbd.out").open("ab")
        # Its own session: smbd signals its process group when it shuts down, which must not reach pytest.
        self.proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SambaUnavailable(f"smbd exited at start ({(self.state / 'smbd.out').read_text()[-400:]})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise SambaUnavailable("smbd did not listen within 10 s")

    def reload(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGHUP)
            time.sleep(0.5)  # smbd re-reads its config; children close removed shares

    def children(self) -> list[int]:
        """smbd forks one child per client connection; a restart must end them too."""
        if self.proc is None:
            return []
        found = []
        for stat_file in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat_file.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:  # ppid
                found.append(int(stat_file.parent.name))
        return found

    def drop_connections(self) -> None:
        """Kills the per-connection children: what a client sees when the server restarts or the network drops."""
        for pid in self.children():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        if self.proc is None:
            return
        self.drop_connections()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None
        self._log.close()

    def restart(self) -> None:
        self.stop()
        self.start()


DEMO_PORT_ENV = "MEDFLOW_SMB_PORT"


@dataclass
class DemoShare:
    """`make run`'s SMB share: `server` is None when smbd could not run here, and `note` says why."""

    server: SambaServer | None
    note: str

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def start_demo_share(var_dir: Path, agent_toml: Path) -> DemoShare:
    """Serves var/smb/shares/exports as share `exports` and gives the demo agent an smb source on its OCT folder.

    Only where samba is installed and the stack runs as root (smbd switches users); otherwise the
    note says how to get it. The agent reads the share's password from MEDFLOW_SMB_PASSWORD.
    """
    if smbd_binary() is None:
        return DemoShare(None, "not started: samba is not installed (apt-get install samba, or make system-deps)")
    if os.geteuid() != 0:
        return DemoShare(None, "not started: smbd needs root; see docs/edge_agent.md to point the agent at a share")
    port = int(os.environ.get(DEMO_PORT_ENV, "4445"))
    try:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))
    except OSError:
        return DemoShare(None, f"not started: port {port} is in use (set {DEMO_PORT_ENV})")
    try:
        server = SambaServer(var_dir / "smb", port=port)
        (server.share_dir("exports") / "OCT").mkdir(parents=True, exist_ok=True)
        server.start()
    except SambaUnavailable as exc:
        return DemoShare(None, f"not started: {exc}")
    with agent_toml.open("a", encoding="utf-8") as fh:
        fh.write(f"""
[[sources]]
kind = "smb"
name = "oct-share"
server = "127.0.0.1"
port = {port}
share = "exports"
path = "OCT"
username = "{USER}"
password_env = "MEDFLOW_SMB_PASSWORD"
settle_seconds = 1
rescan_seconds = 10
patient_id_patterns = ["{{patient_id}}/*"]
""")
    folder = server.share_dir("exports") / "OCT"
    note = f"\\\\127.0.0.1\\exports\\OCT on port {port} ({DEMO_PORT_ENV}); drop files into {folder}/<patient id>/"
    return DemoShare(server, note)
