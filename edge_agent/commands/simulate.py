"""`medflow-edge simulate hl7|astm`: play corpus files as an analyzer would, to test an agent or a LIS.

hl7: every message of each file (comments and blank lines dropped, CR segment ends) is sent
over MLLP on one connection; each ACK's MSA is printed. astm: the records are extracted
from a framed transcript or a record file, re-framed into ≤ 240-character E1381 frames and
played with ENQ/ACK/NAK/EOT over a serial port (`--serial /dev/ttyX`) or TCP (`--to`).
Exit status: 0 when every message was accepted (AA / all frames ACKed); 1 when one was not, or the
peer could not be reached or went away; 2 on usage errors (a bad --to, a file that cannot be read
or holds no message). Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from edge_agent.adapters.astm_records import split_records
from edge_agent.commands import EXIT_FINDING, EXIT_USAGE
from edge_agent.framing.astm_e1381 import STX, AstmSession
from edge_agent.framing.astm_transcript import unframe
from edge_agent.framing.mllp import MllpDecoder, Oversized, encode
from edge_agent.hl7.lines import clean_lines, decode_text, split_messages
from edge_agent.sources.stream import socket_reader

ACK_TIMEOUT = 30.0


def register(subparsers: Any) -> None:
    """Add `simulate hl7` and `simulate astm` to the medflow-edge command line."""
    sim = subparsers.add_parser("simulate", help="send corpus files as an analyzer would (MLLP or ASTM)")
    kinds = sim.add_subparsers(dest="protocol", required=True)
    hl7 = kinds.add_parser("hl7", help="send HL7 v2 messages over MLLP and print the ACKs")
    hl7.add_argument("--to", required=True, metavar="HOST:PORT")
    hl7.add_argument("files", nargs="+", type=Path, metavar="FILE")
    hl7.set_defaults(handler=_hl7_command)
    astm = kinds.add_parser("astm", help="play ASTM records with the E1381 protocol")
    where = astm.add_mutually_exclusive_group(required=True)
    where.add_argument("--serial", metavar="DEVICE")
    where.add_argument("--to", metavar="HOST:PORT")
    astm.add_argument("--baudrate", type=int, default=9600)
    astm.add_argument("files", nargs="+", type=Path, metavar="FILE")
    astm.set_defaults(handler=_astm_command)


class _Refused(Exception):
    """What the operator must fix before anything is sent (exit 2)."""


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise _Refused(f"--to must be HOST:PORT, got {text!r}")
    return host, int(port)


def _read(files: list[Path], protocol: str, split: Callable[[bytes], list[Any]]) -> list[bytes]:
    """Each file's bytes, in order; refuses a file that cannot be read or holds no message."""
    contents: list[bytes] = []
    for path in files:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise _Refused(f"cannot read {path}: {exc.strerror or exc}") from exc
        if not split(raw):
            raise _Refused(f"{path} holds no {protocol} message")
        contents.append(raw)
    return contents


def _answering(play: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """One line and an exit code for what goes wrong, instead of a traceback."""

    def handler(args: argparse.Namespace) -> int:
        try:
            return play(args)
        except _Refused as exc:
            print(f"medflow-edge simulate: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except (OSError, _serial_errors()) as exc:  # refused, unreachable, timed out, reset, port missing
            where = getattr(args, "serial", None) or args.to
            print(f"medflow-edge simulate: {where}: {_reason(exc)}", file=sys.stderr)
            return EXIT_FINDING

    return handler


def _serial_errors() -> type[Exception]:
    """pyserial's error class when it is installed (a serial port that cannot be opened), else OSError."""
    try:
        from serial import SerialException
    except ImportError:
        return OSError
    return SerialException


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {ACK_TIMEOUT:.0f} s"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


@_answering
def _hl7_command(args: argparse.Namespace) -> int:
    host, port = _address(args.to)
    return send_hl7(host, port, _read(args.files, "HL7", hl7_messages), sys.stdout)


@_answering
def _astm_command(args: argparse.Namespace) -> int:
    address = _address(args.to) if args.to else None
    messages = [m for raw in _read(args.files, "ASTM", astm_messages) for m in astm_messages(raw)]
    if address is None:
        import serial

        with serial.Serial(args.serial, args.baudrate, timeout=0.1) as port:
            return play_astm(port.write, lambda: bytes(port.read(port.in_waiting or 1)), messages, sys.stdout)
    with socket.create_connection(address, timeout=10) as conn:
        conn.settimeout(0.1)
        return play_astm(conn.sendall, socket_reader(conn), messages, sys.stdout)


def hl7_messages(raw: bytes) -> list[bytes]:
    """The messages of an HL7 file, each as CR-separated segments ready for MLLP."""
    text, _ = decode_text(raw)
    lines, _ = clean_lines(text)
    groups, _ = split_messages(lines)
    return [("\r".join(line for _, line in group) + "\r").encode("utf-8") for _, group in groups]


def send_hl7(host: str, port: int, files: list[bytes], out: TextIO) -> int:
    failures = 0
    with socket.create_connection((host, port), timeout=ACK_TIMEOUT) as conn:
        decoder = MllpDecoder()
        for raw in files:
            for message in hl7_messages(raw):
                conn.sendall(encode(message))
                answer = _await_ack(conn, decoder)
                msa = next((s for s in answer.split("\r") if s.startswith("MSA")), "MSA|?")
                out.write(msa + "\n")
                failures += 0 if msa[4:6] == "AA" else 1
    return 1 if failures else 0


def _await_ack(conn: socket.socket, decoder: MllpDecoder) -> str:
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionResetError("agent closed the connection before acknowledging")
        for event in decoder.feed(chunk):
            if not isinstance(event, Oversized):
                return event.decode("utf-8", "replace")


def astm_messages(raw: bytes) -> list[list[bytes]]:
    """Records of a transcript or record file, grouped into messages (each H starts one)."""
    data = unframe(raw).text if STX in raw[:4096] else raw
    lines, _ = split_records(data.decode("latin-1"))
    messages: list[list[bytes]] = []
    for line in lines:
        if line.startswith("H") or not messages:
            messages.append([])
        messages[-1].append(line.encode("latin-1"))
    return messages


def play_astm(
    write: Callable[[bytes], Any], read: Callable[[], bytes], messages: list[list[bytes]], out: TextIO
) -> int:
    """Send `messages` as an instrument; print one line per message; 0 when all were acknowledged."""
    results: list[bool] = []

    def sent(ok: bool, detail: str) -> None:
        results.append(ok)
        out.write(f"{'sent' if ok else 'FAILED'}: {detail}\n")

    session = AstmSession(write=write, on_sent=sent, role="instrument")
    for records in messages:
        session.send(records, time.monotonic())
    stop = threading.Event()
    while session.busy and not stop.is_set():
        data = read()
        now = time.monotonic()
        if data:
            session.feed(data, now)
        session.poll(now)
    return 0 if results and all(results) else 1
