"""Choosing a model's settings on validation photos (``rustseg tune``).

The paper's modes: post-processing knobs (colour rule, fusion weight, CRF colour
sensitivity), chosen on mask photos the model did not learn from — a U-Net's own held-out
photos, or a sample of a mask folder for a model trained on image labels alone (the
evaluation masks can still be named, and the model card must then say so). Every candidate
is scored by per-source mean IoU without the classifier's gate: refinement is judged on
photos known to show rust; the gate is the classifier's job and is reported by ``rustseg
evaluate``. With clean validation photos, a candidate that marks more of them than
:data:`MAX_FALSE_AREA` (gated, as the product shows them) is not chosen, whatever its IoU.
Learned mode: the map's side, the mask threshold and the decision threshold.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

import numpy as np
from sklearn.metrics import roc_auc_score

from ..config import MAX_FALSE_AREA, RefineConfig
from ..pipeline.colour import colour_rule_mask
from ..pipeline.model import META_FILE
from ..pipeline.resize import resize_mask, upsample
from ..pipeline.segmenter import Evidence, Segmenter
from .data import LabelledSet, list_labelled
from .evaluate import decoded_photos, left_out, mask_pairs, predict_folder
from .label_audit import LabelAudit, audited_labels
from .masks import mask_pairs_in
from .metrics import (auc_interval, decision_threshold, format_interval, interval, mask_scores,
                      summarise_segmentation, uncertain_band)
from .source_photos import source_of

COLOUR_GRID = {"hue_low": [-20.0, -12.0], "hue_high": [35.0, 40.0, 45.0],
               "sat_min": [0.11, 0.15, 0.2], "val_min": [0.03, 0.08]}
# colour_weight 0: the heatmap alone, the default, so that it competes too
FUSION_GRID = {"fusion": ["linear"], "colour_weight": [0.0, 0.5, 0.7, 0.85],
               "bilateral_srgb": [13.0, 25.0], "gt_prob": [0.9]}
PAPER_MODES = ("standard", "advanced")


class Cached:
    """Decoded images and heatmaps, computed once for the whole grid (the model's part does
    not change with refinement settings)."""

    def __init__(self, segmenter: Segmenter, folder: str | Path, names: set[str] | None = None,
                 source: Callable[[str], str] = source_of):
        self.source = source
        self.items = []
        for p, gt in mask_pairs(folder, names):
            image = segmenter.decode(p).image
            ev = segmenter.evidence(image)
            self.items.append((p.name, gt, image, ev, ev.probability))
        self.threshold = segmenter.threshold

    def score(self, fn: Callable[[np.ndarray, Evidence, tuple[int, int]], np.ndarray],
              gated: bool = False) -> float:
        """Per-source mean IoU of ``fn(image, evidence, gt_size) -> mask``."""
        per = {}
        for name, gt, image, ev, prob in self.items:
            m = fn(image, ev, gt.shape)
            if gated and prob <= self.threshold:
                m = np.zeros_like(m)
            per[name] = {"probability": prob, "scores": {"x": mask_scores(m, gt)}}
        return summarise_segmentation(per, source=self.source)["methods"]["x"]["per_source_mean"]["iou"]


class CleanPhotos:
    """Photos that show no rust, for the false area a refinement setting paints on them as
    the product shows it: only the photos the gate calls rust are marked at all, and which
    those are does not change with refinement settings, so only they are kept."""

    def __init__(self, segmenter: Segmenter, folder: str | Path):
        self.n = 0
        self.passed: list[tuple[np.ndarray, Evidence]] = []
        for _, image in decoded_photos(segmenter, folder):
            self.n += 1
            ev = segmenter.evidence(image)
            if ev.probability > segmenter.threshold:
                self.passed.append((image, ev))

    def false_area(self, segmenter: Segmenter, mode: str) -> float:
        """The mean share of each clean photo ``mode`` marks (0 for a photo called clean)."""
        marked = sum(float(segmenter.mask_from_evidence(image, ev, mode, image.shape[:2]).mean())
                     for image, ev in self.passed)
        return marked / max(self.n, 1)


def _grid(grid: dict) -> list[dict]:
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


def tune(segmenter: Segmenter, folder: str | Path, names: set[str] | None = None,
         clean: str | Path | None = None, max_false_area: float = MAX_FALSE_AREA,
         log: Callable[[str], None] = print, source: Callable[[str], str] = source_of
         ) -> tuple[RefineConfig, list]:
    """Grid-search the colour rule (ungated, as the baseline), then fusion + CRF settings, on
    the mask photos of ``folder`` (those named in ``names``, when given), by their mean IoU
    per source photo (``source``: :mod:`.source_photos`). With ``clean`` (a
    folder of validation photos that show no rust), settings whose standard or advanced mode
    marks more than ``max_false_area`` of those photos on average, gated, are ruled out; a
    ValueError when every one is. Returns (the best settings, [(IoU, params, {mode: false
    area} or None)] best first)."""
    base = segmenter.config.refine
    data = Cached(segmenter, folder, names, source)
    if not data.items:
        raise ValueError(f"no mask photos to tune on in {folder}")
    guard = CleanPhotos(segmenter, clean) if clean is not None else None
    if guard is not None:
        if not guard.n:
            raise ValueError(f"no clean photos in {clean}")
        log(f"clean photos: {len(guard.passed)} of {guard.n} in {clean} called rust at "
            f"{segmenter.threshold} (only those can be marked)")
    colour_results = []
    for params in _grid(COLOUR_GRID):
        rule = replace(base.colour_rule, **params)
        iou = data.score(lambda image, ev, size: resize_mask(
            colour_rule_mask(segmenter.mask_image(image), rule), size))
        colour_results.append((iou, params))
    colour_results.sort(key=lambda r: -r[0])
    rule = replace(base.colour_rule, **colour_results[0][1])
    log(f"colour rule: best per-source IoU {colour_results[0][0]:.3f} with {colour_results[0][1]}")
    results = []
    for params in _grid(FUSION_GRID):
        crf = replace(base.crf, bilateral_srgb=params["bilateral_srgb"], gt_prob=params["gt_prob"])
        candidate = segmenter.with_refine(colour_rule=rule, crf=crf, fusion=params["fusion"],
                                          colour_weight=params["colour_weight"])
        iou = data.score(lambda image, ev, size: candidate.mask_from_evidence(image, ev, "standard", size))
        area = None if guard is None else {m: guard.false_area(candidate, m) for m in PAPER_MODES}
        worst = 0.0 if area is None else max(area.values())  # the limit holds for every mode
        results.append((iou, params, candidate.config.refine, area, worst))
        log(f"  {iou:.3f}  {params}" + ("" if area is None else "  false area " + ", ".join(
            f"{m} {100 * a:.2f} %" for m, a in area.items())))
    results.sort(key=lambda r: -r[0])
    allowed = [r for r in results if r[4] <= max_false_area]
    if not allowed:
        least = min(results, key=lambda r: r[4])
        raise ValueError(f"every refinement setting marks more than {100 * max_false_area:g} % of the "
                         f"clean photos in {clean} (the least: {100 * least[4]:.2f} % "
                         f"with {least[1]}); nothing chosen")
    best = allowed[0]
    log(f"fusion: best per-source IoU {best[0]:.3f} with {best[1]}" + (
        "" if guard is None else f", among the settings marking at most {100 * max_false_area:g} % "
                                 f"of the clean photos ({len(allowed)} of {len(results)})"))
    return replace(best[2], mode=base.mode), [(i, p, a) for i, p, _, a, _ in results]


# The grids `rustseg tune --learned` searches: learned mode's mask threshold, then the
# decision threshold (scripts/unet_ensemble_check.py scores by the same grids).
MASK_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
DECISION_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def tune_learned(segmenter: Segmenter, folder: str | Path, names: set[str] | None = None,
                 sides: tuple[int, ...] = (192, 256, 320, 384),
                 thresholds: tuple[float, ...] = MASK_THRESHOLDS,
                 log: Callable[[str], None] = print) -> tuple[int, float, dict]:
    """Learned mode's pixel-map side and mask threshold: the pair with the best mean IoU on
    the mask photos of ``folder`` named in ``names`` (a model's held-out validation photos;
    never a test split). Returns (side, threshold, {(side, threshold): IoU})."""
    pairs = list(mask_pairs(folder, names))
    if not pairs:
        raise ValueError(f"no validation mask photos of this model in {folder}")
    per_photo: dict[tuple[int, float], list[float]] = {}
    for side in sides:
        seg = segmenter.with_config(learned_side=side)
        ious: dict[float, list[float]] = {t: [] for t in thresholds}
        for path, gt in pairs:
            image = seg.decode(path).image
            prob = upsample(seg.evidence(image).pixels, gt.shape)
            for t in thresholds:
                ious[t].append(mask_scores(prob > t, gt)["iou"])
        for t in thresholds:
            per_photo[(side, t)] = ious[t]
            log(f"  side {side}, threshold {t}: mean IoU {np.mean(ious[t]):.3f}")
    table = {key: float(np.mean(v)) for key, v in per_photo.items()}
    side, t = max(table, key=table.get)
    log(f"learned mode: best mean IoU {table[(side, t)]:.3f}"
        f"{format_interval(interval(per_photo[(side, t)]))} at side {side}, threshold {t} "
        f"({len(pairs)} validation photos; [95 % bootstrap interval])")
    return side, t, table


def tune_decision(segmenter: Segmenter, labelled: str | Path, folder: str | Path, names: set[str],
                  thresholds: tuple[float, ...] = DECISION_THRESHOLDS,
                  log: Callable[[str], None] = print,
                  audit: LabelAudit | None = None) -> tuple[float, dict]:
    """The decision threshold with the best balanced accuracy on every validation photo
    whose answer is known: ``labelled`` (corrosion/ and not_corrosion/) and the model's
    held-out mask photos of ``folder``, which all show rust. Choosing on the web-style photos
    alone let the gate call close-ups clean; balanced, so that the close-ups (all rust) do
    not in turn buy recall with false alarms on clean photos. Returns (threshold,
    {"balanced_accuracy_by_threshold", "accuracy_by_threshold": {threshold: value},
    "uncertain_band": the borderline band around it on the same photos}). With a label
    ``audit``, the labelled photos count as the audit says they show."""
    ds = list_labelled(labelled)
    if audit is not None:
        labels, changed = audited_labels(labelled, ds, audit)
        ds = LabelledSet(ds.paths, labels)
        log(f"label audit {audit.source}: {changed} of {len(ds)} labels of {labelled} changed")
    close = [p for p, _ in mask_pairs_in(folder) if p.name in names]
    probs = predict_folder(segmenter, list(ds.paths) + close)
    # Photos that cannot be read are logged by predict_folder and left out here.
    labelled_probs, close_probs = probs[:len(ds)], probs[len(ds):]
    ds, labelled_probs, _ = left_out(ds, labelled_probs)
    close = [p for p, q in zip(close, close_probs) if not np.isnan(q)]
    probs = np.concatenate([labelled_probs, close_probs[~np.isnan(close_probs)]])
    n = len(ds)
    best, balanced, plain = decision_threshold(probs[:n], ds.labels, probs[n:], thresholds)
    clean = probs[:n][ds.labels < 0.5]
    for t in thresholds:
        log(f"  decision threshold {t}: balanced accuracy {balanced[t]:.3f}, accuracy {plain[t]:.3f} "
            f"(labelled {np.mean((probs[:n] > t) == (ds.labels > 0.5)):.3f}, clean called rust "
            f"{np.mean(clean > t) if len(clean) else 0:.3f}, close-ups called clean "
            f"{np.mean(probs[n:] <= t) if close else 0:.3f})")
    log(f"decision threshold {best}: balanced accuracy {balanced[best]:.3f} on {n} labelled photos "
        f"and {len(close)} held-out close-ups; ROC AUC on the labelled photos "
        f"{roc_auc_score(ds.labels, probs[:n]):.3f}{format_interval(auc_interval(ds.labels, probs[:n]))}")
    band = uncertain_band(probs, np.concatenate([ds.labels, np.ones(len(close))]), best)
    log(f"borderline band {band['low']}–{band['high']}: {100 * band['share_inside']:.1f} % of these "
        f"photos, accuracy {band['accuracy_inside']} inside and {band['accuracy_outside']} outside")
    return best, {"balanced_accuracy_by_threshold": balanced, "accuracy_by_threshold": plain,
                  "uncertain_band": band}


def at_side(segmenter: Segmenter, side: int) -> Segmenter:
    """The segmenter with the whole network run at ``side`` px (classification, Grad-CAM++
    and the pixel map: one resolution, so that every mode and runtime gives a photo the same
    probability), on TensorFlow until a model.onnx of that side is exported."""
    if side == segmenter.bundle.input_size:
        return segmenter
    bundle = segmenter.bundle  # its Keras model, loaded once for every side
    bundle = bundle.replace(model=bundle.model, spec=replace(bundle.spec, input_size=side))
    return Segmenter(bundle, replace(segmenter.config, learned_side=side, runtime="tensorflow"))


def write_learned_defaults(model_dir: str | Path, side: int, threshold: float, note: str,
                           decision_threshold: float | None = None, band: dict | None = None,
                           tta_flip: bool | None = None) -> None:
    """Store learned mode's side and mask threshold (and, if given, the decision threshold,
    its borderline band and whether mirrored-photo averaging was on) in the model's
    metadata. The side is the network's input side too (see :func:`at_side`)."""
    path = Path(model_dir) / META_FILE
    meta = json.loads(path.read_text())
    meta["spec"]["input_size"] = meta["input_size"] = int(side)
    meta.setdefault("info", {}).update(learned_side=int(side), mask_threshold=float(threshold),
                                       learned_note=note)
    if decision_threshold is not None:
        meta["threshold"] = float(decision_threshold)
        meta["info"]["decision_note"] = note
        if "thresholds" in meta["info"]:  # what training chose, kept in step
            meta["info"]["thresholds"]["decision_threshold"] = float(decision_threshold)
    if band is not None:
        meta["info"]["uncertain_band"] = band
    if tta_flip is not None:  # the thresholds were chosen with it: they hold only with it
        meta["info"]["tta_flip"] = bool(tta_flip)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True))
    tmp.replace(path)


def write_refine_defaults(model_dir: str | Path, cfg: RefineConfig, note: str) -> None:
    """Store tuned refinement settings in the model's metadata (read by ``Segmenter``)."""
    path = Path(model_dir) / META_FILE
    meta = json.loads(path.read_text())
    d = asdict(cfg)
    # The U-Net's mode and mask threshold live in info (default_mode, mask_threshold, set by
    # training and ``tune --learned``); a copy here would only be overridden or go unused.
    d.pop("mode", None)
    d.pop("learned_threshold", None)
    meta.setdefault("info", {})["refine"] = d
    meta["info"]["refine_note"] = note
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True))
    tmp.replace(path)
