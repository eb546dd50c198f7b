"""Would a mask threshold relative to each photo's map beat learned mode's fixed one? A check
the model card cites.

    python3 scripts/learned_threshold_check.py --model models/default \\
        --masks ../shared/data/pixel/train --clean ../shared/data/classification/val/not_corrosion

On the model's own held-out mask photos (``val_mask_photos`` of its ``rustseg.json``: never a
test split) and on clean validation photos, it cuts the learned map (upsampled to the
annotation's resolution; for a clean photo, to the mask's) at fixed thresholds, at
max(a, b × the map's peak), and higher where the mask at the model's threshold is small, and
prints, per rule: the mean IoU on the close-ups, and the false area on the clean photos (the
share of each photo marked, 0 for a photo the model calls clean, as users see it). Then, at
the model's own threshold, IoU, precision and recall by the share of the photo the rust
covers.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rustseg_core.learn.evaluate import mask_pairs  # noqa: E402
from rustseg_core.learn.masks import validation_mask_photos  # noqa: E402
from rustseg_core.learn.metrics import mask_scores  # noqa: E402
from rustseg_core.pipeline.imageio import IMAGE_EXTENSIONS  # noqa: E402
from rustseg_core.pipeline.resize import upsample  # noqa: E402
from rustseg_core.pipeline.segmenter import Segmenter  # noqa: E402

Rule = Callable[[np.ndarray], np.ndarray]


def relative(floor: float, share: float) -> Rule:
    """Pixels above max(floor, share × the map's peak)."""
    return lambda m: m > max(floor, share * float(m.max()))


def higher_when_small(fixed: float, small: float, cut: float) -> Rule:
    """Pixels above ``cut`` where the mask at ``fixed`` covers under ``small`` of the photo
    (little rust: where the mask over-covers most), else above ``fixed``."""
    return lambda m: m > (cut if (m > fixed).mean() < small else fixed)


def rules(fixed: float) -> dict[str, Rule]:
    out = {f"fixed {t:g}" + (" (the model's)" if t == fixed else ""): relative(t, 0.0)
           for t in sorted({0.4, 0.5, 0.6, 0.7, fixed})}
    for floor in (0.3, 0.5):
        for share in (0.5, 0.6, 0.7, 0.8):
            out[f"max({floor:g}, {share:g} × peak)"] = relative(floor, share)
    for small in (0.02, 0.05, 0.1):
        for cut in (0.7, 0.8):
            out[f"{cut:g} where under {100 * small:g} %"] = higher_when_small(fixed, small, cut)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--masks", default="../shared/data/pixel/train", help="images/ + masks/ folder")
    ap.add_argument("--clean", default="../shared/data/classification/val/not_corrosion",
                    help="folder of clean validation photos")
    args = ap.parse_args(argv)
    seg = Segmenter.load(args.model)
    if not seg.bundle.info.get("val_mask_photos"):
        ap.error(f"{args.model} lists no held-out mask photos (val_mask_photos): not a U-Net's folder")
    names, _ = validation_mask_photos(seg.bundle.info, args.masks)
    close = []  # (map at the mask's resolution, ground truth), as rustseg tune --learned scores
    for path, gt in mask_pairs(args.masks, names):
        image = seg.decode(str(path)).image
        close.append((upsample(seg.learned_evidence(image).pixels, gt.shape), gt))
    clean = []  # maps of the clean photos the model calls corrosion (the rest mark nothing)
    paths = sorted(p for p in Path(args.clean).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    for path in paths:
        image = seg.decode(str(path)).image
        evidence = seg.learned_evidence(image)
        if evidence.probability > seg.threshold:
            clean.append(upsample(evidence.pixels, seg.mask_size(image)))
    fixed = seg.config.refine.learned_threshold
    print(f"{args.model}: {len(close)} held-out close-ups; {len(paths)} clean photos, "
          f"{len(clean)} called corrosion (decision {seg.threshold:g})")
    print(f"{'rule':28s} close-up IoU   false area, clean")
    for key, rule in rules(fixed).items():
        iou = np.mean([mask_scores(rule(m), gt)["iou"] for m, gt in close])
        false_area = sum(float(rule(m).mean()) for m in clean) / len(paths)
        print(f"{key:28s} {iou:.3f}          {100 * false_area:.2f} %")
    scores = [mask_scores(m > fixed, gt) for m, gt in close]
    area = np.array([gt.mean() for _, gt in close])
    print(f"at the model's threshold {fixed:g}, by the share of the photo the rust covers:")
    for low, high in ((0.0, 0.05), (0.05, 0.15), (0.15, 0.35), (0.35, 1.01)):
        picked = [s for s, a in zip(scores, area) if low <= a < high]
        if picked:
            mean = {k: np.mean([s[k] for s in picked]) for k in ("iou", "precision", "recall")}
            print(f"  {100 * low:3.0f}–{min(100, 100 * high):3.0f} %: {len(picked):3d} photos, IoU "
                  f"{mean['iou']:.3f}, precision {mean['precision']:.3f}, recall {mean['recall']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
