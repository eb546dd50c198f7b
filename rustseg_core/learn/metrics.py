"""Pure metric functions: classification (the paper's Table 1), masks, and their summaries.

Arrays in, numbers out; nothing here runs a model or reads a file.
"""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from ..vocabulary import CLASS_LABELS
from .source_photos import names_by_source, source_of

MASK_SCORES = ("iou", "dice", "precision", "recall")
# Bootstrap intervals of `rustseg evaluate`: seeded, so a rerun prints the same interval.
INTERVAL_LEVEL = 0.95
INTERVAL_RESAMPLES = 2000


def classification_metrics(labels: np.ndarray, probs: np.ndarray, threshold: float = 0.5) -> dict:
    """Accuracy, ROC AUC (None with photos of one class only), precision, recall, F1 and the
    confusion matrix (the paper's Table 1)."""
    from sklearn import metrics

    pred = (probs > threshold).astype(int)
    cm = metrics.confusion_matrix(labels, pred, labels=[0, 1])
    return {
        "n": int(len(labels)),
        "accuracy": float(metrics.accuracy_score(labels, pred)),
        "roc_auc": roc_auc(labels, probs),
        "precision": float(metrics.precision_score(labels, pred, zero_division=0)),
        "recall": float(metrics.recall_score(labels, pred, zero_division=0)),
        "f1": float(metrics.f1_score(labels, pred, zero_division=0)),
        "confusion_matrix": {"labels": list(CLASS_LABELS), "rows_true_cols_pred": cm.tolist()},
        "threshold": threshold,
    }


def roc_auc(labels, probs) -> float | None:
    """The ROC AUC, or None with photos of one class only (a ROC curve needs both)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, probs)) if len(np.unique(labels)) == 2 else None


def _bootstrap(arrays: tuple, statistic, level: float, resamples: int, seed: int) -> list[float]:
    """The percentile bootstrap interval of a vectorised ``statistic`` of ``arrays``, their
    items (photos) resampled together; resamples where it is NaN are left out."""
    from scipy.stats import DegenerateDataWarning, bootstrap

    with warnings.catch_warnings():  # scipy's warning for those left-out resamples
        warnings.simplefilter("ignore", DegenerateDataWarning)
        r = bootstrap(arrays, statistic, paired=True, vectorized=True, n_resamples=resamples,
                      confidence_level=level, method="percentile", rng=np.random.default_rng(seed))
    kept = r.bootstrap_distribution[~np.isnan(r.bootstrap_distribution)]
    low, high = np.percentile(kept, [50 * (1 - level), 50 * (1 + level)])
    return [float(low), float(high)]


def interval(values, weights=None, level: float = INTERVAL_LEVEL, resamples: int = INTERVAL_RESAMPLES,
             seed: int = 0) -> list[float] | None:
    """The percentile bootstrap interval of the mean of ``values`` (one number per photo, or
    per source photo), weighted by ``weights`` when given: how far the mean could move on
    another draw of as many photos. None for fewer than two values; a constant sample's
    interval is the constant itself."""
    v = np.asarray(values, float)
    w = np.ones_like(v) if weights is None else np.asarray(weights, float)
    if len(v) < 2:
        return None
    if np.ptp(v) == 0:
        return [float(v[0]), float(v[0])]

    def mean(vv, ww, axis=-1):
        return (vv * ww).sum(axis=axis) / ww.sum(axis=axis)

    return _bootstrap((v, w), mean, level, resamples, seed)


def _auc(yy: np.ndarray, pp: np.ndarray, axis: int = -1) -> np.ndarray:
    """The ROC AUC as the Mann-Whitney U over both counts, for every resample at once (tied
    scores share their mean rank, as in roc_auc_score); NaN for a resample with one class."""
    from scipy.stats import rankdata

    pos = yy.sum(axis=axis)
    neg = yy.shape[axis] - pos
    u = (rankdata(pp, axis=axis) * yy).sum(axis=axis) - pos * (pos + 1) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((pos > 0) & (neg > 0), u / (pos * neg), np.nan)


def _auc_bootstrap(labels, scores: tuple, statistic, level: float, resamples: int,
                   seed: int) -> list[float] | None:
    """:func:`_bootstrap` of an AUC ``statistic`` of the labels and ``scores``; None when a
    class has fewer than two photos (a resample could then lack it: no AUC at all)."""
    y = np.asarray(labels) > 0.5
    if min(y.sum(), (~y).sum()) < 2:
        return None
    return _bootstrap((y.astype(float), *(np.asarray(a, float) for a in scores)), statistic,
                      level, resamples, seed)


def auc_interval(labels: np.ndarray, probs: np.ndarray, level: float = INTERVAL_LEVEL,
                 resamples: int = INTERVAL_RESAMPLES, seed: int = 0) -> list[float] | None:
    """The percentile bootstrap interval of the ROC AUC, photos resampled with their labels.
    None when a class has fewer than two photos."""
    return _auc_bootstrap(labels, (probs,), _auc, level, resamples, seed)


def auc_gain_interval(labels: np.ndarray, probs: np.ndarray, other: np.ndarray,
                      level: float = INTERVAL_LEVEL, resamples: int = INTERVAL_RESAMPLES,
                      seed: int = 0) -> list[float] | None:
    """The percentile bootstrap interval of ``other``'s ROC AUC minus ``probs``' on the same
    photos, resampled together (paired): whether one model's AUC gain over another's is more
    than chance. None when a class has fewer than two photos."""
    def gain(yy, pp, oo, axis=-1):
        return _auc(yy, oo, axis) - _auc(yy, pp, axis)

    return _auc_bootstrap(labels, (probs, other), gain, level, resamples, seed)


def format_interval(ci: list[float] | None, digits: int = 3) -> str:
    """`` [low–high]`` for a printed figure, or nothing when there is no interval."""
    return "" if ci is None else f" [{ci[0]:.{digits}f}–{ci[1]:.{digits}f}]"


def decision_threshold(probs: np.ndarray, labels: np.ndarray, rust_probs: np.ndarray,
                       thresholds, tolerance: float = 0.005
                       ) -> tuple[float, dict[float, float], dict[float, float]]:
    """The threshold with the best balanced accuracy (the mean of the share of rust photos
    called rust and the share of clean photos called clean) over photos with labels
    (``probs``, ``labels``) together with photos known to show rust (``rust_probs``, e.g.
    mask photos). Balanced, because the mask photos make the rust side the larger: plain
    accuracy would then buy recall with false alarms on clean photos. Of the thresholds
    within ``tolerance`` of the best (a photo or two of a validation set: noise), the
    highest: fewer clean photos called rust, the error users of this tool complain of.
    Returns (threshold, {threshold: balanced accuracy}, {threshold: accuracy})."""
    p = np.concatenate([np.asarray(probs, float), np.asarray(rust_probs, float)])
    y = np.concatenate([np.asarray(labels) > 0.5, np.ones(len(rust_probs), bool)])
    plain = {t: float(np.mean((p > t) == y)) for t in thresholds}
    balanced = {t: float(np.mean([np.mean(p[y] > t) if y.any() else 1.0,
                                  np.mean(p[~y] <= t) if (~y).any() else 1.0])) for t in thresholds}
    top = max(balanced.values())
    return max(t for t in thresholds if balanced[t] >= top - tolerance), balanced, plain


def uncertain_band(probs: np.ndarray, labels: np.ndarray, threshold: float,
                   accuracy: float = 0.95, max_width: float = 0.3, step: float = 0.01) -> dict:
    """The borderline band around the decision threshold ``t``: ``(t - a, t + b]``, each side
    as narrow as it can be (at most ``max_width``) while the validation photos above ``t + b``
    are rust, and those at or below ``t - a``, clean, at least ``accuracy`` of the time. Inside
    it a result says "check by eye". The two sides are chosen apart because a model's
    mistakes seldom sit evenly about its threshold: one side of a symmetric band would have
    to swallow every confident call. Returns the band and how much of the validation set it
    holds."""
    p, y = np.asarray(probs, float), np.asarray(labels) > 0.5
    right = (p > threshold) == y
    widths = np.arange(0.0, max_width + 1e-9, step)

    def side(correct) -> tuple[float, bool]:
        for w in widths:
            share = correct(w)
            if share is None or share >= accuracy:
                return float(w), True
        return float(max_width), False

    def share(sel, truth):
        return float(truth[sel].mean()) if sel.any() else None

    b, high_ok = side(lambda w: share(p > round(threshold + w, 4), y))
    a, low_ok = side(lambda w: share(p <= round(threshold - w, 4), ~y))
    low, high = round(max(0.0, threshold - a), 4), round(min(1.0, threshold + b), 4)
    inside = (p > low) & (p <= high)
    return {"low": low, "high": high, "target_accuracy": accuracy, "reached": high_ok and low_ok,
            "share_inside": round(float(inside.mean()), 4) if len(p) else 0.0,
            "accuracy_inside": round(float(right[inside].mean()), 4) if inside.any() else None,
            "accuracy_outside": round(float(right[~inside].mean()), 4) if (~inside).any() else None,
            "photos": int(len(p))}


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


def summarise_segmentation(per_image: dict[str, dict], threshold: float = 0.5,
                           source: Callable[[str], str] = source_of) -> dict:
    """Means over images and over source photos (each source weighted once; ``source``
    names a photo's source photo, :mod:`.source_photos`).

    ``per_image`` maps a file name to ``{"probability": p, "scores": {method: mask_scores}}``.
    """
    methods = sorted({m for v in per_image.values() for m in v["scores"]})
    by_source = names_by_source(per_image, source)
    summary = {}
    for m in methods:
        img_mean = {k: float(np.mean([v["scores"][m][k] for v in per_image.values()]))
                    for k in MASK_SCORES}
        src_mean = {k: float(np.mean([np.mean([per_image[n]["scores"][m][k] for n in names])
                                      for names in by_source.values()])) for k in MASK_SCORES}
        summary[m] = {"per_image_mean": img_mean, "per_source_mean": src_mean}
    return {"n_images": len(per_image), "n_sources": len(by_source), "methods": summary,
            "classified_corrosion": int(sum(v["probability"] > threshold for v in per_image.values())),
            "per_image": per_image}


def format_segmentation_table(summary: dict) -> str:
    """Markdown table of per-source means (the number the targets refer to), with the IoUs'
    95 % bootstrap intervals when ``summary`` holds them (:func:`iou_intervals`)."""
    lines = ["| method | IoU (per source) | Dice | precision | recall | IoU (per image) |",
             "|---|---|---|---|---|---|"]
    ci = summary.get("ci95", {}).get("iou", {})
    for m, s in summary["methods"].items():
        src, img = s["per_source_mean"], s["per_image_mean"]
        src_ci = format_interval(ci.get(m, {}).get("per_source_mean"))
        img_ci = format_interval(ci.get(m, {}).get("per_image_mean"))
        lines.append(f"| {m} | {src['iou']:.3f}{src_ci} | {src['dice']:.3f} | {src['precision']:.3f} | "
                     f"{src['recall']:.3f} | {img['iou']:.3f}{img_ci} |")
    return "\n".join(lines)


def iou_intervals(summary: dict, source: Callable[[str], str] = source_of
                  ) -> dict[str, dict[str, list[float] | None]]:
    """Bootstrap intervals of each method's mean IoU in a :func:`summarise_segmentation`
    result, over images and over source photos. Both resample source photos (``source``,
    as the summary grouped them), since the augmented copies of one photo do not vary
    apart; the per-image mean weighs each source by its number of images."""
    per_image = summary["per_image"]
    groups = list(names_by_source(per_image, source).values())
    sizes = [len(names) for names in groups]
    out = {}
    for m in summary["methods"]:
        means = [np.mean([per_image[n]["scores"][m]["iou"] for n in names]) for names in groups]
        out[m] = {"per_image_mean": interval(means, weights=sizes), "per_source_mean": interval(means)}
    return out
