"""Which parts of the training recipe help? Short runs that each change one thing.

Every variant trains the ``cpu`` preset from scratch with the same seed, data, epochs and
decoded-image cache, and differs from the shipped recipe (``rustseg_core.learn.train.TrainConfig``
defaults) in one setting. Reported: best validation ROC AUC over the epochs, validation
accuracy at that epoch, and training time. Single runs: differences of about 0.01 AUC are
within seed-to-seed noise.

Usage (from the repository root)::

    python3 -m benchmarks.ablation --data ../shared/data/classification --epochs 8 \\
        --json benchmarks/results/ablation.json

Results are saved after each variant and finished variants are skipped when the same
command is run again, so an interrupted run continues where it stopped.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import finish, log, machine_info, machine_markdown, markdown_table

MODULE = "benchmarks.ablation"

# name → (what it tests, TrainConfig overrides)
VARIANTS: dict[str, tuple[str, dict]] = {
    "recipe": ("the shipped recipe", {}),
    "paper_augment": ("flips + ±0.2 rad rotation only (no crops, no colour jitter)",
                      {"crop_scale": 1.0, "colour_jitter": False}),
    "no_crops": ("no random crops", {"crop_scale": 1.0}),
    "no_colour_jitter": ("no colour jitter", {"colour_jitter": False}),
    "no_label_smoothing": ("plain binary cross-entropy", {"label_smoothing": 0.0}),
    "constant_lr": ("Adam at a constant 2e-3 (no warm-up/cosine, no weight decay)",
                    {"schedule": "constant", "weight_decay": 0.0}),
    "no_batch_norm": ("no batch normalisation", {"batch_norm": False}),
    "flatten_head": ("flatten + dense head instead of global average pooling", {"head": "flatten"}),
}


def run_variant(data: str, overrides: dict, epochs: int, cache_dir: str, seed: int,
                **size) -> dict:
    """Train one variant in a scratch folder and read its per-epoch log."""
    from rustseg_core.learn.train import TrainConfig, train
    from rustseg_core.learn.training_log import read_training_log
    from rustseg_core.tf_runtime import keras

    cfg = TrainConfig(epochs=epochs, seed=seed, cache_dir=cache_dir, **size, **overrides)
    with tempfile.TemporaryDirectory(prefix="rustseg-ablation-") as out:
        bundle = train(data, out, cfg, command=None)
        rows = read_training_log(out)
    keras().backend.clear_session()
    aucs = [float(r["val_auc"]) for r in rows]
    best = max(range(len(aucs)), key=aucs.__getitem__)
    return {"best_epoch": best + 1, "val_auc": aucs[best],
            "val_accuracy": float(rows[best]["val_accuracy"]),
            "last_val_auc": aucs[-1], "train_accuracy_last": float(rows[-1]["accuracy"]),
            "train_seconds": bundle.info["train_seconds"]}


def render(results: dict) -> str:
    base = results["variants"].get("recipe", {}).get("result")
    rows = []
    for name, v in results["variants"].items():
        r = v["result"]
        delta = f"{r['val_auc'] - base['val_auc']:+.3f}" if base and name != "recipe" else ""
        rows.append([name, v["what"], f"{r['val_auc']:.3f}", delta, f"{r['val_accuracy']:.3f}",
                     r["best_epoch"], f"{r['last_val_auc']:.3f}", f"{r['train_seconds']:.0f}"])
    head = [f"# Training ablations ({results['epochs']} epochs each, seed {results['seed']})", "",
            machine_markdown(results["machine"]), ""]
    table = markdown_table(["variant", "change", "best val AUC", "Δ vs recipe", "val acc @ best",
                            "best epoch", "last val AUC", "train s"], rows,
                           right=[False, False, True, True, True, True, True, True])
    return "\n".join(head + [table] + [""] + [f"- {n}" for n in results["notes"]])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" /
                                         "classification"))
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--input-size", type=int, help="default: the cpu preset's (192)")
    p.add_argument("--base-width", type=int, help="default: the cpu preset's (16)")
    p.add_argument("--only", nargs="*", choices=sorted(VARIANTS), help="variants to run (default all)")
    p.add_argument("--cache-dir", default="runs/ablation-cache",
                   help="decoded images, shared by all variants")
    p.add_argument("--json", help="save (and resume from) results here")
    args = p.parse_args(argv)

    size = {"input_size": args.input_size, "base_width": args.base_width}
    results = {"epochs": args.epochs, "seed": args.seed, "size": size, "data": args.data,
               "variants": {},
               "notes": ["single seed per variant: AUC differences of about 0.01 are noise"]}
    if args.json and Path(args.json).is_file():
        old = json.loads(Path(args.json).read_text())
        if (old.get("epochs"), old.get("seed"), old.get("size")) == (args.epochs, args.seed, size):
            results["variants"] = old.get("variants", {})
    results["machine"] = machine_info()
    for name in args.only or list(VARIANTS):
        what, overrides = VARIANTS[name]
        if name in results["variants"]:
            log(f"{name}: done earlier, kept")
            continue
        log(f"{name}: {what}")
        results["variants"][name] = {"what": what, "overrides": overrides,
                                     "result": run_variant(args.data, overrides, args.epochs,
                                                           args.cache_dir, args.seed, **size)}
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
    return finish(results, MODULE, render, quick=False, json_path=args.json)


if __name__ == "__main__":
    sys.exit(main())
