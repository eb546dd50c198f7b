"""What a survey report adds to segmenting a folder (issue 11's target: at most 10 %).

One run of ``segment_batch`` over a folder of photos with the report on: the report's own
time (thumbnails of each result, then report.html/.pdf/.csv/.geojson) is measured inside
the run by ``ReportBuilder``; the rest of the run is the segmentation (decode, model, mask,
grading, writing the per-photo files and results.csv). Photos default to ``--count`` 200
synthetic 1024×768 JPEGs, half of them with EXIF GPS and capture time (so the locations
plot and GeoJSON have points); ``--images DIR`` uses real photos instead.

Usage (from the repository root):
``python3 -m benchmarks.report_overhead [--count 200] [--images DIR] [--json OUT]``.
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

from benchmarks.common import (DEFAULT_MODEL, CpuMonitor, contention_note, finish, find_images, log,
                               machine_info, machine_markdown, markdown_table, synthetic_photo)

MODULE = "benchmarks.report_overhead"
TARGET = 0.10


def synthetic_survey(folder: Path, n: int, size: tuple[int, int] = (1024, 768), seed: int = 0) -> list[Path]:
    """``n`` synthetic JPEGs; even-numbered ones carry EXIF GPS (a walk along a pier) and time."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        exif = Image.Exif()
        if i % 2 == 0:
            seconds = 10.0 + 0.05 * i
            exif[0x8825] = {1: "S", 2: (37.0, 48.0, seconds), 3: "E", 4: (144.0, 57.0, 10.0 + 0.03 * i)}
            exif[0x8769] = {36867: f"2024:05:01 10:{i // 60 % 60:02d}:{i % 60:02d}"}
        p = folder / f"survey_{i:03d}.jpg"
        Image.fromarray(synthetic_photo(rng, *size)).save(p, quality=90, exif=exif)
        paths.append(p)
    return paths


def run(images: list[Path], model: str, out: Path, mode: str | None) -> dict:
    from rustseg_core.cli.batch import ReportBuilder, segment_batch
    from rustseg_core.pipeline.segmenter import Segmenter

    seg = Segmenter.load(model)
    seg.segment(images[0])  # warm-up (traces the model) outside the timing
    report = ReportBuilder()
    with CpuMonitor() as cpu:
        t0 = time.perf_counter()
        rows = segment_batch(seg, images, out, mode=mode or seg.default_mode, progress=False,
                             report=report)
        total = time.perf_counter() - t0
    cpu_stats = cpu.result
    segmentation = total - report.seconds
    sizes = {p.name: p.stat().st_size for p in sorted(out.glob("report.*"))}
    return {"photos": len(images), "segmented": sum(not r["error"] for r in rows),
            "total_s": total, "segmentation_s": segmentation, "report_s": report.seconds,
            "ratio": report.seconds / segmentation, "target": TARGET, "report_bytes": sizes,
            "mode": mode or seg.default_mode, "cpu": cpu_stats, "notes": []}


def render(r: dict) -> str:
    ok = "meets" if r["ratio"] <= r["target"] else "MISSES"
    rows = [("segmentation (decode, model, mask, grades, per-photo files)", f"{r['segmentation_s']:.1f}",
             f"{1000 * r['segmentation_s'] / r['photos']:.0f}"),
            ("report (thumbnails + HTML, PDF, CSV, GeoJSON)", f"{r['report_s']:.1f}",
             f"{1000 * r['report_s'] / r['photos']:.0f}")]
    out = [f"## Survey report overhead: {r['photos']} photos ({r['segmented']} segmented, mode {r['mode']})", "",
           markdown_table(["part", "seconds", "ms per photo"], rows), "",
           f"**Report / segmentation = {100 * r['ratio']:.1f} %** ({ok} the ≤ {100 * r['target']:.0f} % target)", "",
           "Report files: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in r["report_bytes"].items())]
    note = contention_note(r["cpu"]) if r.get("cpu") else None
    out += ["", *(f"_{n}_" for n in [note, *r["notes"]] if n), "", machine_markdown(r["machine"]),
            "", f"`{r['command']}`"]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=200, help="synthetic photos (default 200)")
    p.add_argument("--images", help="a folder of real photos instead (the first --count of them)")
    p.add_argument("--size", default="1024x768", help="synthetic photo size WxH (default 1024x768)")
    p.add_argument("--model", default=str(DEFAULT_MODEL), help="model folder (default models/default)")
    p.add_argument("--mode", help="mask mode (default: the model's)")
    p.add_argument("--json", help="save the numbers here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.images:
            images, note = find_images(Path(args.images), args.count), None
        else:
            w, h = (int(v) for v in args.size.lower().split("x"))
            log(f"writing {args.count} synthetic {w}x{h} photos…")
            images = synthetic_survey(tmp / "photos", args.count, (w, h))
            note = f"SYNTHETIC {w}x{h} JPEGs (half with EXIF GPS); pass --images DIR for real photos"
        log(f"segmenting {len(images)} photos with the report on…")
        results = run(images, args.model, tmp / "out", args.mode)
    if note:
        results["notes"].append(note)
    results["machine"] = machine_info()
    return finish(results, MODULE, render, False, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
