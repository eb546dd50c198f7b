"""Learned mode on ONNX Runtime: the same ``model.onnx`` the phone's browser runs
(``rustseg export``), as an alternative to TensorFlow for the server's learned mode."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

INPUT, PROBABILITY, PIXELS = "image", "probability", "pixel_probability"


class OnnxLearned:
    """An ONNX Runtime session of an exported model: ``(batch in [0, 1], (N, S, S, 3)) →
    (probabilities (N,), pixel probabilities (N, S, S))``. Thread-safe (ONNX Runtime's
    ``run`` may be called from several threads)."""

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

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        prob, pixels = self.session.run([PROBABILITY, PIXELS], {INPUT: np.asarray(batch, np.float32)})
        return prob, pixels
