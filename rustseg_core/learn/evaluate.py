"""Experiment runners: classification, segmentation against masks, localisation against
boxes. Each one drives ``Segmenter``'s public stages over a data set and hands the arrays
to the pure functions of :mod:`.metrics`.
"""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..pipeline.colour import colour_rule_mask, rust_probability
from ..pipeline.imageio import IMAGE_EXTENSIONS, ImageInputError, Photo
from ..pipeline.refine import peak
from ..pipeline.resize import resize_mask, upsample
from ..pipeline.segmenter import Evidence, Segmenter
from ..vocabulary import CLASS_LABELS
from .data import LabelledSet, list_labelled
from .label_audit import LabelAudit, audited_labels
from .masks import MaskFolderError, pair_photos, read_mask, warn_unmatched
from .metrics import (auc_interval, classification_metrics, interval, iou_intervals, mask_scores,
                      summarise_segmentation)
from .source_photos import source_of

log = logging.getLogger(__name__)
# Why a report leaves a photo out (its "left_out": {file: why}).
UNREADABLE = "cannot be read as an image"


def _decoded(segmenter: Segmenter, path: Path, skipped: dict[str, str] | None = None,
             key: str | None = None) -> Photo | None:
    """``path`` decoded as the product decodes an upload, or None for a file that cannot be
    read: logged, and put in ``skipped`` (when given) under ``key`` (default: the path) with
    why, so that a report says what its figures leave out."""
    try:
        return segmenter.decode(path)
    except (ImageInputError, OSError) as e:
        log.warning("skipping %s: %s", path, e)
        if skipped is not None:
            skipped[key or str(path)] = UNREADABLE if Path(path).is_file() else "no such file"
        return None


# ---------------------------------------------------------------- classification
def predict_folder(segmenter: Segmenter, paths: list[Path], batch: int = 8) -> np.ndarray:
    """Corrosion probabilities for image files, decoded and classified exactly as
    ``segment`` does (including the mirrored-photo average when the segmenter uses it).
    ``batch`` counts the images the network sees at once, mirrored copies included: the Lite0
    U-Net needs about 0.3 GiB per 384 px image on TensorFlow, so 32 of them (64 with the
    mirrored copies) ran a 24 GiB machine out of memory. A photo that cannot be read is
    logged and gets NaN (see :func:`left_out`)."""
    step = max(1, batch // segmenter.images_per_photo)
    probs = np.full(len(paths), np.nan)
    for i in range(0, len(paths), step):
        photos = {j: _decoded(segmenter, p) for j, p in enumerate(paths[i:i + step], start=i)}
        read = {j: photo.image for j, photo in photos.items() if photo is not None}
        if read:
            probs[list(read)] = segmenter.probabilities(list(read.values()))
    return probs


def save_classification_plots(labels: np.ndarray, probs: np.ndarray, threshold: float,
                              out_dir: Path, title: str = "") -> list[Path]:
    """ROC curve (with photos of both classes) and confusion matrix as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if len(np.unique(labels)) == 2:  # a ROC curve needs photos of both classes
        roc = out_dir / "roc.png"
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        RocCurveDisplay.from_predictions(labels, probs, ax=ax, name="RustSEG")
        ax.plot([0, 1], [0, 1], "k:", lw=1)
        ax.set_title(f"ROC {title}".strip())
        fig.tight_layout()
        fig.savefig(roc, dpi=120)
        plt.close(fig)
        written.append(roc)
    conf = out_dir / "confusion.png"
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ConfusionMatrixDisplay.from_predictions(labels, (probs > threshold).astype(int), ax=ax, labels=[0, 1],
                                            display_labels=[c.replace("_", " ") for c in CLASS_LABELS],
                                            colorbar=False)
    ax.set_title(f"Confusion {title}".strip())
    fig.tight_layout()
    fig.savefig(conf, dpi=120)
    plt.close(fig)
    return written + [conf]


def left_out(ds: LabelledSet, probs: np.ndarray) -> tuple[LabelledSet, np.ndarray, dict[str, str]]:
    """The photos :func:`predict_folder` could read, their probabilities, and {file: why} for
    the others, so that a report says what its figures leave out."""
    ok = ~np.isnan(probs)
    skipped = {str(p): UNREADABLE for p, k in zip(ds.paths, ok) if not k}
    return LabelledSet([p for p, k in zip(ds.paths, ok) if k], ds.labels[ok]), probs[ok], skipped


def classification_intervals(labels, probs: np.ndarray, threshold: float) -> dict:
    """95 % bootstrap intervals of the accuracy and the ROC AUC (photos resampled)."""
    y = np.asarray(labels) > 0.5
    return {"accuracy": interval((np.asarray(probs) > threshold) == y),
            "roc_auc": auc_interval(y, probs)}


def evaluate_classification(segmenter: Segmenter, folder: str | Path, out_dir: str | Path | None,
                            audit: LabelAudit | None = None) -> dict:
    """Table-1 metrics on a labelled folder, with ROC and confusion plots in ``out_dir``.
    With a label ``audit``, the same metrics against the audited labels as well, under
    ``"label_audit"`` (the folder's own labels stay the headline numbers)."""
    folder = Path(folder)
    ds = list_labelled(folder)
    probs = predict_folder(segmenter, ds.paths)
    ds, probs, skipped = left_out(ds, probs)
    if not len(probs):
        return {"n": 0, "left_out": skipped}  # no photo could be read: no figure
    res = classification_metrics(ds.labels, probs, segmenter.threshold)
    res["left_out"] = skipped
    # Each photo's call, so that a run can be read photo by photo and compared with another.
    res["per_photo"] = {p.relative_to(folder).as_posix(): {"label": int(y), "probability": float(q)}
                        for p, y, q in zip(ds.paths, ds.labels, probs)}
    res["ci95"] = classification_intervals(ds.labels, probs, segmenter.threshold)
    res["tta_flip"] = segmenter.tta_flip
    if audit is not None:
        labels, changed = audited_labels(folder, ds, audit)
        res["label_audit"] = {"file": audit.source, "relabelled": changed,
                              **classification_metrics(labels, probs, segmenter.threshold),
                              "ci95": classification_intervals(labels, probs, segmenter.threshold)}
    if out_dir:
        res["plots"] = [str(p) for p in save_classification_plots(
            ds.labels, probs, segmenter.threshold, Path(out_dir), Path(folder).name)]
    return res


# ---------------------------------------------------------------- segmentation
# The variants compared side by side (model card, `rustseg evaluate`):
VARIANTS = {
    "learned": "the U-Net's own mask (learned mode), when the model has one",
    "standard": "standard mode as shipped: Grad-CAM++, threshold, tuned colour evidence, CRF",
    "advanced": "advanced mode as shipped: K-means, erosion, CRF, on the tuned colour evidence",
    "paper_crf": "the paper's standard mode: Grad-CAM++, threshold, CRF, no colour",
    "paper_advanced": "the paper's advanced mode: K-means, erosion, CRF, no colour",
    "heatmap": "upsampled Grad-CAM++ after the paper's threshold, no CRF",
    "colour_rule": "the colour rule alone (no learning, never gated)",
}


def paper_segmenter(segmenter: Segmenter) -> Segmenter:
    """The paper's refinement on the same model: no colour evidence, CRF 25 iterations."""
    r = segmenter.config.refine
    return segmenter.with_refine(colour_weight=0.0, crf=replace(r.crf, iterations=25))


def segmentation_variants(segmenter: Segmenter, image: np.ndarray, ev: Evidence,
                          size: tuple[int, int]) -> dict[str, np.ndarray]:
    """Masks at ``size`` = (height, width) from each of :data:`VARIANTS` this model can run."""
    paper = paper_segmenter(segmenter)
    rule = segmenter.config.refine.colour_rule
    out = {}
    if "learned" in segmenter.modes:
        out["learned"] = segmenter.mask_from_evidence(image, ev, "learned", size)
    out.update({
        "standard": segmenter.mask_from_evidence(image, ev, "standard", size),
        "advanced": segmenter.mask_from_evidence(image, ev, "advanced", size),
        "paper_crf": paper.mask_from_evidence(image, ev, "standard", size),
        "paper_advanced": paper.mask_from_evidence(image, ev, "advanced", size),
        "heatmap": resize_mask(segmenter.evidence_map(image, ev, "standard", colour=False) > 0, size),
        "colour_rule": resize_mask(colour_rule_mask(segmenter.mask_image(image), rule), size),
    })
    return out


def mask_pairs(folder: str | Path, names: set[str] | None = None,
               skipped: dict[str, str] | None = None) -> Iterator[tuple[Path, np.ndarray]]:
    """(photo path, boolean ground-truth mask) for ``images/NAME.*`` with ``masks/NAME.png``;
    only the photos named in ``names`` when given (the other masks are not read). A mask that
    cannot be read is logged and left out, and so is a photo without a mask; ``skipped``, when
    given, gets {photo name: why} for each."""
    pairs, unmatched = pair_photos(folder)
    unmatched = [p.name for p in unmatched if names is None or p.name in names]
    warn_unmatched(folder, unmatched)
    if skipped is not None:
        skipped.update(dict.fromkeys(unmatched, "no mask (masks/NAME.png)"))
    for img_path, mask_path in pairs:
        if names is None or img_path.name in names:
            try:
                gt = read_mask(mask_path) >= 128
            except OSError as e:
                log.warning("skipping %s: its mask %s cannot be read: %s", img_path, mask_path, e)
                if skipped is not None:
                    skipped[img_path.name] = "the mask cannot be read"
                continue
            yield img_path, gt


def evaluate_segmentation(segmenter: Segmenter, folder: str | Path,
                          source: Callable[[str], str] = source_of) -> dict:
    """Per-image and per-source scores for every variant on ``images/`` + ``masks/``;
    ``source`` names each photo's source photo (:mod:`.source_photos`).

    Two views of the same masks: ``ungated`` scores each method's mask as is (refinement
    quality on photos known to show rust, the usual weakly-supervised protocol); ``gated``
    is the product's behaviour, where a photo the classifier calls clean gets no mask from
    the learned methods (the colour rule has no classifier and is never gated). Every photo
    here shows rust, so ``share_called_clean`` is the classifier's miss rate.
    """
    per_image: dict[str, dict] = {"ungated": {}, "gated": {}}
    skipped: dict[str, str] = {}
    for img_path, gt in mask_pairs(folder, skipped=skipped):
        photo = _decoded(segmenter, img_path, skipped, img_path.name)
        if photo is None:
            continue
        (w, h), image = photo.size, photo.image
        if abs(gt.shape[0] * w - gt.shape[1] * h) > 0.02 * h * gt.shape[1]:
            # Masks drawn on the stored pixels of a photo with an EXIF rotation come out turned.
            log.warning("%s is %d x %d px upright but its mask is %d x %d px: the mask is "
                        "stretched to fit (drawn without the EXIF orientation?)",
                        img_path, w, h, gt.shape[1], gt.shape[0])
        ev = segmenter.evidence(image)
        rejected = ev.probability <= segmenter.threshold
        ungated, gated = {}, {}
        for name, m in segmentation_variants(segmenter, image, ev, gt.shape).items():
            ungated[name] = mask_scores(m, gt)
            gated[name] = mask_scores(np.zeros_like(m), gt) if rejected and name != "colour_rule" \
                else ungated[name]
        per_image["ungated"][img_path.name] = {"probability": ev.probability, "scores": ungated}
        per_image["gated"][img_path.name] = {"probability": ev.probability, "scores": gated}
    if not per_image["gated"]:
        raise MaskFolderError(f"no photo under {folder}/images has a mask in {folder}/masks "
                              "that can be read (images/NAME.jpg pairs with masks/NAME.png)")
    out = {view: summarise_segmentation(v, segmenter.threshold, source) for view, v in per_image.items()}
    # The classifier's calls are the same in both views: one figure, one interval.
    called_clean = [v["probability"] <= segmenter.threshold for v in per_image["gated"].values()]
    share, share_ci = float(np.mean(called_clean)), interval(called_clean)
    for view in out.values():
        view["left_out"] = skipped
        view["share_called_clean"] = share
        view["ci95"] = {"iou": iou_intervals(view, source), "share_called_clean": share_ci}
    return out


def decoded_photos(segmenter: Segmenter, folder: str | Path,
                   skipped: dict[str, str] | None = None) -> Iterator[tuple[Path, np.ndarray]]:
    """(path, image) for every photo under ``folder``, subfolders included, decoded as the
    product decodes an upload; a file that cannot be read is logged and skipped (and put in
    ``skipped``, when given, as {path: why})."""
    for path in sorted(Path(folder).rglob("*")):
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        photo = _decoded(segmenter, path, skipped)
        if photo is not None:
            yield path, photo.image


def evaluate_clean(segmenter: Segmenter, folder: str | Path) -> dict:
    """False area on photos that show no rust (e.g. ``classification/test/not_corrosion``):
    the mean share of each photo marked, gated as the product shows it (a photo called clean
    is marked nowhere) and ungated (what the mask alone would mark)."""
    folder = Path(folder)
    gated: dict[str, list[float]] = defaultdict(list)
    ungated: dict[str, list[float]] = defaultdict(list)
    called: list[bool] = []
    skipped: dict[str, str] = {}
    per_photo: dict[str, dict] = {}
    for path, image in decoded_photos(segmenter, folder, skipped):
        ev = segmenter.evidence(image)
        corrosion = ev.probability > segmenter.threshold
        called.append(bool(corrosion))
        areas = {}
        for name, m in segmentation_variants(segmenter, image, ev, image.shape[:2]).items():
            areas[name] = area = float(m.mean())
            ungated[name].append(area)
            gated[name].append(area if corrosion or name == "colour_rule" else 0.0)
        per_photo[path.relative_to(folder).as_posix()] = {"probability": float(ev.probability),
                                                          "area_ungated": areas}
    n = len(called)
    return {"n_images": n, "left_out": skipped, "per_photo": per_photo,
            "share_called_corrosion": float(np.mean(called)) if n else None,  # no photo, no figure
            "false_area_gated": {k: float(np.mean(v)) for k, v in gated.items()},
            "false_area_ungated": {k: float(np.mean(v)) for k, v in ungated.items()},
            "ci95": {"share_called_corrosion": interval(called),
                     "false_area_gated": {k: interval(v) for k, v in gated.items()}}}


# ---------------------------------------------------------------- boxes
def evaluate_boxes(segmenter: Segmenter, folder: str | Path, smooth: float = 0.02) -> dict:
    """Pointing game (a map's peak inside a box) and share of the mask inside boxes.

    Each mode's own map points, at mask resolution via :func:`peak` with ``smooth``: the
    U-Net's pixel map (``learned``), the evidence standard mode's CRF starts from
    (``standard``), the Grad-CAM++ heatmap alone and the colour evidence alone; always
    pointing at the image centre is the baseline a map must beat. The mask share is of the
    configured default mode's mask.
    """
    folder = Path(folder)
    boxes = json.loads((folder / "boxes.json").read_text())
    rule = segmenter.config.refine.colour_rule
    hits: dict[str, list[bool]] = defaultdict(list)
    shares, shares_all, positives = [], [], 0
    skipped: dict[str, str] = {}
    per_photo: dict[str, dict] = {}
    for name, bxs in sorted(boxes.items()):
        photo = _decoded(segmenter, folder / "images" / name, skipped, name)
        if photo is None:
            continue
        (w0, h0), image = photo.size, photo.image
        ev = segmenter.evidence(image)
        corrosion = ev.probability > segmenter.threshold
        positives += corrosion
        small = segmenter.mask_image(image)
        h, w = small.shape[:2]
        sy, sx = h / h0, w / w0
        inside = np.zeros((h, w), bool)
        for x0, y0, x1, y1 in bxs:
            inside[int(y0 * sy):int(np.ceil(y1 * sy)), int(x0 * sx):int(np.ceil(x1 * sx))] = True
        maps = {"standard": segmenter.evidence_map(image, ev, "standard"),
                "heatmap": upsample(ev.cam, (h, w)), "colour_only": rust_probability(small, rule)}
        if "learned" in segmenter.modes:
            maps["learned"] = segmenter.evidence_map(image, ev, "learned")
        photo_hits = {key: bool(inside[peak(m, smooth)]) for key, m in maps.items()}
        photo_hits["centre_baseline"] = bool(inside[h // 2, w // 2])
        for key, hit in photo_hits.items():
            hits[key].append(hit)
        m = segmenter.mask_from_evidence(image, ev, size=(h, w))
        share = float((m & inside).sum() / m.sum()) if m.any() else None
        if share is not None:
            shares_all.append(share)
            if corrosion:
                shares.append(share)
        per_photo[name] = {"probability": float(ev.probability), "hits": photo_hits,
                           "mask_share_ungated": share}
    out = {"n_images": len(hits["centre_baseline"]), "left_out": skipped, "peak_smoothing": smooth,
           "per_photo": per_photo}
    out.update({f"pointing_game_{k}": float(np.mean(v)) if v else None for k, v in hits.items()})
    out.update({"mask_share_inside_boxes": float(np.mean(shares)) if shares else None,
                "mask_share_inside_boxes_ungated": float(np.mean(shares_all)) if shares_all else None,
                "classified_corrosion": int(positives)})
    out["ci95"] = {**{f"pointing_game_{k}": interval(v) for k, v in hits.items()},
                   "mask_share_inside_boxes": interval(shares)}
    return out
