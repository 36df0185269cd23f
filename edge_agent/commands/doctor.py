"""`medflow-edge doctor`: checks what the agent needs on this computer and in S3, each with ok/warn/fail and why.

Config, data_dir (writable, free disk), the spool database (PRAGMA quick_check), every source
(folder readable and its file count, serial device present, TCP port free or held by the running
agent, SMB share: connect, sign-in, list, read one file, change notify: commands/doctor_smb.py;
DICOM port free or held by the running agent), S3 with the configured credentials (HeadBucket, then a
PutObject probe of `probes/{clinic}/{agent}/doctor.json`, outside what ingest is told of) and the clock
against S3's. Output names paths, ports and counts only: never a file name, patient id or result.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import sqlite3
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from edge_agent import __version__
from edge_agent.config import AgentConfig, AgentSection, AstmTcpSourceConfig, FolderSourceConfig, SerialSourceConfig
from edge_agent.spool import DB_NAME
from edge_agent.spool.uploader import ObjectWriter, describe_error
from shared_models.s3keys import probe_key

Status = Literal["ok", "warn", "fail"]
LOW_DISK_BYTES = 1024**3  # below this much free space (or below max_spool_bytes) the disk check warns
MAX_COUNTED_FILES = 100_000  # a share with more is reported as "at least"
CLOCK_WARN_SECONDS, CLOCK_FAIL_SECONDS = 60, 900  # S3 refuses SigV4 requests signed 15 minutes off


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    message: str


@dataclass(frozen=True)
class DoctorReport:
    checks: list[Check]

    @property
    def failed(self) -> bool:
        return any(c.status == "fail" for c in self.checks)

    def to_json(self) -> str:
        return json.dumps({"ok": not self.failed, "checks": [asdict(c) for c in self.checks]}, sort_keys=True)

    def to_text(self) -> str:
        width = max((len(c.name) for c in self.checks), default=0)
        lines = [f"{c.status.upper():<5} {c.name:<{width}}  {c.message}" for c in self.checks]
        return "\n".join([*lines, "all checks passed" if not self.failed else "some checks FAILED"])


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def check_data_dir(agent: AgentSection) -> list[Check]:
    path = agent.data_dir
    if path.exists() and not path.is_dir():
        return [Check("data_dir", "fail", f"{path} exists but is not a folder")]
    existing = path if path.exists() else next(p for p in path.parents if p.exists())
    if path.exists():
        try:  # what the spool does: create, write, fsync, remove
            with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-") as fh:
                fh.write(b"probe")
                fh.flush()
                os.fsync(fh.fileno())
            found = Check("data_dir", "ok", f"{path} is writable")
        except OSError as exc:
            found = Check("data_dir", "fail", f"{path} is not writable: {exc.strerror or exc}")
    elif os.access(existing, os.W_OK | os.X_OK):
        found = Check("data_dir", "ok", f"{path} does not exist yet; the agent creates it ({existing} is writable)")
    else:
        found = Check("data_dir", "fail", f"{path} does not exist and {existing} is not writable to create it")
    free = shutil.disk_usage(existing).free
    disk = f"{_size(free)} free on the disk of {existing}"
    if free < LOW_DISK_BYTES or free < agent.max_spool_bytes:
        cap = f"max_spool_bytes = {_size(agent.max_spool_bytes)}"
        return [
            found,
            Check("disk", "warn", f"only {disk} (the spool may hold up to {cap}; warns below that or 1 GiB)"),
        ]
    return [found, Check("disk", "ok", disk)]


def check_spool(data_dir: Path) -> Check:
    path = data_dir / DB_NAME
    if not path.is_file():
        return Check("spool", "ok", f"no spool at {path} yet; the agent creates it at its first start")
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            # quick_check: the b-tree and record checks of integrity_check, without the slow index
            # cross-check; read-only, so safe beside a running agent (WAL).
            problems = [r[0] for r in db.execute("PRAGMA quick_check(5)")]
            # Item count for the message: one scan of the small state index.
            items = int(db.execute("SELECT COUNT(*) FROM items").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error as exc:
        return Check("spool", "fail", f"{path} cannot be read: {exc}")
    if problems != ["ok"]:
        return Check("spool", "fail", f"{path} is damaged: {'; '.join(problems)}")
    return Check("spool", "ok", f"{path} opens, quick_check ok, {items} item(s)")


def _count_files(path: Path, recursive: bool) -> tuple[int, bool]:
    """Regular files below `path` (stops at MAX_COUNTED_FILES; True when it stopped)."""
    if not recursive:
        with os.scandir(path) as entries:
            return sum(1 for e in entries if e.is_file()), False
    count = 0
    for _, _, files in os.walk(path):
        count += len(files)
        if count >= MAX_COUNTED_FILES:
            return count, True
    return count, False


def check_folder(source: FolderSourceConfig) -> Check:
    name, path = f"source {source.name}", source.path
    if not path.exists():
        return Check(name, "fail", f"folder {path} does not exist (is the share mounted?)")
    if not path.is_dir():
        return Check(name, "fail", f"{path} is not a folder")
    try:
        os.listdir(path)  # os.walk would skip an unreadable folder silently; this raises
        count, more = _count_files(path, source.recursive)
    except OSError as exc:
        return Check(name, "fail", f"folder {path} is not readable by this user: {exc.strerror or exc}")
    where = " (subfolders included)" if source.recursive else ""
    return Check(name, "ok", f"folder {path} is readable, {'at least ' if more else ''}{count} file(s){where}")


def check_serial(source: SerialSourceConfig) -> Check:
    name, device = f"source {source.name}", source.device
    if not os.path.exists(device):
        return Check(name, "fail", f"serial device {device} does not exist (unplugged, or the adapter got a new name?)")
    if not os.access(device, os.R_OK | os.W_OK):
        return Check(name, "fail", f"serial device {device} exists but this user cannot open it (dialout group?)")
    return Check(name, "ok", f"serial device {device} exists and can be opened")


def listening_process(port: int, proc: Path = Path("/proc")) -> tuple[int, list[str]] | None:
    """(pid, command line) of the process listening on TCP `port`, when this user may see it (Linux)."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    for pid_dir in proc.glob("[0-9]*") if inodes else []:
        try:
            if any(os.readlink(fd) in inodes for fd in (pid_dir / "fd").iterdir()):
                return int(pid_dir.name), (pid_dir / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # another user's process, or it ended meanwhile
            continue
    return None


def _owner(port: int) -> tuple[bool, str]:
    """Whether the port's listener is a running agent, and a description of it."""
    found = listening_process(port)
    if found is None:
        return False, "another program (not visible to this user)"
    pid, argv = found
    is_agent = "run" in argv and any(a.endswith(("medflow-edge", "edge_agent")) for a in argv)
    if not is_agent:
        return False, f"another program (pid {pid}: {os.path.basename(argv[0]) if argv else '?'})"
    config = argv[argv.index("--config") + 1] if "--config" in argv[:-1] else "config from MEDFLOW_EDGE_CONFIG"
    return True, f"the running agent (pid {pid}, {config})"


def check_listen(name: str, host: str, port: int) -> Check:
    """Whether a server source could listen: bindable now, or held by the running agent."""
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        return Check(name, "fail", f"host {host!r} does not resolve: {exc.strerror}")
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's listener: TIME_WAIT is free
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return Check(name, "fail", f"cannot listen on {host}:{port}: {exc.strerror or exc}")
            is_agent, who = _owner(port)
            return Check(name, "ok" if is_agent else "fail", f"{host}:{port} is in use by {who}")
    return Check(name, "ok", f"{host}:{port} is free to listen on")


def check_connect(name: str, host: str, port: int) -> Check:
    """A client-mode source: the analyzer should accept a connection (it may be switched off: a warning)."""
    try:
        with socket.create_connection((host, port), timeout=3):
            return Check(name, "ok", f"analyzer at {host}:{port} accepts connections")
    except OSError as exc:
        return Check(
            name, "warn", f"cannot connect to the analyzer at {host}:{port} ({exc.strerror or exc}); is it on?"
        )


def check_sources(config: AgentConfig) -> list[Check]:
    checks = []
    for s in config.sources:
        if isinstance(s, FolderSourceConfig):
            checks.append(check_folder(s))
        elif isinstance(s, SerialSourceConfig):
            checks.append(check_serial(s))
        elif isinstance(s, AstmTcpSourceConfig) and s.mode == "client":
            checks.append(check_connect(f"source {s.name}", s.host, s.port))
        elif s.kind == "smb":
            from edge_agent.commands.doctor_smb import check_smb  # smbprotocol only where a share is configured

            checks += check_smb(s)
        else:  # mllp and astm_tcp servers listen
            checks.append(check_listen(f"source {s.name}", s.host, s.port))
    return checks


def _server_date(response: dict[str, Any]) -> datetime | None:
    value = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    return parsedate_to_datetime(value) if value else None


def check_s3(config: AgentConfig, client: Any) -> tuple[list[Check], datetime | None]:
    """HeadBucket, then PutObject + DeleteObject of a probe; also returns S3's clock (its Date header)."""
    cloud = config.cloud
    where = f"bucket {cloud.bucket} at {cloud.endpoint_url or 'AWS ' + cloud.region}"
    try:
        date = _server_date(client.head_bucket(Bucket=cloud.bucket))
        checks = [Check("s3 bucket", "ok", f"{where}: HeadBucket ok")]
    except ClientError as exc:
        date, (text, _) = _server_date(exc.response), describe_error(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 404:
            return [Check("s3 bucket", "fail", f"{where} does not exist ({text}); the agent never creates it")], date
        if status != 403:
            return [Check("s3 bucket", "fail", f"{where}: HeadBucket failed: {text}")], date
        # Least-privilege agent credentials may lack s3:ListBucket (HeadBucket); the agent only puts.
        checks = [Check("s3 bucket", "warn", f"{where}: HeadBucket denied ({text}); the write probe decides")]
    except NoCredentialsError:
        text = f"{where}: no AWS credentials found (environment, profile or instance role)"
        if cloud.endpoint_url:  # a local stack or test endpoint takes any key; the agent's own shell must say one
            text += "; for a local stack export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing"
        return [Check("s3 bucket", "fail", text)], None
    except (BotoCoreError, OSError) as exc:
        return [Check("s3 bucket", "fail", f"cannot reach {where}: {describe_error(exc)[0]}")], None
    return [*checks, _probe(config, client)], date


def _probe(config: AgentConfig, client: Any) -> Check:
    cloud, agent = config.cloud, config.agent
    # Under probes/, which the bucket does not announce to the ingest queue (an `agents/` probe landed
    # in the DLQ at every run); one object per agent, overwritten by each run. Not deleted: agent
    # credentials may only put (infra's agent role), and the bucket's lifecycle expires probes/.
    key = cloud.prefix + probe_key(agent.clinic_id, agent.agent_id)
    body = {"probe": "medflow-edge doctor", "version": __version__, "at": datetime.now(UTC).isoformat()}
    try:  # the agent's own writer: the same checksum and server-side encryption as every upload
        ObjectWriter(client, cloud).put(key, json.dumps(body).encode(), "application/json")
    except (ClientError, BotoCoreError, OSError) as exc:
        return Check("s3 write", "fail", f"PutObject {key} (sse {cloud.sse}) failed: {describe_error(exc)[0]}")
    return Check("s3 write", "ok", f"PutObject of {key} ok (sse {cloud.sse})")


def check_clock(server: datetime | None, now: datetime) -> Check:
    if now.year < 2024:
        return Check("clock", "fail", f"this computer's clock says {now:%Y-%m-%d %H:%M} UTC: it is not set")
    if server is None:
        return Check(
            "clock", "warn", f"cannot compare with S3's clock (no answer); local time {now:%Y-%m-%dT%H:%M:%SZ}"
        )
    skew = (now - server).total_seconds()
    text = f"{abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} S3's clock"
    if abs(skew) > CLOCK_FAIL_SECONDS:
        return Check("clock", "fail", f"{text}: S3 refuses requests signed 15 minutes off; set the time (NTP)")
    if abs(skew) > CLOCK_WARN_SECONDS:
        return Check("clock", "warn", f"{text}: timestamps on items will be off; check the time sync (NTP)")
    return Check("clock", "ok", text)


def run_doctor(config: AgentConfig, config_path: str, s3_client: Any) -> DoctorReport:
    checks = [Check("config", "ok", f"{config_path} is valid ({len(config.sources)} source(s))")]
    running, applied = config, None
    if config.agent.remote_config:  # the sources checked are those `run` would start: a published version's
        from edge_agent.commands.doctor_remote import check_remote_config, running_config

        running, applied = running_config(config)
        if applied is not None:
            checks[0] = Check("config", "ok", f"{config_path} is valid; the agent runs published version {applied} "
                              f"({len(running.sources)} source(s))")  # fmt: skip
    checks += check_data_dir(config.agent)
    checks.append(check_spool(config.agent.data_dir))
    checks += check_sources(running)
    s3_checks, server_time = check_s3(config, s3_client)
    checks += s3_checks
    if config.agent.remote_config:
        checks.append(check_remote_config(config, s3_client, applied))
    checks.append(check_clock(server_time, datetime.now(UTC)))
    return DoctorReport(checks)
