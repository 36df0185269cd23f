"""`simulate` command line: registration and file handling (network paths are tested with the sources)."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import pytest

from edge_agent.__main__ import main
from edge_agent.commands.simulate import astm_messages, hl7_messages, register


def test_register_adds_hl7_and_astm_subcommands() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["simulate", "astm", "--serial", "/dev/ttyUSB0", "a.txt"])
    assert args.protocol == "astm" and args.serial == "/dev/ttyUSB0" and args.files == [Path("a.txt")]
    args = parser.parse_args(["simulate", "hl7", "--to", "127.0.0.1:2575", "x.hl7", "y.hl7"])
    assert args.to == "127.0.0.1:2575" and len(args.files) == 2


def test_hl7_file_with_comments_yields_cr_separated_messages(corpus_dir: Path) -> None:
    messages = hl7_messages((corpus_dir / "hl7" / "hapifhir__hapi-hl7v2__messages.txt").read_bytes())
    assert len(messages) == 18
    assert all(m.startswith(b"MSH") and b"\n" not in m and m.endswith(b"\r") for m in messages)


def test_astm_records_come_out_of_frames_for_re_framing(corpus_dir: Path) -> None:
    (records,) = astm_messages((corpus_dir / "astm" / "senaite__senaite.astm__yumizen_h500.txt").read_bytes())
    assert records[0].startswith(b"H|\\^&") and records[-1] == b"L|1|N" and len(records) == 31
    assert max(len(r) for r in records) > 240  # M records of ~26 KB: the simulator must split them


def _refused_port() -> int:
    with socket.socket() as s:  # bound, never listening: connecting to it is refused
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("argv", "code", "line"),
    [
        (["hl7", "--to", "127.0.0.1:{port}", "{missing}"], 2, "cannot read {missing}: No such file or directory"),
        (["hl7", "--to", "127.0.0.1", "{hl7}"], 2, "--to must be HOST:PORT, got '127.0.0.1'"),
        (["hl7", "--to", "127.0.0.1:{port}", "{no_hl7}"], 2, "{no_hl7} holds no HL7 message"),
        (["astm", "--to", "127.0.0.1:{port}", "{no_astm}"], 2, "{no_astm} holds no ASTM message"),
        (["hl7", "--to", "127.0.0.1:{port}", "{hl7}"], 1, "127.0.0.1:{port}: Connection refused"),
        (["astm", "--to", "127.0.0.1:{port}", "{astm}"], 1, "127.0.0.1:{port}: Connection refused"),
    ],
)
def test_operator_errors_are_one_line_and_an_exit_code(
    corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, line: str
) -> None:
    names = {
        "port": str(_refused_port()),
        "missing": str(tmp_path / "missing.hl7"),
        "hl7": str(corpus_dir / "hl7" / "hapifhir__hapi-hl7v2__messages.txt"),
        "no_hl7": str(corpus_dir / "hl7" / "hapifhir__hapi-hl7v2__uuencoded_escaped.txt"),
        "astm": str(corpus_dir / "astm" / "senaite__senaite.astm__yumizen_h500.txt"),
        "no_astm": str(corpus_dir / "astm" / "senaite__senaite.astm__mini_vidas.txt"),
    }
    assert main(["simulate", *(a.format(**names) for a in argv)]) == code
    assert capsys.readouterr().err == f"medflow-edge simulate: {line.format(**names)}\n"
