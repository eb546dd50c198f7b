"""A saved model folder: ``rustseg.json`` (spec, preprocessing, threshold, info), read at
once, and ``model.keras``, loaded with TensorFlow only when something first needs it.

A server whose network runs on ONNX Runtime (``model.onnx``) never does: learned mode
needs only the exported graph, and the paper's modes too when the export carries
Grad-CAM++'s inputs (older exports send them to TensorFlow). TensorFlow and the Keras model
are about two thirds of a worker's memory.
"""
from __future__ import annotations

import json
import threading
import zipfile
from pathlib import Path

import numpy as np
from scipy.special import expit

from ..config import ModelSpec
from ..tf_runtime import keras
from .model_files import META_FILE, MODEL_FILE


class ModelBundle:
    """A model plus the metadata that says how to feed it. ``model`` is the Keras model:
    given, or loaded from ``directory`` on first use (once, whichever thread asks first)."""

    def __init__(self, model=None, spec: ModelSpec | None = None, threshold: float = 0.5,
                 normalisation: str = "divide_255", info: dict | None = None,
                 directory: str | Path | None = None):
        if spec is None:
            raise TypeError("ModelBundle needs the model's spec")
        if model is None and directory is None:
            raise TypeError("ModelBundle needs a Keras model or the folder to load it from")
        self._model = model
        self.spec = spec
        self.threshold = threshold
        self.normalisation = normalisation
        self.info = {} if info is None else info
        self.directory = Path(directory) if directory is not None else None  # its exported files
        self._lock = threading.Lock()

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = keras().models.load_model(self.directory / MODEL_FILE, compile=False)
        return self._model

    def replace(self, **changes) -> "ModelBundle":
        """A copy with some fields replaced (``spec``, ``threshold``, ``info`` ...), sharing
        the Keras model if it is loaded (else loading its own when first needed)."""
        fields = {"model": self._model, "spec": self.spec, "threshold": self.threshold,
                  "normalisation": self.normalisation, "info": self.info, "directory": self.directory}
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"cannot replace {', '.join(sorted(unknown))}")
        return ModelBundle(**{**fields, **changes})

    @property
    def model_loaded(self) -> bool:
        """Whether the Keras model (and so TensorFlow) has been loaded."""
        return self._model is not None

    @property
    def input_size(self) -> int:
        return self.spec.input_size

    @property
    def version(self) -> str:
        return str(self.info.get("version") or self.model.name)

    def predict_logits(self, batch: np.ndarray) -> np.ndarray:
        """Logits (pre-sigmoid) for a preprocessed batch (N, S, S, 3)."""
        return self.model(batch, training=False)[0].numpy()[:, 0]

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities of corrosion for a preprocessed batch (N, S, S, 3)."""
        return expit(self.predict_logits(batch))


def save_bundle(bundle: ModelBundle, directory: str | Path) -> Path:
    """Write ``model.keras`` and ``rustseg.json`` (spec, preprocessing, threshold, info)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    bundle.model.save(directory / MODEL_FILE)
    meta = {"spec": bundle.spec.to_dict(), "threshold": bundle.threshold,
            "normalisation": bundle.normalisation, "input_size": bundle.spec.input_size,
            "preset": bundle.spec.name, "info": bundle.info}
    tmp = directory / (META_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True))
    tmp.replace(directory / META_FILE)
    return directory


def load_bundle(directory: str | Path, lazy: bool = False) -> ModelBundle:
    """Open a model saved by :func:`save_bundle`; ``FileNotFoundError`` if absent. The Keras
    model is loaded now, or with ``lazy=True`` when first used."""
    directory = Path(directory)
    meta_path, model_path = directory / META_FILE, directory / MODEL_FILE
    if not meta_path.is_file() or not model_path.is_file():
        raise FileNotFoundError(f"no RustSEG model in {directory} (need {MODEL_FILE} and {META_FILE})")
    meta = json.loads(meta_path.read_text())
    bundle = ModelBundle(spec=ModelSpec.from_dict(meta["spec"]),
                         threshold=float(meta.get("threshold", 0.5)),
                         normalisation=meta.get("normalisation", "divide_255"),
                         info=meta.get("info", {}), directory=directory)
    if not lazy:
        bundle.model  # noqa: B018  (load it now)
    elif not zipfile.is_zipfile(model_path):  # a damaged file should fail at start, not on a request
        raise ValueError(f"{model_path} is not a Keras model file")
    return bundle
