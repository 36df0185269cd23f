"""Real image bytes for the scan tests, made with Pillow (never fixtures on disk)."""

from __future__ import annotations

import io

from PIL import Image


def photo(size: tuple[int, int] = (640, 480), fmt: str = "JPEG", orientation: int | None = None) -> bytes:
    """A picture with distinct quadrants (so orientation mistakes show), optionally with an EXIF orientation."""
    image = Image.new("RGB", size, (200, 30, 30))
    width, height = size
    image.paste((30, 200, 30), (width // 2, 0, width, height // 2))
    image.paste((30, 30, 200), (0, height // 2, width // 2, height))
    out = io.BytesIO()
    kwargs: dict[str, object] = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        exif[0x010F] = "PhoneMaker"  # Make: must not survive into the thumbnail
        kwargs["exif"] = exif
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def huge_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A tiny file that claims a huge canvas (a decompression bomb): a 1-bit PNG compresses to almost nothing."""
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, "PNG", optimize=True)
    return out.getvalue()
