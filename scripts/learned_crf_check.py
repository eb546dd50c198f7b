"""Does the paper's dense CRF sharpen learned mode's map? A check the model card cites.

    python3 scripts/learned_crf_check.py --model models/default --masks ../shared/data/pixel/train

On the model's own held-out mask photos (``val_mask_photos`` of its ``rustseg.json``: never a
test split), at the CRF's working resolution, it scores learned mode's map cut at the model's
mask threshold, then the same map as a dense CRF's unary (cut at 0.5 after inference) over a
small grid of CRF settings; one line each: mean IoU and CRF milliseconds per photo.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rustseg_core.config import CRFConfig  # noqa: E402
from rustseg_core.learn.evaluate import mask_pairs  # noqa: E402
from rustseg_core.learn.masks import validation_mask_photos  # noqa: E402
from rustseg_core.learn.metrics import mask_scores  # noqa: E402
from rustseg_core.pipeline.refine import dense_crf  # noqa: E402
from rustseg_core.pipeline.segmenter import Segmenter  # noqa: E402


def crf_grid() -> dict[str, CRFConfig | None]:
    grid: dict[str, CRFConfig | None] = {"learned map as shipped": None}
    for iterations in (5, 10):
        for srgb in (13, 25):
            for gt_prob in (0.7, 0.9):
                grid[f"CRF {iterations} it, srgb {srgb}, gt_prob {gt_prob}"] = CRFConfig(
                    iterations=iterations, bilateral_srgb=srgb, gt_prob=gt_prob)
    return grid


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--masks", default="../shared/data/pixel/train", help="images/ + masks/ folder")
    args = ap.parse_args(argv)
    seg = Segmenter.load(args.model)
    if not seg.bundle.info.get("val_mask_photos"):
        ap.error(f"{args.model} lists no held-out mask photos (val_mask_photos): not a U-Net's folder")
    names, _ = validation_mask_photos(seg.bundle.info, args.masks)
    grid = crf_grid()
    ious: dict[str, list[float]] = {k: [] for k in grid}
    seconds = dict.fromkeys(grid, 0.0)
    for path, full in mask_pairs(args.masks, names):
        image = seg.decode(str(path)).image
        small = seg.mask_image(image)
        gt = np.asarray(Image.fromarray(full).resize(small.shape[1::-1], Image.NEAREST))
        evidence = seg.learned_evidence(image)
        pmap = seg.evidence_map(image, evidence, "learned")  # the map at mask resolution
        for key, cfg in grid.items():
            t0 = time.perf_counter()
            mask = (seg.mask_from_evidence(image, evidence, "learned", size=small.shape[:2]) if cfg is None
                    else dense_crf(small, pmap, cfg) > 0.5)
            seconds[key] += time.perf_counter() - t0
            ious[key].append(mask_scores(mask, gt)["iou"])
    print(f"{len(names)} held-out mask photos of {args.model}, at most {seg.config.refine.crf.max_side} px")
    for key in grid:
        print(f"{key:34s} mean IoU {np.mean(ious[key]):.3f}   {1000 * seconds[key] / len(names):4.0f} ms/photo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
