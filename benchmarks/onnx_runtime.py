"""Each mode on TensorFlow against ONNX Runtime, side by side in one run, on the same
photos: end-to-end time per photo (decode → model → mask at full size → overlay) and how
well the two masks agree (mean IoU; issue 20's bar for switching learned mode: ≥ 1.3× faster
with mean IoU ≥ 0.99). The model folder needs ``model.onnx`` (``rustseg export MODEL_DIR``);
the paper's modes (standard: Grad-CAM++ and the CRF) run on ONNX Runtime when the export
carries Grad-CAM++'s inputs, else both columns are TensorFlow (said in the table).

Usage (from the repository root):
``python3 -m benchmarks.onnx_runtime [--images DIR] [--limit 40] [--megapixels 12]
[--modes learned,standard] [--json OUT]``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks.common import (DEFAULT_MODEL, CpuMonitor, record_cpu, finish, find_images, log,
                               machine_info, machine_markdown, make_megapixel_photo, markdown_table,
                               summarise)

MODULE = "benchmarks.onnx_runtime"
DEFAULT_PHOTOS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "pixel" / "test" / "images"
SPEED_BAR, IOU_BAR = 1.3, 0.99


def _iou(a, b) -> float:
    """Mask IoU, a missing mask (photo called clean) counting as empty."""
    from rustseg_core.learn.metrics import mask_scores

    a = np.zeros((1, 1), bool) if a is None else a
    b = np.zeros((1, 1), bool) if b is None else b
    return mask_scores(a, b)["iou"]


def run(args) -> dict:
    from rustseg_core.pipeline.segmenter import Segmenter

    tf_seg = Segmenter.load(args.model, runtime="tensorflow")
    onnx_seg = Segmenter.load(args.model, runtime="onnx")
    photos = find_images(Path(args.images), args.limit)
    if not photos:
        raise SystemExit(f"no photos in {args.images}")
    sets = {"as stored": [p.read_bytes() for p in photos]}
    if args.megapixels:
        tmp = Path(tempfile.mkdtemp(prefix="rustseg-onnx-"))
        big = [make_megapixel_photo(p, args.megapixels, tmp, seed=i) for i, p in enumerate(photos[:args.large])]
        sets[f"{args.megapixels:g} MP"] = [p.read_bytes() for p in big]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    results = {"machine": machine_info(), "model": str(args.model), "photos": len(photos),
               "images": str(args.images), "sets": {}, "notes": []}
    with CpuMonitor() as mon:
        for mode in modes:
            onnx_runtime = onnx_seg.runtime if mode == "learned" else onnx_seg.cam_runtime
            for name, data in sets.items():
                log(f"{mode} mode, {name}: {len(data)} photos, each segmented by both runtimes in turn")
                for seg in (tf_seg, onnx_seg):  # warm-up of this size
                    seg.segment(data[0], mode=mode)
                times = {"tensorflow": [], "onnx": []}
                ious, same = [], 0
                for d in data:
                    out = {}
                    for runtime, seg in (("tensorflow", tf_seg), ("onnx", onnx_seg)):
                        t0 = time.perf_counter()
                        out[runtime] = seg.segment(d, mode=mode)
                        times[runtime].append(time.perf_counter() - t0)
                    ious.append(_iou(out["tensorflow"].mask, out["onnx"].mask))
                    same += out["tensorflow"].is_corrosion == out["onnx"].is_corrosion
                tf_s, ort_s = summarise(times["tensorflow"]), summarise(times["onnx"])
                results["sets"][f"{mode}, {name}"] = {
                    "mode": mode, "photos": name, "onnx_column_runtime": onnx_runtime,
                    "tensorflow": tf_s, "onnx": ort_s, "speedup": tf_s["median"] / ort_s["median"],
                    "mean_iou": float(np.mean(ious)), "min_iou": float(np.min(ious)),
                    "same_decision": same / len(data), "n": len(data)}
    record_cpu(results, mon.result)
    return results


def render(r: dict) -> str:
    sets = r["sets"]
    rows = [[s.get("mode", "learned"), s.get("photos", name), s["n"], f"{s['tensorflow']['median'] * 1000:.0f}",
             f"{s['onnx']['median'] * 1000:.0f}" + ("" if s.get("onnx_column_runtime", "onnx") == "onnx"
                                                    else " (TensorFlow: no Grad-CAM++ in the export)"),
             f"{s['speedup']:.2f}×", f"{s['mean_iou']:.4f} (min {s['min_iou']:.3f})",
             f"{100 * s['same_decision']:.0f} %"]
            for name, s in sets.items()]
    table = markdown_table(["mode", "photos", "n", "TensorFlow ms (median)", "ONNX Runtime ms", "speed-up",
                            "mask IoU between them", "same decision"], rows)
    learned = [s for s in sets.values() if s.get("mode", "learned") == "learned"]
    others = [s for s in sets.values() if s.get("mode", "learned") != "learned"]
    lines = []
    if learned:
        ok = all(s["speedup"] >= SPEED_BAR and s["mean_iou"] >= IOU_BAR for s in learned)
        lines.append(f"ONNX Runtime {'meets' if ok else 'does not meet'} the bar for learned mode's "
                     f"runtime (≥ {SPEED_BAR}× end to end with mean mask IoU ≥ {IOU_BAR}) on every set.")
    if others:
        same = all(s["mean_iou"] >= IOU_BAR and s["same_decision"] == 1 for s in others)
        lines.append(f"The paper's modes on ONNX Runtime {'give' if same else 'do not give'} TensorFlow's "
                     f"masks (mean IoU ≥ {IOU_BAR}, every decision the same) on every set.")
    return "\n".join([f"## Each mode: TensorFlow vs ONNX Runtime (model {r['model']}, end to end "
                      "per photo, interleaved)", "", table, "", *lines, "",
                      machine_markdown(r["machine"]), *[f"- {n}" for n in r["notes"]]])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=str(DEFAULT_MODEL))
    p.add_argument("--images", default=str(DEFAULT_PHOTOS))
    p.add_argument("--limit", type=int, default=40, help="photos of --images")
    p.add_argument("--megapixels", type=float, default=12.0, help="also these photos resized to this (0: no)")
    p.add_argument("--large", type=int, default=8, help="how many photos get the large copy")
    p.add_argument("--modes", default="learned,standard", help="comma-separated modes to compare")
    p.add_argument("--json", help="also save the numbers here")
    args = p.parse_args(argv)
    return finish(run(args), MODULE, render, args.limit < 10, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
