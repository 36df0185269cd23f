"""`simulate` command line: registration and file handling (network paths are tested with the sources)."""

from __future__ import annotations

import argparse
from pathlib import Path

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
