"""Measured quality: classification, segmentation against masks, localisation against boxes."""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from .colour import rust_probability
from .config import RefineConfig
from .data import list_labelled
from .imageio import IMAGE_EXTENSIONS, ImageInputError
from .model import preprocess
from .refine import dynamic_threshold, fused_evidence, peak, refine, rescale_mask_space, upsample
from .segmenter import Segmenter

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- classification
def predict_folder(segmenter: Segmenter, paths: list[Path], batch: int = 32) -> np.ndarray:
    """Corrosion probabilities for image files, preprocessed exactly as ``segment`` does
    (including the mirrored-photo average when the segmenter uses it)."""
    size = segmenter.bundle.input_size
    probs: list[float] = []
    for i in range(0, len(paths), batch):
        xs = []
        for p in paths[i:i + batch]:
            img, _ = segmenter.decode(p)
            xs.append(preprocess(img, size))
        x = np.stack(xs)
        logits = segmenter.bundle.predict_logits(x)
        if segmenter.tta_flip:  # as Segmenter does: average the logits with the mirror's
            logits = (logits + segmenter.bundle.predict_logits(x[:, :, ::-1].copy())) / 2
        probs.extend((1.0 / (1.0 + np.exp(-logits))).tolist())
    return np.asarray(probs)


def classification_metrics(labels: np.ndarray, probs: np.ndarray, threshold: float = 0.5) -> dict:
    """Accuracy, ROC AUC, precision, recall, F1 and the confusion matrix (the paper's Table 1)."""
    from sklearn import metrics

    pred = (probs > threshold).astype(int)
    cm = metrics.confusion_matrix(labels, pred, labels=[0, 1])
    return {
        "n": int(len(labels)),
        "accuracy": float(metrics.accuracy_score(labels, pred)),
        "roc_auc": float(metrics.roc_auc_score(labels, probs)),
        "precision": float(metrics.precision_score(labels, pred, zero_division=0)),
        "recall": float(metrics.recall_score(labels, pred, zero_division=0)),
        "f1": float(metrics.f1_score(labels, pred, zero_division=0)),
        "confusion_matrix": {"labels": ["not_corrosion", "corrosion"], "rows_true_cols_pred": cm.tolist()},
        "threshold": threshold,
    }


def save_classification_plots(labels: np.ndarray, probs: np.ndarray, threshold: float,
                              out_dir: Path, title: str = "") -> list[Path]:
    """ROC curve and confusion matrix as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

    out_dir.mkdir(parents=True, exist_ok=True)
    roc = out_dir / "roc.png"
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    RocCurveDisplay.from_predictions(labels, probs, ax=ax, name="RustSEG")
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set_title(f"ROC {title}".strip())
    fig.tight_layout()
    fig.savefig(roc, dpi=120)
    plt.close(fig)
    conf = out_dir / "confusion.png"
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ConfusionMatrixDisplay.from_predictions(labels, (probs > threshold).astype(int), ax=ax,
                                            display_labels=["not corrosion", "corrosion"],
                                            colorbar=False)
    ax.set_title(f"Confusion {title}".strip())
    fig.tight_layout()
    fig.savefig(conf, dpi=120)
    plt.close(fig)
    return [roc, conf]


def evaluate_classification(segmenter: Segmenter, folder: str | Path, out_dir: str | Path | None) -> dict:
    """Table-1 metrics on a labelled folder, with ROC and confusion plots in ``out_dir``."""
    ds = list_labelled(folder)
    probs = predict_folder(segmenter, ds.paths)
    res = classification_metrics(ds.labels, probs, segmenter.threshold)
    res["tta_flip"] = segmenter.tta_flip
    if out_dir:
        res["plots"] = [str(p) for p in save_classification_plots(
            ds.labels, probs, segmenter.threshold, Path(out_dir), Path(folder).name)]
    return res


# ---------------------------------------------------------------- segmentation
def mask_scores(pred: np.ndarray, gt: np.ndarray) -> dict:
    """IoU, Dice, pixel precision and recall of boolean masks (empty ∩ empty counts as 1)."""
    tp = float((pred & gt).sum())
    fp = float((pred & ~gt).sum())
    fn = float((~pred & gt).sum())
    union = tp + fp + fn
    return {"iou": tp / union if union else 1.0,
            "dice": 2 * tp / (2 * tp + fp + fn) if union else 1.0,
            "precision": tp / (tp + fp) if tp + fp else float(not gt.any()),
            "recall": tp / (tp + fn) if tp + fn else 1.0}


def segmentation_variants(segmenter: Segmenter, image: np.ndarray, cam: np.ndarray,
                          refine_cfg: RefineConfig) -> dict[str, np.ndarray]:
    """Masks (at CRF resolution) from each method compared in the model card.

    ``heatmap``: upsampled Grad-CAM++ after the paper's threshold; ``crf``: + dense CRF (the
    paper's standard mode); ``advanced``: the paper's K-means mode; ``colour_rule``: no
    learning at all; ``rustseg``: the shipped default (``refine_cfg``).
    """
    small = rescale_mask_space(image, refine_cfg.crf.max_side)
    colour = rust_probability(small, refine_cfg.colour_rule)
    heat = upsample(cam, small.shape[:2])
    paper = replace(refine_cfg, colour_weight=0.0, crf=replace(refine_cfg.crf, iterations=25))
    return {
        "heatmap": dynamic_threshold(heat)[0] > 0,
        "crf": refine(small, cam, replace(paper, mode="standard")),
        "advanced": refine(small, cam, replace(paper, mode="advanced")),
        "colour_rule": colour >= 0.5,
        "rustseg": refine(small, cam, refine_cfg, colour),
    }


def _resize_bool(mask: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    if mask.shape == size_hw:
        return mask
    img = Image.fromarray(mask.astype(np.uint8) * 255).resize(size_hw[::-1], Image.BILINEAR)
    return np.asarray(img) >= 128


def source_of(name: str) -> str:
    """Augmented copies share the part of the name before the first '-'."""
    return name.split("-")[0]


def mask_pairs(folder: str | Path) -> Iterator[tuple[Path, np.ndarray]]:
    """(photo path, boolean ground-truth mask) for ``images/NAME.*`` with ``masks/NAME.png``."""
    folder = Path(folder)
    for img_path in sorted((folder / "images").iterdir()):
        mask_path = folder / "masks" / (img_path.stem + ".png")
        if img_path.suffix.lower() in IMAGE_EXTENSIONS and mask_path.is_file():
            yield img_path, np.asarray(Image.open(mask_path).convert("L")) >= 128


def evaluate_segmentation(segmenter: Segmenter, folder: str | Path) -> dict:
    """Per-image and per-source scores for every variant on ``images/`` + ``masks/``.

    Two views of the same masks: ``ungated`` scores each method's mask as is (refinement
    quality on photos known to show rust, the usual weakly-supervised protocol); ``gated``
    is the product's behaviour, where a photo the classifier calls clean gets no mask from
    the learned methods (the colour rule has no classifier and is never gated).
    """
    per_image: dict[str, dict] = {"ungated": {}, "gated": {}}
    cfg = segmenter.config.refine
    for img_path, gt in mask_pairs(folder):
        image, _ = segmenter.decode(img_path)
        prob, cam, _ = segmenter.classify_and_localise(image)
        rejected = prob <= segmenter.threshold
        ungated, gated = {}, {}
        for name, m in segmentation_variants(segmenter, image, cam, cfg).items():
            m = _resize_bool(m, gt.shape)
            ungated[name] = mask_scores(m, gt)
            gated[name] = mask_scores(np.zeros_like(m), gt) if rejected and name != "colour_rule" \
                else ungated[name]
        per_image["ungated"][img_path.name] = {"probability": prob, "scores": ungated}
        per_image["gated"][img_path.name] = {"probability": prob, "scores": gated}
    out = {view: summarise_segmentation(v, segmenter.threshold) for view, v in per_image.items()}
    return out


def summarise_segmentation(per_image: dict[str, dict], threshold: float = 0.5) -> dict:
    """Means over images and over source photos (each source weighted once)."""
    methods = sorted({m for v in per_image.values() for m in v["scores"]})
    by_source: dict[str, list[str]] = defaultdict(list)
    for name in per_image:
        by_source[source_of(name)].append(name)
    summary = {}
    for m in methods:
        keys = ("iou", "dice", "precision", "recall")
        img_mean = {k: float(np.mean([v["scores"][m][k] for v in per_image.values()])) for k in keys}
        src_mean = {k: float(np.mean([np.mean([per_image[n]["scores"][m][k] for n in names])
                                      for names in by_source.values()])) for k in keys}
        summary[m] = {"per_image_mean": img_mean, "per_source_mean": src_mean}
    return {"n_images": len(per_image), "n_sources": len(by_source), "methods": summary,
            "classified_corrosion": int(sum(v["probability"] > threshold for v in per_image.values())),
            "per_image": per_image}


# ---------------------------------------------------------------- boxes
def evaluate_boxes(segmenter: Segmenter, folder: str | Path, smooth: float = 0.02) -> dict:
    """Pointing game (a map's peak inside a box) and share of the mask inside boxes.

    Three maps point, each at the CRF's resolution via :func:`peak` with ``smooth``: the
    fused evidence the CRF starts from (what RustSEG localises with), the Grad-CAM++
    heatmap alone, and the colour evidence alone; always pointing at the image centre is
    the baseline a map must beat.
    """
    folder = Path(folder)
    boxes = json.loads((folder / "boxes.json").read_text())
    rcfg = segmenter.config.refine
    hits: dict[str, list[bool]] = defaultdict(list)
    shares, shares_all, positives = [], [], 0
    for name, bxs in sorted(boxes.items()):
        path = folder / "images" / name
        try:
            image, (w0, h0) = segmenter.decode(path)
        except (ImageInputError, OSError) as e:
            log.warning("skipping %s: %s", name, e)
            continue
        prob, cam, _ = segmenter.classify_and_localise(image)
        positives += prob > segmenter.threshold
        small = rescale_mask_space(image, rcfg.crf.max_side)
        h, w = small.shape[:2]
        sy, sx = h / h0, w / w0
        inside = np.zeros((h, w), bool)
        for x0, y0, x1, y1 in bxs:
            inside[int(y0 * sy):int(np.ceil(y1 * sy)), int(x0 * sx):int(np.ceil(x1 * sx))] = True
        colour = rust_probability(small, rcfg.colour_rule)
        maps = {"evidence": fused_evidence(cam, (h, w), rcfg, colour),
                "heatmap": upsample(cam, (h, w)), "colour_only": colour}
        for key, m in maps.items():
            hits[key].append(bool(inside[peak(m, smooth)]))
        hits["centre_baseline"].append(bool(inside[h // 2, w // 2]))
        m = refine(small, cam, rcfg, colour)  # colour is ignored at weight 0
        if m.any():
            share = float((m & inside).sum() / m.sum())
            shares_all.append(share)
            if prob > segmenter.threshold:
                shares.append(share)
    out = {"n_images": len(hits["centre_baseline"]), "peak_smoothing": smooth}
    out.update({f"pointing_game_{k}": float(np.mean(v)) for k, v in hits.items()})
    out.update({"mask_share_inside_boxes": float(np.mean(shares)) if shares else None,
                "mask_share_inside_boxes_ungated": float(np.mean(shares_all)) if shares_all else None,
                "classified_corrosion": int(positives)})
    return out


def format_segmentation_table(summary: dict) -> str:
    """Markdown table of per-source means (the number the targets refer to)."""
    lines = ["| method | IoU (per source) | Dice | precision | recall | IoU (per image) |",
             "|---|---|---|---|---|---|"]
    for m, s in summary["methods"].items():
        src, img = s["per_source_mean"], s["per_image_mean"]
        lines.append(f"| {m} | {src['iou']:.3f} | {src['dice']:.3f} | {src['precision']:.3f} | "
                     f"{src['recall']:.3f} | {img['iou']:.3f} |")
    return "\n".join(lines)
