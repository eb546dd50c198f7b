"""Training the classifier from image-level labels only (``rustseg train``)."""
from __future__ import annotations

import json
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..config import ModelSpec, preset
from ..pipeline.model import ModelBundle, build_classifier, load_bundle, logit_model, save_bundle
from ..tf_runtime import keras as _keras
from ..tf_runtime import tensorflow as _tensorflow
from .data import cached_arrays, find_splits, stratified_split
from .training_log import TRAINING_LOG

tf = _tensorflow()
keras = _keras()

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Options of ``rustseg train``; defaults are what the shipped model used.

    The paper trained with lr 1e-5 for 35 epochs on a GPU. Batch normalisation lets this
    smaller network take Adam at 2e-3 with a warm-up and cosine decay, which reaches its
    best validation AUC in tens of CPU-minutes instead of hours.
    """

    preset: str = "cpu"
    input_size: int | None = None
    base_width: int | None = None
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 2e-3
    warmup_epochs: int = 2
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    val_fraction: float = 0.15
    seed: int = 1
    augment: bool = True
    colour_jitter: bool = True
    crop_scale: float = 0.5  # smallest crop area kept by random crops (1 = no crops)
    schedule: str = "cosine"  # "cosine" (warm-up + cosine decay) or "constant"
    batch_norm: bool | None = None  # None → the preset's choice
    head: str | None = None  # "gap" or "flatten"; None → the preset's choice
    # Start from a saved model's weights (fine-tuning, e.g. at a larger input size: the
    # convolutions and a global-average-pooling head do not depend on the input size).
    init_from: str | None = None
    deterministic: bool = False
    cache_dir: str | None = None


def _augment_fn(size: int, cfg: TrainConfig):
    rotate = keras.layers.RandomRotation(0.2 / (2 * math.pi), fill_mode="reflect", seed=cfg.seed)

    def aug(x, y):
        x = tf.cast(x, tf.float32) / 255.0
        if cfg.crop_scale < 1.0:
            # Random crop of crop_scale-100 % area with mild aspect change.
            begin, csize, _ = tf.image.sample_distorted_bounding_box(
                tf.shape(x), tf.zeros([1, 0, 4]), min_object_covered=0.0,
                aspect_ratio_range=(0.75, 1.33), area_range=(cfg.crop_scale, 1.0),
                use_image_if_no_bounding_boxes=True,
                # An op seed of its own (under the run's global seed): with deterministic
                # kernels on, TensorFlow refuses this op without one.
                seed=cfg.seed + 1)
            x = tf.slice(x, begin, csize)
        x = tf.image.resize(x, (size, size))
        x = tf.image.random_flip_left_right(x)
        x = tf.image.random_flip_up_down(x)
        if cfg.colour_jitter:
            # Hue is left nearly alone: rust's colour is the evidence we must not destroy.
            x = tf.image.random_brightness(x, 0.12)
            x = tf.image.random_contrast(x, 0.8, 1.2)
            x = tf.image.random_saturation(x, 0.8, 1.2)
            x = tf.image.random_hue(x, 0.02)
            x = tf.clip_by_value(x, 0.0, 1.0)
        return x, y

    def batch_rotate(x, y):
        return rotate(x, training=True), y

    return aug, batch_rotate


def _plain_fn(size: int):
    def plain(x, y):
        return tf.image.resize(tf.cast(x, tf.float32) / 255.0, (size, size)), y
    return plain


def make_datasets(x_tr, y_tr, x_va, y_va, size: int, cfg: TrainConfig):
    """tf.data pipelines: augmentation happens here, outside the model (as the paper)."""
    y_tr = y_tr.astype(np.float32)[:, None]
    y_va = y_va.astype(np.float32)[:, None]
    train = tf.data.Dataset.from_tensor_slices((x_tr, y_tr)).shuffle(
        len(x_tr), seed=cfg.seed, reshuffle_each_iteration=True)
    if cfg.augment:
        aug, rot = _augment_fn(size, cfg)
        train = train.map(aug, num_parallel_calls=tf.data.AUTOTUNE).batch(cfg.batch_size).map(rot)
    else:
        train = train.map(_plain_fn(size)).batch(cfg.batch_size)
    val = tf.data.Dataset.from_tensor_slices((x_va, y_va)).map(_plain_fn(size)).batch(64)
    return train.prefetch(tf.data.AUTOTUNE), val.prefetch(tf.data.AUTOTUNE)


class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up then cosine decay to 1 % of the peak."""

    def __init__(self, peak: float, warmup_steps: int, total_steps: int):
        self.peak, self.warmup, self.total = peak, warmup_steps, max(total_steps, 1)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = self.peak * (step + 1) / max(self.warmup, 1)
        progress = tf.clip_by_value((step - self.warmup) / max(self.total - self.warmup, 1), 0.0, 1.0)
        cos = self.peak * (0.01 + 0.99 * 0.5 * (1 + tf.cos(math.pi * progress)))
        return tf.where(step < self.warmup, warm, cos)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup, "total_steps": self.total}


def train(data_dir: str | Path, out_dir: str | Path, cfg: TrainConfig,
          command: str | None = None) -> ModelBundle:
    """Train on ``data_dir`` and write a self-describing model bundle to ``out_dir``.

    Interrupted runs resume from ``out_dir/backup`` when started again with the same
    arguments; the best epoch on validation ROC AUC is what gets saved.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(cfg.seed)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    spec: ModelSpec = preset(cfg.preset, input_size=cfg.input_size, base_width=cfg.base_width,
                             batch_norm=cfg.batch_norm, head=cfg.head)
    size = spec.input_size
    train_set, val_set = find_splits(data_dir)
    if val_set is None:
        train_set, val_set = stratified_split(train_set, cfg.val_fraction, cfg.seed)
    cache_dir = cfg.cache_dir or (out_dir / "cache")
    # Decode a little larger than the input so random crops keep detail.
    cache_size = int(round(size * 1.15))
    t0 = time.time()
    x_tr, y_tr = cached_arrays(train_set, cache_size, cache_dir)
    x_va, y_va = cached_arrays(val_set, cache_size, cache_dir)
    log.info("decoded %d train / %d val images in %.0f s", len(x_tr), len(x_va), time.time() - t0)

    counts = np.bincount(y_tr, minlength=2)
    class_weight = {c: float(len(y_tr) / (2 * counts[c])) for c in (0, 1)}  # balanced classes
    train_ds, val_ds = make_datasets(x_tr, y_tr, x_va, y_va, size, cfg)

    model = build_classifier(spec, seed=cfg.seed)
    if cfg.init_from:
        model.set_weights(load_bundle(cfg.init_from).model.get_weights())
        log.info("initialised from %s", cfg.init_from)
    trainable = logit_model(model)
    steps = math.ceil(len(x_tr) / cfg.batch_size)
    if cfg.schedule == "constant":
        schedule = cfg.learning_rate
    elif cfg.schedule == "cosine":
        schedule = WarmupCosine(cfg.learning_rate, cfg.warmup_epochs * steps, cfg.epochs * steps)
    else:
        raise ValueError(f"schedule must be 'cosine' or 'constant', not {cfg.schedule!r}")
    opt = keras.optimizers.AdamW(schedule, weight_decay=cfg.weight_decay) if cfg.weight_decay \
        else keras.optimizers.Adam(schedule)
    trainable.compile(
        optimizer=opt,
        loss=keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=cfg.label_smoothing),
        metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy"),
                 keras.metrics.AUC(from_logits=True, name="auc")])
    best = out_dir / "best.weights.h5"
    callbacks = [
        keras.callbacks.BackupAndRestore(str(out_dir / "backup")),
        keras.callbacks.ModelCheckpoint(str(best), monitor="val_auc", mode="max",
                                        save_best_only=True, save_weights_only=True),
        keras.callbacks.CSVLogger(str(out_dir / TRAINING_LOG), append=True),
    ]
    t1 = time.time()
    # shuffle=False: the tf.data pipeline already reshuffles every epoch (seeded).
    history = trainable.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs, shuffle=False,
                            class_weight=class_weight, callbacks=callbacks,
                            verbose=1 if sys.stdout.isatty() else 2)
    train_seconds = time.time() - t1
    trainable.load_weights(best)
    val_loss, val_acc, val_auc = trainable.evaluate(val_ds, verbose=0)
    hist = history.history
    info = {
        "version": f"{spec.name}-{time.strftime('%Y%m%d')}-s{cfg.seed}",
        "trained_on": str(data_dir),
        "train_counts": train_set.counts(), "val_counts": val_set.counts(),
        "command": command, "train_config": asdict(cfg),
        "train_seconds": round(train_seconds, 1),
        "best_epoch": int(np.argmax(hist["val_auc"])) + 1 if hist.get("val_auc") else None,
        "val_accuracy": round(float(val_acc), 4), "val_auc": round(float(val_auc), 4),
        "parameters": int(model.count_params()),
    }
    bundle = ModelBundle(model=model, spec=spec, threshold=0.5, info=info)
    save_bundle(bundle, out_dir)
    (out_dir / "train_summary.json").write_text(json.dumps(info, indent=2))
    return bundle
