"""Batch throughput of the two ``rustseg segment`` engines, side by side in one run (issue 13).

For thumbnails (0.1 MP) and for 12 MP photos, synthetic JPEGs are segmented into a fresh
output folder by the in-process engine (``segment_batch``) and by the Ray engine
(``segment_batch_ray`` on a local Ray using every core); photos per second of each, the
ratio (end to end, and once the model is loaded), and the peak resident memory of each Ray actor (read inside the actor) and of the
in-process run.

What each time includes, so the two are compared on equal terms: loading the model (the
in-process engine loads it once; every Ray actor loads its own), segmenting, and writing
the per-photo files and results.csv. Starting Ray itself (``ray.init``, once per command)
is timed separately.

Usage (from the repository root):
``python3 -m benchmarks.batch_engines [--thumbnails 16] [--large 4] [--json OUT]``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (DEFAULT_MODEL, CpuMonitor, contention_note, finish, log, machine_info,
                               machine_markdown, markdown_table, peak_rss_mb, reset_peak_rss,
                               synthetic_images)

MODULE = "benchmarks.batch_engines"
SIZES = {"thumbnail": (384, 288), "12 MP": (4000, 3000)}


def run_set(label: str, photos: list[Path], model: str, out: Path, workers: int | None) -> dict:
    """Both engines on ``photos``: wall time, photos/s (end to end, and once warm) and memory."""
    from rustseg_core.cli.batch import segment_batch
    from rustseg_core.cli.ray_engine import segment_batch_ray
    from rustseg_core.pipeline.segmenter import Segmenter

    n = len(photos)
    result = {"label": label, "photos": n}
    reset_peak_rss()
    with CpuMonitor() as cpu:
        t0 = time.perf_counter()
        seg = Segmenter.load(model)
        seg.segment(photos[0])  # first call traces the model: start-up, as an actor's first photo
        t1 = time.perf_counter()
        rows = segment_batch(seg, photos, out / "in-process", progress=False, resume=False)
        t2 = time.perf_counter()
    result["in_process"] = {"seconds": t2 - t0, "photos_per_s": n / (t2 - t0),
                            "warm_photos_per_s": n / (t2 - t1), "peak_rss_mb": peak_rss_mb(),
                            "errors": sum(bool(r["error"]) for r in rows), "cpu": cpu.result}
    log(f"  {label} in-process: {n / (t2 - t0):.2f} photos/s, warm {n / (t2 - t1):.2f}")
    stats: dict = {}
    t0 = time.perf_counter()
    rows = segment_batch_ray(model, seg, photos, out / "ray", progress=False, resume=False,
                             workers=workers, stats=stats)
    seconds = time.perf_counter() - t0
    warm = stats["all_files_s"] - stats["first_file_s"]
    result["ray"] = {"seconds": seconds, "photos_per_s": n / seconds,
                     "warm_photos_per_s": (n - 1) / warm if n > 1 and warm > 0 else None,
                     "first_file_s": stats["first_file_s"], "workers": stats["workers"],
                     "actor_peak_rss_mb": sorted(stats["actor_peak_rss_mb"].values()),
                     "errors": sum(bool(r["error"]) for r in rows)}
    log(f"  {label} ray ({stats['workers']} actors): {n / seconds:.2f} photos/s")
    for key in ("photos_per_s", "warm_photos_per_s"):
        a, b = result["in_process"][key], result["ray"][key]
        result[key.replace("photos_per_s", "ratio")] = b / a if a and b else None
    return result


def run(counts: dict[str, int], model: str, tmp: Path, workers: int | None = None,
        sizes: dict[str, tuple[int, int]] = SIZES) -> dict:
    """Every photo size of ``counts`` (label → number of photos) through both engines."""
    import ray

    from rustseg_core.cli.ray_engine import local_init_kwargs

    t0 = time.perf_counter()
    started = not ray.is_initialized()
    if started:
        ray.init(**local_init_kwargs())
    results = {"ray_init_s": time.perf_counter() - t0, "model": model, "sets": [], "notes": [],
               "ray_cpus": ray.cluster_resources().get("CPU")}
    try:
        for label, n in counts.items():
            log(f"writing {n} synthetic {label} photos…")
            photos = synthetic_images(tmp / label.replace(" ", ""), n, sizes[label], seed=len(label))
            results["sets"].append(run_set(label, photos, model, tmp / "out" / label.replace(" ", ""), workers))
    finally:
        if started:
            ray.shutdown()
    return results


def _num(x: float | None, unit: str = "") -> str:
    return "–" if x is None else f"{x:.2f}{unit}"


def render(r: dict) -> str:
    rows = []
    for s in r["sets"]:
        a, b = s["in_process"], s["ray"]
        rows.append((s["label"], s["photos"], f"{a['seconds']:.1f}", _num(a["photos_per_s"]),
                     f"{b['seconds']:.1f}", _num(b["photos_per_s"]), b["workers"], _num(s["ratio"], "×"),
                     _num(a["warm_photos_per_s"]), _num(b["warm_photos_per_s"]), _num(s["warm_ratio"], "×")))
    mem = [f"- {s['label']}: each Ray actor peaked at "
           + ", ".join(f"{m:.0f}" for m in s["ray"]["actor_peak_rss_mb"])
           + f" MiB; the in-process run at {s['in_process']['peak_rss_mb']:.0f} MiB" for s in r["sets"]]
    out = [f"## Batch engines: in-process vs Ray ({r['ray_cpus']:.0f} CPUs seen by Ray)", "",
           markdown_table(["photos", "n", "in-process s", "photos/s", "Ray s", "photos/s", "actors",
                           "Ray / in-process", "warm in-process photos/s", "warm Ray photos/s",
                           "warm ratio"], rows), "",
           "End to end: loading the model (once in-process, once per actor, in parallel), "
           "segmenting and writing every output; starting Ray took "
           f"{r['ray_init_s']:.1f} s more, once per command. Warm: in-process after the model "
           "was loaded and traced on one photo; Ray from the first file back to the last "
           "(n − 1 photos), i.e. without the actors' start-up.", "",
           "Peak resident memory:", *mem]
    # Ray's actors are not children of this process, so CpuMonitor would count them as
    # "other processes": only the in-process runs say how busy the machine was otherwise.
    notes = list(dict.fromkeys(n for n in (contention_note(s["in_process"]["cpu"]) for s in r["sets"]) if n))
    out += ["", *(f"_{n}_" for n in [*notes, *r["notes"]]), "", machine_markdown(r["machine"]),
            "", f"`{r['command']}`"]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--thumbnails", type=int, default=16, help="synthetic 384x288 photos (default 16)")
    p.add_argument("--large", type=int, default=4, help="synthetic 4000x3000 (12 MP) photos (default 4)")
    p.add_argument("--model", default=str(DEFAULT_MODEL), help="model folder (default models/default)")
    p.add_argument("--workers", type=int, help="Ray actors (default: the engine's own choice)")
    p.add_argument("--json", help="save the numbers here")
    args = p.parse_args(argv)
    counts = {k: n for k, n in (("thumbnail", args.thumbnails), ("12 MP", args.large)) if n > 0}
    with tempfile.TemporaryDirectory() as tmp:
        results = run(counts, args.model, Path(tmp), args.workers)
    results["notes"].append("SYNTHETIC photos (grey metal with rust-coloured blobs)")
    results["machine"] = machine_info()
    return finish(results, MODULE, render, False, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
