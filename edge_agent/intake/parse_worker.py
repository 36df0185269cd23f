"""A parse worker: `python -m edge_agent.intake.parse_worker`, started and fed by `edge_agent.intake.parse_pool`.

It detects, parses and builds the envelopes (or quarantine record) of one input at a time, on
its own core: parsing is CPU-bound Python, and the agent's process keeps its one GIL for
sockets, hashing, commits and acknowledgements. It holds no state and writes nothing: the
agent commits what it sends back, so a worker that dies loses nothing. This is the worker
process's entry point, so its objects (the describer over every registered adapter) are built here.

Protocol on stdin/stdout, each frame a 4-byte big-endian length and a pickle (both ends are
this package; nothing else writes to these pipes):
- in, first: the agent's `Identity`; then one job per frame: `(NewItem, raw bytes)`;
- out: one `Described` per job, in order. EOF on stdin ends the worker.
Logs (JSON, as the agent's) go to stderr, which the agent's own stderr receives.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import sys
from typing import BinaryIO

from edge_agent.adapters import ALL_ADAPTERS
from edge_agent.identity import Identity
from edge_agent.intake.describer import Describer
from edge_agent.ops.logs import setup_logging

HEADER = struct.Struct(">I")
LOG_LEVEL_ENV = "MEDFLOW_PARSE_WORKER_LOG_LEVEL"


def read_frame(stream: BinaryIO) -> bytes | None:
    """One frame's payload, or None at a clean end of input."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    body = stream.read(size)
    if len(body) < size:
        return None
    return body


def frame(obj: object) -> bytes:
    body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(body)) + body


def serve(inp: BinaryIO, out: BinaryIO) -> None:
    first = read_frame(inp)
    if first is None:
        return
    ident: Identity = pickle.loads(first)  # noqa: S301 — our own parent process, over our own pipe
    describer = Describer(ident, ALL_ADAPTERS)
    while (body := read_frame(inp)) is not None:
        new, raw = pickle.loads(body)  # noqa: S301 — as above
        described = describer.describe(new, raw)  # never raises
        out.write(frame(described))
        out.flush()


def main() -> None:
    setup_logging(os.environ.get(LOG_LEVEL_ENV, "INFO"))
    try:
        serve(sys.stdin.buffer, sys.stdout.buffer)
    except (BrokenPipeError, KeyboardInterrupt):
        pass  # the agent went away or is stopping: nothing of ours to save
    logging.shutdown()


if __name__ == "__main__":
    main()
