"""Rust-hue colour evidence: the no-learning baseline, and evidence for refinement.

This is the kind of colour rule the paper's references [6, 7] used: rust is orange-red to
brown, fairly saturated, neither black nor blown out. Soft (sigmoid) edges give a per-pixel
probability instead of a hard yes/no so it can be mixed with the heatmap.
"""
from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.special import expit

from ..config import ColourRule

__all__ = ["ColourRule", "rust_probability", "colour_rule_mask"]

def rust_probability(image: np.ndarray, rule: ColourRule = ColourRule()) -> np.ndarray:
    """Per-pixel rust-colour probability in [0, 1] for an RGB uint8 image (H, W, 3)."""
    hsv = np.asarray(Image.fromarray(np.asarray(image, np.uint8)).convert("HSV"), np.float32)
    hue = hsv[..., 0] * (360.0 / 256.0)
    hue = np.where(hue > 180.0, hue - 360.0, hue)  # (-180, 180]: reds on both sides of 0
    sat, val = hsv[..., 1] / 255.0, hsv[..., 2] / 255.0
    k = rule.softness
    p = expit((hue - rule.hue_low) / (k * 360 / 4)) * expit((rule.hue_high - hue) / (k * 360 / 4))
    p *= expit((sat - rule.sat_min) / k)
    p *= expit((val - rule.val_min) / k) * expit((rule.val_max - val) / k)
    return p.astype(np.float32)


def colour_rule_mask(image: np.ndarray, rule: ColourRule = ColourRule()) -> np.ndarray:
    """The classical baseline: pixels whose rust-colour probability is at least 0.5."""
    return rust_probability(image, rule) >= 0.5
