"""Test helpers for the edge agent: a tiny test adapter, a recording S3 writer, upload draining."""

from __future__ import annotations

from typing import Any, ClassVar

from edge_agent.adapters.base import ParseContext, Parsed
from edge_agent.config import CloudSection
from edge_agent.errors import ParseError
from edge_agent.identity import Identity
from edge_agent.spool.uploader import ObjectWriter, Uploader
from shared_models import PatientRef, QuarantineReason, Tonometry

BUCKET = "medflow-ingest-test"


class LineAdapter:
    """Reads `TESTDEV` files: one `pid=<id> od=<iop> os=<iop>` line per envelope; `BROKEN` is malformed."""

    name: ClassVar[str] = "test_lines"
    version: ClassVar[str] = "1.0"

    def detect(self, raw: bytes, name: str) -> float:
        return 0.9 if raw.startswith(b"TESTDEV") else 0.0

    def parse(self, raw: bytes, ctx: ParseContext) -> list[Parsed]:
        lines = raw.decode().splitlines()[1:]
        if any("BROKEN" in line for line in lines):
            raise ParseError(QuarantineReason.MALFORMED, "BROKEN marker found")
        items = []
        for line in lines:
            fields = dict(part.split("=", 1) for part in line.split())
            readings = [
                Tonometry(eye=eye.upper(), iop_mmhg=float(fields[eye])) for eye in ("od", "os") if eye in fields
            ]  # type: ignore[arg-type]
            items.append(
                Parsed(
                    patient=PatientRef(id=fields.get("pid"), id_source="vendor_xml" if "pid" in fields else None),
                    readings=readings,
                )
            )
        return items


def device_file(*lines: str) -> bytes:
    return ("TESTDEV\n" + "\n".join(lines) + "\n").encode()


IDENT = Identity(clinic_id="clinic1", agent_id="agent1")


class RecordingWriter(ObjectWriter):
    """The real writer, remembering the order of keys put (to check raw before envelope)."""

    def __init__(self, client: Any, cloud: CloudSection) -> None:
        super().__init__(client, cloud)
        self.keys: list[str] = []

    def put(self, key: str, body: bytes, content_type: str, sha256_hex: str | None = None) -> None:
        super().put(key, body, content_type, sha256_hex)
        self.keys.append(key)


def keys(s3: Any, prefix: str = "") -> list[str]:
    resp = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in resp.get("Contents", []))


def drain(uploader: Uploader, passes: int = 20) -> None:
    """Runs upload passes until nothing is due (tests drive the uploader without its thread)."""
    for _ in range(passes):
        _, backing_off = uploader.run_once()
        if backing_off:
            raise AssertionError("uploader is backing off: " + str(uploader.spool.ledger.meta.read().get("last_error")))
        if not uploader.spool.ledger.outbox.due(float("inf")):
            return
    raise AssertionError("spool did not drain")
