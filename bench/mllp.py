"""MLLP benchmark: ACK-after-durable-commit throughput and latency, beside a bare asyncio MLLP echo server.

Run: .venv/bin/python bench/mllp.py [--senders 4] [--messages 500]
Each sender is a thread with its own connection that sends a ~1.5 KB ORU^R01 (unique MSH-10)
and waits for the ACK before the next, as analyzers do. The agent side is the real
MllpSource + Intake + SQLite spool (group commit: one fsync per batch of concurrent messages)
+ HL7 adapter; the baseline answers every frame at once with a canned ACK. Then one sender
paced at 200 msg/s measures ACK latency percentiles. Also printed: messages per commit, and
process CPU per message (senders included), which bounds what one Python process can do.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from edge_agent.adapters.hl7 import Hl7Adapter
from edge_agent.config import MllpSourceConfig
from edge_agent.framing.mllp import MllpDecoder, encode
from edge_agent.pipeline import Identity, Intake
from edge_agent.sources.mllp import MllpSource
from edge_agent.spool import Spool

OBX = "OBX|{n}|NM|{code}^{code} result^L||{value}|10*3/uL|4.0-10.0|N|||F|||20240101120000\r"


def oru(sender: int, i: int) -> bytes:
    head = f"MSH|^~\\&|XN-550|LAB|LIS|CLINIC|20240101120000||ORU^R01|S{sender}M{i:07d}|P|2.5.1\r"
    body = f"PID|1||P{i:05d}||DOE^JANE||19800101|F\rOBR|1|ORD{i}|ACC{i}|CBC^Blood count^L\r"
    obx = "".join(OBX.format(n=n, code=f"T{n:02d}", value=f"{n}.{i % 10}") for n in range(1, 17))
    return (head + body + obx).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def client(port: int, sender: int, count: int, pace: float, latencies: list[float]) -> None:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        decoder = MllpDecoder()
        next_at = time.perf_counter()
        for i in range(count):
            if pace:
                next_at += pace
                time.sleep(max(0.0, next_at - time.perf_counter()))
            start = time.perf_counter()
            conn.sendall(encode(oru(sender, i)))
            while not decoder.feed(conn.recv(65536)):
                pass
            latencies.append(time.perf_counter() - start)


def run_clients(port: int, senders: int, count: int, pace: float = 0.0) -> tuple[float, list[float]]:
    latencies: list[float] = []
    threads = [threading.Thread(target=client, args=(port, s, count, pace, latencies)) for s in range(senders)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, latencies


def echo_server(port: int) -> Callable[[], None]:
    ack = encode(b"MSH|^~\\&|LIS|CLINIC|XN-550|LAB|20240101||ACK^R01^ACK|1|P|2.5.1\rMSA|AA|1\r")
    loop = asyncio.new_event_loop()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = MllpDecoder()
        while chunk := await reader.read(65536):
            for _ in decoder.feed(chunk):
                writer.write(ack)
            await writer.drain()
        writer.close()

    server = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", port))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def stop() -> None:
        async def shutdown() -> None:
            server.close()
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        thread.join(5)

    return stop


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--messages", type=int, default=500, help="per sender")
    parser.add_argument("--rate-seconds", type=float, default=5.0, help="duration of the 200 msg/s latency run")
    args = parser.parse_args()
    total = args.senders * args.messages
    print(f"message size {len(oru(0, 0))} bytes; {args.senders} senders x {args.messages} messages")

    port = free_port()
    stop_echo = echo_server(port)
    base_s, base_lat = run_clients(port, args.senders, args.messages)
    stop_echo()

    with tempfile.TemporaryDirectory() as tmp:
        spool = Spool(Path(tmp) / "data")
        intake = Intake(spool, Identity("bench", "agent"), max_spool_bytes=10**10, adapters=[Hl7Adapter()])
        source = MllpSource(MllpSourceConfig(name="bench", port=free_port()), intake)
        source.start()
        cpu0 = cpu_seconds()
        agent_s, agent_lat = run_clients(source.port or 0, args.senders, args.messages)
        cpu_ms = (cpu_seconds() - cpu0) / total * 1000
        per_commit = intake.commits.entries / max(1, intake.commits.batches)
        n = int(200 * args.rate_seconds)
        _, paced = run_clients(source.port or 0, 1, n, pace=1 / 200)
        source.stop()
        stored = sum(spool.ledger.counts().values())
        spool.close()

    rows = [
        ("bare asyncio echo (baseline)", total / base_s, statistics.median(base_lat) * 1000, pct(base_lat, 0.99)),
        ("agent: ACK after durable commit", total / agent_s, statistics.median(agent_lat) * 1000, pct(agent_lat, 0.99)),
        ("agent at 200 msg/s, 1 sender", n / (n / 200), statistics.median(paced) * 1000, pct(paced, 0.99)),
    ]
    print(f"{'run':36} {'msg/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for name, rate, p50, p99 in rows:
        print(f"{name:36} {rate:9.0f} {p50:8.2f} {p99:8.2f}")
    print(f"ratio agent / baseline: {rows[1][1] / rows[0][1]:.2f}   items stored: {stored}")
    print(f"messages per commit (one fsync each): {per_commit:.2f}   process CPU per message: {cpu_ms:.2f} ms")


if __name__ == "__main__":
    main()
