"""The ``rustseg`` command line: train, evaluate, segment, dataset export."""
from __future__ import annotations

import argparse
import logging
import shlex
import sys


def _train(args: argparse.Namespace) -> int:
    from .train import TrainConfig, train

    cfg = TrainConfig(preset=args.preset, input_size=args.input_size, base_width=args.base_width,
                      epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                      seed=args.seed, augment=not args.no_augment, val_fraction=args.val_fraction,
                      deterministic=args.deterministic, cache_dir=args.cache_dir,
                      warmup_epochs=args.warmup_epochs, init_from=args.init_from)
    command = "rustseg " + " ".join(shlex.quote(a) for a in args.argv)
    bundle = train(args.data_dir, args.out, cfg, command=command)
    print(f"saved {args.out}: val accuracy {bundle.info['val_accuracy']:.3f}, "
          f"val AUC {bundle.info['val_auc']:.3f}, {bundle.info['train_seconds']:.0f} s")
    return 0


def _segment(args: argparse.Namespace) -> int:
    from .batch import segment_batch
    from .segmenter import Segmenter

    segmenter = Segmenter.load(args.model)
    rows = segment_batch(segmenter, args.paths, args.out, mode=args.mode, every=args.every,
                         progress=not args.quiet)
    failed = [r for r in rows if r["error"]]
    found = sum(r.get("decision") == "corrosion" for r in rows)
    print(f"{len(rows) - len(failed)} segmented ({found} with corrosion), {len(failed)} skipped; "
          f"results in {args.out}/results.csv")
    for r in failed:
        print(f"  skipped {r['file']}: {r['error']}", file=sys.stderr)
    return 0 if rows and len(failed) < len(rows) else 1


def _dataset_export(args: argparse.Namespace) -> int:
    from .store import Store, default_store_dir

    store = Store(args.store or default_store_dir())
    if not store.exists():
        print(f"no kept photos: {store.root} has no store", file=sys.stderr)
        return 1
    done = store.export(args.dir, verified_only=args.verified_only)
    print(f"exported {done.counts['corrosion']} corrosion and {done.counts['not_corrosion']} "
          f"not_corrosion photos to {args.dir} ({done.from_user} labelled by people, "
          f"{done.from_model} by the model; see {done.csv_path})")
    if done.missing:
        print(f"  {done.missing} records had no original file and were skipped", file=sys.stderr)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from . import evaluate as ev
    from .segmenter import Segmenter

    segmenter = Segmenter.load(args.model, **({"tta_flip": args.tta} if args.tta is not None else {}))
    if args.crf_max_side:  # e.g. to check that the reduced CRF resolution costs no quality
        from dataclasses import replace

        r = segmenter.config.refine
        segmenter.config = replace(segmenter.config,
                                   refine=replace(r, crf=replace(r.crf, max_side=args.crf_max_side)))
    root = Path(args.data)
    parts = set(args.only.split(",")) if args.only else {"classification", "segmentation", "boxes"}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"model": segmenter.bundle.version, "refine": segmenter.config.refine.__repr__()}
    if "classification" in parts:
        folder = args.classification or root / "classification" / "test"
        report["classification"] = c = ev.evaluate_classification(segmenter, folder, out)
        print(f"classification on {folder} (n={c['n']}): accuracy {c['accuracy']:.3f}, "
              f"ROC AUC {c['roc_auc']:.3f}, precision {c['precision']:.3f}, recall {c['recall']:.3f}, "
              f"F1 {c['f1']:.3f}, confusion {c['confusion_matrix']['rows_true_cols_pred']}")
    if "segmentation" in parts:
        folder = args.segmentation or root / "segmentation"
        report["segmentation"] = both = ev.evaluate_segmentation(segmenter, folder)
        for view in ("ungated", "gated"):
            seg = both[view]
            print(f"segmentation on {folder}, {view} ({seg['n_images']} images, {seg['n_sources']} "
                  f"source photos, {seg['classified_corrosion']} classified as corrosion):")
            print(ev.format_segmentation_table(seg))
    if "boxes" in parts:
        folder = args.boxes or root / "boxes"
        report["boxes"] = b = ev.evaluate_boxes(segmenter, folder, args.peak_smoothing)
        share = b["mask_share_inside_boxes"]
        print(f"boxes on {folder} (n={b['n_images']}, {b['classified_corrosion']} classified as corrosion): "
              f"pointing game {b['pointing_game_evidence']:.3f} with the fused evidence "
              f"(Grad-CAM++ alone {b['pointing_game_heatmap']:.3f}, colour alone "
              f"{b['pointing_game_colour_only']:.3f}, image centre "
              f"{b['pointing_game_centre_baseline']:.3f}), mask share inside boxes "
              f"{'n/a' if share is None else f'{share:.3f}'}")
    (out / "metrics.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"wrote {out}/metrics.json")
    return 0


def _tune(args: argparse.Namespace) -> int:
    from .segmenter import Segmenter
    from .tuning import tune, write_refine_defaults

    segmenter = Segmenter.load(args.model)
    best, _ = tune(segmenter, args.segmentation)
    if args.write:
        from .model import default_model_dir

        target = args.model or default_model_dir()
        note = f"tuned on the masks in {args.segmentation} with: rustseg " + " ".join(sys.argv[1:])
        write_refine_defaults(target, best, note)
        print(f"wrote refinement defaults into {target}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rustseg", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train", help="train the classifier on image-level labels")
    t.add_argument("data_dir", help="folder with corrosion/ and not_corrosion/ (or train/ val/ of those)")
    t.add_argument("--out", required=True, help="output model folder, e.g. models/mine")
    t.add_argument("--preset", default="cpu", choices=["cpu", "paper"])
    t.add_argument("--input-size", type=int)
    t.add_argument("--base-width", type=int)
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (warm-up + cosine)")
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--val-fraction", type=float, default=0.15, help="used when there is no val/ split")
    t.add_argument("--no-augment", action="store_true")
    t.add_argument("--deterministic", action="store_true", help="bit-reproducible (slower) TF ops")
    t.add_argument("--cache-dir", help="where decoded images are cached (default OUT/cache)")
    t.add_argument("--warmup-epochs", type=int, default=2, help="linear learning-rate warm-up")
    t.add_argument("--init-from", metavar="MODEL_DIR",
                   help="fine-tune: start from this model's weights (same preset and width; "
                        "the input size may differ)")
    t.set_defaults(func=_train)

    s = sub.add_parser("segment", help="segment images, folders (recursive) and videos")
    s.add_argument("paths", nargs="+", help="image files, folders or video files")
    s.add_argument("--out", required=True, help="folder for masks, overlays, heatmaps and results.csv")
    s.add_argument("--mode", default="standard", choices=["standard", "advanced"])
    s.add_argument("--every", type=int, default=30, help="for videos: segment every Nth frame")
    s.add_argument("--model", help="model folder (default: $RUSTSEG_MODEL or models/default)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_segment)

    e = sub.add_parser("evaluate", help="classification, segmentation and box metrics")
    e.add_argument("--data", default="../shared/data", help="root holding classification/, segmentation/, boxes/")
    e.add_argument("--classification", help="labelled folder (default DATA/classification/test)")
    e.add_argument("--segmentation", help="images/ + masks/ folder (default DATA/segmentation)")
    e.add_argument("--boxes", help="images/ + boxes.json folder (default DATA/boxes)")
    e.add_argument("--only", help="comma list of classification,segmentation,boxes")
    e.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="average with the mirrored photo (default: the model's setting)")
    e.add_argument("--model", help="model folder (default: $RUSTSEG_MODEL or models/default)")
    e.add_argument("--crf-max-side", type=int, help="run the CRF at this long side (default: the model's, 512)")
    e.add_argument("--peak-smoothing", type=float, default=0.02,
                   help="pointing game: Gaussian sigma, as a fraction of the long side, applied "
                        "to a map before taking its peak (default 0.02)")
    e.add_argument("--out", default="runs/eval", help="folder for metrics.json and plots")
    e.set_defaults(func=_evaluate)

    u = sub.add_parser("tune", help="choose refinement defaults on evaluation masks (reported in the model card)")
    u.add_argument("--segmentation", default="../shared/data/segmentation", help="images/ + masks/ folder")
    u.add_argument("--model", help="model folder (default: $RUSTSEG_MODEL or models/default)")
    u.add_argument("--write", action="store_true", help="store the best settings in the model's rustseg.json")
    u.set_defaults(func=_tune)

    d = sub.add_parser("dataset", help="the opt-in store of photos people chose to keep")
    dsub = d.add_subparsers(dest="dataset_cmd", required=True)
    e = dsub.add_parser("export", help="write kept photos as corrosion/ and not_corrosion/ for training")
    e.add_argument("dir", help="output folder (created; re-exporting updates it)")
    e.add_argument("--store", help="store folder (default: $RUSTSEG_STORE_DIR or var/store)")
    e.add_argument("--verified-only", action="store_true",
                   help="only photos whose label a person confirmed or corrected")
    e.set_defaults(func=_dataset_export)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded with a trained model, so the exact command is known
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
