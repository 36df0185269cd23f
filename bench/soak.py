"""The outage and crash soak (`make soak`): lose nothing, duplicate nothing.

Items arrive at once through a folder, an MLLP analyzer and a serial ASTM analyzer (a socat pty
pair), while the agent (`python -m edge_agent run --config ...`, a real process) is killed with
SIGKILL at random points and restarted, and S3 (moto's server) is unreachable for stretches: a TCP
proxy in front of it is cut (listener closed, open connections reset), a real outage for the
agent's HTTP client. The analyzers behave as real ones do: the MLLP sender resends a message until
it gets AA (or AE: stored, quarantined), the ASTM instrument resends a message that was not
acknowledged; files stay in the folder until the agent takes them.

Afterwards every item must be in S3 exactly once by sha256 (the raw/ keys read from the moto
server itself, behind the proxy), every MLLP message ACKed AA present, and `PRAGMA
integrity_check` of the spool ok (checked after every kill too). The last line printed is

    soak: items=N kills=K outages=O lost=L duplicated=D drain_s=S

and the exit status is 1 when L or D is not 0 (or the spool is damaged). `drain_s` is the time
from the end of the last disturbance (outage end, agent restart, last item handed over) until S3
holds every item.

Sizes: `ci` (default; about 300 items, several kills and outages, under 3 minutes; also run by
tests/integration/test_soak.py) and `long` (`SOAK=long`: 2,000 items over 30 minutes, 50 kills).

Producers are a list (`PRODUCERS`): a new source kind (the SMB share, once it lands) is one more
entry there plus its `[[sources]]` block in `agent_toml`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from edge_agent.framing import astm_e1381  # noqa: E402
from edge_agent.framing.astm_e1381 import AstmSession, build_frame, frame_records  # noqa: E402
from edge_agent.framing.mllp import MllpDecoder, encode  # noqa: E402
from localdev.moto import LOCAL_CREDENTIALS, MotoServer, free_port  # noqa: E402

BUCKET = "medflow-soak"
CLINIC = "soak-clinic"


class SoakSetupError(RuntimeError):
    """A peer the soak needs (socat, the moto server) could not start."""


@dataclass(frozen=True)
class Size:
    name: str
    items: int
    seconds: float  # items arrive spread over this long
    kills: int
    outages: int
    outage_seconds: tuple[float, float]
    drain_timeout: float
    max_spool_items: int | None = None  # small: outages fill the spool, so its refusals are soaked too


SIZES = {
    "ci": Size("ci", items=300, seconds=45.0, kills=6, outages=4, outage_seconds=(1.5, 4.0), drain_timeout=90.0,
               max_spool_items=20),
    "long": Size("long", items=2000, seconds=1800.0, kills=50, outages=25, outage_seconds=(5.0, 40.0),
                 drain_timeout=600.0),
}  # fmt: skip


@dataclass(frozen=True)
class Result:
    items: int
    kills: int
    outages: int
    lost: int
    duplicated: int
    drain_s: float
    acked_missing: int = 0  # MLLP messages answered AA that are not in S3 (part of `lost`)
    integrity_failures: int = 0
    unexpected: int = 0  # raw objects whose sha256 no producer made
    spool_full: int = 0  # times the agent raised its spool-full alarm (agent.log)
    mllp_refused: int = 0  # AR answers the MLLP analyzer got (and resent)
    per_source: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.integrity_failures == 0

    def line(self) -> str:
        return (
            f"soak: items={self.items} kills={self.kills} outages={self.outages} "
            f"lost={self.lost} duplicated={self.duplicated} drain_s={self.drain_s:.1f}"
        )


# --- the items -------------------------------------------------------------------------------------


def hl7_message(source: str, i: int) -> bytes:
    """A small ORU^R01, unique per (source, i)."""
    return (
        f"MSH|^~\\&|SOAK|LAB|LIS|CLINIC|20260101120000||ORU^R01|{source}{i:06d}|P|2.5\r"
        f"PID|1||P{i:06d}\r"
        f"OBR|1|||CBC\r"
        f"OBX|1|NM|WBC^White cells||{4 + i % 7}.{i % 10}|10*3/uL|||||F\r"
    ).encode()


def astm_records(i: int) -> list[bytes]:
    return [
        b"H|\\^&|||SOAK-ANALYZER|||||||P|1",
        f"P|1||PS{i:06d}".encode(),
        f"O|1|S{i:06d}||^^^GLU".encode(),
        f"R|1|^^^GLU|{80 + i % 50}|mg/dL||N||F".encode(),
        b"L|1|N",
    ]


def astm_transcript(records: list[bytes]) -> bytes:
    """What the agent's E1381 receiver stores for these records: the frames as sent, STX..CR LF."""
    return b"".join(build_frame(n + 1, text, final) for n, (text, final) in enumerate(frame_records(records)))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- peers -----------------------------------------------------------------------------------------


class CutProxy:
    """A TCP proxy to moto's server that can be cut: while cut, nothing listens (connection refused)
    and every open connection is reset."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._closed = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> CutProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="proxy-accept").start()
        return self

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, set()
        if listener is not None:
            with contextlib.suppress(OSError):  # wakes the accept() blocked in its thread (Linux)
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                conn.close()

    def restore(self) -> None:
        self.start()

    def close(self) -> None:
        self._closed = True
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    server.close()
                    return
                self._conns.update((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            src.settimeout(None)
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._conns.discard(src)
                self._conns.discard(dst)
            src.close()


class NullModem:
    """`socat` pty pair. The soak holds the agent's end open too (a real serial line does not vanish
    when the agent dies; without it socat sees EIO when the agent's process goes and exits)."""

    def __init__(self, folder: Path) -> None:
        self.agent_end, self.device_end = folder / "agent-tty", folder / "device-tty"
        self.proc: subprocess.Popen[bytes] | None = None
        self._hold: int | None = None

    def start(self) -> NullModem:
        if shutil.which("socat") is None:
            raise SoakSetupError("socat is not installed (make system-deps): the serial analyzer needs a pty pair")
        self.proc = subprocess.Popen(
            ["socat", f"pty,raw,echo=0,link={self.agent_end}", f"pty,raw,echo=0,link={self.device_end}"],
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5
        while not (self.agent_end.exists() and self.device_end.exists()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SoakSetupError("socat did not create the pty pair")
            time.sleep(0.02)
        self._hold = os.open(self.agent_end, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        return self

    def stop(self) -> None:
        if self._hold is not None:
            os.close(self._hold)
            self._hold = None
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None


# --- the agent process ------------------------------------------------------------------------------


def agent_toml(
    work: Path, endpoint: str, mllp_port: int, serial_device: Path, inbox: Path, max_spool_items: int | None = None
) -> str:
    cap = f"max_spool_items = {max_spool_items}\n" if max_spool_items else ""
    return f"""
[agent]
clinic_id = "{CLINIC}"
agent_id = "soak-agent"
data_dir = "{work / "spool"}"
heartbeat_seconds = 5
log_level = "INFO"
{cap}
[cloud]
bucket = "{BUCKET}"
region = "us-east-1"
endpoint_url = "{endpoint}"
backoff_base_seconds = 0.2
backoff_max_seconds = 2.0
connect_timeout_seconds = 2.0
read_timeout_seconds = 10.0

[[sources]]
kind = "folder"
name = "inbox"
path = "{inbox}"
settle_seconds = 0.3
rescan_seconds = 2

[[sources]]
kind = "mllp"
name = "lab"
host = "127.0.0.1"
port = {mllp_port}

[[sources]]
kind = "serial"
name = "chem"
device = "{serial_device}"
protocol = "astm"
"""


class AgentProcess:
    def __init__(self, config: Path, mllp_port: int, log_path: Path) -> None:
        self.config, self.mllp_port, self.log_path = config, mllp_port, log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()

    def start(self, timeout: float = 30.0) -> None:
        env = {**os.environ, **LOCAL_CREDENTIALS, "PYTHONPATH": str(REPO)}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edge_agent", "run", "--config", str(self.config)],
                cwd=REPO, env=env, stdout=log, stderr=log,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SoakSetupError(f"the agent exited with {self.proc.returncode} at start (see {self.log_path})")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.mllp_port), 0.5):
                return
            time.sleep(0.05)
        raise SoakSetupError(f"the agent did not listen within {timeout}s (see {self.log_path})")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def integrity_ok(db: Path) -> bool:
    """`PRAGMA integrity_check` on the spool (opening it also recovers the WAL, as the agent's next start would)."""
    if not db.exists():
        return True
    conn = sqlite3.connect(db, timeout=30)
    try:
        return [r[0] for r in conn.execute("PRAGMA integrity_check")] == ["ok"]
    finally:
        conn.close()


# --- producers ---------------------------------------------------------------------------------------


@dataclass
class Ctx:
    """What producers share: where to send, what they produced (sha256 → source), when they finished."""

    inbox: Path
    mllp_port: int
    serial_device: Path
    interval: float  # seconds between two items of one producer, on average
    stop: threading.Event
    rng: random.Random = field(default_factory=random.Random)
    produced: dict[str, str] = field(default_factory=dict)
    acked_aa: set[str] = field(default_factory=set)
    mllp_refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_handover: float = 0.0

    def record(self, digest: str, source: str) -> None:
        with self.lock:
            self.produced[digest] = source
            self.last_handover = time.monotonic()

    def pacer(self) -> Pacer:
        with self.lock:
            return Pacer(self.interval, random.Random(self.rng.random()))


class Pacer:
    """Items come in bursts (a run of exports, an analyzer's batch), then a pause: one item per
    `interval` on average, but the agent is often busy when it is killed."""

    def __init__(self, interval: float, rng: random.Random) -> None:
        self.interval, self.rng = interval, rng
        self.sent, self.burst = 0, rng.randint(1, 20)

    def step(self) -> None:
        self.sent += 1
        if self.sent >= self.burst:
            time.sleep(self.interval * self.sent)
            self.sent, self.burst = 0, self.rng.randint(1, 20)


def folder_producer(ctx: Ctx, count: int) -> None:
    """Drops files as an export tool does (written under a hidden name, then renamed); one in ten is
    not a device format at all (quarantined, still uploaded)."""
    pacer = ctx.pacer()
    for i in range(count):
        body = hl7_message("F", i) if i % 10 else b"SOAK-UNKNOWN-FORMAT %06d\n" % i
        tmp = ctx.inbox / f".f{i:06d}.part"
        tmp.write_bytes(body)
        os.replace(tmp, ctx.inbox / f"f{i:06d}.hl7")
        ctx.record(sha(body), "folder")
        pacer.step()


def mllp_producer(ctx: Ctx, count: int) -> None:
    """An analyzer: each message is resent (reconnecting as needed) until it gets AA or AE."""
    conn: socket.socket | None = None
    decoder = MllpDecoder()
    pacer = ctx.pacer()
    for i in range(count):
        message = hl7_message("M", i)
        digest = sha(message)
        while not ctx.stop.is_set():
            try:
                if conn is None:
                    conn = socket.create_connection(("127.0.0.1", ctx.mllp_port), timeout=2)
                    conn.settimeout(5)
                    decoder = MllpDecoder()
                conn.sendall(encode(message))
                code = _await_ack(conn, decoder)
            except OSError:
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.2)
                continue
            if code in ("AA", "AE"):
                if code == "AA":
                    with ctx.lock:
                        ctx.acked_aa.add(digest)
                break
            with ctx.lock:
                ctx.mllp_refused += 1
            time.sleep(0.5)  # AR: the agent refused it (spool full); send it again later
        ctx.record(digest, "mllp")
        pacer.step()
    if conn is not None:
        conn.close()


def _await_ack(conn: socket.socket, decoder: MllpDecoder) -> str:
    while True:
        data = conn.recv(65536)
        if not data:
            raise ConnectionResetError("agent closed the connection")
        for frame in decoder.feed(data):
            if isinstance(frame, bytes) and b"MSA|" in frame:
                return frame.split(b"MSA|", 1)[1][:2].decode()


def serial_producer(ctx: Ctx, count: int) -> None:
    """An ASTM E1381 instrument on the device end of the null modem; a message not acknowledged
    (agent dead, NAKed, no reply) is sent again."""
    import serial

    # The instrument's own reply timer, shortened from E1381's 15 s so a kill costs seconds, not
    # quarter-minutes (a device setting; the agent's side is untouched).
    astm_e1381.SENDER_TIMEOUT = 2.0
    port = serial.Serial(str(ctx.serial_device), 9600, timeout=0.05)
    outcome: list[bool] = []
    session = AstmSession(write=port.write, on_sent=lambda ok, _d: outcome.append(ok), role="instrument")
    pacer = ctx.pacer()
    try:
        for i in range(count):
            records = astm_records(i)
            while not ctx.stop.is_set():
                outcome.clear()
                session.send(records, time.monotonic())
                while session.busy and not ctx.stop.is_set():
                    data = bytes(port.read(port.in_waiting or 1))
                    now = time.monotonic()
                    if data:
                        session.feed(data, now)
                    session.poll(now)
                if outcome and outcome[0]:
                    break
                time.sleep(0.3)
            ctx.record(sha(astm_transcript(records)), "serial")
            pacer.step()
    finally:
        port.close()


# (name, share of the items, producer). The SMB share joins here once its source is on main:
# ("smb", 0.25, smb_producer) plus its [[sources]] block in agent_toml.
PRODUCERS: list[tuple[str, float, Callable[[Ctx, int], None]]] = [
    ("folder", 0.4, folder_producer),
    ("mllp", 0.4, mllp_producer),
    ("serial", 0.2, serial_producer),
]


# --- S3 --------------------------------------------------------------------------------------------


def s3_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session(
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    ).client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))


def raw_shas(s3: Any) -> dict[str, int]:
    """sha256 → how many raw/ objects hold it (the key ends with the sha256 and an optional extension)."""
    found: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"raw/{CLINIC}/"):
        for obj in page.get("Contents", []):
            digest = obj["Key"].rsplit("/", 1)[-1].split(".", 1)[0]
            found[digest] = found.get(digest, 0) + 1
    return found


# --- the run ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def _peers(work: Path) -> Iterator[tuple[MotoServer, CutProxy, NullModem]]:
    moto = MotoServer(log_path=work / "moto.log")
    try:
        moto.start()
    except RuntimeError as exc:
        raise SoakSetupError(f"the moto server did not start: {exc}") from exc
    proxy = CutProxy(("127.0.0.1", moto.port)).start()
    modem = NullModem(work)
    try:
        modem.start()
        yield moto, proxy, modem
    finally:
        modem.stop()
        proxy.close()
        moto.stop()


def run(
    size: Size,
    work: Path,
    *,
    seed: int | None = None,
    max_spool_items: int | None = None,
    out: Callable[[str], None] = print,
) -> Result:
    """One soak; `max_spool_items` (default: the size's) small enough makes outages fill the spool,
    so the sources' refusals (MLLP AR, ASTM NAK, files left waiting) are soaked too."""
    max_spool_items = max_spool_items or size.max_spool_items
    rng = random.Random(seed)
    inbox = work / "inbox"
    inbox.mkdir(parents=True)
    with _peers(work) as (moto, proxy, modem):
        s3 = s3_client(moto.url)
        s3.create_bucket(Bucket=BUCKET)
        mllp_port = free_port()
        config = work / "agent.toml"
        toml = agent_toml(work, proxy.url, mllp_port, modem.agent_end, inbox, max_spool_items)
        config.write_text(toml, encoding="utf-8")
        agent = AgentProcess(config, mllp_port, work / "agent.log")
        agent.start()
        db = work / "spool" / "spool.db"

        shares = [max(1, int(size.items * share)) for _, share, _ in PRODUCERS]
        shares[0] += size.items - sum(shares)
        longest = max(shares)
        ctx = Ctx(inbox, mllp_port, modem.device_end, size.seconds / longest, threading.Event(), random.Random(seed))
        threads = [
            threading.Thread(target=produce, args=(ctx, n), name=f"producer-{name}", daemon=True)
            for (name, _, produce), n in zip(PRODUCERS, shares, strict=True)
        ]
        started = time.monotonic()
        for t in threads:
            t.start()

        # Chaos: kill times and outage windows drawn over the arrival period.
        kill_at = sorted(rng.uniform(0.05, 0.95) * size.seconds for _ in range(size.kills))
        outage_at = sorted(rng.uniform(0.0, 0.9) * size.seconds for _ in range(size.outages))
        kills = outages = integrity_failures = 0
        last_disturbance = started
        cut_until: float | None = None
        while kill_at or outage_at or cut_until is not None:
            now = time.monotonic() - started
            if cut_until is not None and now >= cut_until:
                proxy.restore()
                cut_until = None
                last_disturbance = time.monotonic()
            if outage_at and now >= outage_at[0] and cut_until is None:
                outage_at.pop(0)
                proxy.cut()
                outages += 1
                cut_until = now + rng.uniform(*size.outage_seconds)
            if kill_at and now >= kill_at[0]:
                kill_at.pop(0)
                time.sleep(rng.uniform(0.0, 0.3))  # not on a timer tick
                agent.kill()
                kills += 1
                if not integrity_ok(db):
                    integrity_failures += 1
                    out(f"soak: integrity_check FAILED after kill {kills}")
                time.sleep(rng.uniform(0.1, 1.0))
                agent.start()
                last_disturbance = time.monotonic()
            time.sleep(0.05)

        deadline = time.monotonic() + size.seconds + size.drain_timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in threads):
            out("soak: producers did not finish in time")
        ctx.stop.set()
        for t in threads:
            t.join(5)
        quiet_since = max(last_disturbance, ctx.last_handover)

        expected = dict(ctx.produced)
        drain_deadline = time.monotonic() + size.drain_timeout
        found = raw_shas(s3)
        while not set(expected) <= set(found) and time.monotonic() < drain_deadline:
            time.sleep(0.5)
            found = raw_shas(s3)
        drain_s = max(0.0, time.monotonic() - quiet_since)
        agent.stop()
        if not integrity_ok(db):
            integrity_failures += 1
            out("soak: integrity_check FAILED at the end")

    missing = [d for d in expected if d not in found]
    per_source: dict[str, int] = {}
    for source in expected.values():
        per_source[source] = per_source.get(source, 0) + 1
    result = Result(
        items=len(expected),
        kills=kills,
        outages=outages,
        lost=len(missing),
        duplicated=sum(n - 1 for d, n in found.items() if n > 1),
        drain_s=drain_s,
        acked_missing=sum(1 for d in ctx.acked_aa if d not in found),
        integrity_failures=integrity_failures,
        unexpected=sum(1 for d in found if d not in expected),
        per_source=per_source,
        spool_full=_count_lines(work / "agent.log", b'"msg": "ALARM spool full'),
        mllp_refused=ctx.mllp_refused,
    )
    sources = " ".join(f"{k}={v}" for k, v in sorted(per_source.items()))
    out(f"soak: size={size.name} {sources} mllp_acked_aa={len(ctx.acked_aa)} acked_missing={result.acked_missing} "
        f"integrity_failures={integrity_failures} unexpected_raw={result.unexpected} "
        f"max_spool_items={max_spool_items} spool_full_alarms={result.spool_full} mllp_ar={result.mllp_refused} "
        f"wall_s={time.monotonic() - started:.1f}")  # fmt: skip
    if missing:
        out(f"soak: lost by source: {_by_source(missing, expected)}")
    return result


def _count_lines(path: Path, needle: bytes) -> int:
    with open(path, "rb") as fh:
        return sum(1 for line in fh if needle in line)


def _by_source(digests: list[str], expected: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for d in digests:
        counts[expected[d]] = counts.get(expected[d], 0) + 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", choices=sorted(SIZES), default=os.environ.get("SOAK", "ci") or "ci")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the working folder (agent.log, spool)")
    parser.add_argument("--max-spool-items", type=int, default=None, help="a small cap: outages fill the spool")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="medflow-soak-"))
    try:
        result = run(SIZES[args.size], work, seed=args.seed, max_spool_items=args.max_spool_items)
    except SoakSetupError as exc:
        print(f"soak: cannot start: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            print(f"soak: working folder kept at {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(result.line(), flush=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
