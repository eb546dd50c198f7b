"""What fine-tuning on corrected masks buys (issue 12, section 4b).

Passes N pairs of ``pixel/train`` through the store pipeline as if people had kept the
photos and corrected their masks: each photo is segmented by the model and kept
(``Store.save``), its ground-truth mask is saved as a correction (``Store.save_correction``)
with the verdict "wrong" (there is rust), the store is exported (``rustseg dataset export``),
and ``rustseg train EXPORT --masks EXPORT --init-from MODEL`` fine-tunes a U-Net from the
model. Then both models are scored on ``pixel/test`` (mean IoU per photo, each model's
default mode and standard mode; ungated, i.e. every test photo shows rust). The test split
is only ever evaluated on.

    nice -n 15 python3 -m benchmarks.store_finetune --pairs 100 --epochs 3 --out runs/store-ft
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from rustseg_core.learn.masks import mask_pairs_in


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fill_store(segmenter, store, pairs: list[tuple[Path, Path]]) -> int:
    """Keep each photo with the model's result, then store its true mask as a correction."""
    kept = 0
    for img_path, mask_path in pairs:
        original = img_path.read_bytes()
        result = segmenter.segment(original)
        rec = store.save(original, result.summary(), result.encoded(), image_format=result.image_format)
        store.set_verdict(rec.id, "wrong")
        store.save_correction(rec.id, mask_path.read_bytes())
        kept += 1
    return kept


def score(segmenter, folder: Path) -> dict[str, float]:
    """Mean IoU per photo on ``folder`` for standard mode and the model's default mode."""
    from rustseg_core.learn.evaluate import mask_pairs
    from rustseg_core.learn.metrics import mask_scores

    modes = sorted({"standard", segmenter.default_mode})
    ious: dict[str, list[float]] = {m: [] for m in modes}
    for img_path, gt in mask_pairs(folder):
        image = segmenter.decode(img_path).image
        ev = segmenter.evidence(image)
        for m in modes:
            ious[m].append(mask_scores(segmenter.mask_from_evidence(image, ev, m, gt.shape), gt)["iou"])
    return {m: float(np.mean(v)) for m, v in ious.items()} | {"n": len(next(iter(ious.values())))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="../shared/data/pixel", help="pixel/ with train/ and test/")
    p.add_argument("--model", default="models/default", help="the model to fine-tune")
    p.add_argument("--pairs", type=int, default=100, help="pixel/train pairs passed through the store")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--out", default="runs/store-finetune", help="store, export and model go here")
    p.add_argument("--json", help="also write the numbers here")
    args = p.parse_args(argv)

    from rustseg_core.cli import main as rustseg
    from rustseg_core.pipeline.segmenter import Segmenter
    from rustseg_core.store import Store

    out = Path(args.out)
    data = Path(args.data)
    every = mask_pairs_in(data / "train")
    pick = np.linspace(0, len(every) - 1, args.pairs).round().astype(int)  # spread, deterministic
    pairs = [every[i] for i in sorted(set(pick))]
    before = Segmenter.load(args.model)
    store = Store(out / "store")
    t0 = time.time()
    if not store.exists():
        _log(f"keeping {len(pairs)} photos of {data / 'train'} with corrected masks in {store.root}")
        fill_store(before, store, pairs)
    export, model = out / "export", out / "model"
    rustseg(["dataset", "export", str(export), "--store", str(store.root)])
    t1 = time.time()
    rustseg(["train", str(export), "--masks", str(export), "--init-from", args.model,
             "--out", str(model), "--epochs", str(args.epochs)])
    t2 = time.time()
    after = Segmenter.load(model)
    _log("scoring both models on pixel/test")
    numbers = {"pairs": len(pairs), "epochs": args.epochs, "store_records": after.bundle.info.get("store_records"),
               "train_seconds": round(t2 - t1), "store_seconds": round(t1 - t0),
               "before": {"model": before.bundle.version, **score(before, data / "test")},
               "after": {"model": after.bundle.version, **score(after, data / "test")}}
    b, a = numbers["before"], numbers["after"]
    print(f"| model | modes: mean IoU per photo on {data / 'test'} (n={b['n']}) |\n|---|---|")
    for name, row in (("before: " + b["model"], b), ("after: " + a["model"], a)):
        print(f"| {name} | " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()
                                         if k not in ("model", "n")) + " |")
    print(f"\nfine-tuned on {numbers['store_records']} store records ({len(pairs)} pairs), "
          f"{args.epochs} epochs, {numbers['train_seconds']} s")
    if args.json:
        Path(args.json).write_text(json.dumps(numbers, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
