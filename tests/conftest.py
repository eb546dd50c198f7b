"""Shared fixtures: a tiny classifier trained here on synthetic rust images."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np
import pytest

from tests.synthetic import rust_image


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A model bundle (input 64, base width 4, no batch norm) trained for a few seconds on synthetic
    rust-patch / plain-metal images; good enough to separate the two classes."""
    import keras

    from rustseg_core.config import preset
    from rustseg_core.model import ModelBundle, build_classifier, logit_model, save_bundle

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    xs, ys = [], []
    for i in range(160):
        img, _ = rust_image(rng, 64, rust=bool(i % 2))
        xs.append(img)
        ys.append(i % 2)
    x = np.stack(xs).astype(np.float32) / 255.0
    y = np.asarray(ys, np.float32)[:, None]
    spec = preset("cpu", input_size=64, base_width=4, batch_norm=False, dropout=0.0)
    model = build_classifier(spec, seed=0)
    view = logit_model(model)
    view.compile(keras.optimizers.Adam(3e-3), keras.losses.BinaryCrossentropy(from_logits=True))
    view.fit(x, y, epochs=12, batch_size=16, verbose=0)
    out = tmp_path_factory.mktemp("tiny_model")
    save_bundle(ModelBundle(model=model, spec=spec, info={"version": "tiny-test"}), out)
    return out


@pytest.fixture(scope="session")
def tiny_segmenter(tiny_model_dir):
    from rustseg_core.segmenter import Segmenter

    return Segmenter.load(tiny_model_dir)


@pytest.fixture
def rust_photo():
    """A 160x120 synthetic photo with a rust blob, and its ground-truth mask."""
    img, mask = rust_image(np.random.default_rng(7), 160, rust=True)
    return img[:120], mask[:120]
