"""Survey report files: self-contained HTML, PDF, CSV and GeoJSON, rendered in memory.

The HTML embeds its images as ``data:`` URIs and plots the GPS positions as inline SVG (no
map tiles: nothing is loaded from another site). The PDF has a cover summary,
a table and one section per photo (photo, overlay, numbers), written by ``pdf`` with the
thumbnails embedded as JPEGs.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import textwrap
from pathlib import Path

import numpy as np

from ..vocabulary import DISTRIBUTIONS, REPORT_OUTPUTS, SEVERITIES
from .grades import CAVEATS, ri_text
from .pdf import Document, fit
from .survey import Survey, SurveyPhoto

CSV_FIELDS = ("number", "name", "severity", "astm_d610_grade", "iso4628_ri", "rust_distribution",
              "area_fraction", "probability", "decision", "capture_time", "latitude", "longitude",
              "roi_fraction")
TABLE_HEADINGS = ("#", "Photo", "Severity", "D610", "Ri", "Distribution", "Rust area",
                  "Probability", "Taken", "GPS")
SECTIONS_PER_PAGE = 2


# ------------------------------------------------------------------ shared wording
def table_row(number: int, photo: SurveyPhoto) -> tuple[str, ...]:
    """One photo's line of the HTML and PDF tables, as text (``TABLE_HEADINGS``)."""
    s = photo.summary
    return (str(number), photo.name, SEVERITIES[s["severity"]].label, str(s["astm_d610_grade"]),
            ri_text(s["iso4628_ri"], short=True), distribution_label(s.get("rust_distribution")),
            f"{100 * s['area_fraction']:.2f} %", f"{100 * s['probability']:.1f} %",
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
        row = {k: ("" if v is None else v) for k, v in p.summary.items()}
        w.writerow({**row, "number": i, "name": p.name})
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


def locations_svg(survey: Survey, width: int = 720, height: int = 400) -> str:
    """The GPS positions as numbered points coloured by severity (empty text if none)."""
    located = survey.located()
    if not located:
        return ""
    xy = project([(p.summary["latitude"], p.summary["longitude"]) for _, p in located], width, height, 36)
    lats = [p.summary["latitude"] for _, p in located]
    lons = [p.summary["longitude"] for _, p in located]
    dots = "".join(
        f'<g><title>#{i} {html.escape(p.name)}: {SEVERITIES[p.severity].label}, D610 grade '
        f'{p.summary["astm_d610_grade"]}</title><circle cx="{x:.1f}" cy="{y:.1f}" r="7" '
        f'fill="{SEVERITIES[p.severity].colour}" stroke="#fff" stroke-width="1.5"/>'
        f'<text x="{x + 9:.1f}" y="{y + 4:.1f}" font-size="12">{i}</text></g>'
        for (i, p), (x, y) in zip(located, xy))
    extent = (f"latitude {min(lats):.5f} … {max(lats):.5f}, longitude {min(lons):.5f} … "
              f"{max(lons):.5f} (north up, equal scale)")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="Photo locations">'
            f'<text x="8" y="18" font-size="12" fill="#556">N ↑</text>{dots}'
            f'<text x="8" y="{height - 8}" font-size="11" fill="#556">{html.escape(extent)}</text></svg>')


def _photo_section(i: int, p: SurveyPhoto) -> str:
    s, e = p.summary, html.escape
    figures = "".join(f'<figure><img src="{uri}" alt="{e(alt)}"><figcaption>{e(alt)}</figcaption></figure>'
                      for uri, alt in ((_uri(p.image_jpeg), "Photo"), (_uri(p.overlay_jpeg), "Overlay"))
                      if uri)
    facts = (("Severity", _badge(p.severity)), ("ASTM D610 grade", e(str(s["astm_d610_grade"]))),
             ("ISO 4628-3", e(ri_text(s["iso4628_ri"]))),
             ("Distribution", e(distribution_label(s.get("rust_distribution"), suggested=True))),
             ("Rust area", e(area_text(s))), ("Corrosion probability", e(f"{100 * s['probability']:.1f} %")),
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
    body = (f"<h1>{e(survey.title)}</h1><p>Created {e(survey.created.replace('T', ' '))} · "
            f"{e(totals_text(survey))}</p><div class=\"totals\"><div><b>{t['photos']}</b>photos</div>"
            f"{totals}</div>"
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
MARGIN = 50.0
TABLE_COLUMNS = ((18, "right"), (100, "left"), (42, "left"), (26, "right"), (24, "left"),
                 (60, "left"), (44, "right"), (40, "right"), (82, "left"), (111, "left"))
PDF_HEADINGS = ("#", "Photo", "Severity", "D610", "Ri", "Distribution", "Area", "Prob.", "Taken", "GPS")
TABLE_ROW = 16.0


def _facts(p: SurveyPhoto) -> list[tuple[str, str]]:
    s = p.summary
    return [("Severity", SEVERITIES[p.severity].label), ("ASTM D610 grade", str(s["astm_d610_grade"])),
            ("ISO 4628-3", ri_text(s["iso4628_ri"])),
            ("Distribution", distribution_label(s.get("rust_distribution"), suggested=True)),
            ("Rust area", area_text(s)), ("Corrosion probability", f"{100 * s['probability']:.1f} %"),
            ("Taken", (s.get("capture_time") or "not recorded").replace("T", " ")), ("GPS", gps_text(s))]


def _cover(doc: Document, survey: Survey) -> None:
    page = doc.page()
    page.text(MARGIN, 80, fit(survey.title, 495, 22), 22, bold=True)
    page.text(MARGIN, 100, f"Created {survey.created.replace('T', ' ')}", 10, colour="#556677")
    page.text(MARGIN, 126, totals_text(survey), 12)
    t = survey.totals()
    top = max([t[k] for k in SEVERITIES] + [1])
    for k, (sid, sev) in enumerate(SEVERITIES.items()):
        y = 145 + 24 * k
        page.text(MARGIN, y + 12, sev.label, 10, bold=True)
        width = 360 * t[sid] / top
        if width:
            page.rect(MARGIN + 60, y, width, 16, fill=sev.colour)
        page.text(MARGIN + 66 + width, y + 12, str(t[sid]), 10)
    page.text(MARGIN, 265, "Read the grades with these caveats", 12, bold=True)
    y = 283
    for caveat in CAVEATS:
        for k, line in enumerate(textwrap.wrap(caveat, 112)):
            page.text(MARGIN + (10 if k else 0), y, ("" if k else "• ") + line, 9)
            y += 12.5
    located = survey.located()
    top_y = max(y + 25, 400)
    if not located:
        page.text(MARGIN, top_y, "No photo in this survey has a usable GPS position in its EXIF.", 10)
        return
    page.text(MARGIN, top_y, f"Locations of the {len(located)} photos with GPS (numbers as in the "
                             "table; north up, same scale both ways)", 10, bold=True)
    box_h = min(330.0, 790 - top_y - 30)
    page.rect(MARGIN, top_y + 10, 495, box_h, fill="#f7f9fb", stroke="#ccccdd")
    xy = project([(p.summary["latitude"], p.summary["longitude"]) for _, p in located], 495, box_h, 24)
    for (i, p), (x, yy) in zip(located, xy):
        page.circle(MARGIN + x, top_y + 10 + yy, 4.5, fill=SEVERITIES[p.severity].colour)
        page.text(MARGIN + x + 6, top_y + 10 + yy + 3, str(i), 7)
    lats = [p.summary["latitude"] for _, p in located]
    lons = [p.summary["longitude"] for _, p in located]
    page.text(MARGIN, top_y + box_h + 24, f"latitude {min(lats):.5f} … {max(lats):.5f}, longitude "
                                          f"{min(lons):.5f} … {max(lons):.5f}", 8, colour="#556677")


def _table_pages(doc: Document, survey: Survey) -> None:
    rows = [table_row(i, p) for i, p in enumerate(survey.photos, 1)]
    per_page = int((842 - 100 - 40) // TABLE_ROW)
    for start in range(0, len(rows), per_page):
        page = doc.page()
        chunk = rows[start:start + per_page]
        page.text(24, 60, f"Photos, worst first ({start + 1}–{start + len(chunk)} of {len(rows)})", 13, bold=True)
        y = 76.0
        page.rect(24, y, 547, TABLE_ROW, fill="#e9edf0")
        for cells, is_head in [(PDF_HEADINGS, True)] + [(r, False) for r in chunk]:
            x = 24.0
            for (width, align), cell in zip(TABLE_COLUMNS, cells):
                text = fit(cell, width - 4, 7)
                colour = "#1d2430"
                if not is_head and cell == SEVERITIES[survey.photos[int(cells[0]) - 1].severity].label:
                    page.rect(x + 1, y + 2, width - 2, TABLE_ROW - 4,
                              fill=SEVERITIES[survey.photos[int(cells[0]) - 1].severity].colour)
                    colour = "#ffffff"
                tx = x + width - 3 if align == "right" else x + 3
                page.text(tx, y + 11, text, 7, bold=is_head, colour=colour, align=align)
                x += width
            y += TABLE_ROW
            page.line(24, y, 571, y, colour="#dde2e6")


def _section(doc: Document, page, i: int, p: SurveyPhoto, top: float) -> None:
    sev = SEVERITIES[p.severity]
    page.text(MARGIN, top + 20, fit(f"#{i}  {p.name}", 400, 13), 13, bold=True)
    page.rect(545 - 64, top + 6, 64, 19, fill=sev.colour)
    page.text(545 - 32, top + 19.5, sev.label, 10, bold=True, colour="#ffffff", align="centre")
    for k, (jpeg, caption) in enumerate(((p.image_jpeg, "Photo"), (p.overlay_jpeg, "Overlay"))):
        if jpeg is None:
            continue
        x = MARGIN + k * 252
        page.text(x + 121, top + 42, caption, 8, colour="#556677", align="centre")
        doc.image(page, jpeg, x, top + 48, 243, 182)
    for k, (label, value) in enumerate(_facts(p)):
        col, row = divmod(k, 4)
        x, y = MARGIN + col * 252, top + 252 + 14 * row
        page.text(x, y, label + ":", 8.5, colour="#556677")
        page.text(x + 92, y, fit(value, 158, 8.5), 8.5, bold=label == "Severity",
                  colour=sev.colour if label == "Severity" else "#1d2430")


def report_pdf(survey: Survey) -> bytes:
    """Cover summary (totals, caveats, locations), the table, then one section per photo
    (photo, overlay, numbers), two to an A4 page. The thumbnails are embedded as JPEGs."""
    doc = Document(survey.title)
    _cover(doc, survey)
    _table_pages(doc, survey)
    for first in range(0, len(survey.photos), SECTIONS_PER_PAGE):
        page = doc.page()
        for k, p in enumerate(survey.photos[first:first + SECTIONS_PER_PAGE]):
            _section(doc, page, first + k + 1, p, 30 + k * 400)
    return bytes(doc)


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
