"""Would averaging two models' logits decide better than one? A check the model card cites.

    python3 scripts/decision_ensemble_check.py --model models/default --other models/classifier \\
        --masks ../shared/data/pixel/train --images ../shared/data/classification/val

On validation photos only: the labelled photos of ``--images`` (corrosion/, not_corrosion/)
and the first model's held-out mask photos (``val_mask_photos``, all rust). For each weight w
of the second model in the mean logit it prints the ROC AUC on the labelled photos and, per
decision threshold, the balanced accuracy (over both sets, as ``rustseg tune --learned``
counts it), the share of clean photos called rust and of close-ups called clean.
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
from rustseg_core.learn.masks import mask_pairs_in, validation_mask_photos  # noqa: E402
from rustseg_core.pipeline.segmenter import Segmenter  # noqa: E402

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
THRESHOLDS = (0.4, 0.5, 0.6, 0.7, 0.8)


def probability(seg: Segmenter, path: Path) -> float:
    image = seg.decode(str(path)).image
    evidence = seg.learned_evidence(image) if seg.bundle.spec.decoder else seg.evidence(image)
    return evidence.probability


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--other", default="models/classifier")
    ap.add_argument("--masks", default="../shared/data/pixel/train", help="images/ + masks/ folder")
    ap.add_argument("--images", default="../shared/data/classification/val",
                    help="labelled validation photos (corrosion/, not_corrosion/)")
    args = ap.parse_args(argv)
    first, second = Segmenter.load(args.model), Segmenter.load(args.other)
    if not first.bundle.info.get("val_mask_photos"):
        ap.error(f"{args.model} lists no held-out mask photos (val_mask_photos): not a U-Net's folder")
    names, _ = validation_mask_photos(first.bundle.info, args.masks)
    labelled = list_labelled(args.images)
    paths = list(labelled.paths) + [path for path, _ in mask_pairs_in(args.masks) if path.name in names]
    y = np.concatenate([np.asarray(labelled.labels, int), np.ones(len(names), int)])
    close = np.arange(len(y)) >= len(labelled.paths)
    eps = 1e-6
    logits = np.array([[logit(np.clip(probability(s, p), eps, 1 - eps)) for s in (first, second)]
                       for p in paths])
    print(f"{len(labelled.paths)} labelled photos of {args.images}, {len(names)} held-out close-ups; "
          f"logits' correlation on the labelled photos "
          f"{np.corrcoef(logits[~close].T)[0, 1]:.3f}")
    for w in WEIGHTS:
        p = expit((1 - w) * logits[:, 0] + w * logits[:, 1])
        auc = roc_auc_score(y[~close], p[~close])
        print(f"weight {w:g} on {args.other}: ROC AUC {auc:.3f}")
        for t in THRESHOLDS:
            rust = p > t
            balanced = (rust[y == 1].mean() + (~rust[y == 0]).mean()) / 2
            print(f"  decision {t:g}: balanced accuracy {balanced:.3f}, clean called rust "
                  f"{100 * rust[y == 0].mean():4.1f} %, close-ups called clean {100 * (~rust[close]).mean():4.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
