"""Bad and unusual uploads through both doors: the page (POST /analyse) and the API
(POST /api/v1/segment).

``CASES`` is the table: each row builds its file here (nothing is read from disk), says the
status both doors must answer and, for refusals, a phrase the message must contain; rows
that must be analysed also say what the analysed photo has to look like. No row may give a
500, and the app must keep serving afterwards.
"""
from __future__ import annotations

import base64
import html
import io
import re
import struct
import subprocess
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image
from werkzeug.test import EnvironBuilder, run_wsgi_app

from rustseg_core.store import Store
from tests.app_support import csrf_token
from tests.synthetic import encode, rust_image

# Pillow warns about the broken EXIF row; that is the point of the row.
pytestmark = pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")
ROOT = Path(__file__).resolve().parent.parent
MAX_PIXELS = 8_000_000  # the configured pixel limit of the app under test
NOT_AN_IMAGE = r"not a recognised image; supported formats: JPEG, PNG"
DAMAGED = r"the image is damaged or truncated"
TOO_MANY_PIXELS = r"the limit is 8 MP"
CAMERA_RAW = r"(?i)a camera RAW file \(DNG, NEF, \.\.\.\), which RustSEG does not read; export the photo as JPEG"


# -- building the files -------------------------------------------------------------------------

def _rgb(w: int = 160, h: int = 120, seed: int = 7) -> np.ndarray:
    """A smooth-ish rust photo of any size (upscaled so JPEGs of big ones stay small)."""
    img, _ = rust_image(np.random.default_rng(seed), 96, rust=True)
    return np.asarray(Image.fromarray(img).resize((w, h), Image.BILINEAR))


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _jpeg(arr: np.ndarray | None = None, **kw) -> bytes:
    return encode(_rgb() if arr is None else arr, "JPEG", quality=kw.pop("quality", 92), **kw)


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _png_raw(width: int, height: int, bit_depth: int, colour_type: int, idat: bytes) -> bytes:
    """A PNG written by hand, for what Pillow cannot write (48-bit colour, lying headers)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
            + _png_chunk(b"IEND", b""))


def _png16(arr16: np.ndarray) -> bytes:
    """16 bits per sample: (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA."""
    colour_type = {2: 0, 3: {3: 2, 4: 6}.get(arr16.shape[-1])}[arr16.ndim]
    h, w = arr16.shape[:2]
    rows = arr16.astype(">u2").reshape(h, -1)
    raw = b"".join(b"\0" + row.tobytes() for row in rows)
    return _png_raw(w, h, 16, colour_type, zlib.compress(raw, 9))


def png_bomb(side: int = 30000) -> bytes:
    """A side×side RGB PNG that is a few hundred bytes: the header claims 900 MP, the zlib
    stream holds a few rows of zeros (nothing may decode that far to notice)."""
    return _png_raw(side, side, 8, 2, zlib.compress(bytes(3 * side + 1) * 4, 9))


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) claims another size."""
    data = bytearray(_jpeg())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_bomb() -> bytes:
    """A 1×1 GIF frame on a 65535×65535 logical screen (4.3 gigapixels)."""
    data = bytearray(_save(Image.new("P", (1, 1)), "GIF"))
    data[6:10] = struct.pack("<HH", 65535, 65535)
    return bytes(data)


def corrupt_idat(png: bytes) -> bytes:
    """Break the zlib header of the pixel data (the chunk's CRC is left stale)."""
    start = png.index(b"IDAT") + 4
    return png[:start] + b"\0\0" + png[start + 2:]


def truncated(data: bytes, keep: float) -> bytes:
    return data[: int(len(data) * keep)]


def junk(n: int = 3000, seed: int = 1) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def zip_payload() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.html", "<script>alert('polyglot')</script>")
    return buf.getvalue()


def animated(fmt: str) -> bytes:
    """Three frames: the rust photo, then solid blue and green (only the first may be used)."""
    first = Image.fromarray(_rgb())
    frames = [first, Image.new("RGB", first.size, (0, 0, 255)), Image.new("RGB", first.size, (0, 255, 0))]
    kw = {"lossless": True} if fmt == "WEBP" else {}
    return _save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **kw)


def rgba_png() -> bytes:
    arr = np.dstack([_rgb(), np.full((120, 160), 255, np.uint8)])
    arr[:, :40] = (0, 0, 0, 0)  # fully transparent black: must come out white
    return encode(arr, "PNG")


def palette_png(transparent: bool = False) -> bytes:
    img = Image.fromarray(_rgb()).quantize(64)
    return _save(img, "PNG", **({"transparency": 0} if transparent else {}))


def heic() -> bytes:
    pillow_heif = pytest.importorskip("pillow_heif")
    try:
        return _save(Image.fromarray(_rgb()), "HEIF", quality=90)
    except Exception as e:  # pragma: no cover - a libheif built without an encoder
        pytest.skip(f"pillow_heif cannot encode HEIC here ({e}); version {pillow_heif.__version__}")


def camera_raw(dng: bool = True) -> bytes:
    """A camera RAW file as Pillow sees it: a TIFF whose first image is a small preview (a
    DNG's DNGVersion tag, or NewSubFileType 1: a reduced-size copy of another image)."""
    from PIL import TiffImagePlugin

    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[254] = 1
    if dng:
        tags[50706] = b"\x01\x04\x00\x00"
        tags.tagtype[50706] = 1  # BYTE
    return _save(Image.fromarray(_rgb()), "TIFF", tiffinfo=tags)


def eps() -> bytes:
    return b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n%%EOF\n"


# -- what the analysed photo must look like -------------------------------------------------------

def _grey3(arr: np.ndarray) -> np.ndarray:
    return np.repeat(np.asarray(Image.fromarray(arr).convert("L"))[..., None], 3, axis=2)


def _white_where_transparent() -> np.ndarray:
    ref = _rgb().copy()
    ref[:, :40] = 255
    return ref


def _first_gif_frame() -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(animated("GIF"))).convert("RGB"))


def _palette_rgb() -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(palette_png())).convert("RGB"))


# -- the table ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One upload: how to make it, what both doors must answer, and for a 200 what the
    analysed photo must be (``size`` upright (w, h); ``looks_like`` within ``tol`` grey levels)."""

    id: str
    make: Callable[[], bytes]
    filename: str = "photo.jpg"
    status: int = 200
    message: str | None = None
    size: tuple[int, int] = (160, 120)
    looks_like: Callable[[], np.ndarray] | None = _rgb
    tol: float = 6.0


CASES = [
    # refused: the file is not a usable photo
    Case("empty_file", lambda: b"", status=400, message="the file is empty"),
    Case("truncated_jpeg", lambda: truncated(_jpeg(_rgb(640, 480)), 0.5), status=400, message=DAMAGED),
    Case("jpeg_cut_after_header", lambda: truncated(_jpeg(), 0.05), status=400, message=DAMAGED),
    Case("truncated_png", lambda: truncated(encode(_rgb(), "PNG"), 0.5), "p.png", 400, DAMAGED),
    Case("png_corrupt_pixel_data", lambda: corrupt_idat(encode(_rgb(), "PNG")), "p.png", 400, DAMAGED),
    Case("jpeg_with_broken_exif", lambda: _jpeg(exif=b"Exif\0\0II*\0" + junk(200))),
    Case("text_named_jpg", lambda: b"Inspection notes: hull plate 4, some rust.\n" * 5, status=415,
         message=NOT_AN_IMAGE),
    Case("pdf_named_jpg", lambda: b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", status=415,
         message=NOT_AN_IMAGE),
    Case("html_named_png", lambda: b"<!doctype html><script>alert(1)</script>", "x.png", 415, NOT_AN_IMAGE),
    Case("eps_named_jpg", eps, status=415, message=NOT_AN_IMAGE),  # never handed to Ghostscript
    Case("zip_named_jpg", zip_payload, status=415, message=NOT_AN_IMAGE),
    # camera RAW: only its preview would be read, so it is refused, saying what to send
    Case("camera_raw_dng", camera_raw, "IMG_0001.DNG", 415, CAMERA_RAW),
    Case("dng_named_tif", camera_raw, "IMG_0001.tif", 415, CAMERA_RAW),
    Case("raw_preview_tiff_named_tif", lambda: camera_raw(dng=False), "DSC_0001.tif", 415, CAMERA_RAW),
    # polyglots: an image's first bytes, then something else
    Case("jpeg_header_then_junk", lambda: _jpeg()[:20] + junk(), status=400, message=DAMAGED),
    Case("png_signature_then_junk", lambda: b"\x89PNG\r\n\x1a\n" + junk(), "p.png", 415, NOT_AN_IMAGE),
    Case("gif_header_then_script", lambda: b"GIF89a/*" + b"\0" * 8 + b"*/=alert(1);//" * 20, "x.gif",
         415, NOT_AN_IMAGE),
    # ... or a whole valid photo with a payload appended: analysed; outputs are re-encoded
    Case("jpeg_with_zip_appended", lambda: _jpeg() + zip_payload()),
    # too many pixels: refused from the header, before anything is decoded
    Case("png_bomb_30000x30000", png_bomb, "bomb.png", 413, TOO_MANY_PIXELS),
    Case("jpeg_claiming_65535x65535", lambda: jpeg_claiming(65535, 65535), status=413,
         message=TOO_MANY_PIXELS),
    Case("jpeg_over_pixel_limit_4000x3000", lambda: jpeg_claiming(4000, 3000), status=413,
         message=r"4000x3000 = 12\.0 MP; the limit is 8 MP"),
    Case("gif_screen_65535x65535", gif_bomb, "bomb.gif", 413, TOO_MANY_PIXELS),
    # wrong names
    Case("pdf_extension", lambda: b"%PDF-1.7\n", "report.pdf", 415, "file type is not supported"),
    Case("no_extension", _jpeg, "photo", 415, "file type is not supported"),
    Case("no_filename", _jpeg, "", 400, r"Choose a photo or take one|send the photo as multipart field"),
    # unusual but valid photos: analysed
    Case("upper_case_extension", _jpeg, "IMG_0001.JPG"),
    Case("png_16bit_grey", lambda: _png16(_grey3(_rgb())[..., 0].astype(np.uint16) * 257), "p.png",
         looks_like=lambda: _grey3(_rgb()), tol=1.0),
    Case("png_16bit_rgb", lambda: _png16(_rgb().astype(np.uint16) * 257), "p.png", tol=1.0),
    Case("png_16bit_rgba", lambda: _png16(np.dstack([_rgb(), np.full((120, 160), 255, np.uint8)])
                                          .astype(np.uint16) * 257), "p.png", tol=1.0),
    Case("cmyk_jpeg", lambda: _save(Image.fromarray(_rgb()).convert("CMYK"), "JPEG", quality=95), tol=8.0),
    Case("palette_png", palette_png, "p.png", looks_like=_palette_rgb, tol=1.0),
    Case("palette_png_with_transparency", lambda: palette_png(True), "p.png", looks_like=None),
    Case("rgba_png", rgba_png, "p.png", looks_like=_white_where_transparent, tol=1.0),
    Case("greyscale_jpeg", lambda: encode(_grey3(_rgb())[..., 0], "JPEG", quality=95),
         looks_like=lambda: _grey3(_rgb())),
    Case("bilevel_png", lambda: _save(Image.fromarray(_rgb()).convert("1"), "PNG"), "p.png", looks_like=None),
    Case("animated_gif_first_frame", lambda: animated("GIF"), "a.gif", looks_like=_first_gif_frame, tol=1.0),
    Case("animated_webp_first_frame", lambda: animated("WEBP"), "a.webp", tol=1.0),
    Case("tall_1x5000", lambda: encode(_rgb(1, 5000), "PNG"), "p.png", size=(1, 5000), looks_like=None),
    Case("wide_5000x1", lambda: _jpeg(_rgb(5000, 1)), size=(5000, 1), looks_like=None),
    Case("wide_4000x3", lambda: _jpeg(_rgb(4000, 3)), size=(4000, 3), looks_like=None),
    Case("single_pixel", lambda: encode(_rgb(1, 1), "PNG"), "p.png", size=(1, 1), looks_like=None),
    Case("heic_from_iphone", heic, "IMG_0001.HEIC", tol=8.0),
    # file names are only used for the extension check, never for paths
    Case("path_traversal_name", _jpeg, "../../../../etc/cron.d/x.jpg"),
    Case("windows_traversal_name", _jpeg, "..\\..\\..\\Windows\\win.ini.jpg"),
    Case("unicode_name", _jpeg, "Rostfleck Ü 錆び 📷.jpeg"),
    Case("very_long_name", _jpeg, "a" * 5000 + ".jpg"),
]


@pytest.fixture
def app(tiny_segmenter, store_dir):  # noqa: F811
    from app import create_app

    return create_app({"TESTING": True, "SEGMENTER": tiny_segmenter, "STORE_DIR": str(store_dir),
                       "SECRET_KEY": "test-secret", "MAX_UPLOAD_MB": 1, "MAX_PIXELS": MAX_PIXELS})


def _post_page(client, data: bytes, filename: str, keep: bool = False):
    form = {"mode": "standard", "csrf_token": csrf_token(client),
            "photo": (io.BytesIO(data), filename)}
    if keep:
        form["keep"] = "y"
    return client.post("/analyse", data=form, content_type="multipart/form-data")


def _post_api(client, data: bytes, filename: str, **fields):
    return client.post("/api/v1/segment", data={"image": (io.BytesIO(data), filename), **fields},
                       content_type="multipart/form-data")


def _b64_image(body: dict, key: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(body[key])))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_api(client, store_dir, case: Case):  # noqa: F811
    resp = _post_api(client, case.make(), case.filename, include="image,overlay")
    assert resp.status_code == case.status, resp.get_data(as_text=True)[:500]
    assert resp.is_json
    body = resp.get_json()
    if case.status != 200:
        assert body["error"]["status"] == case.status
        assert re.search(case.message, body["error"]["message"]), body["error"]["message"]
        assert not store_dir.exists()
        return
    mask = _b64_image(body, "mask_png_base64")
    assert mask.size == case.size == (body["width"], body["height"])
    image = _b64_image(body, "image_jpg_base64")
    overlay = _b64_image(body, "overlay_jpg_base64")
    assert image.size == overlay.size  # the overlay is drawn on the photo as shown
    w, h = case.size  # shown at most 1024 px on its long side, keeping the aspect ratio
    scale = min(1.0, 1024 / max(w, h))
    assert abs(image.size[0] - w * scale) <= 1 and abs(image.size[1] - h * scale) <= 1
    if case.looks_like is not None:
        ref = case.looks_like()
        got = np.asarray(image.convert("RGB"), np.float32)
        assert got.shape == ref.shape
        assert np.abs(got - ref).mean() <= case.tol + 3.0  # + the result JPEG's own loss


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_page(client, store_dir, case: Case):  # noqa: F811
    resp = _post_page(client, case.make(), case.filename)
    text = html.unescape(resp.get_data(as_text=True))
    assert resp.status_code == case.status, text[:500]
    assert "site.css" in text  # in the site's style, never a bare error
    if case.status != 200:
        assert re.search(case.message, text), text
        assert "<form" in text or "Back to the start" in text
        assert "Traceback" not in text
    else:
        assert "corrosion detected" in text.lower()
    assert not store_dir.exists()


def test_a_kept_polyglot_is_never_served_back_as_received(client, store_dir):  # noqa: F811
    payload = zip_payload()
    resp = _post_page(client, _jpeg() + payload, "../../x.jpg", keep=True)
    assert resp.status_code == 303
    record_id = resp.headers["Location"].rsplit("/", 1)[-1]
    rec = Store(store_dir).get(record_id)
    assert rec is not None and rec.original_file == "original.jpg"
    for name in ("image.jpg", "overlay.jpg", "mask.png", "heatmap.png"):
        served = client.get(f"/r/{record_id}/{name}")
        assert served.status_code == 200 and payload not in served.data
    # Everything written lies under the store, named by the server.
    names = {p.name for p in store_dir.rglob("*") if p.is_file()}
    assert "x.jpg" not in names and not any(".." in n for n in names)


def test_heic_without_pillow_heif_is_a_clear_415(tmp_path):
    """Where the HEIC plugin is missing, an iPhone photo gets a 415 that lists what works."""
    photo = tmp_path / "IMG_0001.HEIC"
    photo.write_bytes(heic())
    code = ("import sys; sys.modules['pillow_heif'] = None\n"
            "from rustseg_core.pipeline import imageio\n"
            "assert not imageio.HEIC_SUPPORTED and '.heic' not in imageio.IMAGE_EXTENSIONS\n"
            "try:\n"
            f"    imageio.probe({str(photo)!r})\n"
            "except imageio.ImageInputError as e:\n"
            "    print(e.status, e)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("415 not a recognised image; supported formats: "
                                  "JPEG, PNG, WebP, GIF, BMP, TIFF")


# -- EXIF orientation: the mask must line up with the photo as displayed --------------------------

# exif_transpose applies these to the stored pixels; the fixture stores their inverse.
_INVERSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
            4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
            6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_270}


def _phone_photo(orientation: int, upright: Image.Image) -> bytes:
    stored = upright.transpose(_INVERSE[orientation]) if orientation in _INVERSE else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _save(stored, "JPEG", quality=95, exif=exif.tobytes())


def _upright_photo() -> Image.Image:
    """A 4:3 landscape 'phone photo', big enough to take the reduced-DCT decode path,
    with rust only in its left part (so a wrong rotation moves the mask)."""
    rng = np.random.default_rng(3)
    img, _ = rust_image(rng, 96, rust=False)
    rusty, _ = rust_image(np.random.default_rng(5), 96, rust=True)
    img = np.concatenate([rusty[:, :48], img[:, 48:], img[:, 48:]], axis=1)[:72]  # 144×72
    return Image.fromarray(img).resize((2400, 1200), Image.BILINEAR)


def _mask_of(body: dict) -> np.ndarray:
    return np.asarray(_b64_image(body, "mask_png_base64")) > 0


@pytest.fixture(scope="module")
def reference_mask(tiny_segmenter) -> np.ndarray:
    from app import create_app

    upright = _upright_photo()
    app_ = create_app({"SEGMENTER": tiny_segmenter, "STORE_DIR": "", "MAX_UPLOAD_MB": 1})
    body = _post_api(app_.test_client(), _save(upright, "JPEG", quality=95), "p.jpg").get_json()
    mask = _mask_of(body)
    assert body["decision"] == "corrosion" and mask.shape == (1200, 2400)
    # The mask is lopsided (on the rusty left third), so a missed rotation or flip cannot
    # pass for lined up.
    assert mask[:, :800].mean() > 3 * mask[:, 800:].mean()
    for turned in (mask[::-1, ::-1], mask[:, ::-1]):
        assert _iou(mask, turned) < 0.6
    return mask


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_rotated_phone_photo_mask_lines_up(client, reference_mask, orientation):
    data = _phone_photo(orientation, _upright_photo())
    raw = Image.open(io.BytesIO(data))
    assert raw.getexif()[0x0112] == orientation
    body = _post_api(client, data, "IMG_0001.JPG", include="image").get_json()
    assert (body["width"], body["height"]) == (2400, 1200)  # upright, as a phone shows it
    mask = _mask_of(body)
    assert mask.shape == reference_mask.shape
    iou = _iou(mask, reference_mask)
    assert iou > 0.9, f"orientation {orientation}: IoU {iou:.2f} with the upright photo's mask"
    shown = _b64_image(body, "image_jpg_base64")
    assert shown.size[0] > shown.size[1]  # the photo shown is upright too
    page = _post_page(client, data, "IMG_0001.JPG")
    assert page.status_code == 200 and "2400 × 1200 px" in page.get_data(as_text=True)


# -- CSRF (the page only: the API takes no cookies, so it has no token) ----------------------------

def _other_session_token(app) -> str:
    """A genuine token of this site (signed with its key) for another session's raw token."""
    from itsdangerous import URLSafeTimedSerializer

    signer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="wtf-csrf-token")
    return signer.dumps("0" * 40)


@pytest.mark.parametrize("token", ["missing", "empty", "forged", "other_session"])
def test_page_refuses_a_missing_or_wrong_csrf_token(app, client, store_dir, token):  # noqa: F811
    csrf_token(client)  # this browser has a session
    form = {"mode": "standard", "keep": "y", "photo": (io.BytesIO(_jpeg()), "p.jpg")}
    if token != "missing":
        form["csrf_token"] = {"empty": "", "forged": "IjAwMDAi.aaaa.bbbb",
                              "other_session": _other_session_token(app)}[token]
    resp = client.post("/analyse", data=form, content_type="multipart/form-data")
    assert resp.status_code == 400
    text = resp.get_data(as_text=True)
    assert "The form expired or was not sent by this site" in text
    assert "corrosion detected" not in text.lower()
    assert not store_dir.exists()


# -- oversize bodies: 413 without reading them ----------------------------------------------------

class _CountingBody(io.RawIOBase):
    """A multipart body of ``size`` bytes made up as it is read, counting what was read."""

    def __init__(self, field: str, size: int):
        self.head = (b"--b\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"big.jpg\"\r\n"
                     b"Content-Type: image/jpeg\r\n\r\n" % field.encode())
        self.size = size
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = min(len(buf), self.size - self.read_bytes)
        start = self.read_bytes
        buf[:n] = (self.head[start:start + n] + b"\xff" * n)[:n]  # the head, then 0xFF
        self.read_bytes += n
        return n


@pytest.mark.parametrize("path, field", [("/analyse", "photo"), ("/api/v1/segment", "image")])
@pytest.mark.parametrize("declared", [True, False], ids=["content_length", "chunked"])
def test_oversize_body_is_413_without_reading_it(app, path, field, declared):
    size = 512 * 1024 * 1024  # far more than a test should ever hold in memory
    body = _CountingBody(field, size)
    environ = EnvironBuilder(path=path, method="POST").get_environ()
    environ.update({"wsgi.input": body, "CONTENT_TYPE": "multipart/form-data; boundary=b"})
    if declared:
        environ["CONTENT_LENGTH"] = str(size)
    else:  # like gunicorn with Transfer-Encoding: chunked: the server ends the stream
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input_terminated"] = True
    app_iter, status, _ = run_wsgi_app(app, environ, buffered=True)
    assert status.startswith("413")
    assert "larger than the 1 MB limit" in html.unescape(b"".join(app_iter).decode())
    assert body.read_bytes <= app.config["MAX_CONTENT_LENGTH"] + 64 * 1024



# -- requests that are not a photo upload at all --------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    {"json": {"image": "aGVsbG8="}},
    {"data": {"image": "not a file"}},
    {"data": b"", "content_type": "multipart/form-data; boundary=x"},
    {"data": b"--x\r\nbroken", "content_type": "multipart/form-data; boundary=x"},
    {"data": "image=%ff%fe", "content_type": "application/x-www-form-urlencoded"},
], ids=["json", "text_field", "empty_multipart", "broken_multipart", "urlencoded"])
def test_api_answers_malformed_requests_with_a_json_400(client, kwargs):
    resp = client.post("/api/v1/segment", **kwargs)
    assert resp.status_code == 400 and resp.is_json
    assert "image" in resp.get_json()["error"]["message"]


def test_page_answers_a_text_field_instead_of_a_file_with_400(client):
    resp = client.post("/analyse", data={"csrf_token": csrf_token(client), "photo": "C:\\photo.jpg"})
    assert resp.status_code == 400
    assert "Choose a photo or take one." in resp.get_data(as_text=True)
