"""NIDEK RS-232: control characters present or absent, shots vs representative, placeholders."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edge_agent.adapters.base import ParseContext
from edge_agent.adapters.nidek_rs232 import NidekRs232, _lines
from edge_agent.errors import ParseError

CTX = ParseContext(name="ark.txt", now=datetime(2026, 1, 1, tzinfo=UTC))
WITH_CTRL = (
    b"\x01DRM\x02IDNIDEK/ARK-1a\x17\rNO0225\x17\rDA27/MAR/2017.07:40\x17\rVD12.00\x17\r"
    b"OL-05.00-00.75075\x17\rOL-05.00-00.750808 \x17\rCR+00.00+00.00000\x17\rPD68????63\x17\r"
    b"\x01DKM\x02 L07.7607.7014007.73\x17\rDL43.5043.7514043.75-00.25\x17\r\x04A40F"
)


def test_control_characters_and_glued_block_codes_split_the_same() -> None:
    assert _lines("\x01DRM\x02IDNIDEK/ARK-1a\x17\r")[:2] == ["DRM", "IDNIDEK/ARK-1a"]
    assert _lines("DRMIDNIDEK/TONOREF3\n")[:2] == ["DRM", "IDNIDEK/TONOREF3"]
    assert _lines("DKM L07.7607.7014007.73\n") == ["DKM", " L07.7607.7014007.73"]


def test_representative_shot_placeholder_pd_and_k() -> None:
    (item,) = NidekRs232().parse(WITH_CTRL, CTX)
    refr = [r for r in item.readings if r.kind == "refraction"]
    assert [(r.eye, r.sphere, r.axis, r.representative, r.confidence) for r in refr] == [
        ("OS", -5.0, 75, True, None),
        ("OS", -5.0, 80, False, 8),
    ]  # CR+00.00+00.00000 (unmeasured right eye) is omitted
    (pd,) = [r for r in item.readings if r.kind == "pd"]
    assert (pd.far_mm, pd.near_mm) == (68, 63)  # "????" omitted
    (k,) = [r for r in item.readings if r.kind == "keratometry"]
    assert (k.r1_mm, k.r2_mm, k.r1_axis, k.r1_d, k.cyl_d, k.representative) == (7.76, 7.70, 140, 43.5, -0.25, True)
    assert item.captured_at == datetime(2017, 3, 27, 7, 40)
    assert item.device.model == "ARK-1a" and item.context["measurement_no"] == "0225"


def test_tonometry_and_pachymetry_blocks() -> None:
    raw = b"DRM\nIDNIDEK/TONOREF3\nDNT\n L01    17/2.3  AV17.0/2.30\nDPM\n R01 0586  AV0586\n"
    (item,) = NidekRs232().parse(raw, CTX)
    got = [(r.kind, r.eye, r.representative) for r in item.readings]
    assert got == [
        ("tonometry", "OS", False),
        ("tonometry", "OS", True),
        ("pachymetry", "OD", False),
        ("pachymetry", "OD", True),
    ]
    assert item.device.model == "TONOREF III"


def test_stream_without_values_is_no_readings() -> None:
    with pytest.raises(ParseError) as err:
        NidekRs232().parse(b"DRM\nIDNIDEK/ARK-1a\nCR+00.00+00.00000\n", CTX)
    assert err.value.reason.value == "no_readings"
