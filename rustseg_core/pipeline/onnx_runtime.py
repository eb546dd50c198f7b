"""The exported ``model.onnx`` (``rustseg export``) on ONNX Runtime, as an alternative to
TensorFlow on a server: a U-Net's learned mode, and the paper's modes when the export carries
Grad-CAM++'s inputs (the last conv map and its gradient; a classifier's export has those
and the probability alone)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

INPUT, PROBABILITY, PIXELS = "image", "probability", "pixel_probability"
FEATURES, GRADIENT = "features", "feature_gradient"


class OnnxModel:
    """An ONNX Runtime session of an exported model. Thread-safe (ONNX Runtime's ``run`` may
    be called from several threads). Batches are RGB in [0, 1], (N, S, S, 3)."""

    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        threads = threads or int(os.environ.get("TF_NUM_INTRAOP_THREADS", "0") or 0)
        if threads:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.side = int(self.session.get_inputs()[0].shape[1])
        names = {o.name for o in self.session.get_outputs()}
        # Exports from before the paper's modes ran on ONNX Runtime have learned mode alone.
        self.has_cam = {FEATURES, GRADIENT} <= names
        self.has_pixels = PIXELS in names

    def _run(self, names: list[str], batch: np.ndarray) -> list[np.ndarray]:
        return self.session.run(names, {INPUT: np.asarray(batch, np.float32)})

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (N,), pixel probabilities (N, S, S)); a U-Net's export only."""
        prob, pixels = self._run([PROBABILITY, PIXELS], batch)
        return prob, pixels

    def probability(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (N,) alone."""
        return self._run([PROBABILITY], batch)[0]

    def with_cam(self, batch: np.ndarray) -> tuple[np.ndarray | None, ...]:
        """(probabilities, pixel probabilities or None for a classifier, last conv map A,
        dlogit/dA), in one pass; only where ``has_cam``."""
        if not self.has_pixels:
            prob, feats, grads = self._run([PROBABILITY, FEATURES, GRADIENT], batch)
            return prob, None, feats, grads
        return tuple(self._run([PROBABILITY, PIXELS, FEATURES, GRADIENT], batch))
