"""Decoding untrusted photos into RGB arrays, with clear errors for bad input.

Every failure is an :class:`ImageInputError` subclass carrying an HTTP-like ``status`` so a
web layer can map it to 400/413/415 without knowing Pillow.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

try:  # iPhone photos; optional so a missing wheel only disables HEIC.
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIC_SUPPORTED = True
except Exception:  # pragma: no cover - depends on the platform's wheel
    HEIC_SUPPORTED = False

# Formats we accept; anything else Pillow might open (PSD, EPS, ...) is refused.
ALLOWED_FORMATS = {"JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF"} | (
    {"HEIF", "HEIC"} if HEIC_SUPPORTED else set())
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"} | (
    {".heic", ".heif"} if HEIC_SUPPORTED else set())
SUPPORTED_TEXT = "JPEG, PNG, WebP, GIF, BMP, TIFF" + (", HEIC" if HEIC_SUPPORTED else "")
DEFAULT_MAX_PIXELS = 50_000_000

# We enforce our own (lower) limit before decoding; keep Pillow's guard as a backstop.
Image.MAX_IMAGE_PIXELS = 4 * DEFAULT_MAX_PIXELS

Source = Union[str, Path, bytes, BinaryIO]


class ImageInputError(ValueError):
    """A photo that cannot be used; ``status`` is the matching HTTP status code."""

    status = 400


class EmptyImageError(ImageInputError):
    status = 400


class CorruptImageError(ImageInputError):
    status = 400


class UnsupportedImageError(ImageInputError):
    status = 415


class ImageTooLargeError(ImageInputError):
    status = 413


def _open(source: Source) -> Image.Image:
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise EmptyImageError("the file is empty")
        source = io.BytesIO(source)
    elif isinstance(source, (str, Path)):
        if Path(source).stat().st_size == 0:
            raise EmptyImageError("the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(source)
    except UnidentifiedImageError as e:
        raise UnsupportedImageError(f"not a recognised image; supported formats: {SUPPORTED_TEXT}") from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageTooLargeError("image has too many pixels") from e
    except OSError as e:
        raise CorruptImageError(f"could not read the image: {e}") from e


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode → RGB; transparency is composited on white, 16-bit scaled down."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") else max(float(a.max()), 1.0)
        a = np.clip(a / hi * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(a, "L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info or img.mode in ("PA", "LA", "RGBA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    return img.convert("RGB") if img.mode != "RGB" else img


def open_rgb(source: Source, *, max_pixels: int = DEFAULT_MAX_PIXELS,
             max_side: int | None = None) -> tuple[Image.Image, tuple[int, int]]:
    """Decode ``source`` to an upright RGB Pillow image.

    Returns the image (downscaled so its long side is at most ``max_side``, if given) and the
    upright size of the original ``(width, height)``. Animated files give their first frame.
    """
    img = _open(source)
    try:
        if img.format not in ALLOWED_FORMATS:
            raise UnsupportedImageError(f"{img.format} images are not supported; use {SUPPORTED_TEXT}")
        w, h = img.size
        if w < 1 or h < 1:
            raise CorruptImageError("image has no pixels")
        if w * h > max_pixels:
            raise ImageTooLargeError(
                f"image is {w}x{h} = {w * h / 1e6:.1f} MP; the limit is {max_pixels / 1e6:.0f} MP")
        orientation = img.getexif().get(0x0112, 1) if hasattr(img, "getexif") else 1
        original = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
        if max_side and img.format == "JPEG":
            # Decode JPEGs at a reduced DCT scale: a 12 MP photo costs a fraction.
            img.draft("RGB", (max_side, max_side))
        img.load()
        img = ImageOps.exif_transpose(img)
        img = _to_rgb(img)
        if max_side and max(img.size) > max_side:
            img.thumbnail((max_side, max_side), Image.BILINEAR, reducing_gap=2.0)
        return img, original
    except ImageInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageTooLargeError("image has too many pixels") from e
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct_error()) as e:
        raise CorruptImageError(f"the image is damaged or truncated ({e})") from e


def struct_error() -> type:
    import struct

    return struct.error


def load_image(source: Source, *, max_pixels: int = DEFAULT_MAX_PIXELS,
               max_side: int | None = None) -> np.ndarray:
    """Decode ``source`` (path, bytes or file) to an upright RGB ``uint8`` array (H, W, 3)."""
    img, _ = open_rgb(source, max_pixels=max_pixels, max_side=max_side)
    return np.asarray(img, dtype=np.uint8)
