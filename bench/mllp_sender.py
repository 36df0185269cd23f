"""MLLP bench sender: one analyzer's connection, in a process of its own (bench/mllp.py starts several).

Real analyzers are other machines: running each sender in its own process keeps its CPU and
its GIL out of the agent process, whose own CPU the bench then measures alone.

Protocol with the parent: connect, print "ready", wait for a line on stdin ("go"), send
`--count` messages one at a time (each waits for its ACK, as analyzers do; `--pace` seconds
apart when given), then print one JSON line: start/end (time.perf_counter, which is the
system-wide monotonic clock on Linux, so comparable across processes), latencies in seconds,
and how many answers were not AA. Standard library only, so it starts fast and costs little.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time

VT, END = b"\x0b", b"\x1c\r"
OBX_COUNT = 16
OBX = "OBX|{n}|NM|{code}^{code} result^L||{value}|10*3/uL|4.0-10.0|N|||F|||20240101120000\r"


def oru(sender: int, i: int, run: str = "") -> bytes:
    """A ~1.3 KB ORU^R01 with 16 OBX; MSH-10 (and so the bytes) unique per run, sender and index."""
    head = f"MSH|^~\\&|XN-550|LAB|LIS|CLINIC|20240101120000||ORU^R01|{run}S{sender}M{i:07d}|P|2.5.1\r"
    body = f"PID|1||P{i:05d}||DOE^JANE||19800101|F\rOBR|1|ORD{i}|ACC{i}|CBC^Blood count^L\r"
    obx = "".join(OBX.format(n=n, code=f"T{n:02d}", value=f"{n}.{i % 10}") for n in range(1, OBX_COUNT + 1))
    return (head + body + obx).encode()


def send(conn: socket.socket, frames: list[bytes], pace: float) -> tuple[float, float, list[float], int]:
    latencies: list[float] = []
    not_aa = 0
    start = next_at = time.perf_counter()
    for frame in frames:
        if pace:
            next_at += pace
            time.sleep(max(0.0, next_at - time.perf_counter()))
        sent = time.perf_counter()
        conn.sendall(frame)
        answer = b""
        while not answer.endswith(END):
            chunk = conn.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            answer += chunk
        latencies.append(time.perf_counter() - sent)
        not_aa += b"MSA|AA|" not in answer
    return start, time.perf_counter(), latencies, not_aa


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sender", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--pace", type=float, default=0.0, help="seconds between sends (0: as fast as ACKs come)")
    parser.add_argument("--run", default="", help="prefix of MSH-10, so separate runs never send the same bytes")
    args = parser.parse_args()
    frames = [VT + oru(args.sender, i, args.run) + END for i in range(args.count)]  # built before the clock starts
    with socket.create_connection(("127.0.0.1", args.port)) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        print("ready", flush=True)
        sys.stdin.readline()
        start, end, latencies, not_aa = send(conn, frames, args.pace)
    print(json.dumps({"start": start, "end": end, "latencies": latencies, "not_aa": not_aa}), flush=True)


if __name__ == "__main__":
    main()
