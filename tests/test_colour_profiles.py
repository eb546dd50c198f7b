"""Photos tagged with a colour profile (an iPhone's Display P3) are decoded to sRGB, the colours
a browser shows and the phone page's model sees; untagged and sRGB photos are left as they are."""
from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image, ImageCms

from rustseg_core.pipeline.imageio import decode

# Display P3's primaries, adapted to the D50 white of the profile connection space (as Apple's
# own profile lists them), and sRGB's, for the reference arithmetic.
P3_D50 = np.array([[0.5151, 0.2920, 0.1571], [0.2412, 0.6922, 0.0666], [-0.0011, 0.0419, 0.7841]])
SRGB_D50 = np.array([[0.4361, 0.3851, 0.1431], [0.2225, 0.7169, 0.0606], [0.0139, 0.0971, 0.7141]])
GAMMA = 2.2


def _rgb_profile(primaries: np.ndarray, gamma: float, name: bytes) -> bytes:
    """A minimal ICC v2 matrix/TRC display profile: what cameras and phones embed."""
    def s15(v: float) -> bytes:
        return struct.pack(">i", int(round(v * 65536)))

    def xyz(v) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(s15(c) for c in v)

    desc = b"desc\0\0\0\0" + struct.pack(">I", len(name) + 1) + name + b"\0" + b"\0" * 12 + b"\0" * 67
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, int(round(gamma * 256))) + b"\0\0"
    tags = [(b"desc", desc), (b"wtpt", xyz((0.9642, 1.0, 0.8249))), (b"rXYZ", xyz(primaries[:, 0])),
            (b"gXYZ", xyz(primaries[:, 1])), (b"bXYZ", xyz(primaries[:, 2])),
            (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve), (b"cprt", b"text\0\0\0\0none\0\0\0\0")]
    offset, table, body = 128 + 4 + 12 * len(tags), b"", b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0) + s15(0.9642) + s15(1.0)
              + s15(0.8249) + b"\0" * 48)
    return header + struct.pack(">I", len(tags)) + table + body


def _srgb_encode(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0, 1)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055) * 255


def _png(rgb: tuple[int, int, int], icc: bytes | None) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), rgb).save(buf, "PNG", **({"icc_profile": icc} if icc else {}))
    return buf.getvalue()


@pytest.mark.parametrize("colour", [(200, 100, 50), (120, 80, 60), (90, 140, 160)])
def test_a_display_p3_photo_is_decoded_to_srgb(colour):
    """Rust-brown in a P3 photo comes out as the sRGB colour a browser would show."""
    icc = _rgb_profile(P3_D50, GAMMA, b"Display P3 (test)")
    linear_p3 = (np.array(colour) / 255.0) ** GAMMA
    expected = _srgb_encode(np.linalg.solve(SRGB_D50, P3_D50 @ linear_p3))
    got = decode(_png(colour, icc)).image
    assert got.shape == (12, 16, 3)
    assert np.abs(got[0, 0].astype(float) - expected).max() <= 2.0, (got[0, 0], expected)
    assert np.abs(got[0, 0].astype(int) - np.array(colour)).max() >= 5  # the profile was used
    assert (got == got[0, 0]).all()


def test_untagged_srgb_and_unusable_profiles_leave_the_pixels_as_they_are():
    colour = (200, 100, 50)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for icc in (None, srgb, b"not a colour profile", _rgb_profile(P3_D50, GAMMA, b"x")[:100]):
        assert (decode(_png(colour, icc)).image == colour).all(), icc


def test_a_tagged_photo_is_converted_at_the_size_asked_for():
    """The transform runs after the resize, and the resize keeps the colour."""
    icc = _rgb_profile(P3_D50, GAMMA, b"Display P3 (test)")
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 100, 50)).save(buf, "JPEG", quality=95, icc_profile=icc)
    small = decode(buf.getvalue(), max_side=64)
    full = decode(buf.getvalue())
    assert small.image.shape == (48, 64, 3) and small.size == (640, 480)
    assert np.abs(small.image.astype(int).mean((0, 1)) - full.image.astype(int).mean((0, 1))).max() <= 2
