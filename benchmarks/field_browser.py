"""RustSEG on the phone, measured in headless Chromium on this machine:

* parity — every photo of ``--images`` (default ``../shared/data/pixel/test``) analysed by
  the browser (onnxruntime-web, the page's own code) and by the server's learned mode on the
  same bytes: mean mask IoU between the two (at the working size) and the share of photos
  given the same decision (targets: ≥ 0.98 and ≥ 99 %);
* one 12 MP photo analysed in the browser, end to end (decode with EXIF orientation,
  resize, model, mask, overlay; target ≤ 1.5 s);
* live mode on Chromium's fake camera (a y4m video made from real photos): frames per
  second over ``--live-seconds`` (target ≥ 5);
* the model download a phone makes (target ≤ 8 MB).

The model folder needs its ONNX export (``rustseg export MODEL_DIR``).

Usage (from the repository root):
``python3 -m benchmarks.field_browser [--model DIR] [--images DIR] [--limit N] [--json OUT]``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks.common import (DEFAULT_MODEL, CpuMonitor, record_cpu, finish, find_images, log,
                               machine_info, machine_markdown, make_megapixel_photo, markdown_table)

MODULE = "benchmarks.field_browser"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "pixel" / "test" / "images"
CHROMIUM = "/usr/bin/chromium"
TARGETS = {"iou": 0.98, "same": 0.99, "browser_12mp_s": 1.5, "fps": 5.0, "download_mb": 8.0}


def _server(model: str, tmp: Path):
    from werkzeug.serving import make_server

    from app import create_app
    from rustseg_core.pipeline.segmenter import Segmenter

    seg = Segmenter.load(model, runtime="tensorflow")  # the reference: the Keras model itself
    app = create_app({"SEGMENTER": seg, "STORE_DIR": "", "SECRET_KEY": "benchmark" * 5})
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_port}", seg


def run(args) -> dict:
    from playwright.sync_api import sync_playwright

    from tests.test_browser_field import _browser_mask, _ready, _y4m, mask_iou, server_mask

    photos = find_images(Path(args.images), args.limit)
    if not photos:
        raise SystemExit(f"no photos in {args.images}")
    tmp = Path(tempfile.mkdtemp(prefix="rustseg-field-"))
    srv, base, seg = _server(args.model, tmp)
    big = make_megapixel_photo(photos[0], 12.0, tmp)
    video = tmp / "camera.y4m"
    _y4m(video, photos[:8], frames=40, size=(640, 480))
    results = {"machine": machine_info(), "model": str(args.model), "images": str(args.images), "notes": []}
    with CpuMonitor() as mon, sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={video}",
            "--use-fake-ui-for-media-stream"])
        ctx = b.new_context(viewport={"width": 390, "height": 844}, permissions=["camera"])
        page = ctx.new_page()
        _ready(page, base)
        info = page.evaluate("() => fetch('/api/v1/model').then((r) => r.json())")
        results["download_bytes"] = info["file"]["bytes"]
        results["download_file"] = info["file"]["name"]
        ious, same, diffs, areas = [], 0, [], []
        log(f"parity on {len(photos)} photos")
        for photo in photos:
            got = _browser_mask(page, photo)
            prob, decided, mask = server_mask(seg, photo.read_bytes())
            same += got["isCorrosion"] == decided
            diffs.append(abs(got["probability"] - prob))
            ious.append(mask_iou(got["mask"], mask))
            areas.append(float(mask.mean()))
        worst = np.argsort(ious)[:3]  # what pulls the mean down: usually masks of a few pixels
        results["parity"] = {"n": len(photos), "mean_iou": float(np.mean(ious)), "min_iou": float(np.min(ious)),
                             "same_decision": same / len(photos), "max_probability_diff": float(np.max(diffs)),
                             "lowest": [{"photo": photos[i].name, "iou": round(float(ious[i]), 4),
                                         "server_mask_share": round(areas[i], 5)} for i in worst]}
        log("12 MP photo in the browser")
        page.set_input_files("#photo", str(big))
        times = [page.evaluate("""async () => {
            const f = document.querySelector('#photo').files[0];
            const m = await window.rustsegField.load();
            const t = performance.now();
            await window.rustsegField.analyseFile(f, m);
            return (performance.now() - t) / 1000; }""") for _ in range(3)]
        results["browser_12mp_s"] = {"median": float(np.median(times)), "all": times,
                                     "jpeg_kb": big.stat().st_size / 1024}
        log(f"live mode for {args.live_seconds} s")
        page.get_by_role("button", name="Start live camera").click()
        page.locator("[data-live-rate]").filter(has_text="frames/s").wait_for(timeout=60000)
        page.wait_for_timeout(2000)
        samples = []
        t_end = time.monotonic() + args.live_seconds
        while time.monotonic() < t_end:
            page.wait_for_timeout(1000)
            samples.append(float(page.locator("[data-live-rate]").get_attribute("data-fps") or 0))
        results["live_fps"] = {"median": float(np.median(samples)), "samples": samples,
                               "frame": "640x480 camera, analysed at 480 px, model input "
                                        f"{info['side']} px"}
        b.close()
    srv.shutdown()
    record_cpu(results, mon.result)
    return results


def render(r: dict) -> str:
    p = r["parity"]
    rows = [
        ["browser vs server mask, mean IoU", f"{p['mean_iou']:.4f} (min {p['min_iou']:.3f}, n {p['n']})", f"≥ {TARGETS['iou']}"],
        ["same decision", f"{100 * p['same_decision']:.1f} % (largest probability gap {p['max_probability_diff']:.4f})",
         f"≥ {100 * TARGETS['same']:.0f} %"],
        ["12 MP photo in the browser, end to end (median of 3)",
         f"{r['browser_12mp_s']['median']:.2f} s ({r['browser_12mp_s']['jpeg_kb']:.0f} KB JPEG)", f"≤ {TARGETS['browser_12mp_s']} s"],
        ["live mode, headless Chromium, fake camera", f"{r['live_fps']['median']:.1f} frames/s ({r['live_fps']['frame']})",
         f"≥ {TARGETS['fps']:g} frames/s"],
        ["model download for a phone", f"{r['download_bytes'] / 1e6:.1f} MB ({r['download_file']})", f"≤ {TARGETS['download_mb']:g} MB"],
    ]
    return "\n".join([f"## RustSEG on the phone, in headless Chromium (model {r['model']})", "",
                      markdown_table(["measure", "measured", "target"], rows, right=[False, True, True]), "",
                      machine_markdown(r["machine"]), *[f"- {n}" for n in r["notes"]]])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--images", default=str(DEFAULT_PHOTOS))
    ap.add_argument("--limit", type=int, default=64)
    ap.add_argument("--live-seconds", type=float, default=15.0)
    ap.add_argument("--json", help="also save the numbers here")
    args = ap.parse_args(argv)
    return finish(run(args), MODULE, render, args.limit < 10, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
