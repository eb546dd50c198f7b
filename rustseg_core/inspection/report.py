"""Survey report files: self-contained HTML, PDF, CSV and GeoJSON, rendered in memory.

The HTML embeds its images as ``data:`` URIs and plots the GPS positions as inline SVG (no
map tiles: nothing is loaded from another site). The PDF (matplotlib) has a cover summary,
a table and one section per photo (photo, overlay, numbers).
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
from PIL import Image

from ..vocabulary import DISTRIBUTIONS, REPORT_OUTPUTS, SEVERITIES
from .grades import CAVEATS
from .survey import Survey, SurveyPhoto

CSV_FIELDS = ("number", "name", "severity", "astm_d610_grade", "iso4628_ri", "rust_distribution",
              "area_fraction", "probability", "decision", "capture_time", "latitude", "longitude",
              "roi_fraction")
TABLE_HEADINGS = ("#", "Photo", "Severity", "D610", "Ri", "Distribution", "Rust area",
                  "Probability", "Taken", "GPS")
A4 = (8.27, 11.69)  # inches, portrait
TABLE_ROWS_PER_PAGE = 32
SECTIONS_PER_PAGE = 2


# ------------------------------------------------------------------ shared wording
def table_row(number: int, photo: SurveyPhoto) -> tuple[str, ...]:
    """One photo's line of the HTML and PDF tables, as text (``TABLE_HEADINGS``)."""
    s = photo.summary
    return (str(number), photo.name, SEVERITIES[s["severity"]].label, str(s["astm_d610_grade"]),
            f"Ri {s['iso4628_ri']}", distribution_label(s.get("rust_distribution")),
            f"{100 * s['area_fraction']:.2f} %", f"{100 * s['probability']:.1f} %",
            (s.get("capture_time") or "—").replace("T", " "), gps_text(s))


def distribution_label(distribution: str | None, suggested: bool = False) -> str:
    """"Spot (S)" etc.; "—" when nothing was marked."""
    if not distribution:
        return "—"
    return DISTRIBUTIONS[distribution].label + (" (suggested from the mask)" if suggested else "")


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
             ("ISO 4628-3", e(f"Ri {s['iso4628_ri']}")),
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
def _array(jpeg: bytes | None) -> np.ndarray | None:
    if jpeg is None:
        return None
    with Image.open(io.BytesIO(jpeg)) as img:
        return np.asarray(img.convert("RGB"))


def _cover(fig, survey: Survey) -> None:
    fig.text(0.08, 0.93, survey.title, fontsize=22, weight="bold")
    fig.text(0.08, 0.9, f"Created {survey.created.replace('T', ' ')}", fontsize=10, color="#556")
    t = survey.totals()
    fig.text(0.08, 0.86, totals_text(survey), fontsize=12)
    ax = fig.add_axes((0.2, 0.66, 0.7, 0.16))
    names = [s.label for s in SEVERITIES.values()]
    counts = [t[k] for k in SEVERITIES]
    ax.barh(names[::-1], counts[::-1], color=[s.colour for s in SEVERITIES.values()][::-1])
    for y, c in enumerate(counts[::-1]):
        ax.text(c, y, f" {c}", va="center", fontsize=10)
    ax.set_xlim(0, max(counts + [1]) * 1.15)
    ax.set_xlabel("photos")
    ax.spines[["top", "right"]].set_visible(False)
    caveats = "\n".join(textwrap.fill("• " + c, 95, subsequent_indent="  ") for c in CAVEATS)
    fig.text(0.08, 0.6, "Caveats", fontsize=12, weight="bold")
    fig.text(0.08, 0.585, caveats, fontsize=8.5, va="top", linespacing=1.4)
    located = survey.located()
    if located:
        ax = fig.add_axes((0.12, 0.08, 0.8, 0.34))
        lat = np.array([p.summary["latitude"] for _, p in located])
        lon = np.array([p.summary["longitude"] for _, p in located])
        ax.scatter(lon, lat, c=[SEVERITIES[p.severity].colour for _, p in located], s=45,
                   edgecolors="white", zorder=2)
        for (i, _), x, y in zip(located, lon, lat):
            ax.annotate(str(i), (x, y), xytext=(4, 3), textcoords="offset points", fontsize=7)
        ax.set_aspect(1 / max(math.cos(math.radians(float(lat.mean()))), 1e-3), adjustable="datalim")
        ax.set_xlabel("longitude (°)")
        ax.set_ylabel("latitude (°)")
        ax.set_title(f"Locations of the {len(located)} photos with GPS (numbers as in the table)", fontsize=10)
        ax.ticklabel_format(useOffset=False)
        ax.grid(alpha=0.3)
    else:
        fig.text(0.08, 0.4, "No photo in this survey has a usable GPS position in its EXIF.", fontsize=10)


def _table(fig, survey: Survey, start: int, rows: list[tuple[str, ...]]) -> None:
    fig.text(0.05, 0.95, f"Photos, worst first ({start}–{start + len(rows) - 1} of "
                         f"{len(survey.photos)})", fontsize=13, weight="bold")
    ax = fig.add_axes((0.03, 0.04, 0.94, 0.89))
    ax.axis("off")
    cells = [[c if len(c) <= 26 else c[:25] + "…" for c in r] for r in rows]
    table = ax.table(cellText=cells, colLabels=TABLE_HEADINGS, loc="upper center", cellLoc="left",
                     colWidths=(0.04, 0.2, 0.07, 0.05, 0.05, 0.1, 0.08, 0.08, 0.14, 0.19))
    table.auto_set_font_size(False)
    table.set_fontsize(6.5)
    table.scale(1, 1.35)
    for r, row in enumerate(rows, 1):
        sev = survey.photos[int(row[0]) - 1].severity
        cell = table[r, 2]
        cell.set_facecolor(SEVERITIES[sev].colour)
        cell.get_text().set_color("white")


def _section(fig, i: int, p: SurveyPhoto, top: float, height: float = 0.27) -> None:
    s = p.summary
    fig.text(0.06, top - 0.02, f"#{i}  {p.name}", fontsize=12, weight="bold")
    for k, (jpeg, caption) in enumerate(((p.image_jpeg, "Photo"), (p.overlay_jpeg, "Overlay"))):
        arr = _array(jpeg)
        if arr is None:
            continue
        ax = fig.add_axes((0.06 + k * 0.45, top - 0.05 - height, 0.42, height))
        ax.axis("off")
        ax.imshow(arr, interpolation="none")
        fig.text(0.27 + k * 0.45, top - 0.045, caption, fontsize=8, color="#556", ha="center")
    lines = [("Severity", SEVERITIES[p.severity].label), ("ASTM D610 grade", str(s["astm_d610_grade"])),
             ("ISO 4628-3", f"Ri {s['iso4628_ri']}"),
             ("Distribution", distribution_label(s.get("rust_distribution"), suggested=True)),
             ("Rust area", area_text(s)), ("Corrosion probability", f"{100 * s['probability']:.1f} %"),
             ("Taken", (s.get("capture_time") or "not recorded").replace("T", " ")), ("GPS", gps_text(s))]
    y = top - 0.07 - height
    for col in range(2):  # two columns of label: value, one text per column part
        part = lines[4 * col:4 * col + 4]
        x = 0.06 + col * 0.45
        fig.text(x, y, "\n".join(label + ":" for label, _ in part), fontsize=8.5, color="#556",
                 va="top", linespacing=1.6)
        fig.text(x + 0.16, y, "\n".join(value for _, value in part), fontsize=8.5, va="top",
                 linespacing=1.6)
    fig.text(0.94, top - 0.02, SEVERITIES[p.severity].label, fontsize=11, ha="right",
             weight="bold", color="white", bbox={"boxstyle": "round", "fc": SEVERITIES[p.severity].colour,
                                                 "ec": "none"})

def report_pdf(survey: Survey) -> bytes:
    """Cover summary, the table, then one section per photo (two to a page)."""
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    buf = io.BytesIO()
    with PdfPages(buf, metadata={"Title": survey.title, "Creator": "RustSEG"}) as pdf:
        def page(draw, *args) -> None:
            fig = Figure(figsize=A4)
            draw(fig, *args)
            pdf.savefig(fig)

        page(_cover, survey)
        rows = [table_row(i, p) for i, p in enumerate(survey.photos, 1)]
        for start in range(0, len(rows), TABLE_ROWS_PER_PAGE):
            page(_table, survey, start + 1, rows[start:start + TABLE_ROWS_PER_PAGE])

        def sections(fig, first: int) -> None:
            for k, i in enumerate(range(first, min(first + SECTIONS_PER_PAGE, len(survey.photos) + 1))):
                _section(fig, i, survey.photos[i - 1], 0.97 - k * 0.49)

        for first in range(1, len(survey.photos) + 1, SECTIONS_PER_PAGE):
            page(sections, first)
    return buf.getvalue()


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
