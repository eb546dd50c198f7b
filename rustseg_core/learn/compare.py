"""`rustseg evaluate` runs, photo by photo.

A run's ``metrics.json`` keeps each photo's figures. This module reads back those of the
run's default mode (the answer a user gets): as rows for ``photos.csv``, and, for two runs
on the same photos, side by side with paired bootstrap intervals of each difference
(``rustseg compare``). Two models' intervals read apart overlap more than their difference
varies, since both models see the same hard and easy photos; pairing them asks whether
one model beats the other on these photos beyond chance.

Reports in, numbers out; nothing here runs a model.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..vocabulary import CORROSION, NOT_CORROSION
from .metrics import auc_gain_interval, interval, roc_auc
from .source_photos import names_by_source, source_rule

PARTS = ("classification", "pixel", "segmentation", "clean", "boxes")
METRICS_FILE = "metrics.json"
PHOTO_COLUMNS = ("part", "photo", "label", "probability", "called", "correct", "iou",
                 "iou_ungated", "mask_precision", "mask_recall", "false_area", "pointing_hit",
                 "mask_share_inside_boxes")


class RunError(ValueError):
    """A folder that is not an evaluate run this can read: the message says what to do."""


def load_run(folder: str | Path) -> dict:
    """The report of an evaluate run: ``folder/metrics.json`` (or that file itself)."""
    path = Path(folder)
    path = path / METRICS_FILE if path.is_dir() else path
    try:
        report = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{path} does not exist: give the --out folder of a rustseg evaluate run") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RunError(f"{path} cannot be read as JSON: {e}") from e
    if not isinstance(report, dict) or "default_mode" not in report:
        raise RunError(f"{path} is not the metrics.json of a rustseg evaluate run")
    return report


def photo_figures(report: dict) -> dict[str, dict[str, dict]]:
    """{part: {photo: figures}} of the report's default mode, for each part it scored photo
    by photo: the probability and the call (``called``: corrosion or not), and by part the
    label and whether the call is right (classification), the gated and ungated mask IoU and
    the gated mask's pixel precision and recall (pixel, segmentation), the
    gated false area (clean), and whether the mode's map points into a box and the gated
    share of its mask inside them (boxes)."""
    mode, threshold = report["default_mode"], report.get("threshold")
    out: dict[str, dict[str, dict]] = {}
    if threshold is None:  # runs before per-photo figures were kept
        return out
    c = report.get("classification") or {}
    if "per_photo" in c:
        out["classification"] = {
            k: {"label": v["label"], "probability": v["probability"],
                "called": v["probability"] > threshold,
                "correct": (v["probability"] > threshold) == bool(v["label"])}
            for k, v in c["per_photo"].items()}
    for part in ("pixel", "segmentation"):
        views = report.get(part) or {}
        if "per_image" not in views.get("gated", {}):
            continue
        gated, ungated = views["gated"]["per_image"], views["ungated"]["per_image"]
        out[part] = {k: {"probability": v["probability"], "called": v["probability"] > threshold,
                         "iou": v["scores"][mode]["iou"],
                         "iou_ungated": ungated[k]["scores"][mode]["iou"],
                         # which way a mask is wrong: rust missed, or paint where there is none
                         "precision": v["scores"][mode].get("precision"),
                         "recall": v["scores"][mode].get("recall")}
                     for k, v in gated.items()}
    clean = report.get("clean") or {}
    if "per_photo" in clean:
        out["clean"] = {k: {"probability": v["probability"], "called": v["probability"] > threshold,
                            "false_area": v["area_ungated"][mode] if v["probability"] > threshold else 0.0}
                        for k, v in clean["per_photo"].items()}
    boxes = report.get("boxes") or {}
    if "per_photo" in boxes:
        out["boxes"] = {}
        for k, v in boxes["per_photo"].items():
            called = v["probability"] > threshold
            # Advanced mode has no map of its own: it starts from standard mode's evidence.
            hit = v["hits"].get(mode, v["hits"].get("standard"))
            out["boxes"][k] = {"probability": v["probability"], "called": called, "pointing_hit": hit,
                               "mask_share": v["mask_share_ungated"] if called else None}
    return out


def photo_rows(report: dict) -> list[dict]:
    """One row a photo and part (:data:`PHOTO_COLUMNS`), for ``photos.csv``: the photos a
    spreadsheet sorts to find what the model got wrong."""
    label_of = {"pixel": CORROSION, "segmentation": CORROSION, "boxes": CORROSION, "clean": NOT_CORROSION}
    rows = []
    for part, photos in photo_figures(report).items():
        for photo, f in sorted(photos.items()):
            label = (CORROSION if f["label"] else NOT_CORROSION) if "label" in f else label_of[part]
            share = f.get("mask_share")
            rows.append({
                "part": part, "photo": photo, "label": label, "probability": round(f["probability"], 4),
                "called": CORROSION if f["called"] else NOT_CORROSION,
                "correct": (f["called"] == (label == CORROSION)),
                "iou": _rounded(f.get("iou")), "iou_ungated": _rounded(f.get("iou_ungated")),
                "mask_precision": _rounded(f.get("precision")), "mask_recall": _rounded(f.get("recall")),
                "false_area": _rounded(f.get("false_area")),
                "pointing_hit": f.get("pointing_hit", ""),
                "mask_share_inside_boxes": _rounded(share)})
    return rows


def _rounded(value: float | None) -> float | str:
    return "" if value is None else round(value, 4)


@dataclass
class Difference:
    """One measure of two runs on the same photos: B − A with its paired 95 % interval."""

    measure: str
    a: float | None
    b: float | None
    ci95: list[float] | None
    higher_is_better: bool
    n: int  # photos (or source photos) the measure is over

    @property
    def diff(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a

    @property
    def verdict(self) -> str:
        """``B``, ``A``: that run is better beyond chance; ``chance``: the interval holds 0;
        ``n/a``: too few photos for an interval."""
        if self.ci95 is None:
            return "n/a"
        if self.ci95[0] <= 0 <= self.ci95[1]:
            return "chance"
        return "B" if (self.ci95[0] > 0) == self.higher_is_better else "A"


def _mean_difference(measure: str, a, b, higher_is_better: bool, weights=None) -> Difference:
    """The (``weights``-weighted) means of ``a`` and ``b``, one value a photo or source photo,
    and the interval of their difference, the pairs resampled together."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if not len(a):
        return Difference(measure, None, None, None, higher_is_better, 0)
    w = np.ones_like(a) if weights is None else np.asarray(weights, float)
    return Difference(measure, float(np.average(a, weights=w)), float(np.average(b, weights=w)),
                      interval(b - a, weights=weights), higher_is_better, len(a))


def compare_runs(a: dict, b: dict) -> dict[str, dict]:
    """{part: {"photos": n in both, "only_a": n, "only_b": n, "differences": [Difference],
    "calls_changed": {...} (classification)}} for every part both reports scored photo by
    photo; parts one of them lacks are left out (:func:`missing_parts` names them). Only the
    photos both runs scored are compared."""
    fa, fb = photo_figures(a), photo_figures(b)
    out = {}
    for part in PARTS:
        if part not in fa or part not in fb:
            continue
        common = sorted(set(fa[part]) & set(fb[part]))
        entry: dict = {"photos": len(common), "only_a": len(set(fa[part]) - set(fb[part])),
                       "only_b": len(set(fb[part]) - set(fa[part]))}
        if common:
            entry["differences"], extra = _differences(part, common, fa[part], fb[part])
            entry.update(extra)
        out[part] = entry
    return out


def missing_parts(a: dict, b: dict) -> dict[str, str]:
    """{part: why it cannot be compared} for the parts one run scored and the other did not,
    or scored without per-photo figures (a run made before they were kept)."""
    fa, fb = photo_figures(a), photo_figures(b)
    why = {}
    for part in PARTS:
        scored = [part in r and r[part] is not None for r in (a, b)]
        if not any(scored) or (part in fa and part in fb):
            continue
        if not all(scored):
            why[part] = f"only run {'A' if scored[0] else 'B'} scored it"
        else:
            old = [n for n, f in (("A", fa), ("B", fb)) if part not in f]
            why[part] = (f"run {' and '.join(old)} has no per-photo figures for it (made before they "
                         "were kept): rerun rustseg evaluate")
    return why


def _differences(part: str, common: list[str], fa: dict[str, dict],
                 fb: dict[str, dict]) -> tuple[list[Difference], dict]:
    """The measures of ``part`` on the ``common`` photos of two runs' figures."""
    pa, pb = [fa[k] for k in common], [fb[k] for k in common]

    def col(rows, key):
        return np.array([r[key] for r in rows], float)

    if part == "classification":
        y = np.array([r["label"] for r in pa], bool)
        probs_a, probs_b = col(pa, "probability"), col(pb, "probability")
        auc = Difference("ROC AUC", roc_auc(y, probs_a), roc_auc(y, probs_b),
                         auc_gain_interval(y, probs_a, probs_b), True, len(y))
        called_a, called_b = col(pa, "called") > 0, col(pb, "called") > 0
        changed = called_a != called_b
        return [_mean_difference("accuracy", col(pa, "correct"), col(pb, "correct"), True), auc,
                _mean_difference("clean photos called corrosion", called_a[~y], called_b[~y], False),
                _mean_difference("corrosion photos called clean", ~called_a[y], ~called_b[y], False)], \
            {"calls_changed": {"photos": int(changed.sum()),
                               "b_right": int((changed & (called_b == y)).sum()),
                               "a_right": int((changed & (called_a == y)).sum())}}
    if part in ("pixel", "segmentation"):
        # Augmented copies of one source photo do not vary apart, so source photos are
        # resampled, as evaluate does; the 51 masks' figure is the mean per source photo,
        # the close-ups' the mean per image (each source weighted by its images).
        groups = list(names_by_source(common, source_rule(part)).values())
        weights, unit = ([len(g) for g in groups], "image") if part == "pixel" else (None, "source photo")

        def per_source(figures, key):
            return np.array([np.mean([figures[n][key] for n in g]) for g in groups])

        return [_mean_difference(f"gated IoU per {unit}", per_source(fa, "iou"), per_source(fb, "iou"),
                                 True, weights),
                _mean_difference(f"ungated IoU per {unit}", per_source(fa, "iou_ungated"),
                                 per_source(fb, "iou_ungated"), True, weights),
                _mean_difference("share called clean", col(pa, "called") == 0, col(pb, "called") == 0,
                                 False)], {}
    if part == "clean":
        return [_mean_difference("share called corrosion", col(pa, "called"), col(pb, "called"), False),
                _mean_difference("false area (gated)", col(pa, "false_area"), col(pb, "false_area"),
                                 False)], {}
    shared = [(x["mask_share"], y["mask_share"]) for x, y in zip(pa, pb)
              if x["mask_share"] is not None and y["mask_share"] is not None]
    return [_mean_difference("pointing game", col(pa, "pointing_hit"), col(pb, "pointing_hit"), True),
            _mean_difference("mask share inside boxes (photos both mark)", [s for s, _ in shared],
                             [s for _, s in shared], True)], {}
