"""Parse workers for a busy network source: detection and parsing on other cores, in worker processes.

The agent's process has one GIL. On a lab link the work per message is parsing (HL7 →
readings → envelope JSON, about two thirds of it) plus what only the agent can do: sockets,
hashing, the dedupe look-up, the group commit, the acknowledgement. `ParsePool` sends the first
part to `python -m edge_agent.intake.parse_worker` processes and awaits their answers on the
source's event loop (no extra thread, no per-message hand-off between threads).

Built in `edge_agent.__main__` for the MLLP source with the most `parse_workers` (its `name`)
and given to `Intake`; its workers start with the agent and serve that source's event loop
(`bind`); any other MLLP source parses in the agent's process.

A worker answers its jobs strictly in order, so one that dies (out of memory, killed, a bug
that takes the interpreter down) died on its first unanswered input: that input is quarantined
`internal_error` with the reason, never parsed again inside the agent, and still stored and
acknowledged (AE), so nothing is lost; its other jobs go back to the queue and the worker is
started again. A worker that dies before answering anything is broken, not its input: its jobs
go to the next worker, and after three such deaths in a row parsing falls back to the agent's
process, with an error logged. Jobs wait in order in one queue and go to the least busy
worker; small ones are pipelined (a few per worker, so a worker parses on while its answer
travels), big ones go only to an idle worker, so no pipe between the two ever fills both ways.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from edge_agent.intake.describer import Describer
from edge_agent.intake.parse_worker import HEADER, LOG_LEVEL_ENV, frame
from edge_agent.spool.records import Described, NewItem
from shared_models import QuarantineReason

log = logging.getLogger(__name__)
_READ_SIZE = 1 << 20
WORKER_COMMAND = (sys.executable, "-m", "edge_agent.intake.parse_worker")
# Up to this many small jobs wait in a worker's input pipe (4 x 8 KiB: well under the pipe's 64 KiB).
_PIPELINE_JOBS = 4
_PIPELINE_MAX_BYTES = 8192
_MAX_QUICK_DEATHS = 3  # workers dying this many times in a row before answering anything: stop starting them


@dataclass
class _Job:
    new: NewItem
    raw: bytes
    future: asyncio.Future[Described]


@dataclass
class _Worker:
    proc: subprocess.Popen[bytes]
    buffer: bytearray = field(default_factory=bytearray)
    jobs: deque[_Job] = field(default_factory=deque)  # sent, not yet answered, in order
    completed: int = 0  # jobs answered

    @property
    def out_fd(self) -> int:
        assert self.proc.stdout is not None
        return self.proc.stdout.fileno()


class ParsePool:
    """`workers` parse processes serving one event loop. `start()` and `close()` from any thread while
    that loop is not running; everything else from that loop only."""

    def __init__(
        self, workers: int, describer: Describer, *, name: str, command: Sequence[str] = WORKER_COMMAND
    ) -> None:
        if workers < 1:
            raise ValueError("a parse pool needs at least one worker")
        self.size = workers
        self.describer = describer  # its identity goes to each worker; parses here when no worker can
        self.name = name
        self.command = list(command)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._workers: list[_Worker] = []
        self._queue: deque[_Job] = deque()
        self._quick_deaths = 0
        self._closed = False
        self._background: set[asyncio.Future[None]] = set()  # jobs parsed here once no worker can start
        self.restarts = 0  # workers started again after dying, for status and tests

    @property
    def workers(self) -> list[int]:
        """Process ids of the running workers."""
        return [w.proc.pid for w in self._workers]

    def start(self) -> None:
        """Starts the worker processes (they wait for work; a loop reads their answers once bound)."""
        for _ in range(self.size):
            self._spawn()
        log.info("parse workers started", extra={"source": self.name, "workers": self.size})

    def bind(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Serve `loop` (the first one asking); False when the pool serves another loop already."""
        if self._loop is None:
            self._loop = loop
            for worker in self._workers:
                loop.add_reader(worker.out_fd, self._readable, worker)
        return self._loop is loop

    def unbind(self, loop: asyncio.AbstractEventLoop) -> None:
        """`loop` has ended (its source stopped): the workers serve the next loop that binds. Its jobs not yet
        sent are dropped; those a worker has are kept in order, their answers read and dropped by the next loop
        (the loop's end cancelled every future awaiting them)."""
        if self._loop is not loop:
            return
        for worker in self._workers:
            self._detach(worker)
        self._loop = None
        self._queue = deque(job for job in self._queue if job.future.get_loop() is not loop)

    @property
    def parsed(self) -> int:
        """Jobs the running workers answered (for tests and status)."""
        return sum(worker.completed for worker in self._workers)

    async def describe(self, new: NewItem, raw: bytes) -> Described:
        """What `Intake.describe(new, raw)` returns, computed in a worker."""
        if not self.bind(asyncio.get_running_loop()) or not self._workers:  # parse here, off the loop
            return await asyncio.to_thread(self._here, new, raw)
        assert self._loop is not None
        job = _Job(new, raw, self._loop.create_future())
        self._queue.append(job)
        self._dispatch()
        return await job.future

    def close(self) -> None:
        """Ends the workers (EOF on their input); jobs still waiting are parsed here."""
        self._closed = True
        for worker in self._workers:
            self._detach(worker)
            assert worker.proc.stdin is not None
            worker.proc.stdin.close()
        for worker in self._workers:
            try:
                worker.proc.wait(5)
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                worker.proc.wait()
            for job in worker.jobs:
                if not job.future.done():
                    job.future.set_result(self._here(job.new, job.raw))
        self._workers.clear()
        while self._queue:
            job = self._queue.popleft()
            if not job.future.done():
                job.future.set_result(self._here(job.new, job.raw))

    # --- workers --------------------------------------------------------------------------------

    def _spawn(self) -> None:
        env = {**os.environ, LOG_LEVEL_ENV: logging.getLevelName(logging.getLogger().getEffectiveLevel())}
        proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        worker = _Worker(proc)
        assert proc.stdin is not None
        try:
            proc.stdin.write(frame(self.describer.ident))
            proc.stdin.flush()
        except OSError:
            pass  # it exited already: its output's end of file tells the reader below
        os.set_blocking(worker.out_fd, False)
        if self._loop is not None:
            self._loop.add_reader(worker.out_fd, self._readable, worker)
        self._workers.append(worker)

    def _dispatch(self) -> None:
        while self._queue and self._workers:
            job = self._queue[0]
            worker = min(self._workers, key=lambda w: len(w.jobs))
            busy = len(worker.jobs)
            if busy and (busy >= _PIPELINE_JOBS or len(job.raw) > _PIPELINE_MAX_BYTES):
                return  # every worker is full, or this job waits for an idle one
            self._queue.popleft()
            worker.jobs.append(job)
            assert worker.proc.stdin is not None
            try:
                worker.proc.stdin.write(frame((job.new, job.raw)))
                worker.proc.stdin.flush()
            except OSError:
                self._died(worker)
                return  # _died dispatched again

    def _readable(self, worker: _Worker) -> None:
        try:
            data = os.read(worker.out_fd, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._died(worker)
            return
        worker.buffer += data
        while len(worker.buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(worker.buffer)
            end = HEADER.size + size
            if len(worker.buffer) < end:
                break
            described: Described = pickle.loads(worker.buffer[HEADER.size : end])  # noqa: S301 — our own worker
            del worker.buffer[:end]
            job = worker.jobs.popleft()
            worker.completed += 1
            if not job.future.done():
                job.future.set_result(described)
        self._dispatch()

    def _died(self, worker: _Worker) -> None:
        self._detach(worker)
        self._workers.remove(worker)
        code = worker.proc.poll()
        if code is None:
            worker.proc.kill()
            code = worker.proc.wait()
        culprit = worker.jobs[0] if worker.jobs else None
        log.error(
            "parse worker died",
            extra={"source": self.name, "exit_code": code, "sha256": culprit.new.sha256 if culprit else None},
        )
        if culprit is not None and worker.completed:  # a working worker died on this input: not parsed again
            worker.jobs.popleft()
            detail = f"the parse worker reading this input exited (code {code}); not parsed again"
            refused = (QuarantineReason.INTERNAL_ERROR, detail)
            if not culprit.future.done():
                culprit.future.set_result(self._here(culprit.new, culprit.raw, refused=refused))
        # The others (all of them, when the worker never worked: a broken start) go to the next worker.
        self._queue.extendleft(reversed(worker.jobs))
        worker.jobs.clear()
        if self._closed:
            return
        self._quick_deaths = 0 if worker.completed else self._quick_deaths + 1
        if self._quick_deaths >= _MAX_QUICK_DEATHS:
            if not self._workers:
                log.error("parse workers cannot start; parsing in the agent", extra={"source": self.name})
                while self._queue:  # nobody left to take them
                    task = asyncio.ensure_future(self._parse_here(self._queue.popleft()))
                    self._background.add(task)
                    task.add_done_callback(self._background.discard)
            self._dispatch()  # to the workers still alive, if any
            return
        self.restarts += 1
        self._spawn()
        self._dispatch()

    async def _parse_here(self, job: _Job) -> None:
        described = await asyncio.to_thread(self._here, job.new, job.raw)
        if not job.future.done():
            job.future.set_result(described)

    def _detach(self, worker: _Worker) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(worker.out_fd)

    def _here(self, new: NewItem, raw: bytes, refused: tuple[QuarantineReason, str] | None = None) -> Described:
        return self.describer.describe(new, raw, refused=refused)
