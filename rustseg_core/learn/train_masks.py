"""Training the segmentation network (``rustseg train --masks ...``): a U-Net on an
encoder (EfficientNet-Lite0 from ImageNet weights by default, or the paper's encoder grown
from a trained classifier), taught by per-pixel masks, clean photos and image-level labels.

Losses, per batch: image-level BCE on the image head for every sample; per-pixel BCE + soft
Dice where a mask is known (mask folders; clean photos as all-background); and a pooled
pixel loss (the mean of the top 1 % pixel logits) on every photo known only by its label
and on every clean photo: it must say "rust" for a corrosion photo and "no rust" for a
clean one. Both sides matter. With the positive side alone (as the first U-Net was trained),
a map that is high in one fixed place on *every* input satisfies it for free — 1 % of a
192-px map is two columns, and zero padding tells the network where the border is — so
that model marked a full-height strip at the right edge of every photo. Asking the same
statistic to be low on clean photos makes any such content-independent blob cost as much
as it gains.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..config import preset
from ..pipeline.model import (DECODER_PREFIXES, IMAGE_HEAD_LAYERS, ModelBundle, build_segmenter_net,
                              copy_matching_weights, load_bundle, save_bundle)
from ..pipeline import efficientnet_lite
from ..tf_runtime import keras as _keras
from ..tf_runtime import tensorflow as _tensorflow
from .augmentations import AUGMENTATIONS, Augmentation
from .label_audit import read_label_audit
from .masks import (MaskSet, apply_label_audit, blank_photos, load_labelled_folder, load_mask_folder,
                    split)
from .torch_weights import read_state_dict
from .metrics import decision_threshold, mask_scores, uncertain_band
from .source_photos import shared_sources
from .train import WarmupCosine
from .store_data import store_provenance, write_training_manifest
from .training_log import TRAINING_LOG

tf = _tensorflow()
keras = _keras()
log = logging.getLogger(__name__)


@dataclass
class MaskTrainConfig:
    """Options of ``rustseg train --masks``; defaults are what the shipped U-Net used."""

    # "lite0": EfficientNet-Lite0 from its ImageNet weights; "paper": the paper's encoder
    # (the ``cpu`` preset), from He-uniform or a classifier given by ``init_from``.
    encoder: str = "lite0"
    input_size: int = 256  # training crops (the network is fully convolutional)
    # Photos are decoded once at this side (None: 4/3 of the crop); crops zoom in and out.
    cache_size: int | None = None
    base_width: int | None = None
    freeze_encoder: bool = False  # train the decoder and the image unit only
    # Train the decoder alone: the encoder and the image unit keep init_from's weights, so
    # the image probability (the decision) cannot change; only the pixel map is retrained.
    decoder_only: bool = False
    # Keep init_from's decision while the whole network is fine-tuned (for the masks): the
    # image unit learns init_from's probability on each augmented photo instead of the
    # folder label (learning without forgetting); the labels still drive the pooled loss.
    keep_decision: bool = False
    # Use the corrosion photos that have only an image label (pooled loss + image head).
    image_positives: bool = True
    # Generated textureless clean photos (see masks.blank_photos); None: one for every ten
    # clean photos of the image-level folder (140 for classification/train), so they never
    # outweigh the real ones in a small data set.
    blank_photos: int | None = None
    epochs: int = 8
    # Train only the schedule's first N epochs, then write the model: the learning rate still
    # follows the `epochs`-long warm-up + cosine, so a run can end before its schedule does
    # (the shipped run 1 stopped after epoch 10 of 12). A later run with the same arguments and
    # a larger (or no) stop_after resumes it.
    stop_after: int | None = None
    batch_size: int = 16
    learning_rate: float = 1e-3
    # The encoder's learning rate as a share of the schedule's (the decoder and the image unit
    # take it whole): ImageNet features may need less change than layers that start from noise.
    encoder_lr_scale: float = 1.0
    warmup_epochs: int = 1
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    dice_weight: float = 1.0
    pooled_weight: float = 0.5
    image_weight: float = 1.0
    top_fraction: float = 0.01  # pooled pixel loss: mean of the top 1 % pixel logits
    # Share of the image-level photos seen per epoch (all mask photos are seen every epoch).
    labelled_per_epoch: float = 0.5
    val_fraction: float = 0.1  # of the mask photos, when no validation mask folder is given
    seed: int = 1
    # Bit-identical runs for one seed on one machine (TensorFlow's deterministic kernels).
    deterministic: bool = False
    augment: bool = True
    augmentation: str = "phone"  # a name of AUGMENTATIONS
    init_from: str | None = None
    cache_dir: str | None = None
    # A label audit (see learn/label_audit.py): the image-level photos it names are learned
    # as what they show, not as their folder says.
    label_audit: str | None = None
    # Also keep the weights of the last N epochs (epoch-NN.weights.h5), for `rustseg average`.
    keep_epochs: int = 0
    thresholds: tuple[float, ...] = field(default=(0.2, 0.3, 0.4, 0.5, 0.6, 0.7))

    @property
    def decode_size(self) -> int:
        return self.cache_size or int(round(self.input_size * 4 / 3))


# ---------------------------------------------------------------- augmentation
class _Draws:
    """One sample's random draws, each from its own stateless seed split off the sample's
    seed: a photo's augmentation depends on that seed alone, not on which of the parallel
    map's threads asked a shared generator first (which made runs differ)."""

    def __init__(self, seed: tf.Tensor, n: int = 32):
        self._seeds = tf.random.experimental.stateless_split(seed, n)
        self._next = 0

    def _seed(self) -> tf.Tensor:
        seed = self._seeds[self._next]  # indexed while tracing: each call site has its own
        self._next += 1
        return seed

    def uniform(self, shape, minval: float = 0.0, maxval: float = 1.0) -> tf.Tensor:
        return tf.random.stateless_uniform(shape, self._seed(), minval, maxval)

    def normal(self, shape, mean: float = 0.0, stddev: float = 1.0) -> tf.Tensor:
        return tf.random.stateless_normal(shape, self._seed(), mean, stddev)


def _uniform(rng: _Draws, shape, low: float, high: float) -> tf.Tensor:
    return rng.uniform(shape, low, high) if high > low else tf.fill(shape, float(low))


def _projective(size: int, out: int, rng: _Draws, a: Augmentation) -> tf.Tensor:
    """A random zoom, rotation, shift and slight perspective, as the 8 parameters of
    ``ImageProjectiveTransformV3`` (output → input coordinates)."""
    zoom = tf.exp(_uniform(rng, [], math.log(a.zoom[0]), math.log(a.zoom[1])))
    theta = _uniform(rng, [], -a.rotation, a.rotation)
    s = (size / out) / zoom
    a0, a1 = s * tf.cos(theta), -s * tf.sin(theta)
    b0, b1 = s * tf.sin(theta), s * tf.cos(theta)
    c_out = (out - 1) / 2.0
    shift = _uniform(rng, [2], -a.shift, a.shift) * size
    a2 = (size - 1) / 2.0 + shift[0] - (a0 * c_out + a1 * c_out)
    b2 = (size - 1) / 2.0 + shift[1] - (b0 * c_out + b1 * c_out)
    persp = _uniform(rng, [2], -a.perspective, a.perspective) / (out * 4)
    return tf.stack([a0, a1, a2, b0, b1, b2, persp[0], persp[1]])


def make_augment(cfg: MaskTrainConfig):
    """Augmentation of (photo, mask) with the ranges of ``AUGMENTATIONS[cfg.augmentation]``."""
    if cfg.augmentation not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {cfg.augmentation!r}; choose one of "
                         f"{', '.join(AUGMENTATIONS)}")
    a = AUGMENTATIONS[cfg.augmentation]
    size, out = cfg.decode_size, cfg.input_size

    def aug(img, mask, has_mask, label, seed):
        rng = _Draws(seed)
        x = tf.concat([tf.cast(img, tf.float32) / 255.0, tf.cast(mask, tf.float32)[..., None]], -1)
        x = tf.raw_ops.ImageProjectiveTransformV3(
            images=x[None], transforms=_projective(size, out, rng, a)[None], output_shape=[out, out],
            interpolation="BILINEAR", fill_mode="REFLECT", fill_value=0.0)[0]
        if rng.uniform([]) < 0.5:
            x = x[:, ::-1]
        if rng.uniform([]) < 0.5:
            x = x[::-1]
        photo, m = x[..., :3], tf.cast(x[..., 3] >= 0.5, tf.float32)
        gamma = tf.exp(_uniform(rng, [], math.log(a.exposure[0]), math.log(a.exposure[1])))
        photo = tf.clip_by_value(photo, 0.0, 1.0) ** gamma
        photo = photo * _uniform(rng, [3], 1 - a.white_balance, 1 + a.white_balance)
        photo = tf.image.adjust_contrast(photo, _uniform(rng, [], *a.contrast))
        photo = tf.image.adjust_saturation(photo, _uniform(rng, [], *a.saturation))
        photo = tf.image.adjust_brightness(photo, _uniform(rng, [], -a.brightness, a.brightness))
        photo = tf.clip_by_value(photo, 0.0, 1.0)
        if rng.uniform([]) < a.blur:
            photo = tf.nn.avg_pool2d(photo[None], 3, 1, "SAME")[0]
        if rng.uniform([]) < a.noise:
            photo = photo + rng.normal(tf.shape(photo), 0.0, rng.uniform([], 0.005, 0.04))
        photo = tf.clip_by_value(photo, 0.0, 1.0)
        if rng.uniform([]) < a.jpeg:
            photo = tf.image.adjust_jpeg_quality(photo, tf.cast(rng.uniform([], 30, 90), tf.int32))
        return tf.reshape(photo, [out, out, 3]), tf.reshape(m, [out, out]), has_mask, label

    return aug


def plain(cfg: MaskTrainConfig):
    def f(img, mask, has_mask, label, seed=None):
        x = tf.concat([tf.cast(img, tf.float32) / 255.0, tf.cast(mask, tf.float32)[..., None]], -1)
        x = tf.image.resize(x, (cfg.input_size, cfg.input_size))
        return x[..., :3], tf.cast(x[..., 3] >= 0.5, tf.float32), has_mask, label
    return f


def _dataset(ms: MaskSet, cfg: MaskTrainConfig, train: bool) -> tf.data.Dataset:
    """Batches of (photo, mask, has_mask, label). The decoded arrays are read in place and
    what gets shuffled is their indices: tensors made from them, and a shuffle buffer of
    the samples themselves, would each hold another copy of every photo (gigabytes at
    320 px)."""
    arrays = (ms.images, ms.masks, ms.has_mask, ms.labels)
    shapes = [a.shape[1:] for a in arrays]

    def sample(i):
        out = tf.numpy_function(lambda j: tuple(a[j] for a in arrays), [i],
                                [tf.as_dtype(a.dtype) for a in arrays], stateful=False)
        return tuple(tf.ensure_shape(t, s) for t, s in zip(out, shapes))

    ds = tf.data.Dataset.range(len(ms))
    if train:
        # Every mask photo each epoch; a random share of the image-level photos.
        keep = tf.constant((ms.has_mask > 0) & (ms.labels > 0))
        frac = cfg.labelled_per_epoch
        n = len(ms)
        # Each sample's augmentation seed: the run's seed and (place in this epoch's order,
        # photo), so an epoch's draws follow the seeded shuffle, whatever the thread timing.
        ds = ds.shuffle(n, seed=cfg.seed, reshuffle_each_iteration=True).enumerate().filter(
            lambda pos, i: tf.gather(keep, i) | (tf.random.uniform([], seed=cfg.seed) < frac))
        fn = make_augment(cfg) if cfg.augment else plain(cfg)
        return (ds.map(lambda pos, i: (*sample(i), tf.stack([tf.constant(cfg.seed, tf.int64), pos * n + i])))
                .map(fn, num_parallel_calls=tf.data.AUTOTUNE).batch(cfg.batch_size).prefetch(2))
    return ds.map(sample).map(plain(cfg), num_parallel_calls=tf.data.AUTOTUNE).batch(32).prefetch(2)


# ---------------------------------------------------------------- losses
def losses(img_logit, pix_logit, mask, has_mask, label, cfg: MaskTrainConfig,
           image_target=None) -> dict:
    """The three losses of the module docstring, each averaged over the samples it applies to.
    ``image_target``: the image unit's target probabilities (default: the smoothed labels)."""
    if image_target is None:
        image_target = label * (1 - cfg.label_smoothing) + 0.5 * cfg.label_smoothing
    image = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(image_target, img_logit[:, 0]))
    pix = pix_logit[..., 0]
    bce = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(mask, pix), axis=[1, 2])
    p = tf.sigmoid(pix)
    dice = 1.0 - (2.0 * tf.reduce_sum(p * mask, [1, 2]) + 1.0) / (
        tf.reduce_sum(p, [1, 2]) + tf.reduce_sum(mask, [1, 2]) + 1.0)
    flat = tf.reshape(pix, [tf.shape(pix)[0], -1])
    k = tf.maximum(1, tf.cast(tf.cast(tf.shape(flat)[1], tf.float32) * cfg.top_fraction, tf.int32))
    pooled_logit = tf.reduce_mean(tf.math.top_k(flat, k).values, axis=1)
    pooled = tf.nn.sigmoid_cross_entropy_with_logits(label, pooled_logit)
    # Photos known by their label alone, and every clean photo (see the module docstring).
    pooled_on = tf.maximum(1.0 - has_mask, 1.0 - label)

    def wmean(v, w):
        return tf.reduce_sum(v * w) / tf.maximum(tf.reduce_sum(w), 1.0)

    parts = {"image": image, "pixel_bce": wmean(bce, has_mask), "dice": wmean(dice, has_mask),
             "pooled": wmean(pooled, pooled_on)}
    parts["total"] = (cfg.image_weight * parts["image"] + parts["pixel_bce"]
                      + cfg.dice_weight * parts["dice"] + cfg.pooled_weight * parts["pooled"])
    return parts


# ---------------------------------------------------------------- what trains
def _part(layer) -> str:
    """Which part of the U-Net a layer belongs to: "decoder", "head" (the image unit) or "encoder"."""
    if layer.name.startswith(DECODER_PREFIXES):
        return "decoder"
    return "head" if layer.name in IMAGE_HEAD_LAYERS else "encoder"


def freeze(model: keras.Model, cfg: MaskTrainConfig) -> None:
    """Fix the encoder's weights (``freeze_encoder``), or the encoder's and the image unit's
    (``decoder_only``); frozen batch normalisation then runs in inference mode too."""
    if not (cfg.freeze_encoder or cfg.decoder_only):
        return
    for layer in model.layers:
        part = _part(layer)
        if not (part == "decoder" or (part == "head" and not cfg.decoder_only)):
            layer.trainable = False


def optimizer_groups(model: keras.Model, cfg: MaskTrainConfig) -> list[tuple[float, list[int]]]:
    """(learning-rate scale, indices into ``model.trainable_variables``) for each optimiser:
    one group at scale 1, or the encoder's variables apart at ``encoder_lr_scale``."""
    indices = range(len(model.trainable_variables))
    if cfg.encoder_lr_scale == 1.0:
        return [(1.0, list(indices))]
    rest = {id(v) for layer in model.layers if _part(layer) != "encoder" for v in layer.trainable_variables}
    encoder = [i for i in indices if id(model.trainable_variables[i]) not in rest]
    others = [i for i in indices if id(model.trainable_variables[i]) in rest]
    return [(scale, idx) for scale, idx in ((cfg.encoder_lr_scale, encoder), (1.0, others)) if idx]


# ---------------------------------------------------------------- validation
def predict(model, ds: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image probabilities, pixel probabilities, true masks) over a validation dataset."""
    probs, pix, gts = [], [], []
    for x, m, _, _ in ds:
        img_logit, _, pix_logit = model(x, training=False)
        probs.append(tf.sigmoid(img_logit[:, 0]).numpy())
        pix.append(tf.sigmoid(pix_logit[..., 0]).numpy().astype(np.float16))
        gts.append(m.numpy() > 0.5)
    return np.concatenate(probs), np.concatenate(pix), np.concatenate(gts)


def mean_iou(pix: np.ndarray, gts: np.ndarray, threshold: float) -> float:
    return float(np.mean([mask_scores(p >= threshold, g)["iou"] for p, g in zip(pix, gts)]))


def false_area(pix: np.ndarray, threshold: float) -> float:
    """Mean share of pixels marked on photos that show no rust."""
    return float(np.mean([(p >= threshold).mean() for p in pix])) if len(pix) else 0.0


def choose_thresholds(val_masks: tuple, val_images: tuple, thresholds) -> dict:
    """Mask threshold: best mean IoU on the validation masks; decision threshold: best
    balanced accuracy on the validation photos with image labels together with the
    validation mask photos (all rust). Never the test splits."""
    mask_probs, pix, gts = val_masks
    ious = {t: mean_iou(pix, gts, t) for t in thresholds}
    mask_t = max(ious, key=ious.get)
    decision_t, balanced, accs = decision_threshold(val_images[0], val_images[1], mask_probs, thresholds)
    band = uncertain_band(np.concatenate([val_images[0], mask_probs]),
                          np.concatenate([val_images[1], np.ones(len(mask_probs))]), decision_t)
    return {"mask_threshold": mask_t, "val_iou_by_threshold": ious,
            "decision_threshold": decision_t, "val_balanced_accuracy_by_threshold": balanced,
            "val_accuracy_by_threshold": accs,
            "uncertain_band": band}


# ---------------------------------------------------------------- training
def epoch_weights(out_dir: str | Path, epoch: int) -> Path:
    """Where ``keep_epochs`` puts the weights at the end of ``epoch`` (counted from 1)."""
    return Path(out_dir) / f"epoch-{epoch:02d}.weights.h5"


def train_masks(mask_dirs: list[str | Path], labelled_dir: str | Path | None, out_dir: str | Path,
                cfg: MaskTrainConfig, command: str | None = None,
                val_labelled_dir: str | Path | None = None,
                val_mask_dirs: list[str | Path] | None = None) -> ModelBundle:
    """Train the U-Net and write a model folder that serves every mode (its image head and
    last conv map keep the paper's Grad-CAM++ modes working).

    The mask photos it validates on are those of ``val_mask_dirs`` (a labelled set's own
    validation split, say), else ``cfg.val_fraction`` of the mask photos, held out.

    Interrupted runs resume from ``out_dir/last.weights.h5`` (same arguments); the epoch with
    the best validation mask IoU is what gets saved.
    """
    if (cfg.decoder_only or cfg.keep_decision) and not cfg.init_from:
        raise ValueError("decoder_only and keep_decision start from a trained model: give init_from")
    if cfg.stop_after is not None and cfg.stop_after < 1:
        raise ValueError(f"stop_after is an epoch number from 1 (None: run the whole schedule), "
                         f"not {cfg.stop_after}")
    if not cfg.encoder_lr_scale > 0:
        raise ValueError(f"encoder_lr_scale must be above 0, not {cfg.encoder_lr_scale}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(cfg.seed)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    cache_dir = cfg.cache_dir or (out_dir / "cache")
    t0 = time.time()
    size = cfg.decode_size
    all_mask_dirs = list(mask_dirs) + list(val_mask_dirs or [])
    mask_sets = [load_mask_folder(d, size, cache_dir) for d in mask_dirs]
    masks_all = MaskSet.concat(mask_sets)
    if val_mask_dirs:
        train_masks_set = masks_all
        val_masks_set = MaskSet.concat([load_mask_folder(d, size, cache_dir) for d in val_mask_dirs])
        both = shared_sources(train_masks_set.names, val_masks_set.names)
        if both:
            log.warning("%d source photo(s) have photos, by name, in both the training and the "
                        "validation masks (%s%s): validation scores those as new, which they may not be",
                        len(both), ", ".join(both[:5]), ", ..." if len(both) > 5 else "")
    else:
        train_masks_set, val_masks_set = split(masks_all, cfg.val_fraction, cfg.seed)
    audit = read_label_audit(cfg.label_audit) if cfg.label_audit else None
    relabelled: dict[str, int] = {}
    labelled = load_labelled_folder(labelled_dir, size, cache_dir) if labelled_dir else None
    if labelled is not None and audit is not None:
        labelled, relabelled["train"] = apply_label_audit(labelled, labelled_dir, audit)
    if labelled is not None and not cfg.image_positives:
        labelled = labelled.subset(np.flatnonzero(labelled.labels == 0))
    val_images = load_labelled_folder(val_labelled_dir, size, cache_dir) if val_labelled_dir else None
    if val_images is not None and audit is not None:
        val_images, relabelled["validation"] = apply_label_audit(val_images, val_labelled_dir, audit)
    if audit is not None:
        log.info("label audit %s: %s labels changed", audit.source, relabelled)
    n_blank = cfg.blank_photos if cfg.blank_photos is not None else \
        (int(np.sum(labelled.labels == 0)) // 10 if labelled is not None else 0)
    blanks = blank_photos(n_blank, size, cfg.seed) if n_blank else None
    extra = [s for s in (labelled, blanks) if s is not None]
    train_set = MaskSet.concat([train_masks_set] + extra)
    log.info("decoded %d mask photos, %d labelled photos in %.0f s", len(masks_all),
             len(labelled) if labelled is not None else 0, time.time() - t0)

    init = load_bundle(cfg.init_from) if cfg.init_from else None
    if init is not None:
        spec = init.spec
    elif cfg.encoder == "lite0":
        spec = preset("lite0", input_size=cfg.input_size)
    elif cfg.encoder == "paper":
        spec = preset("cpu", base_width=cfg.base_width)
    else:
        raise ValueError(f"unknown encoder {cfg.encoder!r}; choose 'lite0' or 'paper'")
    spec = replace(spec, decoder=True)
    model = build_segmenter_net(spec, seed=cfg.seed)
    if init is not None:
        copied = copy_matching_weights(init.model, model)
        log.info("initialised %d layers from %s", len(copied), cfg.init_from)
    elif spec.encoder == "lite0":
        weights = efficientnet_lite.weights_file()
        copied = efficientnet_lite.load_imagenet_weights(model, read_state_dict(weights))
        log.info("initialised %d encoder layers from the ImageNet weights in %s", len(copied), weights)
    else:
        copied = []
    freeze(model, cfg)

    train_ds = _dataset(train_set, cfg, train=True)
    val_mask_ds = _dataset(val_masks_set, cfg, train=False)
    val_image_ds = _dataset(val_images, cfg, train=False) if val_images is not None else None
    n_labelled = sum(len(e) for e in extra)
    steps_per_epoch = math.ceil((len(train_masks_set) + cfg.labelled_per_epoch * n_labelled) / cfg.batch_size)
    schedule = WarmupCosine(cfg.learning_rate, cfg.warmup_epochs * steps_per_epoch,
                            cfg.epochs * steps_per_epoch)
    groups = optimizer_groups(model, cfg)
    opts = [keras.optimizers.AdamW(learning_rate=float(schedule(0)) * scale, weight_decay=cfg.weight_decay)
            for scale, _ in groups]

    # The starting model's image logit alone (Keras keeps only the layers it needs).
    teacher = keras.Model(init.model.inputs, init.model.outputs[0]) if cfg.keep_decision else None

    @tf.function(reduce_retracing=True)
    def step(x, m, has_mask, label):
        target = tf.sigmoid(teacher(x, training=False)[:, 0]) if teacher is not None else None
        with tf.GradientTape() as tape:
            img_logit, _, pix_logit = model(x, training=True)
            parts = losses(img_logit, pix_logit, m, has_mask, label, cfg, image_target=target)
        variables = model.trainable_variables
        grads = tape.gradient(parts["total"], variables)
        for opt, (_, idx) in zip(opts, groups):
            opt.apply_gradients([(grads[i], variables[i]) for i in idx])
        return parts

    last, best_path, state_path = out_dir / "last.weights.h5", out_dir / "best.weights.h5", out_dir / "state.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() and last.is_file() else {}
    if state:
        model.load_weights(last)
        log.info("resuming after epoch %d", state["epoch"])
    start, best_iou, global_step = state.get("epoch", 0), state.get("best_iou", -1.0), state.get("step", 0)
    log_path = out_dir / TRAINING_LOG
    fields = ["epoch", "seconds", "loss", "image", "pixel_bce", "dice", "pooled", "lr",
              "val_iou", "val_auc", "val_false_area"]
    if not log_path.is_file() or start == 0:
        with open(log_path, "w", newline="") as f:
            csv.writer(f).writerow(fields)
    t_train = time.time()
    verbose = sys.stdout.isatty()
    end = min(cfg.epochs, cfg.stop_after if cfg.stop_after is not None else cfg.epochs)
    for epoch in range(start, end):
        te = time.time()
        sums: dict[str, float] = {}
        n = 0
        bar = keras.utils.Progbar(steps_per_epoch, verbose=1 if verbose else 0)
        for batch in train_ds:
            rate = schedule(global_step)  # the schedule's own, logged; each group takes its share
            for opt, (scale, _) in zip(opts, groups):
                opt.learning_rate.assign(rate * scale)
            parts = step(*batch)
            global_step += 1
            n += 1
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            bar.update(n, [("loss", float(parts["total"]))])
        means = {k: v / max(n, 1) for k, v in sums.items()}
        _, pix, gts = predict(model, val_mask_ds)
        val_iou = mean_iou(pix, gts, 0.5)
        row = {"epoch": epoch + 1, "seconds": round(time.time() - te, 1), "loss": means["total"],
               "image": means["image"], "pixel_bce": means["pixel_bce"], "dice": means["dice"],
               "pooled": means["pooled"], "lr": float(rate), "val_iou": val_iou,
               "val_auc": "", "val_false_area": ""}
        if val_image_ds is not None:
            from sklearn.metrics import roc_auc_score

            probs, vpix, _ = predict(model, val_image_ds)
            row["val_auc"] = float(roc_auc_score(val_images.labels, probs))
            row["val_false_area"] = false_area(vpix[val_images.labels == 0], 0.5)
        with open(log_path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=fields).writerow(row)
        print(" ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()),
              flush=True)
        if val_iou > best_iou:
            best_iou = val_iou
            model.save_weights(best_path)
        model.save_weights(last)
        if epoch + 1 > end - cfg.keep_epochs:
            model.save_weights(epoch_weights(out_dir, epoch + 1))
        state_path.write_text(json.dumps({"epoch": epoch + 1, "best_iou": best_iou, "step": global_step,
                                          "seconds": time.time() - t_train + state.get("seconds", 0.0)}))
    train_seconds = time.time() - t_train + state.get("seconds", 0.0)

    model.load_weights(best_path)
    val_masks_pred = predict(model, val_mask_ds)
    val_image_pred = predict(model, val_image_ds) if val_image_ds is not None else None
    chosen = choose_thresholds(val_masks_pred, (val_image_pred[0], val_images.labels) if val_image_pred
                               else (np.zeros(0), np.zeros(0)), cfg.thresholds)
    info = {
        "version": f"{'unet' if spec.encoder == 'paper' else spec.name}-{time.strftime('%Y%m%d')}-s{cfg.seed}",
        "pixel_head": True,
        "default_mode": "learned",
        "mask_threshold": chosen["mask_threshold"],
        "uncertain_band": chosen["uncertain_band"],
        "trained_on": {"masks": [str(d) for d in mask_dirs], "image_labels": str(labelled_dir),
                       "validation_masks": [str(d) for d in val_mask_dirs] if val_mask_dirs else None,
                       "validation_image_labels": str(val_labelled_dir) if val_labelled_dir else None,
                       **({"label_audit": {"file": audit.source, "labels_changed": relabelled}}
                          if audit is not None else {})},
        "train_counts": {"mask_photos": len(train_masks_set), "val_mask_photos": len(val_masks_set),
                         "labelled_photos": len(labelled) if labelled is not None else 0,
                         "generated_blank_photos": len(blanks) if blanks is not None else 0},
        # The held-out mask photos: `rustseg tune --learned` chooses its settings on these.
        "val_mask_photos": sorted(Path(n).name for n in val_masks_set.names),
        "command": command, "train_config": asdict(cfg),
        "initialised_from": cfg.init_from or (f"ImageNet: {efficientnet_lite.WEIGHTS_PACKAGE} "
                                              f"({efficientnet_lite.WEIGHTS_FILE})"
                                              if spec.encoder == "lite0" else None),
        "initialised_layers": len(copied), "train_seconds": round(train_seconds, 1),
        "val_mask_iou": round(mean_iou(val_masks_pred[1], val_masks_pred[2], chosen["mask_threshold"]), 4),
        "thresholds": chosen, "parameters": int(model.count_params()),
        # Mask photos that came from the opt-in store (an export's masks.csv names them).
        **store_provenance(all_mask_dirs, train_masks_set.names, val_masks_set.names),
    }
    if val_image_pred is not None:
        from sklearn.metrics import roc_auc_score

        info["val_auc"] = round(float(roc_auc_score(val_images.labels, val_image_pred[0])), 4)
        info["val_false_area"] = round(false_area(val_image_pred[1][val_images.labels == 0],
                                                  chosen["mask_threshold"]), 4)
    if init is not None:  # the paper's modes keep the refinement tuned for the classifier
        for key in ("refine", "refine_note"):
            if key in init.info:
                info[key] = init.info[key]
    bundle = ModelBundle(model=model, spec=spec, threshold=chosen["decision_threshold"], info=info)
    save_bundle(bundle, out_dir)
    (out_dir / "train_summary.json").write_text(json.dumps(info, indent=2, default=str))
    write_training_manifest(out_dir, all_mask_dirs, train_masks_set.names, val_masks_set.names)
    return bundle
