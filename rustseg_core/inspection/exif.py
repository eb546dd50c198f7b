"""When and where a photo was taken, from the EXIF block the pipeline's decode read.

Missing EXIF, broken tags and a GPS position of exactly 0, 0 (what many cameras write when
they have no fix) all give ``None``; reading EXIF never raises.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from PIL import Image

EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DATETIME_ORIGINAL, DATETIME_DIGITIZED, DATETIME = 36867, 36868, 306
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON = 1, 2, 3, 4


@dataclass(frozen=True)
class PhotoInfo:
    """Capture time (ISO 8601, the camera's local time) and WGS84 position in degrees."""

    capture_time: str | None = None
    latitude: float | None = None
    longitude: float | None = None

    @property
    def has_gps(self) -> bool:
        return self.latitude is not None and self.longitude is not None

    def summary(self) -> dict:
        return asdict(self)


def parse_exif_time(value: Any) -> str | None:
    """``"2024:05:01 10:22:03"`` → ``"2024-05-01T10:22:03"``; anything else → ``None``."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip("\x00 ").strip(), "%Y:%m:%d %H:%M:%S").isoformat()
    except ValueError:
        return None


def dms_to_degrees(dms: Any, ref: Any, limit: float) -> float | None:
    """Degrees, minutes, seconds and a hemisphere (N/S or E/W) → signed degrees, or
    ``None`` if any part is missing, not a number, or out of range."""
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    ref = ref.strip("\x00 ").upper() if isinstance(ref, str) else None
    if ref not in ("N", "S", "E", "W") or not isinstance(dms, (tuple, list)) or not 1 <= len(dms) <= 3:
        return None
    try:
        parts = [float(v) for v in dms]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not all(math.isfinite(v) and v >= 0 for v in parts) or any(v >= 60 for v in parts[1:]):
        return None
    degrees = sum(v / 60 ** i for i, v in enumerate(parts))
    if degrees > limit:
        return None
    return -degrees if ref in ("S", "W") else degrees


def info_from_exif(exif: Image.Exif) -> PhotoInfo:
    """The capture time and position in a Pillow ``Exif`` (broken tags → ``None``)."""
    try:
        sub = exif.get_ifd(EXIF_IFD)
    except Exception:  # a damaged IFD pointer: Pillow raises several kinds
        sub = {}
    when = next((t for t in (parse_exif_time(sub.get(DATETIME_ORIGINAL)),
                             parse_exif_time(sub.get(DATETIME_DIGITIZED)),
                             parse_exif_time(exif.get(DATETIME))) if t), None)
    try:
        gps = exif.get_ifd(GPS_IFD)
    except Exception:
        gps = {}
    lat = dms_to_degrees(gps.get(GPS_LAT), gps.get(GPS_LAT_REF), 90.0)
    lon = dms_to_degrees(gps.get(GPS_LON), gps.get(GPS_LON_REF), 180.0)
    if lat is None or lon is None or (lat == 0.0 and lon == 0.0):
        lat = lon = None
    return PhotoInfo(when, None if lat is None else round(lat, 7), None if lon is None else round(lon, 7))
