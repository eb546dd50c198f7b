"""``rustseg export``: a U-Net or a classifier as ONNX, matching model.keras, for every mode."""
import json
import shutil

import numpy as np
import pytest

from rustseg_core.cli import main

ort = pytest.importorskip("onnxruntime")


@pytest.fixture
def unet_copy(tiny_unet_dir, tmp_path):
    return shutil.copytree(tiny_unet_dir, tmp_path / "unet")


def assert_same_answer(a, b):
    """Two results of one photo, from TensorFlow and from ONNX Runtime: the same answer."""
    assert a.probability == pytest.approx(b.probability, abs=1e-4) and a.is_corrosion == b.is_corrosion
    assert (a.mask is None) == (b.mask is None)
    np.testing.assert_allclose(a.heatmap, b.heatmap, atol=2e-3)
    if a.mask is not None:
        assert np.mean(a.mask != b.mask) < 1e-3


def test_export_writes_onnx_that_matches_the_keras_model(unet_copy, capsys):
    from rustseg_core.learn.onnx_export import FEATURES, GRADIENT, INPUT, PIXELS, PROBABILITY
    from rustseg_core.pipeline.cam_maps import cam_from_gradients
    from rustseg_core.pipeline.model import preprocess
    from rustseg_core.pipeline.segmenter import Segmenter
    from tests.synthetic import rust_image

    assert main(["export", str(unet_copy)]) == 0
    assert "model.onnx" in capsys.readouterr().out
    info = json.loads((unet_copy / "rustseg.json").read_text())["info"]["onnx"]
    side = info["side"]
    assert info["input"]["name"] == INPUT and set(info["outputs"]) == {PROBABILITY, PIXELS, FEATURES, GRADIENT}
    assert info["files"]["model.onnx"]["bytes"] == (unet_copy / "model.onnx").stat().st_size
    seg = Segmenter.load(unet_copy)
    sess = ort.InferenceSession(str(unet_copy / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == [INPUT]
    for seed in range(3):
        img, _ = rust_image(np.random.default_rng(seed), 120, rust=seed != 2)
        x = preprocess(img, side)[None]
        prob, pixels, feats, grads = sess.run([PROBABILITY, PIXELS, FEATURES, GRADIENT], {INPUT: x})
        ev = seg.with_config(learned_side=side, runtime="tensorflow").evidence(img)
        assert prob[0] == pytest.approx(ev.probability, abs=1e-4)
        np.testing.assert_allclose(pixels[0], ev.pixels, atol=1e-4)
        # Grad-CAM++ from the exported map and gradient: TensorFlow's heatmap.
        np.testing.assert_allclose(cam_from_gradients(feats, grads)[0], ev.cam, atol=1e-3)
    if "model.fp16.onnx" in info["files"]:
        half = ort.InferenceSession(str(unet_copy / "model.fp16.onnx"), providers=["CPUExecutionProvider"])
        assert half.get_inputs()[0].type == "tensor(float)"  # float32 in and out
        assert {o.name for o in half.get_outputs()} == {PROBABILITY, PIXELS}  # the phone's two alone
        img, _ = rust_image(np.random.default_rng(7), 120, rust=True)
        x = preprocess(img, side)[None]
        np.testing.assert_allclose(half.run([PIXELS], {INPUT: x})[0], sess.run([PIXELS], {INPUT: x})[0],
                                   atol=2e-2)
        assert (unet_copy / "model.fp16.onnx").stat().st_size < 0.6 * (unet_copy / "model.onnx").stat().st_size


def test_a_classifier_runs_the_papers_modes_on_onnx_runtime(tiny_model_dir, tmp_path, capsys):
    from rustseg_core.learn.onnx_export import FEATURES, GRADIENT, PIXELS, PROBABILITY
    from rustseg_core.pipeline.segmenter import Segmenter
    from tests.synthetic import rust_image

    model = shutil.copytree(tiny_model_dir, tmp_path / "clf")
    side = Segmenter.load(model).bundle.input_size + 16
    assert main(["export", str(model), "--side", str(side)]) == 2  # Grad-CAM++ is defined at its input side
    assert "input side" in capsys.readouterr().err
    assert main(["export", str(model)]) == 0
    assert "every mode" in capsys.readouterr().out
    info = json.loads((model / "rustseg.json").read_text())["info"]["onnx"]
    assert set(info["outputs"]) == {PROBABILITY, FEATURES, GRADIENT} and PIXELS not in info["outputs"]
    assert not (model / "model.fp16.onnx").exists()  # nothing for a phone: no learned mode
    on_tf, on_ort = Segmenter.load(model, runtime="tensorflow"), Segmenter.load(model)
    assert (on_ort.runtime, on_ort.cam_runtime, on_ort.modes) == ("onnx", "onnx", on_tf.modes)
    images = [rust_image(np.random.default_rng(seed), 120, rust=seed != 2)[0] for seed in range(3)]
    np.testing.assert_allclose(on_ort.probabilities(images), on_tf.probabilities(images), atol=1e-4)
    for img in images:
        assert_same_answer(on_tf.segment(img, mode="standard"), on_ort.segment(img, mode="standard"))
    assert not on_ort._forward.traced  # TensorFlow's pass was never needed


def test_learned_mode_on_onnx_runtime_gives_the_same_result(unet_copy):
    from rustseg_core.pipeline.segmenter import Segmenter
    from tests.synthetic import rust_image

    with pytest.raises(ValueError, match="rustseg export"):
        Segmenter.load(unet_copy, runtime="onnx")
    assert main(["export", str(unet_copy), "--no-fp16"]) == 0
    on_tf, on_ort = Segmenter.load(unet_copy, runtime="tensorflow"), Segmenter.load(unet_copy, runtime="onnx")
    assert (on_tf.runtime, on_ort.runtime) == ("tensorflow", "onnx")
    assert on_tf._forward.traced and not on_ort._forward.traced  # nothing for ONNX to wait on
    for seed in range(3):
        img, _ = rust_image(np.random.default_rng(seed), 150, rust=True)
        assert_same_answer(on_tf.segment(img), on_ort.segment(img))
    assert not on_ort._forward.traced  # learned mode on ONNX never traced TensorFlow's pass
    assert on_ort.cam_runtime == "onnx" and on_tf.cam_runtime == "tensorflow"
    for mode in ("standard", "advanced"):  # the paper's modes on ONNX Runtime: the same masks
        for seed in range(3):
            img, _ = rust_image(np.random.default_rng(seed), 150, rust=True)
            assert_same_answer(on_tf.segment(img, mode=mode), on_ort.segment(img, mode=mode))
    assert not on_ort._forward.traced  # nor did they
    assert on_ort.with_config(tta_flip=True)._forward is on_ort._forward


def test_an_export_at_another_side_leaves_the_paper_modes_on_tensorflow(unet_copy, capsys):
    from rustseg_core.learn.onnx_export import FEATURES
    from rustseg_core.pipeline.segmenter import Segmenter
    from tests.synthetic import rust_image

    side = Segmenter.load(unet_copy).bundle.input_size + 16
    assert main(["export", str(unet_copy), "--no-fp16", "--side", str(side)]) == 0
    assert "paper's modes stay on TensorFlow" in capsys.readouterr().out
    assert FEATURES not in json.loads((unet_copy / "rustseg.json").read_text())["info"]["onnx"]["outputs"]
    seg = Segmenter.load(unet_copy, learned_side=side)
    assert (seg.runtime, seg.cam_runtime) == ("onnx", "tensorflow")
    img, _ = rust_image(np.random.default_rng(0), 150, rust=True)
    assert seg.segment(img, mode="standard").mode == "standard" and seg._forward.traced


def test_the_gradient_is_exported_only_for_a_head_linear_in_the_map():
    from rustseg_core.learn.onnx_export import feature_gradient
    from rustseg_core.tf_runtime import keras as _keras

    keras = _keras()

    def model(hidden: bool):
        x = keras.Input((16, 16, 3))
        feats = keras.layers.Conv2D(4, 3, activation="relu", name="last_conv")(x)
        h = keras.layers.GlobalAveragePooling2D()(feats)
        if hidden:  # a non-linear head: dlogit/dA depends on the photo
            h = keras.layers.Dense(3, activation="tanh")(h)
        logit = keras.layers.Dense(1)(h)
        return keras.Model(x, [logit, feats])

    x = np.random.default_rng(0).random((3, 16, 16, 3)).astype(np.float32)
    linear = feature_gradient(model(False), x)
    assert linear is not None and linear.shape == (14, 14, 4)
    np.testing.assert_allclose(linear, np.broadcast_to(linear[0, 0], linear.shape))  # w / (h·w)
    assert feature_gradient(model(True), x) is None


def test_the_home_page_offers_phone_analysis_only_with_an_export(unet_copy):
    from app import create_app
    from rustseg_core.pipeline.segmenter import Segmenter

    def home_and_model(seg):
        client = create_app({"SEGMENTER": seg, "SECRET_KEY": "x" * 32}).test_client()
        return client.get("/").get_data(as_text=True), client.get("/api/v1/model")

    page, model = home_and_model(Segmenter.load(unet_copy))
    assert "data-phone-model" not in page and model.status_code == 404
    assert main(["export", str(unet_copy), "--no-fp16"]) == 0
    page, model = home_and_model(Segmenter.load(unet_copy))
    assert "data-phone-model" in page and model.status_code == 200
    assert model.get_json()["file"]["name"] == "model.onnx"


def test_auto_runtime_takes_onnx_only_where_the_export_fits(unet_copy):
    from rustseg_core.pipeline.segmenter import Segmenter

    assert Segmenter.load(unet_copy).runtime == "tensorflow"  # "auto", nothing exported
    assert main(["export", str(unet_copy), "--no-fp16"]) == 0
    seg = Segmenter.load(unet_copy)
    assert seg.runtime == "onnx" and Segmenter.load(unet_copy, runtime="tensorflow").runtime == "tensorflow"
    # Another learned side than the export's: TensorFlow again, never a session of the wrong size.
    other = seg.with_config(learned_side=seg.learned_side + 32)
    assert other.runtime == "tensorflow"
    assert seg.with_config(tta_flip=True).runtime == "onnx"
    with pytest.raises(ValueError, match="export again"):
        seg.with_config(learned_side=seg.learned_side + 32, runtime="onnx")
