"""Plain camera images (JPEG, PNG, TIFF) -> one image reading with dimensions from the header.

Pillow reads only the header here (`Image.open` is lazy; no pixel decoding). A TIFF lying
beside an XML of the same base name is a printout (the Zeiss HFA writes one per test): its
envelope gets `context.pairs_with` = the base name, the same key the XML's envelope carries.
"""

from __future__ import annotations

import io
from pathlib import PurePosixPath
from typing import ClassVar

from edge_agent.adapters.base import ParseContext, Parsed
from edge_agent.errors import ParseError
from shared_models import Image, QuarantineReason

# Magic bytes -> (format, media type)
MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"\xff\xd8\xff", "JPEG", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "PNG", "image/png"),
    (b"II*\x00", "TIFF", "image/tiff"),
    (b"MM\x00*", "TIFF", "image/tiff"),
)


class PlainImage:
    name: ClassVar[str] = "plain_image"
    version: ClassVar[str] = "1.0"

    def detect(self, raw: bytes, name: str) -> float:
        return 0.8 if any(raw.startswith(magic) for magic, _, _ in MAGIC) else 0.0

    def parse(self, raw: bytes, ctx: ParseContext) -> list[Parsed]:
        from PIL import Image as PILImage  # heavy: imported on first use only
        from PIL import UnidentifiedImageError

        fmt, media_type = next(((f, m) for magic, f, m in MAGIC if raw.startswith(magic)), ("", ""))
        try:
            with PILImage.open(io.BytesIO(raw)) as img:
                width, height = img.size
                frames = int(getattr(img, "n_frames", 1))
                mode = img.mode
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise ParseError(QuarantineReason.MALFORMED, f"{fmt} header unreadable: {exc}") from exc
        context: dict[str, str] = {}
        stem = PurePosixPath(ctx.name).stem
        if fmt == "TIFF" and any(PurePosixPath(s).stem == stem and s.lower().endswith(".xml") for s in ctx.siblings):
            context = {"pairs_with": stem, "role": "printout"}
        return [
            Parsed(
                readings=[
                    Image(modality="photo", media_type=media_type, width=width, height=height, frames=frames, mode=mode)
                ],
                media_type=media_type,
                context=context,
            )
        ]
