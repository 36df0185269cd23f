"""MLLP benchmark: ACK-after-durable-commit throughput and latency, beside a bare asyncio MLLP echo server.

Run: .venv/bin/python bench/mllp.py [--senders 4,8] [--messages 500] [--parse-workers 2]
Each sender is a process of its own (bench/mllp_sender.py) with one connection: it sends a
~1.3 KB ORU^R01 (unique MSH-10) and waits for the ACK before the next, as analyzers do. Real
analyzers are other machines, so the senders stay out of the measured process: this process
only runs the server under test, and its own CPU (getrusage RUSAGE_SELF) is what is reported
per message. The agent side is the real MllpSource + Intake + SQLite spool (group commit:
one fsync per batch of concurrent messages) + HL7 adapter; the baseline answers every frame
at once with a canned ACK. A second baseline answers only after appending the frame to a file
and fdatasyncing it (group-committed, nothing else): no server that ACKs after a durable write
does better in CPython on this machine, so the agent's ratio to it is what its own work costs.
The agent is built as `medflow-edge run` builds it (every adapter in the registry, JSON logs
at INFO, here to /dev/null). Then one sender paced at 200 msg/s measures ACK latency. Last,
the CPU one message's description takes (parse, readings, envelope JSON) bounds what any
number of parse workers could reach on this machine's cores.
The senders still share the machine's cores with the server (on a 2-core box, 4 senders
take a share of the CPU that a clinic's analyzers would not).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE

from mllp_baselines import echo_server
from mllp_sender import OBX_COUNT, oru

from edge_agent.adapters import ALL_ADAPTERS
from edge_agent.config import MllpSourceConfig
from edge_agent.identity import Identity
from edge_agent.intake.describer import Describer
from edge_agent.intake.intake import Intake
from edge_agent.intake.parse_pool import ParsePool
from edge_agent.intake.port import Origin
from edge_agent.ops.flowlog import FlowLog
from edge_agent.ops.logs import setup_logging
from edge_agent.sources.mllp import MllpSource
from edge_agent.spool import NewItem, Spool

SENDER = Path(__file__).with_name("mllp_sender.py")


@dataclass
class Run:
    seconds: float
    latencies: list[float]
    not_aa: int
    cpu_ms: float  # this process's CPU per message (the server under test)
    sender_cpu_ms: float  # the sender processes' CPU per message
    worker_cpu_ms: float = 0.0  # the agent's parse workers' CPU per message

    @property
    def messages(self) -> int:
        return len(self.latencies)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_senders(port: int, senders: int, count: int, run: str, pace: float = 0.0) -> Run:
    """Starts the sender processes, lets them connect, then releases them together."""
    command = [sys.executable, str(SENDER), "--port", str(port), "--count", str(count), "--pace", str(pace)]
    procs = [
        subprocess.Popen([*command, "--sender", str(s), "--run", run], stdin=PIPE, stdout=PIPE, text=True)
        for s in range(senders)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    children0, cpu0 = cpu_seconds(resource.RUSAGE_CHILDREN), cpu_seconds(resource.RUSAGE_SELF)
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=600)
        if p.returncode != 0:
            raise SystemExit(f"sender failed with exit code {p.returncode}")
        results.append(json.loads(out))
    cpu = cpu_seconds(resource.RUSAGE_SELF) - cpu0
    children = cpu_seconds(resource.RUSAGE_CHILDREN) - children0  # sender set-up included: an upper bound
    latencies = [lat for r in results for lat in r["latencies"]]
    seconds = max(r["end"] for r in results) - min(r["start"] for r in results)
    n = max(1, len(latencies))
    return Run(seconds, latencies, sum(r["not_aa"] for r in results), cpu / n * 1000, children / n * 1000)


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


def run_agent(args: argparse.Namespace, senders: int, parse_workers: int) -> tuple[Run, Run, float, int]:
    """(burst run, 200 msg/s run, messages per commit, items stored) for one agent configuration."""
    with tempfile.TemporaryDirectory() as tmp:
        spool = Spool(Path(tmp) / "data")
        # As `medflow-edge run` builds it: every adapter in the registry, JSON logs at INFO.
        ident = Identity("bench", "agent")
        pool = ParsePool(parse_workers, Describer(ident, ALL_ADAPTERS), name="bench") if parse_workers else None
        intake = Intake(spool, ident, max_spool_bytes=10**10, adapters=ALL_ADAPTERS, parse_pool=pool)
        flow = FlowLog(logging.getLogger("edge_agent.intake"))
        intake.on_taken(flow.taken)
        config = MllpSourceConfig(name="bench", port=free_port(), parse_workers=parse_workers)
        source = MllpSource(config, intake)
        if pool is not None:
            pool.start()
        source.start()
        port = source.port or 0
        warm_up(port)
        batches0, entries0 = intake.commits.batches, intake.commits.entries
        run = f"T{senders}W{parse_workers}"
        burst = with_worker_cpu(pool, lambda: run_senders(port, senders, args.messages, run=run))
        per_commit = (intake.commits.entries - entries0) / max(1, intake.commits.batches - batches0)
        paced_messages = int(200 * args.rate_seconds)
        paced = with_worker_cpu(
            pool, lambda: run_senders(port, 1, paced_messages, run=f"P{senders}W{parse_workers}", pace=1 / 200)
        )
        source.stop()  # as the agent stops: sources, parse workers, then listeners, before the log closes
        if pool is not None:
            pool.close()
        flow.close()
        stored = sum(spool.ledger.items.counts().values())
        spool.close()
    return burst, paced, per_commit, stored


def with_worker_cpu(pool: ParsePool | None, run: Callable[[], Run]) -> Run:
    """`run()`, with the CPU the parse workers spent meanwhile (from /proc, as they are still running)."""
    pids = pool.workers if pool is not None else []
    before = sum(process_cpu(pid) for pid in pids)
    result = run()
    spent = sum(process_cpu(pid) for pid in pids) - before
    result.worker_cpu_ms = spent / max(1, result.messages) * 1000
    return result


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def warm_up(port: int) -> None:
    """One message through, so worker start-up and first imports are not timed."""
    run_senders(port, 1, 1, run="W")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", default="4,8", help="sender processes (analyzers), one run per count")
    parser.add_argument("--messages", type=int, default=500, help="per sender")
    parser.add_argument("--rate-seconds", type=float, default=5.0, help="duration of the 200 msg/s latency run")
    parser.add_argument("--parse-workers", type=int, default=2, help="the MLLP source's parse_workers")
    args = parser.parse_args()
    counts = [int(n) for n in args.senders.split(",")]
    print(f"message size {len(oru(0, 0, 'T'))} bytes; {args.messages} messages per sender process")
    configs = sorted({0, args.parse_workers})
    rows: list[tuple[str, Run]] = []
    ratios: list[str] = []
    for senders in counts:
        base, durable = run_baselines(senders, args.messages)
        with open(os.devnull, "w") as devnull:
            setup_logging("INFO", stream=devnull)
            results = {workers: run_agent(args, senders, workers) for workers in configs}
        rows.append((f"{senders} senders: bare asyncio echo (baseline)", base))
        rows.append((f"{senders} senders: echo after fdatasync (floor)", durable))
        ratios.append(f"{senders} senders: echo after fdatasync / bare echo {rate(durable) / rate(base):.2f}")
        for workers, (burst, paced, per_commit, stored) in results.items():
            label = f"parse_workers={workers}" if workers else "parsing in-process"
            rows += [(f"{senders} senders: agent, {label}", burst), ("  same, 1 sender at 200 msg/s", paced)]
            ratios.append(
                f"{senders} senders, {label}: ratio agent / baseline {rate(burst) / rate(base):.2f}"
                f" (/ echo after fdatasync {rate(burst) / rate(durable):.2f}); items stored {stored}; answers"
                f" other than AA {burst.not_aa + paced.not_aa}; messages per commit (one fsync each) {per_commit:.2f}"
            )
    print(
        f"{'run':48} {'msg/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms/msg: agent':>18} {'workers':>8} {'senders':>8}"
    )
    for name, r in rows:
        p50 = statistics.median(r.latencies) * 1000
        print(
            f"{name:48} {rate(r):7.0f} {p50:7.2f} {pct(r.latencies, 0.99):7.2f}"
            f" {r.cpu_ms:18.3f} {r.worker_cpu_ms:8.3f} {r.sender_cpu_ms:8.3f}"
        )
    print("\n".join(ratios))
    print("CPU ms/msg: the agent's process, its parse worker processes, the sender processes (set-up included)")
    cores, describe_ms = os.cpu_count() or 1, describe_cpu_ms()
    print(
        f"describing one message (parse, {OBX_COUNT} validated readings, envelope JSON) takes {describe_ms:.3f} ms"
        f" of CPU: on {cores} cores at most {cores / describe_ms * 1000:.0f} msg/s if nothing else ran"
    )


def rate(run: Run) -> float:
    return run.messages / run.seconds


def run_baselines(senders: int, messages: int) -> tuple[Run, Run]:
    """The bare echo server, then the same answering only after an fdatasync, with `senders` senders."""
    port = free_port()
    stop = echo_server(port)
    base = run_senders(port, senders, messages, run=f"E{senders}")
    stop()
    with tempfile.TemporaryDirectory() as tmp:  # the same file system as the agent's spool below
        port = free_port()
        stop = echo_server(port, durable=Path(tmp))
        durable = run_senders(port, senders, messages, run=f"D{senders}")
        stop()
    return base, durable


def describe_cpu_ms(count: int = 300) -> float:
    """CPU per message of `Intake.describe` alone (what a parse worker does), median of 3 rounds."""
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        spool = Spool(Path(tmp) / "data")
        intake = Intake(spool, Identity("bench", "agent"), max_spool_bytes=10**10, adapters=ALL_ADAPTERS)
        for n in range(3):
            raws = [oru(0, i, f"C{n}") for i in range(count)]
            news = [intake.admit(raw, Origin("m.hl7", "mllp", "mllp://bench")) for raw in raws]
            start = time.process_time()
            for new, raw in zip(news, raws, strict=True):
                assert isinstance(new, NewItem)
                intake.describe(new, raw)
            rounds.append((time.process_time() - start) / count * 1000)
        spool.close()
    return statistics.median(rounds)


if __name__ == "__main__":
    main()
