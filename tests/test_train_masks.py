"""The U-Net's training pieces: the pooled loss that no fixed blob can satisfy, the
generated textureless photos, and the encoder options."""
import json
from dataclasses import replace

import numpy as np
import pytest

from rustseg_core.learn.masks import blank_photos
from rustseg_core.learn.train_masks import MaskTrainConfig, _dataset, losses, train_masks
from rustseg_core.learn.training_log import read_training_log
from rustseg_core.tf_runtime import tensorflow

tf = tensorflow()
SIDE = 32


def _batch_parts(pix: np.ndarray, labels, has_mask):
    n = len(labels)
    img_logit = tf.zeros([n, 1])
    masks = tf.zeros([n, SIDE, SIDE])
    return losses(img_logit, tf.constant(pix[..., None], tf.float32), masks,
                  tf.constant(has_mask, tf.float32), tf.constant(labels, tf.float32), MaskTrainConfig())


def test_a_strip_on_every_input_does_not_satisfy_the_pooled_loss():
    # A corrosion photo known by its label only, and a clean photo (empty mask).
    labels, has_mask = [1.0, 0.0], [0.0, 1.0]
    strip = np.full((2, SIDE, SIDE), -8.0)
    strip[:, :, -1] = 8.0  # the same high column whatever the photo shows
    found = np.full((2, SIDE, SIDE), -8.0)
    found[0, 10:14, 10:14] = 8.0  # high only where the corrosion photo has rust
    strip_loss = float(_batch_parts(strip, labels, has_mask)["pooled"])
    found_loss = float(_batch_parts(found, labels, has_mask)["pooled"])
    # The clean photo's top pixels must say "no rust" too, so the blob costs what it gains.
    assert strip_loss > found_loss + 1.0


def test_mask_photos_are_taught_by_their_masks_not_the_pooled_loss():
    parts = _batch_parts(np.full((1, SIDE, SIDE), -8.0), [1.0], [1.0])
    assert float(parts["pooled"]) == 0.0 and float(parts["pixel_bce"]) > 0.0


def test_an_image_target_replaces_the_label_in_the_image_loss():
    """keep_decision's targets (the starting model's probabilities) take the labels' place."""
    logit, pix = tf.fill([2, 1], 2.0), tf.zeros([2, SIDE, SIDE, 1])
    masks, has_mask, labels = tf.zeros([2, SIDE, SIDE]), tf.zeros([2]), tf.constant([1.0, 0.0])
    target = tf.constant([0.1, 0.2])
    got = float(losses(logit, pix, masks, has_mask, labels, MaskTrainConfig(), image_target=target)["image"])
    expected = float(tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(target, logit[:, 0])))
    assert got == pytest.approx(expected)
    assert float(losses(logit, pix, masks, has_mask, labels, MaskTrainConfig())["image"]) != pytest.approx(got)


def test_blank_photos_are_textureless_clean_samples():
    ms = blank_photos(16, 40, seed=3)
    assert len(ms) == 16 and ms.images.shape == (16, 40, 40, 3) and ms.images.dtype == np.uint8
    assert not ms.masks.any() and np.all(ms.labels == 0) and np.all(ms.has_mask == 1)
    flat = [img for img in ms.images if np.ptp(img.reshape(-1, 3), axis=0).max() == 0]
    assert len(flat) == 4  # one in four is a single colour
    np.testing.assert_array_equal(blank_photos(16, 40, seed=3).images, ms.images)


def test_training_batches_cover_every_mask_photo_each_epoch():
    ms = blank_photos(12, 40, seed=1)
    ms.labels[:5] = 1.0  # five "mask photos" (label 1 with a mask)
    cfg = MaskTrainConfig(input_size=32, cache_size=40, batch_size=4, labelled_per_epoch=0.0)
    seen = sum(int(b[3].numpy().sum()) for b in _dataset(ms, cfg, train=True))
    assert seen == 5
    val = list(_dataset(ms, cfg, train=False))
    assert sum(len(b[0]) for b in val) == 12 and val[0][0].shape[1:] == (32, 32, 3)


def test_augmented_batches_follow_the_seed_alone():
    """A photo's augmentation comes from the run's seed and its place in the epoch, not from
    the timing of the parallel map's threads: a second pipeline repeats the first batch for
    batch; the next epoch, or another seed, draws anew."""
    from dataclasses import replace

    ms = blank_photos(24, 40, seed=1)
    ms.labels[:] = 1.0  # all "mask photos": each one is in every epoch
    cfg = MaskTrainConfig(input_size=32, cache_size=40, batch_size=8)

    def epochs(cfg, n=2):
        ds = _dataset(ms, cfg, train=True)
        return [np.concatenate([b[0].numpy() for b in ds]) for _ in range(n)]

    first, second = epochs(cfg)
    again = epochs(cfg)
    np.testing.assert_array_equal(first, again[0])
    np.testing.assert_array_equal(second, again[1])
    assert not np.allclose(np.sort(first.mean(axis=(1, 2, 3))), np.sort(second.mean(axis=(1, 2, 3))))
    assert not np.allclose(first, epochs(replace(cfg, seed=2), n=1)[0])


@pytest.mark.slow  # two training runs: in the slow suite, as the README lists
def test_a_deterministic_run_is_bit_identical_when_repeated(tmp_path):
    from rustseg_core.cli import main
    from rustseg_core.pipeline.model import load_bundle
    from tests.synthetic import write_labelled_folder, write_mask_folder

    write_mask_folder(tmp_path / "pixel", n=16, size=64, seed=1)
    write_labelled_folder(tmp_path / "lab", n_per_class=8, size=64, seed=2)
    weights = []
    for run in ("a", "b"):
        assert main(["train", str(tmp_path / "lab"), "--masks", str(tmp_path / "pixel"), "--encoder", "paper",
                     "--base-width", "4", "--input-size", "48", "--epochs", "2", "--batch-size", "8",
                     "--deterministic", "--out", str(tmp_path / run)]) == 0
        info = json.loads((tmp_path / run / "rustseg.json").read_text())["info"]
        assert info["train_config"]["deterministic"] is True
        weights.append(load_bundle(tmp_path / run).model.get_weights())
    assert len(weights[0]) == len(weights[1])
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_encoder_options_reach_the_model(tmp_path):
    from tests.synthetic import write_labelled_folder, write_mask_folder

    write_mask_folder(tmp_path / "pixel", n=8, size=64, seed=1)
    write_labelled_folder(tmp_path / "lab", n_per_class=4, size=64, seed=2)
    cfg = MaskTrainConfig(encoder="lite0", input_size=64, epochs=1, batch_size=8, freeze_encoder=True,
                          image_positives=False, blank_photos=4, val_fraction=0.25)
    bundle = train_masks([tmp_path / "pixel"], tmp_path / "lab", tmp_path / "m", cfg)
    info = json.loads((tmp_path / "m" / "rustseg.json").read_text())["info"]
    assert bundle.spec.encoder == "lite0" and info["initialised_from"].startswith("ImageNet")
    assert info["train_counts"]["labelled_photos"] == 4  # the clean ones only
    assert info["train_counts"]["generated_blank_photos"] == 4
    from rustseg_core.learn.torch_weights import read_state_dict
    from rustseg_core.pipeline.efficientnet_lite import weights_file

    stem = read_state_dict(weights_file())["_conv_stem.weight"].transpose(2, 3, 1, 0)
    np.testing.assert_array_equal(bundle.model.get_layer("enc_conv_stem").get_weights()[0], stem)
    assert not np.allclose(bundle.model.get_layer("dec1_1").get_weights()[0], 0)


@pytest.mark.slow  # a training run: in the slow suite, as the README lists
def test_decoder_only_retrains_the_pixel_map_and_keeps_the_decision(tiny_unet_dir, tmp_path):
    """--decoder-only: the encoder and the image unit keep the starting model's weights (and
    batch statistics), so every image probability is the same; the decoder learns."""
    from rustseg_core.pipeline.model import DECODER_PREFIXES, load_bundle
    from tests.synthetic import write_labelled_folder, write_mask_folder

    write_mask_folder(tmp_path / "pixel", n=8, size=64, seed=4)
    write_labelled_folder(tmp_path / "lab", n_per_class=4, size=64, seed=5)
    cfg = MaskTrainConfig(input_size=48, cache_size=64, epochs=1, batch_size=8, learning_rate=3e-3,
                          init_from=str(tiny_unet_dir), decoder_only=True, val_fraction=0.25,
                          blank_photos=2, augmentation="light")
    tuned = train_masks([tmp_path / "pixel"], tmp_path / "lab", tmp_path / "m", cfg).model
    base = load_bundle(tiny_unet_dir).model
    changed = {layer.name for layer in base.layers
               if any(not np.array_equal(a, b) for a, b in
                      zip(layer.get_weights(), tuned.get_layer(layer.name).get_weights()))}
    assert changed and all(name.startswith(DECODER_PREFIXES) for name in changed)
    assert any(name.startswith("dec") for name in changed)
    x = np.random.default_rng(0).uniform(0, 1, (4, 48, 48, 3)).astype(np.float32)
    np.testing.assert_array_equal(base(x, training=False)[0], tuned(x, training=False)[0])


@pytest.mark.slow  # a training run: in the slow suite, as the README lists
def test_keep_decision_teaches_the_starting_models_probabilities(tiny_unet_dir, tmp_path):
    """With keep_decision each training photo's image target is the starting model's
    probability on it: at learning rate 0, photos unaugmented and one batch, the logged image
    loss is then exactly the mean entropy of those probabilities, whatever the labels say."""
    from rustseg_core.learn.masks import MaskSet, load_labelled_folder, load_mask_folder, split
    from rustseg_core.learn.train_masks import _dataset
    from rustseg_core.pipeline.model import load_bundle
    from tests.synthetic import write_labelled_folder, write_mask_folder

    write_mask_folder(tmp_path / "pixel", n=8, size=64, seed=4)
    write_labelled_folder(tmp_path / "lab", n_per_class=4, size=64, seed=5)
    cfg = MaskTrainConfig(input_size=48, cache_size=64, epochs=1, batch_size=64, learning_rate=0.0,
                          init_from=str(tiny_unet_dir), keep_decision=True, val_fraction=0.25,
                          blank_photos=0, labelled_per_epoch=1.0, warmup_epochs=0, augment=False,
                          cache_dir=str(tmp_path / "cache"))
    train_masks([tmp_path / "pixel"], tmp_path / "lab", tmp_path / "m", cfg)
    logged = float(read_training_log(tmp_path / "m")[0]["image"])
    train_set, _ = split(load_mask_folder(tmp_path / "pixel", 64, cfg.cache_dir), cfg.val_fraction, cfg.seed)
    photos = MaskSet.concat([train_set, load_labelled_folder(tmp_path / "lab", 64, cfg.cache_dir)])
    teacher = load_bundle(tiny_unet_dir).model
    logit = np.concatenate([teacher(x, training=False)[0][:, 0].numpy()
                            for x, *_ in _dataset(photos, cfg, train=False)])
    # the binary entropy of the teacher's probabilities, from the logit as the loss takes it
    # (so that p = 1 stays finite)
    entropy = float(tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.sigmoid(logit), logit)))
    assert len(logit) == 6 + 8 and logged == pytest.approx(entropy, abs=1e-4)


@pytest.mark.slow  # a training run: in the slow suite, as the README lists
def test_encoder_lr_scale_slows_the_encoder_alone(tiny_unet_dir, tmp_path):
    """--encoder-lr-scale gives the encoder its own optimiser at that share of the rate: at a
    share of 1e-9 its weights stay put while the decoder and the image unit learn."""
    from rustseg_core.cli import main
    from rustseg_core.pipeline.model import DECODER_PREFIXES, IMAGE_HEAD_LAYERS, load_bundle
    from tests.synthetic import write_labelled_folder, write_mask_folder

    write_mask_folder(tmp_path / "pixel", n=8, size=64, seed=4)
    write_labelled_folder(tmp_path / "lab", n_per_class=4, size=64, seed=5)
    assert main(["train", str(tmp_path / "lab"), "--masks", str(tmp_path / "pixel"), "--init-from",
                 str(tiny_unet_dir), "--input-size", "48", "--epochs", "1", "--batch-size", "8",
                 "--lr", "3e-3", "--encoder-lr-scale", "1e-9", "--out", str(tmp_path / "m")]) == 0
    info = json.loads((tmp_path / "m" / "rustseg.json").read_text())["info"]
    assert info["train_config"]["encoder_lr_scale"] == 1e-9
    base, tuned = load_bundle(tiny_unet_dir).model, load_bundle(tmp_path / "m").model
    moved = {}
    for layer in base.layers:
        pairs = zip(layer.trainable_weights, tuned.get_layer(layer.name).trainable_weights)
        moved[layer.name] = max((float(np.max(np.abs(a.numpy() - b.numpy()))) for a, b in pairs), default=0.0)
    rest = [n for n in moved if n.startswith(DECODER_PREFIXES) or n in IMAGE_HEAD_LAYERS]
    encoder = [n for n in moved if n not in rest and base.get_layer(n).trainable_weights]
    assert encoder and max(moved[n] for n in encoder) < 1e-6
    assert max(moved[n] for n in rest) > 1e-3


def test_encoder_lr_scale_is_a_share_above_zero_for_the_unet(tmp_path, capsys):
    from rustseg_core.cli import main

    (tmp_path / "lab").mkdir()
    assert main(["train", str(tmp_path / "lab"), "--encoder-lr-scale", "0.3", "--out", str(tmp_path / "m")]) == 2
    assert main(["train", str(tmp_path / "lab"), "--masks", str(tmp_path / "lab"), "--encoder-lr-scale", "0",
                 "--out", str(tmp_path / "m")]) == 2
    assert "--encoder-lr-scale takes a share above 0" in capsys.readouterr().err


def test_decoder_only_and_keep_decision_need_a_model_to_start_from(tmp_path, capsys):
    from rustseg_core.cli import main

    for option in ("decoder_only", "keep_decision"):
        with pytest.raises(ValueError, match="give init_from"):
            train_masks([tmp_path], None, tmp_path / "m", MaskTrainConfig(**{option: True}))
    assert main(["train", str(tmp_path), "--masks", str(tmp_path), "--decoder-only",
                 "--out", str(tmp_path / "m")]) == 2
    assert "--init-from" in capsys.readouterr().err
    assert main(["train", str(tmp_path), "--masks", str(tmp_path), "--decoder-only", "--keep-decision",
                 "--init-from", str(tmp_path), "--out", str(tmp_path / "m")]) == 2
    assert "not both" in capsys.readouterr().err


@pytest.mark.slow  # a training run: in the slow suite, as the README lists
def test_stop_after_ends_a_run_inside_its_schedule_and_a_rerun_finishes_it(tiny_unet_dir, tmp_path):
    """stop_after=2 of a 3-epoch schedule: two epochs at the 3-epoch schedule's learning rates
    and a model written; the same arguments without stop_after resume at epoch 3."""
    from rustseg_core.learn.train import WarmupCosine
    from tests.synthetic import write_labelled_folder, write_mask_folder

    write_mask_folder(tmp_path / "pixel", n=8, size=64, seed=4)
    write_labelled_folder(tmp_path / "lab", n_per_class=2, size=64, seed=5)
    cfg = MaskTrainConfig(input_size=32, cache_size=48, epochs=3, stop_after=2, batch_size=4,
                          learning_rate=3e-3, warmup_epochs=0, init_from=str(tiny_unet_dir),
                          val_fraction=0.25, blank_photos=0, labelled_per_epoch=1.0,
                          cache_dir=str(tmp_path / "cache"))
    out = tmp_path / "m"

    train_masks([tmp_path / "pixel"], tmp_path / "lab", out, cfg)
    state = json.loads((out / "state.json").read_text())
    steps = state["step"] // 2
    assert state["epoch"] == 2 and (out / "model.keras").is_file()
    rows = read_training_log(out)
    assert [r["epoch"] for r in rows] == ["1", "2"]
    # the last step of epoch 2 ran at the 3-epoch cosine's rate, well above its 1 % floor
    expected = float(WarmupCosine(3e-3, 0, 3 * steps)(2 * steps - 1))
    assert float(rows[-1]["lr"]) == pytest.approx(expected, rel=1e-4) and expected > 3e-3 * 0.2
    info = json.loads((out / "rustseg.json").read_text())["info"]
    assert info["train_config"]["stop_after"] == 2
    train_masks([tmp_path / "pixel"], tmp_path / "lab", out, replace(cfg, stop_after=None))
    rows = read_training_log(out)
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert float(rows[-1]["lr"]) == pytest.approx(float(WarmupCosine(3e-3, 0, 3 * steps)(3 * steps - 1)),
                                                  rel=1e-4)


def test_stop_after_needs_the_unet_and_an_epoch(tmp_path, capsys):
    from rustseg_core.cli import main

    for extra in ([], ["--masks", str(tmp_path)]):
        assert main(["train", str(tmp_path), *extra, "--stop-after", "0" if extra else "2",
                     "--out", str(tmp_path / "m")]) == 2
        assert "--stop-after takes an epoch number" in capsys.readouterr().err
    # the core refuses it too (0 used to read as "no stop" there)
    with pytest.raises(ValueError, match="stop_after is an epoch number from 1"):
        train_masks([tmp_path], None, tmp_path / "m", MaskTrainConfig(stop_after=0))


def test_val_masks_needs_the_unet_and_other_photos_than_it_learns(tmp_path, capsys):
    from rustseg_core.cli import main
    from tests.synthetic import write_labelled_folder, write_mask_folder

    write_mask_folder(tmp_path / "pixel", n=4, size=48, seed=1)
    write_labelled_folder(tmp_path / "lab", n_per_class=2, size=48, seed=2)
    out = ["--out", str(tmp_path / "m")]
    assert main(["train", str(tmp_path / "lab"), "--val-masks", str(tmp_path / "pixel"), *out]) == 2
    assert "give --masks too" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "lab"), "--masks", str(tmp_path / "pixel"), "--val-masks",
                 str(tmp_path / ".." / tmp_path.name / "pixel"), *out]) == 2
    assert "validation would score photos the model learned from" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "lab"), "--masks", str(tmp_path / "pixel"), "--val-masks",
                 str(tmp_path / "lab"), *out]) == 2
    assert "images/" in capsys.readouterr().err  # not a mask folder: said before TensorFlow loads
    assert not (tmp_path / "m").exists()


@pytest.mark.slow  # a training run
def test_val_masks_validate_and_every_mask_photo_trains(tmp_path, capsys, caplog):
    """A labelled set's own validation split (as `rustseg import` writes OUT/val): the model
    validates on all of it, trains on all of --masks, and lists it for `tune --learned`; a
    validation photo named as a training photo is pointed out."""
    import shlex

    from rustseg_core.cli import main
    from tests.synthetic import write_labelled_folder, write_mask_folder

    write_mask_folder(tmp_path / "pixel", n=12, size=64, seed=1)
    write_mask_folder(tmp_path / "pixel_val", n=5, size=64, seed=4)
    for name in ("m000", "m001"):  # three of five keep names that training photos have
        for sub, ext in (("images", ".jpg"), ("masks", ".png")):
            (tmp_path / "pixel_val" / sub / f"{name}{ext}").rename(tmp_path / "pixel_val" / sub / f"val_{name}{ext}")
    write_labelled_folder(tmp_path / "data", n_per_class=6, size=64, seed=2)
    assert main(["train", str(tmp_path / "data"), "--masks", str(tmp_path / "pixel"), "--val-masks",
                 str(tmp_path / "pixel_val"), "--encoder", "paper", "--base-width", "4", "--input-size", "48",
                 "--epochs", "1", "--batch-size", "8", "--out", str(tmp_path / "m")]) == 0
    said = capsys.readouterr().out
    info = json.loads((tmp_path / "m" / "rustseg.json").read_text())["info"]
    val_names = sorted(p.name for p in (tmp_path / "pixel_val" / "images").iterdir())
    assert info["val_mask_photos"] == val_names
    assert info["train_counts"]["mask_photos"] == 12 and info["train_counts"]["val_mask_photos"] == 5
    assert info["trained_on"]["validation_masks"] == [str(tmp_path / "pixel_val")]
    tune = said.split("next: its thresholds, on its held-out photos: rustseg ")[1].split(";")[0]
    assert f"--masks {tmp_path / 'pixel_val'}" in tune
    assert main(shlex.split(tune)) == 0
    assert "(5 validation photos" in capsys.readouterr().out
    # the training folder holds photos named as held-out ones (m002-m004): refused, and told where
    assert main(shlex.split(tune.replace(str(tmp_path / "pixel_val"), str(tmp_path / "pixel")))) == 2
    assert f"its held-out photos are in {tmp_path / 'pixel_val'}" in capsys.readouterr().err
    assert any("3 source photo(s) have photos, by name, in both the training and the validation"
               in r.getMessage()
               for r in caplog.records)


def test_unknown_encoder_is_named(tmp_path):
    from tests.synthetic import write_labelled_folder, write_mask_folder

    write_mask_folder(tmp_path / "pixel", n=4, size=48, seed=1)
    write_labelled_folder(tmp_path / "lab", n_per_class=2, size=48, seed=2)
    with pytest.raises(ValueError, match="unknown encoder 'vgg'"):
        train_masks([tmp_path / "pixel"], tmp_path / "lab", tmp_path / "m",
                    MaskTrainConfig(encoder="vgg", input_size=32, epochs=1, blank_photos=0))


def _augmented_masks(name: str, n: int = 8) -> list[np.ndarray]:
    from rustseg_core.learn.train_masks import make_augment

    cfg = MaskTrainConfig(input_size=32, cache_size=40, augmentation=name)
    aug = make_augment(cfg)
    img = np.full((40, 40, 3), 128, np.uint8)
    mask = np.zeros((40, 40), np.uint8)
    mask[:, 16:24] = 1  # a vertical band
    return [aug(tf.constant(img), tf.constant(mask), tf.constant(1.0), tf.constant(1.0),
                tf.constant([0, k], tf.int64))[1].numpy() for k in range(n)]


def test_light_augmentation_keeps_the_mask_upright_and_phone_augmentation_turns_it():
    def upright(m):  # a vertical band stays one: every column is all in or all out
        return bool(np.all((m.min(axis=0) == m.max(axis=0))))

    light = _augmented_masks("light")
    assert all(upright(m) and m.any() for m in light)
    assert not all(upright(m) for m in _augmented_masks("phone"))  # rotation, perspective


def test_augmentation_help_is_read_from_the_table(capsys):
    from dataclasses import replace

    from rustseg_core.cli import build_parser
    from rustseg_core.learn.augmentations import AUGMENTATIONS, describe

    light = describe(AUGMENTATIONS["light"])
    assert "zoom 0.8-1.4" in light and "rotation" not in light and "blur" not in light
    assert "rotation ±0.2" in describe(AUGMENTATIONS["phone"])
    assert "rotation ±0.3" in describe(replace(AUGMENTATIONS["light"], rotation=0.3))
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert all(f"{name}: {describe(a)}" in out for name, a in AUGMENTATIONS.items())


def test_unknown_augmentation_is_named():
    from rustseg_core.learn.train_masks import make_augment

    with pytest.raises(ValueError, match="unknown augmentation 'heavy'"):
        make_augment(MaskTrainConfig(augmentation="heavy"))


@pytest.mark.slow  # a training run
def test_the_next_steps_train_prints_run_as_printed(tmp_path, capsys):
    """After training, train prints how to choose the new model's thresholds: that command
    runs as printed (on the model's held-out photos) and writes them."""
    import shlex

    from rustseg_core.cli import main
    from tests.synthetic import write_labelled_folder, write_mask_folder

    write_mask_folder(tmp_path / "pixel", n=16, size=64, seed=1)
    write_labelled_folder(tmp_path / "data" / "train", n_per_class=6, size=64, seed=2)
    write_labelled_folder(tmp_path / "data" / "val", n_per_class=4, size=64, seed=3)
    assert main(["train", str(tmp_path / "data"), "--masks", str(tmp_path / "pixel"), "--encoder", "paper",
                 "--base-width", "4", "--input-size", "48", "--epochs", "1", "--batch-size", "8",
                 "--out", str(tmp_path / "m")]) == 0
    said = capsys.readouterr().out
    tune = said.split("next: its thresholds, on its held-out photos: rustseg ")[1].split(";")[0]
    assert f"--images {tmp_path / 'data' / 'val'}" in tune
    assert main(shlex.split(tune)) == 0
    info = json.loads((tmp_path / "m" / "rustseg.json").read_text())
    assert "rustseg compare RUN_A RUN_B" in said
    assert info["info"]["learned_note"].endswith(f"--model {tmp_path / 'm'} --write")
