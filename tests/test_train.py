"""`rustseg train` on a tiny synthetic folder: outputs, resume, fine-tuning, options."""
import json

import numpy as np
import pytest

from rustseg_core.cli import main
from rustseg_core.learn.train import TrainConfig, train
from rustseg_core.learn.training_log import read_training_log
from rustseg_core.pipeline.model import load_bundle
from rustseg_core.pipeline.segmenter import Segmenter
from rustseg_core.tf_runtime import keras as _keras

keras = _keras()
from tests.synthetic import rust_image, write_labelled_folder

TINY = dict(input_size=32, base_width=4, batch_size=8)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    root = tmp_path_factory.mktemp("labelled")
    write_labelled_folder(root, n_per_class=12, size=48)
    return root


@pytest.mark.slow  # a training run: in the slow suite, as the README lists
def test_train_command_writes_a_loadable_model(labelled, tmp_path, capsys):
    out = tmp_path / "m"
    rc = main(["train", str(labelled), "--out", str(out), "--input-size", "32", "--base-width", "4",
               "--epochs", "2", "--batch-size", "8", "--val-fraction", "0.25"])
    assert rc == 0 and "val AUC" in capsys.readouterr().out
    for name in ("model.keras", "rustseg.json", "best.weights.h5", "training_log.csv"):
        assert (out / name).is_file()
    assert len(read_training_log(out)) == 2
    info = json.loads((out / "rustseg.json").read_text())["info"]
    assert info["command"].startswith("rustseg train")
    assert info["train_counts"] == {"corrosion": 9, "not_corrosion": 9}  # 25 % held out, stratified
    assert info["val_counts"] == {"corrosion": 3, "not_corrosion": 3}
    assert not (out / "backup").exists()  # removed after a finished run
    img, _ = rust_image(np.random.default_rng(1), 48)
    result = Segmenter.load(out).segment(img)
    assert 0.0 <= result.probability <= 1.0 and result.heatmap.shape == (48, 48)


@pytest.mark.slow
def test_interrupted_training_resumes_where_it_stopped(labelled, tmp_path, monkeypatch):
    out = tmp_path / "m"
    cfg = TrainConfig(epochs=3, val_fraction=0.25, **TINY)
    original = keras.callbacks.ModelCheckpoint.on_epoch_end

    def crash_after_first_epoch(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 0:
            raise KeyboardInterrupt("simulated interruption")

    monkeypatch.setattr(keras.callbacks.ModelCheckpoint, "on_epoch_end", crash_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(labelled, out, cfg)
    assert (out / "backup").is_dir() and not (out / "model.keras").exists()
    monkeypatch.undo()
    train(labelled, out, cfg)
    # The CSV row of the interrupted epoch was never written; the rerun starts at epoch 1.
    assert [r["epoch"] for r in read_training_log(out)] == ["1", "2"]
    assert (out / "model.keras").is_file()


@pytest.mark.slow
def test_fine_tune_from_a_model_at_another_input_size(labelled, tmp_path):
    first = train(labelled, tmp_path / "a", TrainConfig(epochs=1, val_fraction=0.25, **TINY))
    # Zero epochs of learning would leave the weights as loaded: check the copy itself.
    tuned = train(labelled, tmp_path / "b", TrainConfig(
        epochs=1, val_fraction=0.25, init_from=str(tmp_path / "a"), learning_rate=1e-12,
        warmup_epochs=0, **{**TINY, "input_size": 40}))
    assert tuned.input_size == 40
    for w0, w1 in zip(first.model.get_weights(), load_bundle(tmp_path / "b").model.get_weights()):
        if w0.ndim == 4:  # conv kernels; batch-norm statistics move even without learning
            np.testing.assert_allclose(w0, w1, atol=1e-6)


@pytest.mark.slow  # builds and trains each variant (default suite under 5 minutes)
def test_ablation_options_build_what_they_say(labelled, tmp_path):
    b = train(labelled, tmp_path / "c", TrainConfig(
        epochs=1, val_fraction=0.25, schedule="constant", batch_norm=False, head="flatten",
        crop_scale=1.0, colour_jitter=False, **TINY))
    names = [layer.name for layer in b.model.layers]
    assert "flatten" in names and not any(n.startswith("bn") for n in names)
    with pytest.raises(ValueError, match="schedule"):
        train(labelled, tmp_path / "d", TrainConfig(epochs=1, schedule="step", **TINY))


@pytest.mark.slow
def test_deterministic_classifier_runs_repeat_bit_for_bit(labelled, tmp_path):
    # A process of its own for each run: TensorFlow's deterministic switch is process-wide
    # and would stay on for the tests after this one. The random crop refused to run under
    # it (an op seed of 0) until it was given a seed.
    import subprocess
    import sys

    weights = []
    for name in ("a", "b"):
        out = tmp_path / name
        subprocess.run([sys.executable, "-m", "rustseg_core", "train", str(labelled), "--out", str(out),
                        "--input-size", "32", "--base-width", "4", "--epochs", "2", "--batch-size", "8",
                        "--deterministic"], check=True, capture_output=True, timeout=300)
        weights.append(load_bundle(out).model.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(*weights))
