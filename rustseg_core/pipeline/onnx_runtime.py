"""The exported ``model.onnx`` (``rustseg export``) on ONNX Runtime, as an alternative to
TensorFlow on a server: learned mode always, and the paper's modes when the export carries
Grad-CAM++'s inputs (the last conv map and its gradient)."""
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
        # Exports from before the paper's modes ran on ONNX Runtime have learned mode alone.
        self.has_cam = {FEATURES, GRADIENT} <= {o.name for o in self.session.get_outputs()}

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (N,), pixel probabilities (N, S, S))."""
        prob, pixels = self.session.run([PROBABILITY, PIXELS], {INPUT: np.asarray(batch, np.float32)})
        return prob, pixels

    def with_cam(self, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        """(probabilities, pixel probabilities, last conv map A, dlogit/dA), in one pass;
        only where ``has_cam``."""
        return tuple(self.session.run([PROBABILITY, PIXELS, FEATURES, GRADIENT],
                                      {INPUT: np.asarray(batch, np.float32)}))
