"""The stroke planner of benchmarks/fix_strokes.py (the browser replay is the benchmark's own
business; here, on small synthetic masks, that the plan does what it says)."""
from __future__ import annotations

import numpy as np

from benchmarks.fix_strokes import Stroke, apply_stroke, iou, plan, strokes_to


def _blob(h: int = 120, w: int = 160) -> np.ndarray:
    y, x = np.ogrid[:h, :w]
    return ((y - 60) / 35) ** 2 + ((x - 70) / 45) ** 2 <= 1


def test_paint_and_erase_follow_the_path():
    empty = np.zeros((50, 80), bool)
    line = Stroke("paint", 10, [(10.0, 25.0), (70.0, 25.0)])
    painted = apply_stroke(empty, line, 10)
    assert painted[25, 10:71].all() and painted[21:30, 40].all() and not painted[:18].any()
    erased = apply_stroke(painted, Stroke("erase", 4, [(40.0, 10.0), (40.0, 40.0)]), 4)
    assert not erased[25, 39:42].any() and erased[25, 30] and erased[25, 50]


def test_a_blob_the_model_missed_takes_a_few_strokes():
    truth = _blob()
    strokes, curve = plan(np.zeros_like(truth), truth, css_to_px=1.0)
    assert curve[0] == 0.0 and curve[-1] >= 0.95
    assert len(strokes) <= 12 and strokes_to(curve, 0.8) <= 6
    assert strokes[0].tool == "paint"
    mask = np.zeros_like(truth)
    for s in strokes:  # the plan's curve is what drawing the strokes gives
        mask = apply_stroke(mask, s, s.size_css)
    assert iou(mask, truth) == curve[-1]


def test_a_false_patch_is_erased_and_a_right_mask_needs_nothing():
    truth = _blob()
    start = truth.copy()
    start[5:40, 120:155] = True  # the model marked a patch with no rust
    strokes, curve = plan(start, truth, css_to_px=1.0)
    assert {s.tool for s in strokes} == {"erase"} and curve[-1] >= 0.95 and len(strokes) <= 4
    assert plan(truth, truth, css_to_px=1.0) == ([], [1.0])
