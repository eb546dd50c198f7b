"""Decoding untrusted photos into RGB arrays, with clear errors for bad input.

Every failure is an :class:`ImageInputError` subclass carrying an HTTP-like ``status`` so a
web layer can map it to 400/413/415 without knowing Pillow.
"""
from __future__ import annotations

import functools
import io
import logging
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

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
# The file extension each accepted format is stored under.
FORMAT_EXTENSIONS = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp",
                     "BMP": ".bmp", "TIFF": ".tif", "HEIF": ".heic", "HEIC": ".heic"}
SUPPORTED_TEXT = "JPEG, PNG, WebP, GIF, BMP, TIFF" + (", HEIC" if HEIC_SUPPORTED else "")
DEFAULT_MAX_PIXELS = 50_000_000

_SRGB = ImageCms.createProfile("sRGB")
# We enforce our own (lower) limit before decoding; keep Pillow's guard as a backstop.
Image.MAX_IMAGE_PIXELS = 4 * DEFAULT_MAX_PIXELS

Source = Union[str, Path, bytes, BinaryIO]
log = logging.getLogger(__name__)


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


# Messages people see, in the CLI and on the web: what is wrong, not Pillow's words. Each
# interface adds its own advice (the web page: "try sending the photo again").
DAMAGED = "the image is damaged or truncated"
NOT_AN_IMAGE = f"not a recognised image; supported formats: {SUPPORTED_TEXT}"
CAMERA_RAW = ("a camera RAW file (DNG, NEF, ...), which RustSEG does not read; export the photo as "
              "JPEG (or shoot JPEG or HEIC) and use that")
# Camera RAW files (DNG, NEF, ARW, ...) are TIFFs whose first image, the one Pillow reads, is
# a small preview: taken for the photo, it would be judged at thumbnail size in silence.
# The camera's raw file extensions, for folders: their JPEG twin is read when there is one.
CAMERA_RAW_EXTENSIONS = {".dng", ".cr2", ".cr3", ".nef", ".nrw", ".arw", ".raf", ".orf", ".rw2",
                         ".pef", ".srw"}
_TIFF_NEW_SUBFILE_TYPE, _TIFF_DNG_VERSION = 254, 50706


@dataclass(frozen=True)
class ImageInfo:
    """What the header of a photo says, before any pixel is decoded. The size is as stored:
    EXIF orientation (which may swap width and height) is only read when decoding, because
    some formats keep it after the pixel data."""

    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _open_formats() -> list[str]:
    """Pillow plugin ids to try: only ours, so parsers for other formats (EPS hands files to
    Ghostscript, PSD, ...) never see untrusted bytes. JPEG also opens MPO."""
    Image.init()
    return [f for f in sorted(ALLOWED_FORMATS) if f in Image.OPEN]


def _limit_text(max_pixels: int) -> str:
    return f"the limit is {max_pixels / 1e6:g} MP"


def _open(source: Source, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not len(source):
            raise EmptyImageError("the file is empty")
        source = io.BytesIO(source)
    elif isinstance(source, (str, Path)):
        if Path(source).stat().st_size == 0:
            raise EmptyImageError("the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(source, formats=_open_formats())
    except UnidentifiedImageError as e:
        raise UnsupportedImageError(NOT_AN_IMAGE) from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # Pillow's own guard (a multiple of our limit) fired: the header claims a huge size.
        raise ImageTooLargeError(f"the image has far too many pixels; {_limit_text(max_pixels)}") from e
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as e:
        log.info("unreadable image header: %s", e)
        raise CorruptImageError(DAMAGED) from e


def _exif(img: Image.Image) -> Image.Exif | None:
    """The EXIF block of a loaded image; ``None`` when the block is broken (a broken EXIF
    block must not cost the photo, which decodes fine without it). Call it only after
    ``load()``: a PNG may keep EXIF after its pixels and would decode here, with decoding
    errors mistaken for EXIF ones."""
    try:
        return img.getexif()
    except Exception as e:  # malformed EXIF raises anything from struct.error to KeyError
        log.info("ignoring unreadable EXIF: %s", e)
        return None


def _orientation(exif: Image.Exif | None) -> int:
    """The EXIF orientation (1-8); 1 when there is none or it is not a valid value."""
    try:
        value = exif.get(0x0112, 1) if exif is not None else 1
    except Exception as e:
        log.info("ignoring unreadable EXIF orientation: %s", e)
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _checked(img: Image.Image, max_pixels: int) -> ImageInfo:
    """Refuse formats and sizes we do not take, from the header alone."""
    if img.format not in ALLOWED_FORMATS:
        raise UnsupportedImageError(f"{img.format} images are not supported; use {SUPPORTED_TEXT}")
    if img.format == "TIFF" and _camera_raw(img):
        raise UnsupportedImageError(CAMERA_RAW)
    w, h = img.size
    if w < 1 or h < 1:
        raise CorruptImageError("the image has no pixels")
    if w * h > max_pixels:
        raise ImageTooLargeError(
            f"the image is {w}x{h} = {w * h / 1e6:.1f} MP; {_limit_text(max_pixels)}")
    return ImageInfo(format=img.format, width=w, height=h)


def _camera_raw(img: Image.Image) -> bool:
    """Whether a TIFF is a camera RAW file: a DNG, or a first image marked as a reduced-size
    copy of another (NewSubFileType bit 0), as raw formats store their preview."""
    tags = getattr(img, "tag_v2", None) or {}
    subfile = tags.get(_TIFF_NEW_SUBFILE_TYPE, 0)
    return _TIFF_DNG_VERSION in tags or (isinstance(subfile, int) and bool(subfile & 1))


def probe(source: Source, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Check a photo from its header alone (format, pixel count; nothing is decoded), raising
    the same :class:`ImageInputError` s as :func:`decode` would. Cheap: a web layer can refuse
    a 30000×30000 "photo" of a few KB before it costs anything."""
    img = _open(source, max_pixels)
    try:
        return _checked(img, max_pixels)
    except ImageInputError:
        raise
    except Exception as e:  # a header that parsed but lies (e.g. an EXIF offset)
        log.info("unreadable image header: %s", e)
        raise CorruptImageError(DAMAGED) from e
    finally:
        img.close()


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


def _to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """An RGB photo in the colour space its ICC profile names, turned into sRGB: what a
    browser shows (and the phone page's canvas hands its model), and what the training photos,
    nearly all untagged web photos, are in. iPhone photos are Display P3: read as sRGB, their
    colours come out duller than the person saw them. A profile that is sRGB, or that cannot
    be used, leaves the photo as it is, as a broken EXIF block does."""
    if not icc or img.mode != "RGB":
        return img
    transform = _srgb_transform(bytes(icc))
    return ImageCms.applyTransform(img, transform) if transform is not None else img


@functools.lru_cache(maxsize=8)
def _srgb_transform(icc: bytes):
    """LittleCMS's transform from an RGB profile to sRGB (built once a profile: 3 ms);
    ``None`` for sRGB itself or a profile it cannot use."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in ImageCms.getProfileDescription(profile).lower():
            return None
        return ImageCms.buildTransform(profile, _SRGB, "RGB", "RGB")
    except (ImageCms.PyCMSError, OSError, TypeError, ValueError) as e:
        log.info("ICC profile not used: %s", e)
        return None


@dataclass(frozen=True)
class Photo:
    """A decoded photo: upright RGB pixels, the original's upright size and its format."""

    image: np.ndarray  # (H, W, 3) uint8, long side at most the ``max_side`` asked for
    size: tuple[int, int]  # the original's upright (width, height)
    format: str | None  # as Pillow names it ("JPEG", "PNG", ...); None for arrays
    exif: Image.Exif | None = None  # read once, while decoding; None without a usable block


def decode(source: Source, *, max_pixels: int = DEFAULT_MAX_PIXELS,
           max_side: int | None = None) -> Photo:
    """Decode ``source`` (path, bytes or file) to an upright RGB :class:`Photo`.

    The header is checked (format, pixel count) before any pixel is decoded; the image is
    downscaled so its long side is at most ``max_side``, if given. Animated files give
    their first frame.
    """
    img = _open(source, max_pixels)
    try:
        info = _checked(img, max_pixels)
        if max_side and img.format == "JPEG":
            # Decode JPEGs at a reduced DCT scale: a 12 MP photo costs a fraction.
            img.draft("RGB", (max_side, max_side))
        img.load()
        icc = img.info.get("icc_profile")
        exif = _exif(img)
        orientation = _orientation(exif)
        if orientation != 1:
            img = ImageOps.exif_transpose(img)
        img = _to_rgb(img)
        if max_side and max(img.size) > max_side:
            img.thumbnail((max_side, max_side), Image.BILINEAR, reducing_gap=2.0)
        img = _to_srgb(img, icc)  # after the resize: at 12 MP it would cost 0.3 s
        upright = (info.height, info.width) if orientation in (5, 6, 7, 8) else (info.width, info.height)
        return Photo(np.asarray(img, dtype=np.uint8), upright, info.format, exif)
    except ImageInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageTooLargeError(f"the image has far too many pixels; {_limit_text(max_pixels)}") from e
    except MemoryError as e:
        raise ImageTooLargeError("the image is too large to decode") from e
    except Exception as e:
        # Whatever a decoder raises on hostile bytes (OSError, SyntaxError, struct.error,
        # ValueError, even KeyError from a lying TIFF tag) means a damaged file, not a bug of
        # ours: answer 400, and log it so a genuine bug still shows up.
        log.warning("could not decode an image (%s: %s)", type(e).__name__, e)
        raise CorruptImageError(DAMAGED) from e


def load_image(source: Source, *, max_pixels: int = DEFAULT_MAX_PIXELS,
               max_side: int | None = None) -> np.ndarray:
    """Decode ``source`` (path, bytes or file) to an upright RGB ``uint8`` array (H, W, 3)."""
    return decode(source, max_pixels=max_pixels, max_side=max_side).image


# ------------------------------------------------------------------ encoding
def encode_mask_png(mask: np.ndarray) -> bytes:
    """A boolean mask as RustSEG's mask file: an 8-bit greyscale PNG, 255 = corrosion.

    zlib's run-length strategy suits masks (long runs of one value): for a 12 MP mask it
    takes half the time of the default strategy and makes a smaller file, with the same
    pixels (see ``benchmarks/client_latency.py``).
    """
    import zlib

    buf = io.BytesIO()
    grey = np.ascontiguousarray(mask, bool).view(np.uint8) * np.uint8(255)
    Image.fromarray(grey, "L").save(
        buf, "PNG", compress_level=1, compress_type=zlib.Z_RLE)
    return buf.getvalue()


def encode_picture_png(image: np.ndarray) -> bytes:
    """An RGB picture (the heatmap over the photo) as a PNG at zlib level 1: five times
    faster than the default level for files about 8 % larger."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG", compress_level=1)
    return buf.getvalue()
