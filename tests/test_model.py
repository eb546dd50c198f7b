import json

import numpy as np
import pytest

from rustseg_core.config import PRESETS, preset
from rustseg_core.pipeline.model import META_FILE, build_classifier, load_bundle, preprocess


def test_paper_preset_matches_the_paper():
    model = build_classifier(PRESETS["paper"])
    logit, feats = model.outputs
    assert tuple(model.inputs[0].shape[1:]) == (572, 572, 3)
    assert tuple(feats.shape[1:]) == (28, 28, 1024)
    assert tuple(logit.shape[1:]) == (1,)
    assert model.get_layer("flatten") is not None


def test_cpu_preset_shapes():
    model = build_classifier(PRESETS["cpu"])
    assert tuple(model.outputs[1].shape[1:]) == (12, 12, 256)


def test_preset_overrides_and_unknown():
    assert preset("cpu", input_size=96).input_size == 96
    with pytest.raises(ValueError):
        preset("nope")


def test_save_load_roundtrip_is_self_describing(tiny_model_dir):
    meta = json.loads((tiny_model_dir / META_FILE).read_text())
    assert meta["input_size"] == 64 and meta["threshold"] == 0.5
    assert meta["normalisation"] == "divide_255" and meta["preset"] == "cpu"
    bundle = load_bundle(tiny_model_dir)
    x = np.random.default_rng(0).random((2, 64, 64, 3), np.float32)
    p = bundle.predict_proba(x)
    assert p.shape == (2,) and np.all((p >= 0) & (p <= 1))


def test_load_missing_model_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no RustSEG model"):
        load_bundle(tmp_path)


def test_preprocess_scales_and_resizes():
    img = np.full((30, 50, 3), 255, np.uint8)
    x = preprocess(img, 16)
    assert x.shape == (16, 16, 3) and x.dtype == np.float32
    assert np.allclose(x, 1.0, atol=1e-5)


@pytest.mark.parametrize("shape", [(480, 640), (1000, 750), (300, 500), (90, 1000), (1000, 31),
                                   (64, 64), (40, 60), (65, 65), (1, 300)])
def test_preprocess_is_tensorflows_resize_without_tensorflow(shape):
    """The model's input is made in NumPy/OpenCV (so an ONNX server never imports TensorFlow)
    and equals TensorFlow's resize it replaces: area when the long side shrinks, including
    a photo whose short side grows, else bilinear."""
    import tensorflow as tf

    rng = np.random.default_rng(sum(shape))
    img = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    side = 64
    want = tf.image.resize(img, (side, side), method="area" if max(shape) > side else "bilinear")
    got = preprocess(img, side)
    assert got.shape == (side, side, 3) and got.dtype == np.float32
    assert np.abs(got - want.numpy() / 255.0).max() < 1e-4


def test_a_lazy_bundle_loads_the_keras_model_on_first_use(tiny_model_dir, tmp_path):
    bundle = load_bundle(tiny_model_dir, lazy=True)
    assert not bundle.model_loaded and bundle.input_size == 64
    copy = bundle.replace(threshold=0.9)
    x = np.zeros((1, 64, 64, 3), np.float32)
    assert np.allclose(copy.predict_proba(x), load_bundle(tiny_model_dir).predict_proba(x))
    assert copy.model_loaded and copy.threshold == 0.9 and not bundle.model_loaded
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / META_FILE).write_text((tiny_model_dir / META_FILE).read_text())
    (broken / "model.keras").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a Keras model file"):
        load_bundle(broken, lazy=True)
