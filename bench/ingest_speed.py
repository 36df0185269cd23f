"""Ingest speed: device files → S3 by the whole agent (detect, parse, durable spool, upload) beside
`aws s3 sync` of the same folder to the same endpoint (moto's server), in interleaved rounds.

    make bench-ingest                                   # 2,000 files, 5 rounds (and from an SMB share)
    make bench-ingest BENCH_INGEST_SMB=off              # without the SMB case
    python bench/ingest_speed.py --files 200 --rounds 1 # smoke size
    python bench/ingest_speed.py --dicom 5 --dicom-mb 50 --rounds 3   # big DICOM files vs `aws s3 cp`

The device files are HL7 v2 results from ../shared/corpus (or MEDFLOW_CORPUS), each with its own
message control id (MSH-10) so every file is distinct and still parses; they are written under
var/bench-ingest/ (never into the repository). awscli is installed into its own virtual environment
under var/bench-awscli/ the first time (it is no dependency of the agent).

What is timed, per round: `aws s3 sync` from its start to its exit; the agent from its start until its
own counters (`/metrics`: items with every object in S3) reach the number of files. The S3 side is
read from moto's request log (PUTs counted per phase), never by listing the bucket. Also: the no-op
rescan (the agent restarted over the files it already took, until its first scan is done, against
`aws s3 sync` with nothing to send), CPU seconds, and the agent's RSS (peak under load, idle after).
With smbd installed (and as root: smbd switches users), each round also runs the agent with an `smb`
source over a real Samba smbd on 127.0.0.1 (localdev.samba, as the SMB tests start it) serving the
same folder as a share, timed the same way and set beside `aws s3 sync` of the files from local disk
(`--smb auto|on|off`; auto skips it, saying why, where smbd cannot run).
Goals (issue 15): agent ≥ 2x faster than aws s3 sync; no-op ≤ 0.5x; RSS < 150 MB peak, < 80 MB idle.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edge_agent.adapters import ALL_ADAPTERS  # noqa: E402
from edge_agent.adapters.base import ParseContext  # noqa: E402
from edge_agent.adapters.registry import classify  # noqa: E402
from localdev.moto import LOCAL_CREDENTIALS, MotoServer, free_port  # noqa: E402
from localdev.samba import PASSWORD, USER, SambaServer, SambaUnavailable  # noqa: E402

CORPUS = Path(os.environ.get("MEDFLOW_CORPUS") or REPO.parent / "shared" / "corpus")
WORK = REPO / "var" / "bench-ingest"
AWSCLI_DIR = REPO / "var" / "bench-awscli"
AWSCLI_VERSION = "1.46.3"
BEFORE = "agent before (--before)"
SMB = "agent, smb source"
SMB_PASSWORD_ENV = "MEDFLOW_SMB_PASSWORD"  # noqa: S105 - the variable's name, not a password
SMB_SHARE = "bench"
FLOOR = "floor: 16-thread put loop"  # the agent's 2 PUTs a file, nothing else (see run_floor)
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# --- the device files -----------------------------------------------------------------------------


def hl7_templates() -> list[tuple[str, bytes]]:
    """Corpus HL7 files of 1-10 KB that parse (not quarantined) once their MSH-10 is replaced."""
    found = []
    for path in sorted((CORPUS / "hl7").iterdir()):
        raw = path.read_bytes()
        if not 1000 <= len(raw) <= 10 * 1024 or not raw.lstrip(b"\xef\xbb\xbf").startswith(b"MSH"):
            continue
        if _parses(vary(raw, 0), path.name):
            found.append((path.suffix or ".hl7", raw))
    if not found:
        raise SystemExit(f"no HL7 corpus file of 1-10 KB that parses under {CORPUS / 'hl7'} (set MEDFLOW_CORPUS)")
    return found


def vary(raw: bytes, n: int) -> bytes:
    """The message with MSH-10 (control id) set to a number of its own: distinct bytes, same content."""
    start = raw.index(b"MSH")
    sep = raw[start + 3 : start + 4]
    end = min((i for i in (raw.find(b"\r", start), raw.find(b"\n", start)) if i >= 0), default=len(raw))
    fields = raw[start:end].split(sep)
    while len(fields) < 12:
        fields.append(b"")
    fields[9] = f"MFBENCH{n:07d}".encode()
    return raw[:start] + sep.join(fields) + raw[end:]


def _parses(raw: bytes, name: str) -> bool:
    outcome = classify(raw, ParseContext(name=name, now=datetime.now(UTC)), ALL_ADAPTERS)
    return outcome.reason is None and bool(outcome.items)


def make_files(folder: Path, count: int) -> int:
    """`count` distinct device files in `folder` (kept between runs when already complete); total bytes."""
    marker = folder / ".complete"
    if marker.exists() and marker.read_text() == str(count):
        return sum(p.stat().st_size for p in folder.iterdir() if p.name != ".complete")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    templates = hl7_templates()
    total = 0
    for n in range(count):
        suffix, raw = templates[n % len(templates)]
        data = vary(raw, n)
        (folder / f"result_{n:05d}{suffix}").write_bytes(data)
        total += len(data)
    marker.write_text(str(count))
    return total


def make_dicom(folder: Path, count: int, megabytes: int) -> int:
    """`count` DICOM files of about `megabytes` each: a corpus DICOM's header with a large pixel block."""
    marker = folder / ".complete"
    if marker.exists() and marker.read_text() == f"{count}x{megabytes}":
        return sum(p.stat().st_size for p in folder.iterdir() if p.name != ".complete")
    import pydicom

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    base = pydicom.dcmread(CORPUS / "ophthalmic" / "pontikos-lab__process-dcm__fundus.dcm")
    total = 0
    side = int((megabytes * 1024 * 1024 / 2) ** 0.5)  # 16-bit greyscale, square
    for n in range(count):
        ds = base.copy()
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.Rows = ds.Columns = side
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        for tag in ("PlanarConfiguration", "NumberOfFrames"):
            if tag in ds:
                delattr(ds, tag)
        ds.PixelData = os.urandom(side * side * 2)
        path = folder / f"scan_{n:02d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        total += path.stat().st_size
    marker.write_text(f"{count}x{megabytes}")
    return total


# --- the baseline: awscli in its own virtual environment ----------------------------------------------


def awscli() -> Path:
    exe = AWSCLI_DIR / "bin" / "aws"
    if exe.exists():
        return exe
    subprocess.run([sys.executable, "-m", "venv", str(AWSCLI_DIR)], check=True)
    pip = [str(AWSCLI_DIR / "bin" / "python"), "-m", "pip", "install", "-q", f"awscli=={AWSCLI_VERSION}"]
    subprocess.run(pip, check=True)
    return exe


def aws_env() -> dict[str, str]:
    env = {**os.environ, **LOCAL_CREDENTIALS}
    env.pop("AWS_PROFILE", None)
    return env


# --- measuring processes ------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (and its waited-for children) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / TICKS


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Run:
    seconds: float
    cpu: float
    puts: int
    requests: int
    extra: dict[str, float] = field(default_factory=dict)


class RequestLog:
    """moto's server log: one line per request; counts the lines a phase added."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size

    def since(self) -> tuple[int, int]:
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            text = fh.read().decode(errors="replace")
        requests = re.findall(r'"(GET|PUT|POST|HEAD|DELETE) ', text)
        return sum(1 for r in requests if r == "PUT"), len(requests)


def timed_aws(args: list[str], log: RequestLog) -> Run:
    log.mark()
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=aws_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(
            f"aws failed ({proc.returncode}): {proc.stderr.read().decode()[-500:] if proc.stderr else ''}"
        )
    time.sleep(0.3)  # the server's last log lines
    puts, requests = log.since()
    return Run(seconds, usage.ru_utime + usage.ru_stime, puts, requests, {"rss_peak_mb": usage.ru_maxrss / 1024})


def folder_source(folder: Path) -> str:
    return f"""
[[sources]]
kind = "folder"
name = "inbox"
path = "{folder}"
"""


def smb_source(port: int) -> str:
    """The share's root, as a clinic's agent reads a device's export share (defaults: settle 2 s)."""
    return f"""
[[sources]]
kind = "smb"
name = "share"
server = "127.0.0.1"
port = {port}
share = "{SMB_SHARE}"
username = "{USER}"
password_env = "{SMB_PASSWORD_ENV}"
"""


def agent_toml(data_dir: Path, source: str, endpoint: str, bucket: str, health_port: int) -> str:
    return f"""
[agent]
clinic_id = "bench"
agent_id = "bench-agent"
data_dir = "{data_dir}"
health_port = {health_port}
log_level = "INFO"
max_spool_bytes = {20 * 1024**3}

[cloud]
bucket = "{bucket}"
region = "us-east-1"
endpoint_url = "{endpoint}"
{source}"""


class Agent:
    def __init__(self, config: Path, health_port: int, log_path: Path, src: Path = REPO) -> None:
        self.config, self.health_port, self.log_path, self.src = config, health_port, log_path, src
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**aws_env(), "PYTHONPATH": str(self.src), SMB_PASSWORD_ENV: PASSWORD}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "edge_agent", "run", "--config", str(self.config)],
                                         cwd=self.src, env=env, stdout=log, stderr=log)  # fmt: skip

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    def wait_uploaded(self, count: int, timeout: float) -> dict[str, float]:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the agent exited with {self.proc.returncode} (see {self.log_path})")
            with contextlib.suppress(OSError):
                values = self.metrics()
                if values.get("medflow_edge_items_uploaded_total", 0) >= count:
                    return values
            time.sleep(0.1)
        raise RuntimeError(f"the agent did not upload {count} items within {timeout}s (see {self.log_path})")

    def wait_log(self, message: str, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if f'"{message}"' in self.log_path.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"the agent exited with {self.proc.returncode} (see {self.log_path})")
            time.sleep(0.01)
        raise RuntimeError(f"no {message!r} within {timeout}s (see {self.log_path})")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def intake_seconds(log_path: Path, started: float) -> float:
    """From the agent's start to its last "file taken" log line (its clock, the log's timestamps)."""
    last = ""
    for line in log_path.read_text(errors="replace").splitlines():
        if '"file taken"' in line:
            last = json.loads(line)["ts"]
    return datetime.fromisoformat(last).timestamp() - started if last else 0.0


def run_agent(
    source: str, count: int, endpoint: str, bucket: str, log: RequestLog, tag: str, src: Path = REPO, noop: bool = True
) -> tuple[Run, Run | None]:
    """The load (start → every item in S3), then the no-op restart (start → first scan done; not for
    another source tree, which may not log when its first scan is done, nor for the SMB source)."""
    data_dir = WORK / f"agent-{tag}"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    port = free_port()
    config = data_dir / "agent.toml"
    config.write_text(agent_toml(data_dir / "data", source, endpoint, bucket, port))
    agent = Agent(config, port, data_dir / "agent.log", src)
    log.mark()
    start, wall = time.perf_counter(), time.time()
    agent.start()
    assert agent.proc is not None
    try:
        agent.wait_uploaded(count, timeout=600)
        seconds = time.perf_counter() - start
        cpu, peak = cpu_seconds(agent.proc.pid), rss_mb(agent.proc.pid, "VmHWM")
        time.sleep(0.3)
        puts, requests = log.since()
        time.sleep(3)  # idle: the spool drained, the folder taken
        idle = rss_mb(agent.proc.pid)
    finally:
        agent.stop()
    taken = intake_seconds(data_dir / "agent.log", wall)
    load = Run(seconds, cpu, puts, requests, {"rss_peak_mb": peak, "rss_idle_mb": idle, "intake_s": taken})
    if src != REPO or not noop:
        return load, None
    again = Agent(config, port, data_dir / "agent-noop.log")
    log.mark()
    start = time.perf_counter()
    again.start()
    assert again.proc is not None
    try:
        again.wait_log("folder scanned", timeout=120)
        seconds = time.perf_counter() - start
        cpu = cpu_seconds(again.proc.pid)
    finally:
        again.stop()
    time.sleep(0.3)
    puts, requests = log.since()
    return load, Run(seconds, cpu, puts, requests)


def run_agent_big(folder: Path, count: int, endpoint: str, bucket: str, log: RequestLog, tag: str) -> Run:
    data_dir = WORK / f"agent-{tag}"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    port = free_port()
    config = data_dir / "agent.toml"
    config.write_text(agent_toml(data_dir / "data", folder_source(folder), endpoint, bucket, port))
    agent = Agent(config, port, data_dir / "agent.log")
    log.mark()
    start = time.perf_counter()
    agent.start()
    assert agent.proc is not None
    try:
        agent.wait_uploaded(count, timeout=1200)
        seconds = time.perf_counter() - start
        cpu, peak = cpu_seconds(agent.proc.pid), rss_mb(agent.proc.pid, "VmHWM")
    finally:
        agent.stop()
    time.sleep(0.3)
    puts, requests = log.since()
    return Run(seconds, cpu, puts, requests, {"rss_peak_mb": peak})


def run_floor(folder: Path, endpoint: str, bucket: str, log: RequestLog, threads: int = 16) -> Run:
    """The endpoint's floor for the agent's requests: each file put twice (as its raw object and as an
    envelope-sized one) with the agent's own writer (SHA-256 checksum, SSE), by a plain thread pool, no
    spool, no parsing: no uploader putting these objects through boto3 can finish sooner."""
    from concurrent.futures import ThreadPoolExecutor

    from edge_agent.config import CloudSection
    from edge_agent.spool.uploader import ObjectWriter, make_s3_client

    cloud = CloudSection(bucket=bucket, endpoint_url=endpoint)
    writer = ObjectWriter(make_s3_client(cloud), cloud)
    files = sorted(p for p in folder.iterdir() if p.name != ".complete")
    jobs = [(f"{role}/{p.name}", p) for p in files for role in ("raw", "envelopes")]
    log.mark()
    start, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda job: writer.put(job[0], job[1].read_bytes(), "application/octet-stream"), jobs))
    seconds = time.perf_counter() - start
    time.sleep(0.3)
    puts, requests = log.since()
    return Run(seconds, time.process_time() - cpu, puts, requests)


# --- S3 set-up and report ---------------------------------------------------------------------------


def s3(endpoint: str) -> Any:
    import boto3

    keys = {"aws_access_key_id": LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}  # fmt: skip
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys)


def start_share(folder: Path, mode: str) -> SambaServer | None:
    """smbd serving `folder` as share `bench`, or None (saying why) where it cannot run and mode is auto."""
    try:
        if os.geteuid() != 0:
            raise SambaUnavailable("smbd needs root (it switches users)")
        server = SambaServer(WORK / "smbd")
        server.add_share(SMB_SHARE, path=str(folder))
        server.set_shares(server.shares)
        server.start()
    except SambaUnavailable as exc:
        if mode == "on":
            raise SystemExit(f"--smb on: {exc} (make system-deps installs samba)") from exc
        print(f"SMB case skipped: {exc}")
        return None
    print(f"smbd on 127.0.0.1:{server.port} serving {folder} as share {SMB_SHARE!r}")
    return server


def fresh_bucket(client: Any, moto: MotoServer, name: str) -> str:
    moto.reset()  # the last round's objects leave the server's memory
    client.create_bucket(Bucket=name)
    return name


def spread(values: list[float], unit: str = "s", digits: int = 2) -> str:
    return f"{statistics.median(values):.{digits}f} {unit} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def report(title: str, runs: dict[str, list[Run]], goal: str, extras: tuple[str, ...] = ()) -> None:
    print(f"\n{title}")
    print(f"  {'who':24} {'wall: median (range)':28} {'CPU s':>7} {'PUTs':>6} {'requests':>9}  {' '.join(extras)}")
    for who, values in runs.items():
        cpu = statistics.median(r.cpu for r in values)
        puts = statistics.median(r.puts for r in values)
        reqs = statistics.median(r.requests for r in values)
        more = "  ".join(spread([r.extra[e] for r in values], "MB", 0) for e in extras if e in values[0].extra)
        print(f"  {who:24} {spread([r.seconds for r in values]):28} {cpu:7.1f} {puts:6.0f} {reqs:9.0f}  {more}")
    (ours, ours_runs), (base, base_runs), *more = list(runs.items())
    for other, other_runs in more:
        if other == SMB:  # an agent too: set beside the baseline like the first row
            ratio = statistics.median(r.seconds for r in other_runs) / statistics.median(r.seconds for r in base_runs)
            print(f"  ratio {other} / {base} time: {ratio:.2f}x; {1 / ratio:.2f}x as fast; goal: {goal}")
            continue
        ratio = statistics.median(r.seconds for r in ours_runs) / statistics.median(r.seconds for r in other_runs)
        print(f"  ratio {ours} / {other} time: {ratio:.2f}x")
    ratios = [a.seconds / b.seconds for a, b in zip(ours_runs, base_runs, strict=True)]
    median = statistics.median(r.seconds for r in ours_runs) / statistics.median(r.seconds for r in base_runs)
    speed = 1 / median
    print(f"  ratio {ours} / {base} time: {median:.2f}x (per round {min(ratios):.2f}-{max(ratios):.2f}x);"
          f" {speed:.2f}x as fast; goal: {goal}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dicom", type=int, default=0, help="instead: this many big DICOM files vs `aws s3 cp`")
    parser.add_argument("--dicom-mb", type=int, default=50)
    smb_help = "also the agent reading the files from an SMB share (a real smbd); auto: where smbd can run"
    parser.add_argument("--smb", choices=("auto", "on", "off"), default="auto", help=smb_help)
    parser.add_argument("--before", type=Path, help="also run the agent of this source tree (e.g. a `git archive`)")
    args = parser.parse_args(argv)

    aws = str(awscli())
    os.environ.update(aws_env())  # the floor's client in this process: moto's fixed local credentials
    WORK.mkdir(parents=True, exist_ok=True)
    moto_log = WORK / "moto.log"
    moto_log.write_bytes(b"")
    moto = MotoServer(log_path=moto_log).start()
    log = RequestLog(moto_log)
    client = s3(moto.url)
    share: SambaServer | None = None
    print(f"{os.cpu_count()} cores; moto server at {moto.url}; {aws} ({AWSCLI_VERSION})")
    try:
        if args.dicom:
            folder = WORK / f"dicom-{args.dicom}x{args.dicom_mb}"
            total = make_dicom(folder, args.dicom, args.dicom_mb)
            print(f"{args.dicom} DICOM files, {total / 1e6:.0f} MB in all; {args.rounds} interleaved rounds")
            runs: dict[str, list[Run]] = {"agent": [], "aws s3 cp --recursive": []}
            for n in range(args.rounds):
                bucket = fresh_bucket(client, moto, f"bench-cp-{n}")
                cp = [aws, "s3", "cp", str(folder), f"s3://{bucket}/cp/", "--recursive", "--only-show-errors",
                      "--exclude", ".complete", "--endpoint-url", moto.url]  # fmt: skip
                base = timed_aws(cp, log)
                bucket = fresh_bucket(client, moto, f"bench-agent-{n}")
                ours = run_agent_big(folder, args.dicom, moto.url, bucket, log, f"dicom-{n}")
                runs["agent"].append(ours)
                runs["aws s3 cp --recursive"].append(base)
                print(f"  round {n + 1}: agent {ours.seconds:.1f} s, aws s3 cp {base.seconds:.1f} s", flush=True)
            report(f"{args.dicom} x {args.dicom_mb} MB DICOM → S3", runs, "≥ 1.0x as fast", ("rss_peak_mb",))
            return 0
        folder = WORK / f"files-{args.files}"
        total = make_files(folder, args.files)
        print(f"{args.files} distinct HL7 files, {total / 1e6:.1f} MB; {args.rounds} interleaved rounds")
        load: dict[str, list[Run]] = {"agent": [], "aws s3 sync": [], FLOOR: []}
        share = start_share(folder, args.smb) if args.smb != "off" else None
        if share is not None:
            load[SMB] = []
        if args.before:
            load[BEFORE] = []
        noop: dict[str, list[Run]] = {"agent (restart, rescan)": [], "aws s3 sync (no-op)": []}
        for n in range(args.rounds):
            bucket = fresh_bucket(client, moto, f"bench-sync-{n}")
            sync = [aws, "s3", "sync", str(folder), f"s3://{bucket}/sync/", "--only-show-errors",
                    "--exclude", ".complete", "--endpoint-url", moto.url]  # fmt: skip
            first = "aws" if n % 2 == 0 else "agent"  # alternate who goes first
            for who in (first, "agent" if first == "aws" else "aws"):
                if who == "aws":
                    base = timed_aws(sync, log)
                    base_noop = timed_aws(sync, log)
                else:
                    agent_bucket = f"bench-agent-{n}"
                    client.create_bucket(Bucket=agent_bucket)
                    ours, again = run_agent(folder_source(folder), args.files, moto.url, agent_bucket, log, f"load-{n}")
                    assert again is not None
                    ours_noop = again
            if args.before:
                client.create_bucket(Bucket=f"bench-before-{n}")
                before, _ = run_agent(
                    folder_source(folder), args.files, moto.url, f"bench-before-{n}", log, f"before-{n}", args.before
                )
                load[BEFORE].append(before)
                print(f"  round {n + 1}: agent before {before.seconds:.1f} s", flush=True)
            if share is not None:
                client.create_bucket(Bucket=f"bench-smb-{n}")
                via_smb, _ = run_agent(
                    smb_source(share.port), args.files, moto.url, f"bench-smb-{n}", log, f"smb-{n}", noop=False
                )
                load[SMB].append(via_smb)
                print(f"  round {n + 1}: agent from the SMB share {via_smb.seconds:.1f} s ({via_smb.puts} PUTs)",
                      flush=True)  # fmt: skip
            floor_bucket = f"bench-floor-{n}"
            client.create_bucket(Bucket=floor_bucket)
            floor = run_floor(folder, moto.url, floor_bucket, log)
            load["agent"].append(ours)
            load["aws s3 sync"].append(base)
            load[FLOOR].append(floor)
            noop["agent (restart, rescan)"].append(ours_noop)
            noop["aws s3 sync (no-op)"].append(base_noop)
            print(f"  round {n + 1}: agent {ours.seconds:.1f} s ({ours.puts} PUTs), aws s3 sync {base.seconds:.1f} s"
                  f" ({base.puts} PUTs), floor {floor.seconds:.1f} s ({floor.puts} PUTs);"
                  f" no-op agent {ours_noop.seconds:.2f} s ({ours_noop.requests} requests),"
                  f" aws {base_noop.seconds:.2f} s ({base_noop.requests} requests)", flush=True)  # fmt: skip
        report(f"{args.files} device files → S3", load, "≥ 2.0x as fast", ("rss_peak_mb", "rss_idle_mb"))
        for who in ("agent", *(w for w in (SMB, BEFORE) if w in load)):
            print(f"  {who}: start → last file taken {spread([r.extra['intake_s'] for r in load[who]])}")
        report("no-op: the same files again", noop, "≤ 0.5x the time, no request per file")
        print(json.dumps({"agent_rss_peak_mb": max(r.extra["rss_peak_mb"] for r in load["agent"]),
                          "agent_rss_idle_mb": max(r.extra["rss_idle_mb"] for r in load["agent"])}))  # fmt: skip
    finally:
        if share is not None:
            share.stop()
        moto.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
