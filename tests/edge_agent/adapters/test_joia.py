"""JOIA reader: tolerant XML quirks, per-vendor names, error entries, encodings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edge_agent.adapters import _tolerant_xml as txml
from edge_agent.adapters.base import ParseContext
from edge_agent.adapters.joia import JoiaXml
from edge_agent.errors import ParseError

CTX = ParseContext(name="j.xml", now=datetime(2026, 1, 1, tzinfo=UTC))
LM = """<?xml version="1.0" encoding="UTF-16"?>
<?xml-stylesheet type="text/xsl" href="x.xsl" ?
<Ophthalmology><Common><Company>NIDEK</Company><ModelName>LM-1800PD</ModelName><Date>2011-03-04</Date>
<Time>08:08:03</Time><Patient><No.>0001</No.><ID>pati</ID></Patient></Common>
<Measure Type="LM"><LM><S><Error>MEASUREMENT ERROR</Error></S>
<R><Sphere unit="D">-2.00</Sphere><Cylinder unit="D">-1.50</Cylinder><Axis unit="deg">143</Axis>
<PrismX unit="pri" base="in">0.50</PrismX><GreenTransmittance unit="%"></GreenTransmittance unit="%"></R></LM>
<PD><Distance unit="mm">70.5 mm</Distance></PD></Measure></Ophthalmology>"""


def test_tolerant_reader_handles_vendor_breakage() -> None:
    doc = txml.parse("<a><nsX:No.>7</nsX:No.><b>x<\\b><c u='1'>2</c u='1'></a>")
    assert doc is not None and doc.closed
    assert doc.root.get("No.") == "7" and doc.root.get("b") == "x" and doc.root.get("c") == "2"
    assert txml.sniff_root('<?xml version="1.0"?>\n<?pi broken\n<nsREF:Measure type="REF">') == ("Measure", "nsREF")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-16-le"])
def test_lensmeter_in_any_encoding(encoding: str) -> None:
    raw = LM.encode(encoding)
    assert JoiaXml().detect(raw, "j.xml") > 0
    (item,) = JoiaXml().parse(raw, CTX)
    (rx, pd) = item.readings
    assert (rx.eye, rx.method, rx.sphere, rx.cylinder, rx.axis, rx.prism_h, rx.prism_base_h) == (
        "OD",
        "lensmeter",
        -2.0,
        -1.5,
        143,
        0.5,
        "in",
    )
    assert pd.far_mm == 70.5  # unit inside the text
    assert item.patient.id == "pati" and item.context["device_patient_no"] == "0001"
    assert any("MEASUREMENT ERROR" in w for w in item.warnings)


def test_covr_error_entry_skipped_with_warning() -> None:
    raw = b"""<Data><Company>NIDEK</Company><ModelName>ARK-1s</ModelName><R><AR>
    <ARList No="1"><Sphere>-6.38</Sphere><Cylinder>-0.63</Cylinder><Axis>179</Axis></ARList>
    <ARList No="2"><Error>COVR </Error></ARList></AR></R></Data>"""
    (item,) = JoiaXml().parse(raw, CTX)
    assert len(item.readings) == 1
    assert any("COVR" in w for w in item.warnings)


def test_truncated_document_is_malformed() -> None:
    with pytest.raises(ParseError) as err:
        JoiaXml().parse(LM.encode()[: len(LM) // 2], CTX)
    assert err.value.reason.value == "malformed"
