"""Tomey TOP-1000 / Rodenstock TopaScope: the reviewer's numbers, placeholders omitted."""

from __future__ import annotations

from datetime import UTC, datetime

from edge_agent.adapters.base import ParseContext
from edge_agent.adapters.tomey import TomeyTopascope

CTX = ParseContext(name="t.xml", now=datetime(2026, 1, 1, tzinfo=UTC))
XML = b"""<Measurement iop_unit="mmHg" cct_unit="um"><Company>Rodenstock</Company><Model>TopaScope</Model>
<PatientID>00000033</PatientID><DateTime>2020-12-04_17-24-30</DateTime>
<Eye type="OD"><IOP quality="Normal">16</IOP><IOP quality="Low">24</IOP><IOP quality="Normal">15</IOP>
<IOPAvg>15.6</IOPAvg><CCT>--.-</CCT><CIOP>--.-</CIOP></Eye>
<Eye type="OS"><IOP quality="Normal">18</IOP><IOP quality="Normal">19</IOP><IOP quality="Normal">18</IOP>
<IOPAvg>18.3</IOPAvg><CCT>540</CCT><CIOP>18.9</CIOP></Eye></Measurement>"""


def test_single_shots_and_average_per_eye() -> None:
    (item,) = TomeyTopascope().parse(XML, CTX)
    od = [r for r in item.readings if r.kind == "tonometry" and r.eye == "OD"]
    assert [(r.iop_mmhg, r.representative, r.quality) for r in od] == [
        (16, False, "Normal"),
        (24, False, "Low"),
        (15, False, "Normal"),
        (15.6, True, None),
    ]
    assert od[-1].corrected_iop_mmhg is None  # "--.-" omitted, never 0
    os_avg = [r for r in item.readings if r.kind == "tonometry" and r.eye == "OS" and r.representative]
    assert [(r.iop_mmhg, r.corrected_iop_mmhg) for r in os_avg] == [(18.3, 18.9)]
    assert [r.cct_um for r in item.readings if r.kind == "pachymetry"] == [540]
    assert item.patient.id == "00000033" and item.patient.id_source == "vendor_xml"
    assert item.captured_at == datetime(2020, 12, 4, 17, 24, 30)
    assert (item.device.vendor, item.device.model, item.device.kind) == ("Rodenstock", "TopaScope", "tonometer")


def test_detects_only_its_root() -> None:
    assert TomeyTopascope().detect(XML, "x") > 0
    assert TomeyTopascope().detect(b"<Ophthalmology/>", "x") == 0
