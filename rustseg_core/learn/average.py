"""Weight averaging of checkpoints from one training trajectory (stochastic weight
averaging, a "model soup"): ``rustseg average``.

Checkpoints along one run (or a warm restart and the model it started from) sit in one
basin of the loss, and their mean is usually better than any one of them; here it kept
most of a warm restart's mask gain without the image head's loss of ROC AUC (model card).
Two runs trained apart are another matter: the mean of the shipped model and a rerun of its
recipe (same seed, same ImageNet start) made worse masks than either (model card, session 17).
Averaging is only meaningful between checkpoints that share an architecture *and* a
validation split: averaging in a model that trained on another model's held-out photos
would leak them, so a different held-out list is refused.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..pipeline.model import ModelBundle, load_bundle, save_bundle

WEIGHTS_SUFFIX = ".weights.h5"
# What the base's metadata measured or exported of its own weights, not of the average's.
PER_WEIGHTS = frozenset({"onnx", "val_auc", "val_false_area", "val_mask_iou", "thresholds",
                         "train_seconds"})


class AverageError(ValueError):
    """Checkpoints that cannot be averaged, with the reason."""


def average_weights(weight_sets: list[list[np.ndarray]]) -> list[np.ndarray]:
    """The element-wise mean of several weight lists of one architecture (each array keeps
    its dtype; batch normalisation's moving statistics are averaged like the rest)."""
    if not weight_sets:
        raise AverageError("nothing to average")
    first = weight_sets[0]
    for k, ws in enumerate(weight_sets[1:], start=2):
        if len(ws) != len(first) or any(a.shape != b.shape for a, b in zip(ws, first)):
            raise AverageError(f"checkpoint {k} does not have the architecture of the first "
                               f"({len(ws)} arrays against {len(first)}, or other shapes)")
    return [np.mean([ws[i] for ws in weight_sets], axis=0).astype(first[i].dtype)
            for i in range(len(first))]


def _weights_of(source: Path, bundle: ModelBundle) -> list[np.ndarray]:
    """The weights of a model folder, or of a ``.weights.h5`` checkpoint loaded into
    ``bundle``'s architecture. A checkpoint carries no metadata: it is taken to come from
    the base's own run (``best``/``last.weights.h5`` of its folder), so only a model
    folder's held-out list can be checked."""
    if source.name.endswith(WEIGHTS_SUFFIX):
        try:
            bundle.model.load_weights(source)
        except Exception as e:  # Keras says which layer did not fit
            raise AverageError(f"{source} does not fit the model's architecture: {e}") from e
        return [w.copy() for w in bundle.model.get_weights()]
    other = load_bundle(source)
    if other.spec != bundle.spec:
        raise AverageError(f"{source} has another architecture ({other.spec.name}) than the base model")
    # Unlike masks.shared_held_out, a folder without the list is let through (older models
    # did not record it), but an empty list is a model that held nothing out.
    held_out, base_held_out = other.info.get("val_mask_photos"), bundle.info.get("val_mask_photos")
    if held_out is not None and base_held_out is not None and sorted(held_out) != sorted(base_held_out):
        raise AverageError(f"{source} held out other validation photos than the base model: its "
                           "average would have trained on photos the base is validated on")
    return other.model.get_weights()


def average_models(base: str | Path, sources: list[str | Path], out_dir: str | Path,
                   command: str | None = None) -> ModelBundle:
    """Write the mean of ``sources`` (model folders and ``.weights.h5`` checkpoints of
    ``base``'s architecture) to ``out_dir``, with ``base``'s metadata less what described
    the base's own weights (``PER_WEIGHTS``); its thresholds are the base's until
    ``rustseg tune --learned --write`` chooses them for the average."""
    base_bundle = load_bundle(base)
    sets = [_weights_of(Path(s), base_bundle) for s in sources]
    base_bundle.model.set_weights(average_weights(sets))
    info = {k: v for k, v in base_bundle.info.items() if k not in PER_WEIGHTS}
    info.update(version=f"{base_bundle.spec.name}-{time.strftime('%Y%m%d')}-avg{len(sources)}",
                averaged_from=[str(s) for s in sources], average_base=str(base),
                average_command=command)
    bundle = ModelBundle(model=base_bundle.model, spec=base_bundle.spec,
                         threshold=base_bundle.threshold,
                         normalisation=base_bundle.normalisation, info=info)
    save_bundle(bundle, out_dir)
    return bundle
