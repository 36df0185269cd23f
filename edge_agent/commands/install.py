"""`medflow-edge install` / `uninstall`: the agent as a service installed once (systemd; Windows rendered).

Linux: a systemd unit run as the dedicated user `medflow` under `ProtectSystem=strict` (the whole
file system read-only for it except its state directory and the spool), restarted on failure,
`Type=notify` with a watchdog: the agent says READY=1 once its sources listen and WATCHDOG=1
from its heartbeat loop (edge_agent/ops/sd_notify.py), so systemd restarts a wedged agent.
`install` creates the user when missing, the data directory owned by it, writes the unit and
enables and starts it; `--print` only prints it. `uninstall` stops, disables and removes the
unit and keeps the data directory, the configuration and the user: nothing in the spool is lost.
Windows: a WinSW service definition (XML) rendered with `--windows --print` (docs/edge_agent.md).
"""

from __future__ import annotations

import argparse
import math
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from edge_agent.commands import EXIT_FINDING, EXIT_OK, EXIT_USAGE
from edge_agent.config import AgentConfig, FolderSourceConfig, SerialSourceConfig, SmbSourceConfig, load_config
from edge_agent.errors import ConfigError

UNIT_NAME = "medflow-edge.service"
SERVICE_USER = "medflow"
STATE_DIRECTORY = "medflow-edge"  # /var/lib/medflow-edge, created by systemd for the service user
UNIT_DIR = Path("/etc/systemd/system")
ENV_FILE = "/etc/medflow/agent.env"  # root-only (0600): the agent's AWS credentials, read by systemd
WINDOWS_EXE = r"C:\Program Files\MedFlow\medflow-edge.exe"
WINDOWS_CONFIG = r"C:\ProgramData\MedFlow\agent.toml"
WINDOWS_LOGS = r"C:\ProgramData\MedFlow\logs"
_HOME_ROOTS = ("/home", "/root", "/run/user")  # what ProtectHome= hides
_DEVICES_CLOSED = ["PrivateDevices=no", "DevicePolicy=closed"]
_SERIAL_DRIVERS = ("ttyUSB", "ttyACM", "ttyS", "ttyAMA")  # /proc/devices names of the usual serial ports


def watchdog_seconds(config: AgentConfig) -> int:
    """WatchdogSec: the heartbeat loop pings three times per period; a slow S3 call may hold one turn."""
    turn = min(config.agent.heartbeat_seconds, 60.0)  # the loop turns at least every WatchdogSec / 3
    s3_call = config.cloud.connect_timeout_seconds + config.cloud.read_timeout_seconds
    return max(30, math.ceil(3 * turn + s3_call))


def _listen_ports(config: AgentConfig) -> list[int]:
    """Every TCP port the agent binds: listener sources (MLLP, DICOM, ASTM in server mode) and the health port."""
    ports = [int(getattr(s, "port", 0)) for s in config.sources
             if not isinstance(s, SmbSourceConfig) and getattr(s, "mode", "server") == "server"]  # fmt: skip
    return sorted({p for p in [*ports, config.agent.health_port] if p})


def _under(path: Path, roots: tuple[str, ...]) -> bool:
    return any(path == Path(root) or Path(root) in path.parents for root in roots)


def _serial_devices(config: AgentConfig) -> list[str]:
    """DeviceAllow entries for the serial sources: each configured node, and the class of the node it resolves to
    (`char-ttyUSB`: a USB adapter unplugged and plugged in again may come back as ttyUSB1; systemd resolves a path
    only when the service starts)."""
    allowed: list[str] = []
    for device in dict.fromkeys(s.device for s in config.sources if isinstance(s, SerialSourceConfig)):
        allowed.append(device)
        node = Path(os.path.realpath(device)).name
        for driver in _SERIAL_DRIVERS:
            if node.startswith(driver) and node[len(driver) :].isdigit() and f"char-{driver}" not in allowed:
                allowed.append(f"char-{driver}")
    return allowed


def _sandbox(config: AgentConfig, reads: list[Path]) -> list[str]:
    """The unit's sandbox, from the TOML: what it may write, read, open and bind, and nothing it does not use.
    `reads`: what else it must see (its TOML, its interpreter)."""
    data_dir = config.agent.data_dir.resolve()
    folders = [s for s in config.sources if isinstance(s, FolderSourceConfig)]
    # A folder may be mounted after boot, or made by the device's software later: "-" lets the unit start anyway.
    writable = [] if _under(data_dir, (f"/var/lib/{STATE_DIRECTORY}",)) else [str(data_dir)]
    writable += [f"-{s.path.resolve()}" for s in folders if s.delete_after_upload]
    readable = [f"-{s.path.resolve()}" for s in folders if not s.delete_after_upload]
    credentials = [s.credentials_file for s in config.sources if isinstance(s, SmbSourceConfig) and s.credentials_file]
    readable += [f"-{path.resolve()}" for path in credentials]
    paths = [data_dir, *(s.path.resolve() for s in folders), *credentials, *reads]
    devices = _serial_devices(config)
    ports = _listen_ports(config)
    return [
        f"StateDirectory={STATE_DIRECTORY}",
        "StateDirectoryMode=0750",
        "ProtectSystem=strict",  # the whole file system read-only, except:
        *([f"ReadWritePaths={' '.join(_quote(p) for p in writable)}"] if writable else []),
        *([f"ReadOnlyPaths={' '.join(_quote(p) for p in readable)}"] if readable else []),
        # Home directories hidden, unless something it uses lives in one (a folder, the spool, its TOML, its Python).
        "ProtectHome=" + ("read-only" if any(_under(p, _HOME_ROOTS) for p in paths) else "yes"),
        "PrivateTmp=yes",
        # A private /dev without serial sources; with them the host's /dev, but only their nodes may be opened
        # (and the pseudo-devices every process needs: null, zero, random, tty, pts).
        *(_DEVICES_CLOSED + [f"DeviceAllow={d} rw" for d in devices] if devices else ["PrivateDevices=yes"]),
        *(["SupplementaryGroups=dialout"] if devices else []),
        "NoNewPrivileges=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectControlGroups=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",  # S3, SMB and the listeners; sd_notify's socket
        # It binds only its listeners' ports (outgoing connections to S3 and SMB do not bind).
        *(f"SocketBindAllow=tcp:{port}" for port in ports),
        "SocketBindDeny=any",
        f"CapabilityBoundingSet={'CAP_NET_BIND_SERVICE' if any(p < 1024 for p in ports) else ''}",
        *(["AmbientCapabilities=CAP_NET_BIND_SERVICE"] if any(p < 1024 for p in ports) else []),
    ]


def _quote(arg: str) -> str:
    """systemd command-line quoting: plain when safe, else double quotes with \\ and " escaped."""
    if arg and all(c.isalnum() or c in "/._-=:+@,%" for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%") + '"'


def render_unit(config: AgentConfig, config_path: Path, exe: list[str]) -> str:
    lines = [
        "# Written by `medflow-edge install` from its TOML; `medflow-edge uninstall` removes it (the spool stays).",
        "[Unit]",
        "Description=MedFlow edge agent (clinic devices to the MedFlow cloud)",
        "After=network-online.target",
        "Wants=network-online.target",
        "StartLimitIntervalSec=300",
        "StartLimitBurst=10",
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        f"ExecStart={' '.join(_quote(a) for a in [*exe, 'run', '--config', str(config_path.resolve())])}",
        f"User={SERVICE_USER}",
        f"Group={SERVICE_USER}",
        f"EnvironmentFile=-{ENV_FILE}",
        *_sandbox(config, [config_path.resolve(), Path(exe[0]), Path(exe[0]).resolve()]),
        "UMask=0027",
        "Restart=on-failure",
        "RestartSec=5",
        f"WatchdogSec={watchdog_seconds(config)}",
        "TimeoutStartSec=60",
        "TimeoutStopSec=30",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return "\n".join(lines)


def render_windows_service(exe: str = WINDOWS_EXE, config_path: str = WINDOWS_CONFIG) -> str:
    """A WinSW service definition: saved as `medflow-edge-service.xml` beside WinSW's executable renamed
    `medflow-edge-service.exe`, then `medflow-edge-service.exe install` registers it (docs/edge_agent.md)."""
    return f"""<!-- Written by medflow-edge install (windows): save as medflow-edge-service.xml beside WinSW
     renamed medflow-edge-service.exe, then run `medflow-edge-service.exe install` as Administrator. -->
<service>
  <id>medflow-edge</id>
  <name>MedFlow edge agent</name>
  <description>Takes clinic device files and analyzer messages to the MedFlow cloud.</description>
  <executable>{escape(exe)}</executable>
  <arguments>run --config "{escape(config_path)}"</arguments>
  <startmode>Automatic</startmode>
  <delayedAutoStart>true</delayedAutoStart>
  <depend>Tcpip</depend>
  <onfailure action="restart" delay="10 sec"/>
  <onfailure action="restart" delay="30 sec"/>
  <onfailure action="restart" delay="60 sec"/>
  <resetfailure>1 hour</resetfailure>
  <stoptimeout>30 sec</stoptimeout>
  <serviceaccount>
    <username>NT AUTHORITY\\LocalService</username>
  </serviceaccount>
  <logpath>{escape(WINDOWS_LOGS)}</logpath>
  <log mode="roll-by-size">
    <sizeThreshold>10240</sizeThreshold>
    <keepFiles>8</keepFiles>
  </log>
</service>
"""


def agent_command() -> list[str]:
    """How systemd starts this installation of the agent: its own interpreter, absolute."""
    return [sys.executable, "-m", "edge_agent"]


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True, timeout=120)


def _ensure_user(data_dir: Path) -> None:
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        _run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", f"/var/lib/{STATE_DIRECTORY}",
              "--shell", "/usr/sbin/nologin", SERVICE_USER])  # fmt: skip
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
    shutil.chown(data_dir, SERVICE_USER, SERVICE_USER)


def cmd_install(args: argparse.Namespace) -> int:
    try:
        config_path = Path(args.config or os.environ.get("MEDFLOW_EDGE_CONFIG", ""))
        if not str(config_path) or str(config_path) == ".":
            raise ConfigError("pass --config FILE or set MEDFLOW_EDGE_CONFIG")
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"medflow-edge install: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.windows:
        print(render_windows_service(args.windows_exe, args.windows_config), end="")
        return EXIT_OK
    unit = render_unit(config, config_path, agent_command())
    if args.print:
        print(unit, end="")
        return EXIT_OK
    unit_path = Path(args.unit_dir) / UNIT_NAME
    try:
        if args.enable:
            _ensure_user(config.agent.data_dir)
        unit_path.parent.mkdir(parents=True, exist_ok=True)
        unit_path.write_text(unit, encoding="utf-8")
        unit_path.chmod(0o644)
        if args.enable:
            _run(["systemctl", "daemon-reload"])
            _run(["systemctl", "enable", "--now", UNIT_NAME])
    except PermissionError as exc:
        print(f"medflow-edge install: {exc.filename}: permission denied (run as root, or use --print)", file=sys.stderr)
        return EXIT_FINDING
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"medflow-edge install: {_describe(exc)}", file=sys.stderr)
        return EXIT_FINDING
    print(f"installed {unit_path}" + (f"; enabled and started {UNIT_NAME}" if args.enable else " (not enabled)"))
    print(f"credentials: {ENV_FILE} (root only, 0600) with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; see docs")
    return EXIT_OK


def cmd_uninstall(args: argparse.Namespace) -> int:
    unit_path = Path(args.unit_dir) / UNIT_NAME
    try:
        if args.enable:
            _run(["systemctl", "disable", "--now", UNIT_NAME])
        unit_path.unlink(missing_ok=True)
        if args.enable:
            _run(["systemctl", "daemon-reload"])
    except PermissionError as exc:
        print(f"medflow-edge uninstall: {exc.filename}: permission denied (run as root)", file=sys.stderr)
        return EXIT_FINDING
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"medflow-edge uninstall: {_describe(exc)}", file=sys.stderr)
        return EXIT_FINDING
    print(f"removed {unit_path}; kept the data directory (spool), the configuration and the user {SERVICE_USER}")
    return EXIT_OK


def _describe(exc: BaseException) -> str:
    if isinstance(exc, subprocess.CalledProcessError):
        return f"{' '.join(exc.cmd)} failed ({exc.returncode}): {(exc.stderr or '').strip()[:300]}"
    return str(exc)


def register(subparsers: Any) -> None:
    """Add `install` and `uninstall` to the medflow-edge command line."""
    install = subparsers.add_parser("install", help="install the agent as a systemd service (or --print the unit)")
    install.add_argument("--config", help="agent TOML file (default: $MEDFLOW_EDGE_CONFIG)")
    install.add_argument("--print", action="store_true", help="print the unit instead of installing it")
    install.add_argument("--windows", action="store_true", help="print the Windows service definition (WinSW XML)")
    install.add_argument("--windows-exe", default=WINDOWS_EXE, help="the agent's executable on the Windows PC")
    install.add_argument("--windows-config", default=WINDOWS_CONFIG, help="the agent's TOML on the Windows PC")
    install.add_argument("--unit-dir", default=str(UNIT_DIR), help=f"where the unit goes (default {UNIT_DIR})")
    install.add_argument("--no-enable", dest="enable", action="store_false",
                         help="only write the unit: no user, no systemctl (e.g. building an image)")  # fmt: skip
    install.set_defaults(handler=cmd_install)
    uninstall = subparsers.add_parser("uninstall", help="stop and remove the service; keeps data and configuration")
    uninstall.add_argument("--unit-dir", default=str(UNIT_DIR), help=f"where the unit is (default {UNIT_DIR})")
    uninstall.add_argument("--no-enable", dest="enable", action="store_false", help="only remove the unit file")
    uninstall.set_defaults(handler=cmd_uninstall)
