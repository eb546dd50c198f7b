"""Would the mean of two U-Nets' outputs beat either one? A check the model card cites.

    python3 scripts/unet_ensemble_check.py --model models/default --other runs/recipe/avg3 \\
        --masks ../shared/data/pixel/train --images ../shared/data/classification/val

On validation photos only. Both models must hold out the same mask photos
(``val_mask_photos``: a model that trained on the other's held-out photos would leak them);
masks are scored on those close-ups alone. Both networks run at ``--side`` (default: the
first model's learned side), the second at ``--other-side`` when given: with ``--other``
the same folder, that compares two input sides of one model (and their mean, the
multi-scale average). For each model and for their mean (pixel probabilities averaged;
image logits averaged) it prints the close-ups' mean IoU at each mask threshold, the ROC
AUC on the labelled photos of ``--images``, and the decision threshold that ``rustseg tune
--learned`` would choose (the same rule, over the labelled photos and the close-ups) with
its balanced accuracy and the share of clean photos it calls rust; then, with paired 95 %
bootstrap intervals, the first model's close-up IoU and ROC AUC gains over the second, and
the mean's over each.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.special import expit, logit
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rustseg_core.learn.data import list_labelled  # noqa: E402
from rustseg_core.learn.evaluate import mask_pairs  # noqa: E402
from rustseg_core.learn.masks import shared_held_out, validation_mask_photos  # noqa: E402
from rustseg_core.learn.metrics import (auc_gain_interval, decision_threshold, format_interval,  # noqa: E402
                                        interval, mask_scores)
from rustseg_core.learn.tuning import DECISION_THRESHOLDS, MASK_THRESHOLDS, at_side  # noqa: E402
from rustseg_core.pipeline.resize import upsample  # noqa: E402
from rustseg_core.pipeline.segmenter import Segmenter  # noqa: E402


def _logit(probability: float) -> float:
    return float(logit(np.clip(probability, 1e-6, 1 - 1e-6)))  # finite for p = 0 or 1


def ious(maps: list[np.ndarray], truths: list[np.ndarray], threshold: float) -> np.ndarray:
    """Each photo's IoU, its probability map (at its truth's size) thresholded at ``threshold``."""
    return np.array([mask_scores(m > threshold, gt)["iou"] for m, gt in zip(maps, truths)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--other", required=True, help="a second U-Net folder with the same held-out photos")
    ap.add_argument("--masks", default="../shared/data/pixel/train", help="images/ + masks/ folder")
    ap.add_argument("--images", default="../shared/data/classification/val",
                    help="labelled validation photos (corrosion/, not_corrosion/)")
    ap.add_argument("--side", type=int, help="input side of both networks (default: the first's learned side)")
    ap.add_argument("--other-side", type=int, help="input side of the second network (default: --side)")
    args = ap.parse_args(argv)
    first, second = Segmenter.load(args.model), Segmenter.load(args.other)
    try:
        shared_held_out([first.bundle.info, second.bundle.info])
        names, _ = validation_mask_photos(first.bundle.info, args.masks)
    except ValueError as e:
        ap.error(f"{args.model} and {args.other}: {e}")
    side = args.side or first.learned_side
    other_side = args.other_side or side
    segs = [at_side(first, side), at_side(second, other_side)]

    truths, maps, close_logits = [], [[], []], []
    for path, gt in mask_pairs(args.masks, names):
        image = segs[0].decode(path).image
        evidence = [s.evidence(image) for s in segs]
        truths.append(gt)
        for k, e in enumerate(evidence):
            maps[k].append(upsample(e.pixels, gt.shape))
        close_logits.append([_logit(e.probability) for e in evidence])
    labelled = list_labelled(args.images)
    label_logits = np.array([[_logit(s.probabilities([image])[0]) for s in segs]
                             for image in (segs[0].decode(str(p)).image for p in labelled.paths)])
    y = np.asarray(labelled.labels) > 0.5

    close_logits = np.array(close_logits)
    rows = [(f"{args.model} at {side} px", maps[0], label_logits[:, 0], close_logits[:, 0]),
            (f"{args.other} at {other_side} px", maps[1], label_logits[:, 1], close_logits[:, 1]),
            ("mean of both", [(a + b) / 2 for a, b in zip(*maps)], label_logits.mean(1), close_logits.mean(1))]
    print(f"{len(truths)} held-out close-ups of {args.masks}, {len(y)} labelled photos of {args.images}, "
          + (f"both networks at {side} px" if side == other_side else f"networks at {side} and {other_side} px"))
    best, probs, aucs = [], [], []  # per row: IoUs at its best mask threshold, probabilities, AUC
    for name, m, lab, close in rows:
        p, pc = expit(lab), expit(close)
        t, balanced, _ = decision_threshold(p, y, pc, DECISION_THRESHOLDS)
        by_threshold = {th: ious(m, truths, th) for th in MASK_THRESHOLDS}
        best.append(max(by_threshold.values(), key=np.mean))
        probs.append(p)
        aucs.append(roc_auc_score(y, p))
        listed = ", ".join(f"{th:g}: {v.mean():.3f}" for th, v in by_threshold.items())
        print(f"{name}\n  close-up mean IoU by mask threshold: {listed}\n"
              f"  ROC AUC {aucs[-1]:.3f}; decision {t:g}: balanced accuracy {balanced[t]:.3f}, "
              f"clean called rust {100 * np.mean(p[~y] > t):.1f} %, close-ups called clean "
              f"{100 * np.mean(pc <= t):.1f} %")
    names = [name for name, *_ in rows]
    for new, old in ((0, 1), (2, 0), (2, 1)):  # paired: the same photos
        d = best[new] - best[old]
        print(f"{names[new]} minus {names[old]}, close-up IoU at each one's best mask threshold: "
              f"{d.mean():+.3f}{format_interval(interval(d))}; ROC AUC {aucs[new] - aucs[old]:+.3f}"
              f"{format_interval(auc_gain_interval(y, probs[old], probs[new]))} (95 % paired bootstrap intervals)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
