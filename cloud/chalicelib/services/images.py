"""Image checks and thumbnails, pure (bytes in, bytes or a verdict out): what a scan upload really is (magic
bytes, a Pillow decode under a decompression-bomb limit) and the 300x300 WebP preview the thumbnails
Lambda writes for scan photos and device images (DICOM: first frame, windowed).

Pillow, numpy and pydicom are imported when first used, so the API's cold start does not pay for them.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from dataclasses import dataclass
from typing import Any

# content type → (extension, what the magic bytes must say)
CONTENT_TYPES: dict[str, tuple[str, str]] = {
    "image/jpeg": ("jpg", "jpeg"),
    "image/png": ("png", "png"),
    "image/webp": ("webp", "webp"),
    "image/heic": ("heic", "heif"),
    "image/heif": ("heif", "heif"),
}
EXTENSIONS = {ext: kind for ext, kind in CONTENT_TYPES.values()}
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
# A phone photo is 12-50 MP; above this many pixels a decode is refused (a small file can claim a huge
# canvas: the decompression bomb). Pillow warns above the limit and refuses above twice it: both refuse here.
MAX_IMAGE_PIXELS = 64_000_000
THUMBNAIL_SIZE = (300, 300)
THUMBNAIL_QUALITY = 80
# What a vision model needs: Claude scales any image whose long side exceeds 1568 px down to it anyway (and
# bills the tokens of what it keeps), so larger pixels only cost upload time.
MODEL_LONG_SIDE = 1568
MODEL_QUALITY = 85
# What a decoder raises on bad bytes (Pillow: OSError incl. UnidentifiedImageError, SyntaxError, ValueError ...;
# pydicom: InvalidDicomError is a ValueError-free Exception, added where DICOM is read).
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError, SyntaxError, ValueError, TypeError, EOFError, IndexError, KeyError, AttributeError, RuntimeError,
    NotImplementedError, struct.error, MemoryError,
)  # fmt: skip
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"heif"}


class ImageRejected(Exception):
    """The bytes are not an acceptable image; `code` is machine-readable, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class ImageInfo:
    kind: str  # jpeg, png, webp, heif
    width: int
    height: int


def sniff(data: bytes) -> str | None:
    """The image kind the bytes announce (never the client's word), or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "heif"
    if len(data) > 132 and data[128:132] == b"DICM":
        return "dicom"
    return None


def _pillow() -> Any:
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    return Image


def _open(data: bytes) -> Any:
    """Opens with Pillow, refusing bombs (the warning band too) and anything Pillow cannot identify."""
    image_module = _pillow()
    with warnings.catch_warnings():
        warnings.simplefilter("error", image_module.DecompressionBombWarning)
        try:
            return image_module.open(io.BytesIO(data))
        except (image_module.DecompressionBombError, image_module.DecompressionBombWarning):
            raise ImageRejected(
                "image_too_large", f"the image has more than {MAX_IMAGE_PIXELS} pixels (decompression-bomb limit)"
            ) from None
        except _DECODE_ERRORS as exc:
            raise ImageRejected("undecodable_image", f"the image cannot be decoded ({type(exc).__name__})") from None


def inspect(data: bytes, expected_kind: str) -> ImageInfo:
    """Checks that `data` is a complete image of `expected_kind`: magic bytes first, then a full decode
    (JPEG at 1/8 scale via draft(): every byte is still read, so truncation shows). Raises ImageRejected."""
    if not data:
        raise ImageRejected("empty_upload", "the uploaded object is empty (0 bytes)")
    kind = sniff(data)
    if kind is None:
        raise ImageRejected("not_an_image", "the uploaded bytes are not a JPEG, PNG, HEIC/HEIF or WebP image")
    if kind != expected_kind:
        raise ImageRejected("type_mismatch", f"the uploaded bytes are a {kind} image, not {expected_kind}")
    if kind == "heif" and not _heif_decoder():
        raise ImageRejected(
            "heic_unsupported", "HEIC/HEIF images cannot be decoded here (no HEIF decoder installed); upload a JPEG"
        )
    image = _open(data)
    width, height = image.size
    _load(image)
    return ImageInfo(kind=kind, width=width, height=height)


def _heif_decoder() -> bool:
    try:
        import pillow_heif  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


def _load(image: Any) -> None:
    image_module = _pillow()
    if image.format == "JPEG":
        image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", image_module.DecompressionBombWarning)
            image.load()
    except _DECODE_ERRORS as exc:
        raise ImageRejected("undecodable_image", f"the image cannot be decoded ({exc})") from None


def thumbnail(data: bytes) -> tuple[bytes, tuple[int, int]]:
    """A WebP fitting inside 300x300 (never enlarged), EXIF orientation applied, no metadata kept.

    Speed: a JPEG is decoded at the smallest DCT scale still ≥ the target (`draft`), then reduced
    with `reducing_gap` (a cheap box reduction before the final resampling). Raises ImageRejected."""
    if sniff(data) == "dicom":
        return _encode(dicom_preview(data))
    image_module = _pillow()
    from PIL import ImageOps

    image = _open(data)
    try:
        if image.format == "JPEG":
            # draft() keeps the aspect ratio and never goes below the requested size; EXIF rotation
            # swaps width and height, so ask for the target in both orientations.
            side = max(THUMBNAIL_SIZE)
            image.draft("RGB", (side, side))
        with warnings.catch_warnings():
            warnings.simplefilter("error", image_module.DecompressionBombWarning)
            image = ImageOps.exif_transpose(image)
            image.thumbnail(THUMBNAIL_SIZE, image_module.Resampling.LANCZOS, reducing_gap=2.0)
    except _DECODE_ERRORS as exc:
        raise ImageRejected("undecodable_image", f"the image cannot be decoded ({exc})") from None
    return _encode(image)


def for_model(data: bytes) -> tuple[bytes, tuple[int, int]]:
    """A JPEG for a vision model: long side at most 1568 px (never enlarged), EXIF orientation applied, RGB,
    no metadata. Raises ImageRejected."""
    image_module = _pillow()
    from PIL import ImageOps

    image = _open(data)
    box = (MODEL_LONG_SIDE, MODEL_LONG_SIDE)
    try:
        if image.format == "JPEG":
            # Decode at the smallest DCT scale still >= the target. draft() wants both sides at least as
            # large as asked, so ask for the fitted size itself (a 4032x3024 photo decodes at 1/2, 2016x1512):
            # asking for 1568x1568 would need a full 12 MP decode, ~4x slower. The long-side bound does not
            # depend on orientation, so the stored (pre-EXIF) size serves.
            scale = min(1.0, MODEL_LONG_SIDE / max(image.size))
            image.draft("RGB", (max(1, math.ceil(image.width * scale)), max(1, math.ceil(image.height * scale))))
        with warnings.catch_warnings():
            warnings.simplefilter("error", image_module.DecompressionBombWarning)
            image = ImageOps.exif_transpose(image)
            image.thumbnail(box, image_module.Resampling.LANCZOS, reducing_gap=2.0)
    except _DECODE_ERRORS as exc:
        raise ImageRejected("undecodable_image", f"the image cannot be decoded ({exc})") from None
    if image.mode != "RGB":
        image = image.convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=MODEL_QUALITY)
    return out.getvalue(), image.size


def _encode(image: Any) -> tuple[bytes, tuple[int, int]]:
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or image.mode == "P" else "RGB")
    out = io.BytesIO()
    # A new image carries no EXIF/ICC/XMP unless passed: nothing of the original's metadata is written.
    image.save(out, "WEBP", quality=THUMBNAIL_QUALITY, method=4)
    return out.getvalue(), image.size


def dicom_preview(data: bytes) -> Any:
    """The first frame of a DICOM image as an 8-bit Pillow image (window centre/width when the file has
    them, else the frame's min-max), already fitted inside 300x300."""
    import numpy as np
    import pydicom
    from pydicom.errors import InvalidDicomError

    dicom_errors: tuple[type[BaseException], ...] = (InvalidDicomError, *_DECODE_ERRORS)

    image_module = _pillow()
    try:
        dataset = pydicom.dcmread(io.BytesIO(data))
        rows, columns = int(dataset.Rows), int(dataset.Columns)
        if rows * columns > MAX_IMAGE_PIXELS:
            raise ImageRejected("image_too_large", f"the DICOM frame has more than {MAX_IMAGE_PIXELS} pixels")
        pixels = dataset.pixel_array
    except dicom_errors as exc:
        raise ImageRejected("undecodable_image", f"the DICOM image cannot be decoded ({type(exc).__name__})") from None
    frames = int(getattr(dataset, "NumberOfFrames", 1) or 1)
    samples = int(getattr(dataset, "SamplesPerPixel", 1) or 1)
    frame = pixels[0] if frames > 1 else pixels
    if samples == 3:
        if str(getattr(dataset, "PhotometricInterpretation", "RGB")).startswith("YBR"):
            from pydicom.pixels import convert_color_space

            frame = convert_color_space(frame, str(dataset.PhotometricInterpretation), "RGB")
        image = image_module.fromarray(np.asarray(frame, dtype=np.uint8), "RGB")
    else:
        values = frame.astype(np.float64)
        slope, intercept = (
            float(getattr(dataset, "RescaleSlope", 1) or 1),
            float(getattr(dataset, "RescaleIntercept", 0) or 0),
        )
        values = values * slope + intercept
        low, high = _window(dataset, values)
        scaled = np.clip((values - low) / max(high - low, 1e-9), 0.0, 1.0) * 255.0
        if str(getattr(dataset, "PhotometricInterpretation", "")) == "MONOCHROME1":
            scaled = 255.0 - scaled
        image = image_module.fromarray(scaled.astype(np.uint8), "L")
    image.thumbnail(THUMBNAIL_SIZE, image_module.Resampling.LANCZOS, reducing_gap=2.0)
    return image


def _first(value: Any) -> float:
    """A DICOM number that may be multi-valued (several windows): the first."""
    if hasattr(value, "__len__") and not isinstance(value, str):
        return float(value[0])
    return float(value)


def _window(dataset: Any, values: Any) -> tuple[float, float]:
    centre, width = getattr(dataset, "WindowCenter", None), getattr(dataset, "WindowWidth", None)
    if centre is not None and width is not None:
        c, w = _first(centre), _first(width)
        if w > 1:
            return c - w / 2, c + w / 2
    return float(values.min()), float(values.max())
