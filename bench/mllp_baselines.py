"""The baselines `bench/mllp.py` prints beside the agent: a bare asyncio MLLP echo server, and the same
answering only after an fdatasync (the floor for any server that ACKs after a durable write)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from edge_agent.framing.mllp import MllpDecoder, encode


def echo_server(port: int, durable: Path | None = None) -> Callable[[], None]:
    """A bare asyncio MLLP server answering every frame with a canned ACK.

    `durable`: the same server, but a frame is answered only once it is appended to a
    preallocated file there and fdatasynced (group commit: one fdatasync, in a thread, for the
    frames that arrived while the previous one ran). No parsing, no database: the fastest way
    to ACK after a durable write in CPython here, so the ceiling for any such server, the agent
    included, on this machine.
    """
    ack = encode(b"MSH|^~\\&|LIS|CLINIC|XN-550|LAB|20240101||ACK^R01^ACK|1|P|2.5.1\rMSA|AA|1\r")
    loop = asyncio.new_event_loop()
    commit = _Appender(durable / "frames.bin", loop) if durable is not None else None

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = MllpDecoder()
        while chunk := await reader.read(65536):
            for frame in decoder.feed(chunk):
                if commit is not None:
                    await commit.append(frame)
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
        if commit is not None:
            commit.close()

    return stop


class _Appender:
    """Group-committed appends to one preallocated file: each `append` returns once fdatasynced."""

    def __init__(self, path: Path, loop: asyncio.AbstractEventLoop) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.posix_fallocate(self._fd, 0, 256 << 20)  # the file's size never changes: fdatasync writes data only
        os.fsync(self._fd)
        self._loop, self._offset = loop, 0
        self._waiting: list[tuple[bytes, asyncio.Future[None]]] = []
        self._busy = False
        self._thread = ThreadPoolExecutor(1)

    def append(self, frame: bytes) -> asyncio.Future[None]:
        future = self._loop.create_future()
        if not self._waiting and not self._busy:
            self._loop.call_soon(self._write)
        self._waiting.append((frame, future))
        return future

    def _write(self) -> None:
        if self._busy or not self._waiting:
            return
        batch, self._waiting = self._waiting, []
        data = b"".join(frame for frame, _ in batch)
        offset, self._offset = self._offset, (self._offset + len(data)) % (255 << 20)
        self._busy = True

        def durable(done: asyncio.Future[None]) -> None:
            self._busy = False
            for _, future in batch:
                future.set_result(done.result())
            self._write()

        self._loop.run_in_executor(self._thread, self._sync, data, offset).add_done_callback(durable)

    def _sync(self, data: bytes, offset: int) -> None:
        os.pwrite(self._fd, data, offset)
        os.fdatasync(self._fd)

    def close(self) -> None:
        self._thread.shutdown()
        os.close(self._fd)
