"""Batch throughput over a folder, and how time per photo grows with the photo's size.

* Throughput: the default model segments every photo of a folder, one after another and
  with a pool of threads (``Segmenter`` is thread-safe); images per second.
* Photo size: one real photo is resized to 0.1 ("thumbnail"), 0.5, 2, 8 and 12 megapixels
  and saved as JPEG, as a phone would send it; per-stage time and peak memory for each.
  ``--reference`` adds the paper's method at each size (slow: its CRF runs on every pixel).

Usage (from the repository root): ``python3 -m benchmarks.scaling [--quick] [--json OUT]``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (finish, DEFAULT_IMAGES, DEFAULT_MODEL, CpuMonitor, contention_note,
                               fmt_ms, fmt_ratio, log, machine_info, machine_markdown,
                               make_megapixel_photo, markdown_table, model_label, peak_rss_mb,
                               photos_or_synthetic, reset_peak_rss, summarise, usable_cores)

MODULE = "benchmarks.scaling"
STAGES = ("decode", "preprocess", "classify", "localise", "refine", "render")
DEFAULT_MEGAPIXELS = (0.1, 0.5, 2.0, 8.0, 12.0)
TARGET_12MP_S = 1.0
TARGET_SIZE_RATIO = 10.0


@dataclass(frozen=True)
class Settings:
    reps: int = 5
    warmup: int = 1
    passes: int = 2
    threads: int = 0  # 0: one per usable core
    reference: bool = False
    reference_reps: int = 1
    grain: float = 6.0  # sensor-like noise on the resized photos (see make_megapixel_photo)
    untagged: bool = False  # also each size with the photo's colour profile removed

    @classmethod
    def quick(cls) -> "Settings":
        return cls(reps=2, warmup=1, passes=1)


# --------------------------------------------------------------------------- measuring

def measure_throughput(seg, data: Sequence[bytes], passes: int, threads: int) -> dict:
    """Images per second over ``data``: sequentially, then with ``threads`` threads."""
    seg.segment(data[0])  # warm-up
    out = {"photos": len(data), "threads": threads}
    for name, workers in (("sequential", 1), ("threaded", threads)):
        rates = []
        with CpuMonitor() as mon:
            for _ in range(max(1, passes)):
                t0 = time.perf_counter()
                if workers == 1:
                    for d in data:
                        seg.segment(d)
                else:
                    with ThreadPoolExecutor(workers) as pool:
                        list(pool.map(seg.segment, data))
                rates.append(len(data) / (time.perf_counter() - t0))
                log(f"  throughput {name}: {rates[-1]:.2f} photos/s")
        out[name] = {"images_per_s": summarise(rates), "cpu": mon.result}
    return out


def measure_size(runner, path: Path, reps: int, warmup: int) -> dict:
    """Per-stage statistics and peak memory for one photo file."""
    from PIL import Image

    data = path.read_bytes()
    with Image.open(path) as im:
        w, h = im.size
    section_only = reset_peak_rss()
    samples: dict[str, list[float]] = {}
    with CpuMonitor() as mon:
        for _ in range(warmup):
            runner(data)
        for _ in range(max(1, reps)):
            for k, v in runner(data).items():
                samples.setdefault(k, []).append(v)
    return {"width": w, "height": h, "megapixels": w * h / 1e6, "bytes": len(data),
            "stages": {k: summarise(v) for k, v in samples.items()}, "samples": samples,
            "peak_rss_mb": peak_rss_mb(), "peak_is_section_only": section_only, "cpu": mon.result}


def run_scaling(paths: Sequence[Path], model: str, megapixels: Sequence[float], workdir: Path,
                settings: Settings = Settings(), source: Path | None = None,
                notes: Sequence[str] = ()) -> dict:
    """Throughput over ``paths`` and size scaling of ``source`` (default: the first photo)."""
    from benchmarks.pipelines import forced_segmenter, load_model, ours_runner, reference_runner

    results = {"benchmark": "scaling", "machine": machine_info(), "settings": asdict(settings),
               "model": model, "notes": list(notes)}
    with CpuMonitor() as whole:
        bundle = load_model(model)
        results["model_version"] = bundle.version
        results["input_size"] = bundle.input_size
        seg = forced_segmenter(bundle)
        threads = settings.threads or usable_cores()
        log(f"throughput over {len(paths)} photos")
        results["throughput"] = measure_throughput(seg, [p.read_bytes() for p in paths],
                                                   settings.passes, threads)
        source = source or paths[0]
        results["source"] = source.name
        runner = ours_runner(bundle)
        results["refine"] = runner.refine
        sized = [make_megapixel_photo(source, mp, workdir, grain=settings.grain) for mp in megapixels]
        results["sizes"] = []
        for mp, p in zip(megapixels, sized):
            log(f"photo size {mp:g} MP")
            results["sizes"].append({"target_mp": mp, **measure_size(runner, p, settings.reps,
                                                                      settings.warmup)})
        if settings.untagged:  # the same pixels without the profile
            results["untagged_sizes"] = []
            for mp in megapixels:
                bare = make_megapixel_photo(source, mp, workdir, grain=settings.grain, keep_profile=False)
                log(f"photo size {mp:g} MP, colour profile removed")
                results["untagged_sizes"].append({"target_mp": mp, **measure_size(
                    runner, bare, settings.reps, settings.warmup)})
        if settings.reference:
            ref = reference_runner(load_model("random:paper"))
            results["reference_sizes"] = []
            for mp, p in zip(megapixels, sized):
                log(f"reference at {mp:g} MP")
                results["reference_sizes"].append(
                    {"target_mp": mp, **measure_size(ref, p, settings.reference_reps, 0)})
    results["cpu"] = whole.result
    note = contention_note(whole.result)
    if note:
        results["notes"].append(note)
    results["targets"] = check_targets(results)
    return results


def check_targets(results: dict) -> list[dict]:
    """12 MP end-to-end within budget, and a phone photo not 10× a thumbnail."""
    sizes = results.get("sizes") or []
    targets = []
    big = [s for s in sizes if abs(s["target_mp"] - 12) < 1.5]
    if big:
        t = big[0]["stages"]["end_to_end"]["median"]
        targets.append({"target": f"end-to-end ≤ {TARGET_12MP_S:g} s for a 12 MP photo",
                        "measured": f"{t:.2f} s", "ok": t <= TARGET_12MP_S})
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        r = large["stages"]["end_to_end"]["median"] / small["stages"]["end_to_end"]["median"]
        targets.append({"target": f"{large['target_mp']:g} MP photo < {TARGET_SIZE_RATIO:g}× the "
                                  f"time of a {small['target_mp']:g} MP thumbnail",
                        "measured": f"{r:.1f}×", "ok": r < TARGET_SIZE_RATIO})
    return targets


# --------------------------------------------------------------------------- printing

def render(results: dict) -> str:
    """The report as markdown: throughput, time by photo size, targets, notes."""
    ours = f"ours ({model_label(results['model'])})"
    parts = [_throughput_table(results), "", _sizes_table(results["sizes"], ours)]
    if results.get("untagged_sizes"):
        parts += ["", _sizes_table(results["untagged_sizes"], "ours, the same photos with their colour "
                                   "profile removed", ours=results["sizes"], ratio="with profile / without")]
    if results.get("reference_sizes"):
        parts += ["", _sizes_table(results["reference_sizes"], "reference: paper method (572 px)",
                                   ours=results["sizes"])]
    if results.get("targets"):
        rows = [[t["target"], t["measured"], "met" if t["ok"] else "**missed**"]
                for t in results["targets"]]
        parts += ["", "### Targets", "", markdown_table(["target", "measured", ""], rows,
                                                        [False, True, False])]
    s = results["settings"]
    lines = [f"- {machine_markdown(results['machine'])}",
             f"- Model {results['model']} ({results['model_version']}, {results['input_size']} px); "
             f"{results.get('refine', '')}; every photo forced through refinement; photos passed "
             "as bytes.",
             f"- Sizes made from {results['source']} (bicubic resize + grain σ {s.get('grain', 0):g}, JPEG "
             f"quality 90); "
             f"reps {s['reps']}, warm-up {s['warmup']}; throughput passes {s['passes']}."]
    lines += [f"- {n}" for n in results["notes"]]
    if results.get("command"):
        lines.append(f"- Command: `{results['command']}`")
    return "\n".join(parts + [""] + lines)


def _throughput_table(results: dict) -> str:
    t = results["throughput"]
    rows = []
    for name in ("sequential", "threaded"):
        r = t[name]["images_per_s"]
        spread = f" [{r['p10']:.2f}–{r['p90']:.2f}]" if r["n"] > 1 else ""
        workers = 1 if name == "sequential" else t["threads"]
        others = t[name]["cpu"].get("others_cores")
        rows.append([f"{name} ({workers} thread{'s' * (workers > 1)})", f"{r['median']:.2f}{spread}",
                     f"{1000 / r['median']:.0f}", "–" if others is None else f"{others:.2f}"])
    return (f"### Throughput over {t['photos']} photos (photos/s, median [p10–p90] over passes)\n\n"
            + markdown_table(["mode", "photos/s", "ms per photo", "cores used by others"], rows))


def _sizes_table(sizes: Sequence[dict], title: str, ours: Sequence[dict] | None = None,
                 ratio: str = "ours / reference") -> str:
    first = sizes[0]["stages"]["end_to_end"]["median"]
    headers = ["photo", "JPEG MB"] + list(STAGES) + ["end-to-end", "× smallest", "peak RSS MiB"]
    if ours:
        headers.append(ratio)
    rows = []
    for i, s in enumerate(sizes):
        st = s["stages"]
        row = [f"{s['target_mp']:g} MP ({s['width']}×{s['height']})", f"{s['bytes'] / 1e6:.2f}"]
        row += [fmt_ms(st.get(k), spread=False) for k in STAGES]
        row += [fmt_ms(st["end_to_end"]), f"{st['end_to_end']['median'] / first:.1f}×",
                f"{s['peak_rss_mb']:.0f}" + ("" if s["peak_is_section_only"] else " *")]
        if ours:
            row.append(fmt_ratio(ours[i]["stages"]["end_to_end"], st["end_to_end"]))
        rows.append(row)
    n = sizes[0]["stages"]["end_to_end"]["n"]
    return (f"### Time by photo size — {title} (ms, median; end-to-end [p10–p90], {n} runs)\n\n"
            + markdown_table(headers, rows))


# --------------------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python3 -m {MODULE}", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=Path, default=DEFAULT_IMAGES,
                   help="folder of photos (default: %(default)s; synthetic photos if absent)")
    p.add_argument("--limit", type=int, default=0, help="photos for throughput (default: all)")
    p.add_argument("--photo", type=Path, help="photo to resize (default: the folder's first)")
    p.add_argument("--model", default=str(DEFAULT_MODEL),
                   help="model folder, or random:cpu / random:paper (default %(default)s)")
    p.add_argument("--megapixels", type=float, nargs="+",
                   help="photo sizes; the first is the 'thumbnail' (default: "
                        f"{' '.join(f'{m:g}' for m in DEFAULT_MEGAPIXELS)}; --quick: 0.1 2 12)")
    p.add_argument("--reps", type=int, default=5, help="timed runs per size")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--passes", type=int, default=2, help="throughput passes over the folder")
    p.add_argument("--threads", type=int, default=0, help="threads for throughput (0: cores)")
    p.add_argument("--grain", type=float, default=6.0,
                   help="noise (grey levels) added to resized photos so JPEGs are phone-sized")
    p.add_argument("--untagged", action="store_true",
                   help="also time each size with the photo's colour profile removed: what turning a "
                        "tagged photo (an iPhone's Display P3) into sRGB costs")
    p.add_argument("--reference", action="store_true", help="also time the paper's method per size")
    p.add_argument("--reference-reps", type=int, default=1)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 4 photos, 1 pass, sizes 0.1/2/12 MP, 2 reps")
    p.add_argument("--json", metavar="OUT", help="also save all numbers (and raw samples) here")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.model.startswith("random:") and not Path(args.model).is_dir():
        log(f"error: no model at {args.model}. Pass --model DIR (a trained model folder), or "
            "--model random:cpu to time the shipped architecture with untrained weights.")
        return 2
    settings = Settings(reps=args.reps, warmup=args.warmup, passes=args.passes,
                        threads=args.threads, reference=args.reference,
                        reference_reps=args.reference_reps, grain=args.grain, untagged=args.untagged)
    limit, megapixels = args.limit or 10_000, args.megapixels or list(DEFAULT_MEGAPIXELS)
    if args.quick:
        settings = Settings(**{**asdict(Settings.quick()), "threads": args.threads,
                               "reference": args.reference, "grain": args.grain, "untagged": args.untagged})
        limit, megapixels = min(limit, 4), args.megapixels or [0.1, 2.0, 12.0]
    with tempfile.TemporaryDirectory(prefix="rustseg-scaling-") as tmp:
        paths, note = photos_or_synthetic(args.images, limit, Path(tmp))
        if note:
            log(note)
        results = run_scaling(paths, args.model, megapixels, Path(tmp), settings,
                              source=args.photo, notes=[note] if note else [])
    return finish(results, MODULE, render, args.quick, args.json)


if __name__ == "__main__":
    sys.exit(main())
