"""How much of a U-Net's close-up IoU survives phone-photo faults? A check the model card cites.

    python3 scripts/degraded_closeups_check.py --model models/default runs/s18/light-avg3 \\
        --masks ../shared/data/pixel/train

On validation photos only: each model's held-out close-ups of ``--masks`` (all models must
hold out the same ones). Every photo is scored as it is and after each of a fixed set of
faults a phone or a messenger app puts into a photo: JPEG recompression, defocus blur,
sensor noise, under- and over-exposure, a white-balance cast. Each fault is the same for
every model (seeded per photo), so the models are compared on identical pixels. Each model
runs as it is shipped: its own input side and learned-mode mask threshold. Prints the mean
IoU per fault and over all faults, per model, and each further model's difference to the
first with a paired 95 % bootstrap interval: a difference whose interval holds 0 is chance.
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rustseg_core.learn.evaluate import mask_pairs  # noqa: E402
from rustseg_core.learn.masks import shared_held_out, validation_mask_photos  # noqa: E402
from rustseg_core.learn.metrics import format_interval, interval, mask_scores  # noqa: E402
from rustseg_core.pipeline.segmenter import Segmenter  # noqa: E402


def _jpeg(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=35)
    return np.asarray(Image.open(buf).convert("RGB"))


def _blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(1.5)))


def _noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(image + rng.normal(0.0, 0.03 * 255, image.shape), 0, 255).astype(np.uint8)


def _gamma(g: float) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    def f(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return (255 * (image / 255.0) ** g).round().astype(np.uint8)
    return f


def _cast(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(image * np.array([1.12, 1.0, 0.88]), 0, 255).astype(np.uint8)  # warm indoor light


FAULTS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "jpeg q35": _jpeg, "blur σ1.5": _blur, "noise σ0.03": _noise, "dark γ1.5": _gamma(1.5),
    "bright γ0.6": _gamma(0.6), "warm cast": _cast}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", nargs="+", default=["models/default"], help="U-Net model folders")
    ap.add_argument("--masks", default="../shared/data/pixel/train", help="images/ + masks/ folder")
    args = ap.parse_args(argv)
    models = [Segmenter.load(m) for m in args.model]
    try:
        shared_held_out([s.bundle.info for s in models])
        names, _ = validation_mask_photos(models[0].bundle.info, args.masks)
    except ValueError as e:
        ap.error(str(e))
    pairs = list(mask_pairs(args.masks, names))
    rows = ["as taken", *FAULTS]
    ious = np.zeros((len(models), len(rows), len(pairs)))
    for j, (path, gt) in enumerate(pairs):
        photo = models[0].decode(path).image  # one decode: every model sees the same pixels
        versions = [photo] + [f(photo, np.random.default_rng(j)) for f in FAULTS.values()]
        for i, seg in enumerate(models):
            for k, image in enumerate(versions):  # the mask learned mode serves
                mask = seg.mask_from_evidence(image, seg.evidence(image), "learned", gt.shape)
                ious[i, k, j] = mask_scores(mask, gt)["iou"]
    print(f"{len(pairs)} held-out close-ups of {args.masks}; mean IoU at each model's side and mask threshold")
    print("| fault | " + " | ".join(args.model) + " |")
    print("|---|" + "---|" * len(models))
    for k, name in enumerate(rows):
        print(f"| {name} | " + " | ".join(f"{ious[i, k].mean():.3f}" for i in range(len(models))) + " |")
    print("| all faults | " + " | ".join(f"{ious[i, 1:].mean():.3f}" for i in range(len(models))) + " |")
    for i in range(1, len(models)):  # paired: the same photos, so photo-to-photo spread cancels
        diffs = {name: ious[i, k] - ious[0, k] for k, name in enumerate(rows)}
        diffs["all faults"] = ious[i, 1:].mean(0) - ious[0, 1:].mean(0)
        print(f"{args.model[i]} minus {args.model[0]} (95 % paired bootstrap intervals over the photos): "
              + ", ".join(f"{name} {d.mean():+.3f}{format_interval(interval(d))}" for name, d in diffs.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
