"""Survey report files: self-contained HTML, PDF, CSV and GeoJSON, rendered in memory.

The HTML embeds its images as ``data:`` URIs and plots the GPS positions as inline SVG (no
map tiles: nothing is loaded from another site). The PDF (fpdf2) has a cover summary, a
table and one section per photo (photo, overlay, numbers), with the thumbnails embedded as
the JPEGs they are (fpdf2 copies JPEG data into the file without re-encoding it).

Every report states what it was made with — the date of the analysis, the model version,
the mask method and the severity cut-offs — and, when given, the site and the inspector;
every photo is named in full (names wrap, they are never cut) and a borderline result says
"check by eye".

The report's budget is ≤ 10 % of the segmentation it describes
(``benchmarks.report_overhead``). Two things kept it there once segmentation became seven
times faster: the thumbnails are shrunk by OpenCV (``resize.thumbnail``), and the photo
table is drawn cell by cell, asking fpdf2's line breaking (most of what its ``table()``
cost) only for the text that does not fit on one line.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from pathlib import Path

import numpy as np

from ..vocabulary import (CHECK_BY_EYE, DISTRIBUTIONS, MODES, REPORT_OUTPUTS, RESULT_FIELDS,
                          SEVERITIES)
from .grades import CAVEATS, ri_text
from .survey import Survey, SurveyPhoto

# results.csv's columns (``vocabulary.RESULT_FIELDS``, same names and order), led by the
# photo's rank in the report and its file; results.csv's timings and errors are not here (a
# report lists only photos that were analysed; the skipped ones are in its "Skipped" list).
CSV_FIELDS = ("number", "file", "frame", *RESULT_FIELDS)
TABLE_HEADINGS = ("#", "Photo", "Severity", "D610", "ISO 4628-3", "Distribution", "Rust area",
                  "Probability", "Taken", "GPS")
SECTIONS_PER_PAGE = 2


# ------------------------------------------------------------------ shared wording
def table_row(number: int, photo: SurveyPhoto) -> tuple[str, ...]:
    """One photo's line of the HTML and PDF tables, as text (``TABLE_HEADINGS``)."""
    s = photo.summary
    probability = f"{100 * s['probability']:.1f} %" + (" (borderline)" if s.get("uncertain") else "")
    return (str(number), photo.name, SEVERITIES[s["severity"]].label, str(s["astm_d610_grade"]),
            ri_text(s["iso4628_ri"], short=True), distribution_label(s.get("rust_distribution")),
            f"{100 * s['area_fraction']:.2f} %", probability,
            (s.get("capture_time") or "—").replace("T", " "), gps_text(s))


def distribution_label(distribution: str | None, suggested: bool = False) -> str:
    """"Spot (S)" etc.; "—" when nothing was marked."""
    if not distribution:
        return "—"
    return DISTRIBUTIONS[distribution].label + (", suggested" if suggested else "")


def gps_text(summary: dict) -> str:
    lat, lon = summary.get("latitude"), summary.get("longitude")
    if lat is None or lon is None:
        return "—"
    return f"{abs(lat):.5f}° {'N' if lat >= 0 else 'S'}, {abs(lon):.5f}° {'E' if lon >= 0 else 'W'}"


def area_text(summary: dict) -> str:
    where = "of the photo" if summary.get("roi") is None else \
        f"of the region of interest ({100 * summary.get('roi_fraction', 1):.0f} % of the photo)"
    return f"{100 * summary['area_fraction']:.2f} % {where}"


def mode_label(mode: str | None) -> str:
    m = MODES.get(mode or "")
    return m.label if m else (mode or "unknown")


def about(survey: Survey) -> list[tuple[str, str]]:
    """What the report was made with, for its first page: date, site, inspector, model,
    mask method, cut-offs and how many results are borderline."""
    c = survey.cutoffs
    versions = sorted({p.summary.get("model_version") or "unknown" for p in survey.photos})
    modes = sorted({p.summary.get("mode") or "" for p in survey.photos})
    borderline = sum(bool(p.summary.get("uncertain")) for p in survey.photos)
    facts = [("Analysed", survey.created.replace("T", " "))]
    facts += [(k, v) for k, v in (("Site", survey.site), ("Inspector", survey.inspector)) if v]
    facts += [("Model version", ", ".join(versions)),
              ("Mask method", ", ".join(mode_label(m) for m in modes)
               + ("; the paper's methods are for research and comparison" if any(
                   MODES.get(m) and MODES[m].research for m in modes) else "")),
              ("Severity cut-offs", f"Good up to {c.good:g} % of the area rusted, Fair up to "
                                    f"{c.fair:g} %, Poor up to {c.poor:g} %, Severe above"),
              ("Borderline results", f"{borderline} of {len(survey.photos)} (probability near the "
                                     f"decision threshold: {CHECK_BY_EYE.split(': ')[1]})")]
    return facts


def verdict_text(summary: dict) -> str:
    """"Corrosion" / "No corrosion", and the borderline warning when it is one."""
    text = "Corrosion" if summary.get("decision") == "corrosion" else "No corrosion"
    return f"{text} ({CHECK_BY_EYE.lower()})" if summary.get("uncertain") else text


def totals_text(survey: Survey) -> str:
    t = survey.totals()
    parts = ", ".join(f"{t[k]} {v.label.lower()}" for k, v in SEVERITIES.items())
    return f"{t['photos']} photo{'s' if t['photos'] != 1 else ''}: {parts}"


def project(points: list[tuple[float, float]], width: float, height: float,
            margin: float) -> list[tuple[float, float]]:
    """(lat, lon) → (x, y) in a width × height box, equirectangular at the mean latitude,
    same scale on both axes, north up; a single point lands in the middle."""
    lat = np.array([p[0] for p in points])
    lon = np.array([p[1] for p in points]) * math.cos(math.radians(float(lat.mean())))
    scale = min((width - 2 * margin) / max(float(np.ptp(lon)), 1e-9),
                (height - 2 * margin) / max(float(np.ptp(lat)), 1e-9))
    cx, cy = (lon.max() + lon.min()) / 2, (lat.max() + lat.min()) / 2
    return [(width / 2 + (x - cx) * scale, height / 2 - (y - cy) * scale) for x, y in zip(lon, lat)]

# ------------------------------------------------------------------ CSV and GeoJSON
def report_csv(survey: Survey) -> bytes:
    """One row per photo, worst first (``CSV_FIELDS``)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, restval="", extrasaction="ignore")
    w.writeheader()
    for i, p in enumerate(survey.photos, 1):
        row = {k: ("" if v is None else json.dumps(v) if isinstance(v, list) else v)
               for k, v in p.summary.items()}
        w.writerow({**row, "number": i, "file": p.source, "frame": "" if p.frame is None else p.frame})
    return buf.getvalue().encode()


def report_geojson(survey: Survey) -> bytes:
    """A FeatureCollection of the photos with GPS: points with grade and severity."""
    features = [{"type": "Feature",
                 "geometry": {"type": "Point", "coordinates": [p.summary["longitude"], p.summary["latitude"]]},
                 "properties": {"number": i, "name": p.name, "severity": p.severity,
                                "astm_d610_grade": p.summary["astm_d610_grade"],
                                "iso4628_ri": p.summary["iso4628_ri"],
                                "rust_distribution": p.summary.get("rust_distribution"),
                                "area_fraction": p.summary["area_fraction"],
                                "probability": p.summary["probability"],
                                "capture_time": p.summary.get("capture_time"),
                                "marker-color": SEVERITIES[p.severity].colour}}
                for i, p in survey.located()]
    return json.dumps({"type": "FeatureCollection", "features": features}, indent=1).encode()


# ------------------------------------------------------------------ HTML
STYLE = """
body{font:15px/1.45 system-ui,sans-serif;color:#1d2430;margin:0 auto;max-width:1100px;padding:1rem}
h1{margin:.2rem 0}h2{margin-top:2rem;border-bottom:1px solid #ccd;padding-bottom:.2rem}
table{border-collapse:collapse;width:100%}th,td{padding:.3rem .45rem;border-bottom:1px solid #e3e6ec;
text-align:left;vertical-align:middle}th{background:#f3f5f8}td.num{text-align:right;white-space:nowrap}
.sev{display:inline-block;padding:.1rem .5rem;border-radius:.8rem;color:#fff;font-weight:600}
.totals{display:flex;flex-wrap:wrap;gap:.6rem}.totals div{border:1px solid #ccd;border-radius:.4rem;
padding:.4rem .8rem}.totals b{font-size:1.4rem;display:block}.thumb{width:120px;height:auto;display:block}
.caveats{background:#fff8e1;border-left:4px solid #b08900;padding:.5rem 1rem}
.photo{break-inside:avoid;border:1px solid #dde;border-radius:.4rem;padding:.6rem;margin:1rem 0}
.pair{display:flex;flex-wrap:wrap;gap:.6rem}.pair figure{margin:0;flex:1 1 300px}
.pair img{width:100%;height:auto}figcaption{font-size:.85rem;color:#556}dl{display:grid;
grid-template-columns:max-content 1fr;gap:.15rem 1rem}dt{color:#556}dd{margin:0}
svg{max-width:100%;height:auto;border:1px solid #ccd;background:#f7f9fb}
"""


def _uri(jpeg: bytes | None) -> str | None:
    return None if jpeg is None else "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def _badge(severity: str) -> str:
    s = SEVERITIES[severity]
    return f'<span class="sev" style="background:{s.colour}">{s.label}</span>'


def locations_svg(survey: Survey, width: int = 720, height: int = 400, text: float = 12.0) -> str:
    """The GPS positions as numbered points coloured by severity (empty text if none).
    ``text`` is the label size in the drawing's units: the drawing scales to its box, so a
    page shown on a phone draws a smaller box with larger labels."""
    located = survey.located()
    if not located:
        return ""
    xy = project([(p.summary["latitude"], p.summary["longitude"]) for _, p in located], width, height, 36)
    lats = [p.summary["latitude"] for _, p in located]
    lons = [p.summary["longitude"] for _, p in located]
    dots = "".join(
        f'<g><title>#{i} {html.escape(p.name)}: {SEVERITIES[p.severity].label}, D610 grade '
        f'{p.summary["astm_d610_grade"]}</title><circle cx="{x:.1f}" cy="{y:.1f}" r="{0.6 * text:.1f}" '
        f'fill="{SEVERITIES[p.severity].colour}" stroke="#fff" stroke-width="1.5"/>'
        f'<text x="{x + 0.75 * text + 3:.1f}" y="{y + text / 3:.1f}" font-size="{text:g}" '
        f'font-weight="600">{i}</text></g>'
        for (i, p), (x, y) in zip(located, xy))
    small = 0.8 * text
    extent = "".join(  # two short lines, so they fit a narrow drawing
        f'<text x="8" y="{height - 8 - (1 - k) * (small + 4):.1f}" font-size="{small:.1f}" '
        f'fill="#556">{html.escape(line)}</text>'
        for k, line in enumerate((f"latitude {min(lats):.5f} … {max(lats):.5f}",
                                  f"longitude {min(lons):.5f} … {max(lons):.5f} (north up, equal scale)")))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="Photo locations">'
            f'<text x="8" y="{text + 6:g}" font-size="{text:g}" fill="#556">N ↑</text>{dots}'
            f'{extent}</svg>')


def _photo_section(i: int, p: SurveyPhoto) -> str:
    s, e = p.summary, html.escape
    figures = "".join(f'<figure><img src="{uri}" alt="{e(alt)}"><figcaption>{e(alt)}</figcaption></figure>'
                      for uri, alt in ((_uri(p.image_jpeg), "Photo"), (_uri(p.overlay_jpeg), "Overlay"))
                      if uri)
    facts = (("Severity", _badge(p.severity)), ("Decision", e(verdict_text(s))),
             ("ASTM D610 grade", e(str(s["astm_d610_grade"]))),
             ("ISO 4628-3", e(ri_text(s["iso4628_ri"]))),
             ("Distribution", e(distribution_label(s.get("rust_distribution"), suggested=True))),
             ("Rust area", e(area_text(s))), ("Corrosion probability", e(f"{100 * s['probability']:.1f} %")),
             ("Mask method", e(mode_label(s.get("mode")))),
             ("Taken", e((s.get("capture_time") or "not recorded").replace("T", " "))),
             ("GPS", e(gps_text(s))))
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    return (f'<section class="photo" id="photo-{i}"><h3>#{i} {e(p.name)}</h3>'
            f'<div class="pair">{figures}</div><dl>{dl}</dl></section>')


def report_html(survey: Survey) -> bytes:
    """A single HTML file: totals, caveats, locations plot, table and one section per photo."""
    e = html.escape
    t = survey.totals()
    totals = "".join(f'<div><b style="color:{s.colour}">{t[k]}</b>{s.label}</div>' for k, s in SEVERITIES.items())
    rows = []
    for i, p in enumerate(survey.photos, 1):
        cells = table_row(i, p)
        thumb = _uri(p.overlay_jpeg)
        img = f'<img class="thumb" src="{thumb}" alt="Overlay of {e(p.name)}">' if thumb else ""
        rows.append(f'<tr><td class="num"><a href="#photo-{i}">{i}</a></td><td>{img}{e(cells[1])}</td>'
                    f'<td>{_badge(p.severity)}</td>'
                    + "".join(f'<td class="num">{e(c)}</td>' for c in cells[3:]) + "</tr>")
    svg = locations_svg(survey)
    where = svg or "<p>No photo in this survey has a usable GPS position in its EXIF.</p>"
    skipped = "".join(f"<li>{e(n)}: {e(why)}</li>" for n, why in survey.skipped)
    made_with = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in about(survey))
    body = (f"<h1>{e(survey.title)}</h1><p>{e(totals_text(survey))}</p>"
            f'<dl class="about">{made_with}</dl>'
            f"<div class=\"totals\"><div><b>{t['photos']}</b>photos</div>{totals}</div>"
            f'<div class="caveats"><p><strong>Read the grades with these caveats:</strong></p><ul>'
            + "".join(f"<li>{e(c)}</li>" for c in CAVEATS) + "</ul></div>"
            f"<h2>Locations</h2>{where}"
            f"<h2>Photos, worst first</h2><table><thead><tr>"
            + "".join(f"<th>{h}</th>" for h in TABLE_HEADINGS) + f"</tr></thead><tbody>{''.join(rows)}"
            f"</tbody></table>"
            + (f"<h2>Skipped</h2><ul>{skipped}</ul>" if skipped else "")
            + "<h2>Each photo</h2>" + "".join(_photo_section(i, p) for i, p in enumerate(survey.photos, 1)))
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{e(survey.title)}</title>'
            f"<style>{STYLE}</style></head><body>{body}</body></html>").encode()


# ------------------------------------------------------------------ PDF
A4_WIDTH, A4_HEIGHT, MARGIN = 595.28, 841.89, 40.0
# The table's column widths in points (the 515 between the margins), in TABLE_HEADINGS' order.
TABLE_WIDTHS = (18, 110, 42, 26, 46, 54, 38, 50, 62, 69)
TABLE_LINE, TABLE_PAD = 9.0, 1.0  # points: a line of the table's 7 pt text, space above and below
TABLE_RULE = (204, 204, 221)
# (font style, text colour, fill) of the headings and of a plain cell
HEAD_STYLE = ("B", (0, 0, 0), (233, 237, 240))
PLAIN_STYLE = ("", (29, 36, 48), None)
PDF_TEXT = str.maketrans({"≤": "<=", "≥": ">=", "–": "-", "—": "-", "…": "...", "↑": "^",
                          "’": "'", "‘": "'", "“": '"', "”": '"', "×": "x"})
MUTED = "#556677"


def _t(text: str) -> str:
    """Text for the PDF's standard fonts (Latin-1: a few typographic marks are spelled out)."""
    return str(text).translate(PDF_TEXT).encode("latin-1", "replace").decode("latin-1")


def _para(pdf, w: float, h: float, text: str) -> None:
    """Wrapped text from the current position; the next line starts at the left margin."""
    room = (w or pdf.w - pdf.r_margin - pdf.x) - 2 * pdf.c_margin
    if "\n" not in text and pdf.get_string_width(text) <= room:  # one line: a cell is 3× cheaper
        pdf.cell(w, h, text, new_x="LMARGIN", new_y="NEXT")
    else:
        pdf.multi_cell(w, h, text, new_x="LMARGIN", new_y="NEXT")


def _rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return tuple(int(c[i:i + 2], 16) for i in (0, 2, 4))


def _new_pdf(survey: Survey):
    from fpdf import FPDF

    pdf = FPDF(orientation="portrait", unit="pt", format="A4")
    pdf.set_title(_t(survey.title))
    pdf.set_creator("RustSEG")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(True, MARGIN)
    pdf.c_margin = 2.5
    return pdf


def _pdf_cover(pdf, survey: Survey) -> None:
    pdf.add_page()
    pdf.set_font("helvetica", "B", 20)
    _para(pdf, 0, 24, _t(survey.title))
    pdf.set_font("helvetica", "", 11)
    _para(pdf, 0, 16, _t(totals_text(survey)))
    pdf.ln(6)
    for label, value in about(survey):
        pdf.set_font("helvetica", "B", 9)
        pdf.set_text_color(*_rgb(MUTED))
        pdf.cell(110, 13, _t(label))
        pdf.set_text_color(0, 0, 0)
        pdf.set_font("helvetica", "", 9)
        _para(pdf, 0, 13, _t(value))
    pdf.ln(8)
    t = survey.totals()
    top = max([t[k] for k in SEVERITIES] + [1])
    for sid, sev in SEVERITIES.items():
        y = pdf.get_y()
        pdf.set_font("helvetica", "B", 10)
        pdf.cell(60, 18, sev.label)
        width = 360 * t[sid] / top
        if width:
            pdf.set_fill_color(*_rgb(sev.colour))
            pdf.rect(MARGIN + 60, y + 1, width, 16, style="F")
        pdf.set_x(MARGIN + 66 + width)
        pdf.set_font("helvetica", "", 10)
        pdf.cell(40, 18, str(t[sid]), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.set_font("helvetica", "B", 11)
    pdf.cell(0, 16, "Read the grades with these caveats", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 9)
    for caveat in CAVEATS:
        _para(pdf, 0, 12, _t("- " + caveat))
    _pdf_locations(pdf, survey)


def _pdf_locations(pdf, survey: Survey) -> None:
    located = survey.located()
    pdf.ln(10)
    pdf.set_font("helvetica", "B", 10)
    if not located:
        _para(pdf, 0, 14, "No photo in this survey has a usable GPS position in its EXIF.")
        return
    _para(pdf, 0, 14, _t(f"Locations of the {len(located)} photos with GPS (numbers as in "
                             "the table; north up, same scale both ways)"))
    top = pdf.get_y() + 4
    box_w, box_h = A4_WIDTH - 2 * MARGIN, min(300.0, A4_HEIGHT - MARGIN - top - 24)
    if box_h < 120:  # no room left on the cover: the plot gets a page of its own
        pdf.add_page()
        top, box_h = MARGIN, 300.0
    pdf.set_fill_color(247, 249, 251)
    pdf.set_draw_color(204, 204, 221)
    pdf.rect(MARGIN, top, box_w, box_h, style="DF")
    xy = project([(p.summary["latitude"], p.summary["longitude"]) for _, p in located], box_w, box_h, 24)
    pdf.set_font("helvetica", "B", 9)
    for (i, p), (x, y) in zip(located, xy):
        pdf.set_fill_color(*_rgb(SEVERITIES[p.severity].colour))
        pdf.set_draw_color(255, 255, 255)
        pdf.circle(x=MARGIN + x, y=top + y, radius=5, style="DF")
        pdf.text(MARGIN + x + 7, top + y + 3, str(i))
    lats = [p.summary["latitude"] for _, p in located]
    lons = [p.summary["longitude"] for _, p in located]
    pdf.set_xy(MARGIN, top + box_h + 4)
    pdf.set_font("helvetica", "", 8)
    pdf.set_text_color(*_rgb(MUTED))
    _para(pdf, 0, 11, _t(f"latitude {min(lats):.5f} ... {max(lats):.5f}, longitude "
                             f"{min(lons):.5f} ... {max(lons):.5f}"))
    pdf.set_text_color(0, 0, 0)


def _cell_lines(pdf, text: str, width: float) -> list[str]:
    """``text`` broken into the lines of a table cell ``width`` wide, in the current font
    (fpdf2's line breaking, asked only of the text that does not fit on one line: it is
    most of what a table costs)."""
    if pdf.get_string_width(text) <= width - 2 * pdf.c_margin:
        return [text]
    return pdf.multi_cell(width, TABLE_LINE, text, dry_run=True, output="LINES")


def _pdf_table_row(pdf, cells: tuple[str, ...], styles: list[tuple[str, tuple, tuple | None]],
                   heading: bool = False) -> None:
    """One row of the photo table: each cell (font style, text colour, fill or None) wrapped
    to its column and centred vertically, a rule below; a new page, with the headings
    again, when the row does not fit."""
    lines = []
    for text, (emphasis, _, _), width in zip(cells, styles, TABLE_WIDTHS):
        pdf.set_font(style=emphasis)
        lines.append(_cell_lines(pdf, text, width))
    height = TABLE_LINE * max(map(len, lines)) + 2 * TABLE_PAD
    if pdf.get_y() + height > pdf.page_break_trigger and not heading:
        pdf.add_page()
        _pdf_table_headings(pdf)
    x, y = MARGIN, pdf.get_y()
    for cell_lines, (emphasis, colour, fill), width in zip(lines, styles, TABLE_WIDTHS):
        if fill:
            pdf.set_fill_color(*fill)
            pdf.rect(x, y, width, height, style="F")
        pdf.set_font(style=emphasis)
        pdf.set_text_color(*colour)
        top = y + (height - TABLE_LINE * len(cell_lines)) / 2
        for k, line in enumerate(cell_lines):  # baseline as fpdf2's cell() places it
            pdf.text(x + pdf.c_margin, top + (k + 0.5) * TABLE_LINE + 0.3 * pdf.font_size, line)
        x += width
    pdf.set_draw_color(*TABLE_RULE)
    pdf.line(MARGIN, y + height, MARGIN + sum(TABLE_WIDTHS), y + height)
    pdf.set_xy(MARGIN, y + height)


def _pdf_table_headings(pdf) -> None:
    _pdf_table_row(pdf, TABLE_HEADINGS, [HEAD_STYLE] * len(TABLE_HEADINGS), heading=True)


def _pdf_table(pdf, survey: Survey) -> None:
    pdf.add_page()
    pdf.set_font("helvetica", "B", 13)
    pdf.cell(0, 18, "Photos, worst first", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 7)
    _pdf_table_headings(pdf)
    for i, p in enumerate(survey.photos, 1):
        badge = ("B", (255, 255, 255), _rgb(SEVERITIES[p.severity].colour))
        styles = [badge if k == 2 else PLAIN_STYLE for k in range(len(TABLE_HEADINGS))]
        _pdf_table_row(pdf, tuple(_t(c) for c in table_row(i, p)), styles)
    pdf.set_text_color(0, 0, 0)


def _pdf_section(pdf, i: int, p: SurveyPhoto) -> None:
    """One photo: its name in full (wrapped), severity, photo and overlay, and its facts."""
    sev = SEVERITIES[p.severity]
    if pdf.get_y() > A4_HEIGHT - MARGIN - 330:
        pdf.add_page()
    pdf.set_font("helvetica", "B", 12)
    pdf.set_fill_color(*_rgb(sev.colour))
    pdf.set_text_color(255, 255, 255)
    pdf.cell(64, 18, sev.label, fill=True, align="C")
    pdf.set_text_color(0, 0, 0)
    pdf.set_x(MARGIN + 72)
    _para(pdf, 0, 18, _t(f"#{i}  {p.name}"))
    top = pdf.get_y() + 4
    width, height = (A4_WIDTH - 2 * MARGIN - 10) / 2, 180.0
    for k, (jpeg, caption) in enumerate(((p.image_jpeg, "Photo"), (p.overlay_jpeg, "Overlay"))):
        if jpeg is None:
            continue
        x = MARGIN + k * (width + 10)
        pdf.image(io.BytesIO(jpeg), x=x, y=top, w=width, h=height, keep_aspect_ratio=True)
        pdf.set_xy(x, top + height + 1)
        pdf.set_font("helvetica", "", 7.5)
        pdf.set_text_color(*_rgb(MUTED))
        pdf.cell(width, 10, caption, align="C")
    pdf.set_text_color(0, 0, 0)
    pdf.set_xy(MARGIN, top + height + 14)
    for label, value in _facts(p):
        pdf.set_font("helvetica", "", 8.5)
        pdf.set_text_color(*_rgb(MUTED))
        pdf.cell(110, 11.5, _t(label + ":"))
        pdf.set_text_color(0, 0, 0)
        pdf.set_font("helvetica", "B" if label in ("Severity", "Decision") else "", 8.5)
        _para(pdf, 0, 11.5, _t(value))
    pdf.ln(14)


def _facts(p: SurveyPhoto) -> list[tuple[str, str]]:
    s = p.summary
    return [("Photo file", p.source + ("" if p.frame is None else f", frame {p.frame}")),
            ("Severity", SEVERITIES[p.severity].label), ("Decision", verdict_text(s)),
            ("ASTM D610 grade", str(s["astm_d610_grade"])), ("ISO 4628-3", ri_text(s["iso4628_ri"])),
            ("Distribution", distribution_label(s.get("rust_distribution"), suggested=True)),
            ("Rust area", area_text(s)), ("Corrosion probability", f"{100 * s['probability']:.1f} %"),
            ("Mask method", mode_label(s.get("mode"))),
            ("Taken", (s.get("capture_time") or "not recorded").replace("T", " ")), ("GPS", gps_text(s))]


def report_pdf(survey: Survey) -> bytes:
    """Cover (what it was made with, totals, caveats, locations), the table, then one
    section per photo (photo, overlay, numbers). The thumbnails are embedded as JPEGs."""
    pdf = _new_pdf(survey)
    _pdf_cover(pdf, survey)
    _pdf_table(pdf, survey)
    pdf.add_page()
    for i, p in enumerate(survey.photos, 1):
        _pdf_section(pdf, i, p)
    return bytes(pdf.output())


# ------------------------------------------------------------------ all files
def render(survey: Survey, key: str) -> bytes:
    """The report file ``vocabulary.REPORT_OUTPUTS[key]``."""
    return globals()[REPORT_OUTPUTS[key].encoder](survey)


def write_reports(survey: Survey, out_dir: str | Path) -> list[Path]:
    """Every report file into ``out_dir`` (report.html, report.pdf, report.csv, report.geojson)."""
    paths = []
    for key, output in REPORT_OUTPUTS.items():
        path = Path(out_dir) / output.filename
        path.write_bytes(render(survey, key))
        paths.append(path)
    return paths
