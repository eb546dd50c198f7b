"""Grad-CAM++ and Grad-CAM maps from the last conv map A and dlogit/dA, in NumPy alone,
so that a server whose network runs on ONNX Runtime never imports TensorFlow for them.
How A and its gradient are had, and why one backward pass is enough: ``cam``.

    alpha = g² / (2 g² + Σ_ij A · g³),   w_k = Σ_ij relu(g) · alpha,   H = relu(Σ_k w_k A_k)
"""
from __future__ import annotations

from typing import Literal

import numpy as np

Method = Literal["gradcam++", "gradcam"]


def gradcam_pp_weights(a: np.ndarray, d1: np.ndarray, d2: np.ndarray, d3: np.ndarray) -> np.ndarray:
    """The Grad-CAM++ channel weights (N, C) from activations A and the first three
    element-wise derivatives of the class score with respect to A (all (N, h, w, C)):

        alpha = d2 / (2 d2 + Σ_ij A · d3),   w_k = Σ_ij relu(d1) · alpha
    """
    denom = 2.0 * d2 + a.sum(axis=(1, 2), keepdims=True) * d3
    alpha = np.divide(d2, denom, out=np.zeros_like(d2), where=denom != 0)
    return (np.maximum(d1, 0.0) * alpha).sum(axis=(1, 2))


def weighted_map(a: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """relu(Σ_k w_k A_k), scaled so each map's peak is 1: heatmaps (N, h, w) in [0, 1]."""
    cam = np.maximum(np.einsum("nhwc,nc->nhw", a, weights), 0.0)
    peak = cam.max(axis=(-2, -1), keepdims=True)
    return np.where(peak > 0, cam / np.where(peak > 0, peak, 1.0), 0.0).astype(np.float32)


class BaseCAM:
    """A class activation map from the last activations and the gradient of the logit:
    subclasses only say how channels are weighted."""

    name = ""

    def weights(self, a: np.ndarray, g: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, feats: np.ndarray, grads: np.ndarray) -> np.ndarray:
        a = np.asarray(feats, np.float64)
        return weighted_map(a, self.weights(a, np.asarray(grads, np.float64)))


class GradCAM(BaseCAM):
    """Grad-CAM: channels weighted by their mean gradient."""

    name = "gradcam"

    def weights(self, a: np.ndarray, g: np.ndarray) -> np.ndarray:
        return g.mean(axis=(1, 2))


class GradCAMPlusPlus(BaseCAM):
    """Grad-CAM++ in closed form for S = exp(Y) with Y linear in A: the derivatives are
    exp(Y)·g, exp(Y)·g², exp(Y)·g³, and exp(Y) cancels out of alpha."""

    name = "gradcam++"

    def weights(self, a: np.ndarray, g: np.ndarray) -> np.ndarray:
        g2 = g * g
        return gradcam_pp_weights(a, g, g2, g2 * g)


CAMS: dict[str, BaseCAM] = {c.name: c for c in (GradCAM(), GradCAMPlusPlus())}


def cam_from_gradients(feats: np.ndarray, grads: np.ndarray, method: Method = "gradcam++") -> np.ndarray:
    """Heatmaps in [0, 1] of shape (N, h, w) from activations and gradients (N, h, w, C)."""
    if method not in CAMS:
        raise ValueError(f"unknown CAM method {method!r}; choose one of {sorted(CAMS)}")
    return CAMS[method](feats, grads)
