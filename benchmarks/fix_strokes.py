"""How long would a person take to fix a mask? A proxy (issue 12, section 4a): the number of
brush strokes a scripted browser needs to turn the model's mask into the ground truth.

For each of N photos of ``pixel/test`` (evaluation only: nothing is trained or tuned on
them) the photo is kept through the API, a greedy planner decides strokes on the editor's
canvas, and Chromium replays them in the real editor with the mouse (tool, brush size and
path per stroke), saves, and the stored correction is scored against the ground truth.

The planner works as a careful person would: it takes the largest wrong region (rust the
mask misses, or mask where there is no rust), picks the biggest of the editor's brush sizes
that still does useful work there, and scribbles over it in a zigzag that never leaves the
area where that brush is right (inside the true rust for painting, outside it for erasing),
lifting the pen only when the zigzag would cross such a border. It stops when the mask's
IoU reaches the target, the remaining slivers are narrower than the smallest brush, or at
the stroke cap. A stroke is one pointer-down ... pointer-up.

    nice -n 15 python3 -m benchmarks.fix_strokes --photos 10
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage, signal

BRUSHES_CSS = (60, 30, 16, 8, 4)  # brush sizes (CSS px) a person would pick on the slider
LEVELS = (0.5, 0.7, 0.8, 0.9)  # IoU levels reported
# A dab is placed where at least this share of the brush falls on the right side of the
# border (a person paints a little over the edge rather than switch to a tiny brush).
SAFE_SHARE = 0.85


@dataclass
class Stroke:
    tool: str  # "paint" or "erase"
    size_css: int  # brush diameter on screen
    points: list[tuple[float, float]]  # canvas pixels (x, y)


def _disk(r: int) -> np.ndarray:
    y, x = np.ogrid[-r:r + 1, -r:r + 1]
    return x * x + y * y <= r * r


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def apply_stroke(mask: np.ndarray, stroke: Stroke, width_px: float) -> np.ndarray:
    """The mask after a stroke, drawn as the canvas draws it (round caps and joins)."""
    img = Image.new("L", (mask.shape[1], mask.shape[0]), 0)
    d = ImageDraw.Draw(img)
    r = width_px / 2
    pts = stroke.points
    if len(pts) > 1:
        d.line(pts, fill=255, width=max(1, int(round(width_px))), joint="curve")
    for x, y in pts:
        d.ellipse((x - r, y - r, x + r, y + r), fill=255)
    hit = np.asarray(img) >= 128
    return (mask | hit) if stroke.tool == "paint" else (mask & ~hit)


def _segment_safe(centres: np.ndarray, a: tuple[int, int], b: tuple[int, int]) -> bool:
    n = int(max(abs(a[0] - b[0]), abs(a[1] - b[1]))) + 1
    xs = np.linspace(a[0], b[0], n).round().astype(int)
    ys = np.linspace(a[1], b[1], n).round().astype(int)
    return bool(centres[ys, xs].all())


def safe_centres(safe: np.ndarray, r: int) -> np.ndarray:
    """Where a brush of radius ``r`` falls at least ``SAFE_SHARE`` inside ``safe``."""
    disk = _disk(r).astype(np.float32)
    padded = np.pad(safe.astype(np.float32), r, mode="edge")
    inside = signal.fftconvolve(padded, disk / disk.sum(), mode="valid")
    return inside >= SAFE_SHARE - 1e-4


def plan_component(comp_distance: np.ndarray, centres: np.ndarray, r: int, tool: str,
                   size_css: int) -> list[Stroke]:
    """Zigzag strokes of radius ``r`` over a wrong region (``comp_distance``: each pixel's
    distance to it) through ``centres`` (where the brush is right, :func:`safe_centres`);
    the pen lifts when the path would leave them."""
    useful = centres & (comp_distance <= r)
    comp_shape = comp_distance.shape
    step = max(1, r)
    strokes: list[Stroke] = []
    current: list[tuple[int, int]] = []
    for row_i, y in enumerate(range(step // 2, comp_shape[0], step)):
        xs = np.flatnonzero(useful[y, :])
        if xs.size == 0:
            continue
        # Points every `step` px along the row's useful runs, and each run's end.
        every = xs[np.r_[True, np.diff(xs // step) != 0]]
        ends = xs[np.r_[np.diff(xs) > 1, True]]
        row = [(int(x), y) for x in np.union1d(every, ends)]
        if row_i % 2:
            row.reverse()
        for p in row:
            if current and not _segment_safe(centres, current[-1], p):
                strokes.append(Stroke(tool, size_css, [(float(x), float(yy)) for x, yy in current]))
                current = []
            current.append(p)
    if current:
        strokes.append(Stroke(tool, size_css, [(float(x), float(yy)) for x, yy in current]))
    return [Stroke(s.tool, s.size_css, _corners(s.points)) for s in strokes]


def _corners(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The same path with the points inside straight runs along a row dropped (the browser
    gets one pointer move per segment, not per pixel)."""
    kept = points[:1]
    for prev, p, nxt in zip(points, points[1:], points[2:]):
        if not (prev[1] == p[1] == nxt[1] and (p[0] - prev[0]) * (nxt[0] - p[0]) > 0):
            kept.append(p)
    return kept + points[1:][-1:]


def plan(start: np.ndarray, truth: np.ndarray, css_to_px: float, target: float = 0.95,
         max_strokes: int = 80) -> tuple[list[Stroke], list[float]]:
    """Strokes that turn ``start`` into ``truth`` (both at canvas size), and the IoU after
    each stroke (simulated). ``css_to_px``: canvas pixels per CSS pixel of the page."""
    mask = start.copy()
    strokes: list[Stroke] = []
    curve = [iou(mask, truth)]
    min_gain = max(4, int(0.0005 * mask.size))
    given_up = np.zeros_like(mask)  # slivers thinner than the smallest brush
    radius = {size: max(1, int(size * css_to_px / 2)) for size in BRUSHES_CSS}
    centres = {(tool, size): safe_centres(truth if tool == "paint" else ~truth, r)
               for tool in ("paint", "erase") for size, r in radius.items()}
    while curve[-1] < target and len(strokes) < max_strokes:
        best = None
        for tool, wrong in (("paint", truth & ~mask & ~given_up), ("erase", mask & ~truth & ~given_up)):
            labels, n = ndimage.label(wrong)
            if not n:
                continue
            sizes = ndimage.sum(wrong, labels, range(1, n + 1))
            k = int(np.argmax(sizes)) + 1
            if best is None or sizes[k - 1] > best[0]:
                best = (sizes[k - 1], tool, labels == k)
        if best is None or best[0] < min_gain:
            break
        area, tool, comp = best
        distance = ndimage.distance_transform_edt(~comp)
        chosen: list[Stroke] = []
        wrong_now = int((mask != truth).sum())
        best_rate = 0.0
        for size_css in BRUSHES_CSS:  # the brush that fixes the most pixels per stroke
            width = size_css * css_to_px
            trial = plan_component(distance, centres[tool, size_css], radius[size_css], tool, size_css)
            if not trial:
                continue
            after = mask
            for s in trial:
                after = apply_stroke(after, s, width)
            gain = wrong_now - int((after != truth).sum())
            if gain >= min_gain and gain / len(trial) > best_rate:
                chosen, best_rate = trial, gain / len(trial)
        if not chosen:  # too thin for the smallest brush: a sliver a person would leave
            given_up |= comp
            continue
        for s in chosen:
            if len(strokes) >= max_strokes:
                break
            mask = apply_stroke(mask, s, s.size_css * css_to_px)
            strokes.append(s)
            curve.append(iou(mask, truth))
    return strokes, curve


def strokes_to(curve: list[float], level: float) -> int | None:
    """Strokes needed before the IoU first reaches ``level`` (``None``: never)."""
    return next((i for i, v in enumerate(curve) if v >= level), None)


# ---------------------------------------------------------------- the scripted browser
def _serve(model: str, store_dir: Path):
    from werkzeug.serving import make_server

    from app import create_app

    app = create_app({"MODEL": model, "STORE_DIR": str(store_dir), "SECRET_KEY": "b" * 40,
                      "MAX_UPLOAD_MB": 20})
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return app, srv


def _keep(app, photo: Path) -> str:
    with app.test_client() as c:
        resp = c.post("/api/v1/segment", content_type="multipart/form-data",
                      data={"image": (io.BytesIO(photo.read_bytes()), photo.name), "keep": "true"})
    body = resp.get_json()
    assert resp.status_code == 200 and body["kept"], body
    return body["id"]


def _to_canvas(mask: np.ndarray, w: int, h: int) -> np.ndarray:
    """A full-size mask as the editor loads it: scaled to the canvas, thresholded at half."""
    img = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8))
    return np.asarray(img.resize((w, h), Image.BILINEAR)) >= 128


def replay(page, strokes: list[Stroke]) -> None:
    """Draw ``strokes`` in the editor with the mouse: tool and brush size, then the path."""
    canvas = page.locator("[data-editor-canvas]")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    width = page.evaluate("document.querySelector('[data-editor-canvas]').width")
    k = box["width"] / width
    for s in strokes:
        page.evaluate("""([tool, size]) => {
            document.querySelector(`[data-tool=${tool}]`).click();
            document.querySelector('[data-brush-size]').value = String(size); }""", [s.tool, s.size_css])
        xy = [(box["x"] + x * k, box["y"] + y * k) for x, y in s.points]
        page.mouse.move(*xy[0])
        page.mouse.down()
        for x, y in xy[1:]:
            page.mouse.move(x, y)
        page.mouse.up()


def measure(photos: list[tuple[Path, Path]], model: str, chromium: str, max_strokes: int) -> list[dict]:
    from playwright.sync_api import sync_playwright

    from rustseg_core.store import Store

    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        store_dir = Path(tmp) / "store"
        app, srv = _serve(model, store_dir)
        base = f"http://127.0.0.1:{srv.server_port}"
        browser = pw.chromium.launch(executable_path=chromium)
        try:
            for img_path, mask_path in photos:
                truth_full = np.asarray(Image.open(mask_path).convert("L")) >= 128
                record_id = _keep(app, img_path)
                store = Store(store_dir)
                rec = store.get(record_id)
                model_full = np.asarray(Image.open(store.file_path(rec, "mask.png"))) > 0
                page = browser.new_page(viewport={"width": 1280, "height": 1600})
                page.goto(f"{base}/r/{record_id}")
                page.locator("[data-mask-editor][data-ready=true]").wait_for()
                w, h, shown = page.evaluate("""() => { const c = document.querySelector('[data-editor-canvas]');
                    return [c.width, c.height, c.getBoundingClientRect().width]; }""")
                t0 = time.time()
                strokes, curve = plan(_to_canvas(model_full, w, h), _to_canvas(truth_full, w, h),
                                      w / shown, max_strokes=max_strokes)
                t1 = time.time()
                replay(page, strokes)
                page.get_by_role("button", name="Save corrected mask").click()
                page.locator("[data-mask-saved]").wait_for()
                t2 = time.time()
                page.close()
                saved = np.asarray(Image.open(store.correction_path(store.latest_correction(record_id)))) > 0
                rows.append({"photo": img_path.name, "size": f"{truth_full.shape[1]}x{truth_full.shape[0]}",
                             "canvas": f"{w}x{h}", "true_area": round(float(truth_full.mean()), 4),
                             "model_iou": round(iou(model_full, truth_full), 4),
                             "strokes": len(strokes),
                             **{f"strokes_to_{v}": strokes_to(curve, v) for v in LEVELS},
                             "iou_planned": round(curve[-1], 4),
                             "iou_saved": round(iou(saved, truth_full), 4),
                             "plan_s": round(t1 - t0, 1), "replay_s": round(t2 - t1, 1)})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        finally:
            browser.close()
            srv.shutdown()
    return rows


def report(rows: list[dict]) -> str:
    head = ["photo", "true area", "model IoU", "strokes", *[f"to {v}" for v in LEVELS],
            "IoU planned", "IoU saved"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["photo"], f"{r['true_area']:.3f}", f"{r['model_iou']:.3f}", str(r["strokes"]),
                 *["–" if r[f"strokes_to_{v}"] is None else str(r[f"strokes_to_{v}"]) for v in LEVELS],
                 f"{r['iou_planned']:.3f}", f"{r['iou_saved']:.3f}"]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    for v in LEVELS:
        reached = [r[f"strokes_to_{v}"] for r in rows if r[f"strokes_to_{v}"] is not None]
        med = f"; median {np.median(reached):.0f} strokes where reached" if reached else ""
        out.append(f"- IoU {v}: reached on {len(reached)}/{len(rows)} photos{med}")
    out.append(f"- mean IoU: model {np.mean([r['model_iou'] for r in rows]):.3f} → after the strokes, "
               f"as saved by the browser {np.mean([r['iou_saved'] for r in rows]):.3f} "
               f"(planned {np.mean([r['iou_planned'] for r in rows]):.3f}); "
               f"median strokes used {np.median([r['strokes'] for r in rows]):.0f}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="../shared/data/pixel/test", help="images/ + masks/ (evaluation only)")
    p.add_argument("--photos", type=int, default=10, help="photos, spread evenly over the folder")
    p.add_argument("--model", default="models/default")
    p.add_argument("--max-strokes", type=int, default=60)
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args(argv)
    from rustseg_core.learn.masks import mask_pairs_in

    pairs = mask_pairs_in(args.data)
    pick = sorted(set(np.linspace(0, len(pairs) - 1, args.photos).round().astype(int)))
    rows = measure([pairs[i] for i in pick], args.model, args.chromium, args.max_strokes)
    print(report(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
