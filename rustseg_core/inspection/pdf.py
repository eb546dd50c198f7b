"""A minimal PDF writer for reports: text in the standard Helvetica fonts, filled shapes,
lines, and JPEG images embedded as they are (DCTDecode: no re-encoding, so a report of
hundreds of photos is fast and small).

Coordinates are PDF points from the page's top-left corner (y down), converted on output.
Text is encoded as WinAnsi (cp1252); characters outside it print as "?".
"""
from __future__ import annotations

import io
import zlib
from dataclasses import dataclass, field

from PIL import Image

A4 = (595.0, 842.0)
FONTS = {"regular": "Helvetica", "bold": "Helvetica-Bold"}
AVERAGE_WIDTH = 0.55  # of the font size: Helvetica's mean glyph width, for fitting text
KAPPA = 0.5523  # Bezier control distance for a circle


def hex_rgb(colour: str) -> tuple[float, float, float]:
    """``"#b71c1c"`` → (r, g, b) in [0, 1]."""
    c = colour.lstrip("#")
    return tuple(int(c[i:i + 2], 16) / 255.0 for i in (0, 2, 4))


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def fit(text: str, width: float, size: float) -> str:
    """``text`` shortened with "…" to about ``width`` points at ``size``."""
    most = max(1, int(width / (AVERAGE_WIDTH * size)))
    return text if len(text) <= most else text[:most - 1] + "…"


@dataclass
class Page:
    """One page's drawing operations (its content stream) and the images it shows."""

    size: tuple[float, float] = A4
    ops: list[bytes] = field(default_factory=list)
    images: list[int] = field(default_factory=list)  # document image numbers

    def _y(self, y: float) -> float:
        return self.size[1] - y

    def text(self, x: float, y: float, text: str, size: float = 10, bold: bool = False,
             colour: str = "#1d2430", align: str = "left") -> None:
        """``text`` with its baseline at ``y``; ``align`` left, right or centre (approximate)."""
        if align != "left":
            shift = len(text) * AVERAGE_WIDTH * size
            x -= shift if align == "right" else shift / 2
        r, g, b = hex_rgb(colour)
        font = "F2" if bold else "F1"
        self.ops.append(b"BT %.3f %.3f %.3f rg /%s %.1f Tf %.2f %.2f Td (%s) Tj ET" % (
            r, g, b, font.encode(), size, x, self._y(y), _escape(text)))

    def rect(self, x: float, y: float, w: float, h: float, fill: str | None = None,
             stroke: str | None = None, width: float = 0.5) -> None:
        """A rectangle whose top-left corner is (x, y)."""
        self.ops.append(self._paint(b"%.2f %.2f %.2f %.2f re" % (x, self._y(y + h), w, h), fill, stroke, width))

    def line(self, x0: float, y0: float, x1: float, y1: float, colour: str = "#999999", width: float = 0.5) -> None:
        self.ops.append(self._paint(b"%.2f %.2f m %.2f %.2f l" % (x0, self._y(y0), x1, self._y(y1)),
                                    None, colour, width))

    def circle(self, x: float, y: float, r: float, fill: str, stroke: str | None = "#ffffff") -> None:
        y = self._y(y)
        k = KAPPA * r
        path = (b"%.2f %.2f m " % (x + r, y)
                + b"%.2f %.2f %.2f %.2f %.2f %.2f c " % (x + r, y + k, x + k, y + r, x, y + r)
                + b"%.2f %.2f %.2f %.2f %.2f %.2f c " % (x - k, y + r, x - r, y + k, x - r, y)
                + b"%.2f %.2f %.2f %.2f %.2f %.2f c " % (x - r, y - k, x - k, y - r, x, y - r)
                + b"%.2f %.2f %.2f %.2f %.2f %.2f c h" % (x + k, y - r, x + r, y - k, x + r, y))
        self.ops.append(self._paint(path, fill, stroke, 0.8))

    @staticmethod
    def _paint(path: bytes, fill: str | None, stroke: str | None, width: float) -> bytes:
        ops = [b"q"]
        if fill:
            ops.append(b"%.3f %.3f %.3f rg" % hex_rgb(fill))
        if stroke:
            ops.append(b"%.3f %.3f %.3f RG %.2f w" % (*hex_rgb(stroke), width))
        ops += [path, b"B" if fill and stroke else b"f" if fill else b"S", b"Q"]
        return b" ".join(ops)


class Document:
    """Pages, then ``bytes()``; JPEGs are added once and may be shown on any page."""

    def __init__(self, title: str = ""):
        self.title = title
        self.pages: list[Page] = []
        self._images: list[tuple[bytes, int, int, str]] = []

    def page(self) -> Page:
        p = Page()
        self.pages.append(p)
        return p

    def image(self, page: Page, jpeg: bytes, x: float, y: float, w: float, h: float) -> tuple[float, float]:
        """Show a JPEG inside the w × h box at (x, y), keeping its aspect and centred in the
        box; returns the size drawn."""
        with Image.open(io.BytesIO(jpeg)) as img:
            if img.format != "JPEG" or img.mode not in ("RGB", "L"):
                raise ValueError("the PDF embeds RGB or greyscale JPEGs only")
            iw, ih = img.size
            space = "DeviceRGB" if img.mode == "RGB" else "DeviceGray"
        self._images.append((jpeg, iw, ih, space))
        n = len(self._images)
        page.images.append(n)
        s = min(w / iw, h / ih)
        dw, dh = iw * s, ih * s
        left, top = x + (w - dw) / 2, y + (h - dh) / 2
        page.ops.append(b"q %.2f 0 0 %.2f %.2f %.2f cm /Im%d Do Q" % (dw, dh, left, page._y(top + dh), n))
        return dw, dh

    def __bytes__(self) -> bytes:
        objects: list[bytes] = []  # object k+1 is objects[k]

        def add(body: bytes) -> int:
            objects.append(body)
            return len(objects)

        def stream(head: bytes, data: bytes) -> bytes:
            return head[:-2] + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"

        catalog, pages_ref = add(b""), add(b"")
        fonts = {key: add(b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>"
                           % name.encode()) for key, name in zip(("F1", "F2"), FONTS.values())}
        images = [add(stream(b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /%s "
                             b"/BitsPerComponent 8 /Filter /DCTDecode >>" % (w, h, space.encode()), data))
                  for data, w, h, space in self._images]
        kids = []
        for p in self.pages:
            content = add(stream(b"<< /Filter /FlateDecode >>", zlib.compress(b"\n".join(p.ops), 6)))
            xobjects = b" ".join(b"/Im%d %d 0 R" % (n, images[n - 1]) for n in sorted(set(p.images)))
            kids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.0f %.0f] /Contents %d 0 R "
                            b"/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> /XObject << %s >> >> >>"
                            % (pages_ref, p.size[0], p.size[1], content, fonts["F1"], fonts["F2"], xobjects)))
        objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_ref
        objects[pages_ref - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
            b" ".join(b"%d 0 R" % k for k in kids), len(kids))
        info = add(b"<< /Title (%s) /Creator (RustSEG) >>" % _escape(self.title))
        out = io.BytesIO()
        out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for k, body in enumerate(objects, 1):
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n" % k + body + b"\nendobj\n")
        xref = out.tell()
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
        out.write(b"".join(b"%010d 00000 n \n" % o for o in offsets))
        out.write(b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
                  % (len(objects) + 1, catalog, info, xref))
        return out.getvalue()
