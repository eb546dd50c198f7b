"""Class activation maps on the last conv map: Grad-CAM++ in closed form, and Grad-CAM.

The paper computed Grad-CAM++ with three nested gradient tapes (10 s per image). For an
exponential class score S = exp(Y), the higher derivatives are exp(Y)·g², exp(Y)·g³ with
g = dY/dA whenever Y is linear in the last activations A (true of every model here: after
the last activation — ReLU, or Lite0's ReLU6 — the head is flatten/global-average-pool,
dropout and one dense unit; ``tests/test_gradcam.py`` checks it on each encoder), so one
backward pass is enough:

    alpha = g² / (2 g² + Σ_ij A · g³),   w_k = Σ_ij relu(g) · alpha,   H = relu(Σ_k w_k A_k)

(exp(Y) cancels in alpha and only rescales w, which the [0, 1] normalisation removes).
This module gets A and g from TensorFlow; the maps themselves are computed in NumPy by
``cam_maps`` (re-exported here), which ONNX Runtime's path uses without TensorFlow.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..tf_runtime import keras as _keras
from ..tf_runtime import tensorflow as _tensorflow
from .cam_maps import CAMS, Method, cam_from_gradients, gradcam_pp_weights, weighted_map  # noqa: F401

tf = _tensorflow()
keras = _keras()


def make_forward_with_grads(model: keras.Model, size: int | None = None) -> Callable[[tf.Tensor], tuple]:
    """A traced function: batch → (logits, last activations A, dlogit/dA, pixel logits) in
    one pass; the pixel logits are (N, H, W) for a U-Net and empty (N, 0, 0) for a plain
    classifier.

    The backward pass only goes through the head, so localisation costs about as much as
    classification. The input signature is fixed (``size``: the model's input side, needed
    for a fully convolutional U-Net) so it never retraces.
    """
    size = size or model.inputs[0].shape[1]
    pixel_head = len(model.outputs) > 2

    @tf.function(input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)],
                 reduce_retracing=True)
    def forward(x):
        with tf.GradientTape() as tape:
            outputs = model(x, training=False)
            logit, feats = outputs[0], outputs[1]
            score = tf.reduce_sum(logit)  # samples are independent: per-sample gradients
        grads = tape.gradient(score, feats)
        pixels = outputs[2][..., 0] if pixel_head else tf.zeros([tf.shape(x)[0], 0, 0])
        return logit[:, 0], feats, grads, pixels

    return forward


def gradcam_pp(model: keras.Model, batch: np.ndarray, method: Method = "gradcam++") -> tuple[np.ndarray, np.ndarray]:
    """Convenience: (logits (N,), heatmaps (N, h, w)) for a preprocessed batch."""
    forward = make_forward_with_grads(model, batch.shape[1])
    logits, feats, grads, _ = forward(tf.convert_to_tensor(batch, tf.float32))
    return logits.numpy(), cam_from_gradients(feats.numpy(), grads.numpy(), method)


def gradcam_pp_nested_exact(model: keras.Model, image: np.ndarray) -> np.ndarray:
    """Grad-CAM++ by literal higher derivatives of S = exp(Y) with nested tapes.

    The element-wise derivatives ∂ⁿS/∂Aₖⁿ are taken along each element k of A separately:
    row k of a batch is A + tₖ·eₖ, so row k's score depends on tₖ alone and three nested
    gradients with respect to t give the first three derivatives of every element at once.
    This is the definition itself, with no closed-form shortcut; it costs size(A) copies of
    A (one head evaluation each), so it is only for checking :func:`cam_from_gradients`.
    """
    x = tf.convert_to_tensor(image[None], tf.float32)
    feats = model(x, training=False)[1]
    shape = feats.shape
    n = int(np.prod(shape))
    head = _head_from_features(model, per_sample=True)
    flat = tf.reshape(feats, [n])
    t = tf.Variable(tf.zeros([n]))
    with tf.GradientTape() as t1:
        with tf.GradientTape() as t2:
            with tf.GradientTape() as t3:
                rows = flat[None, :] + tf.linalg.diag(t)  # row k: A with element k moved by t_k
                score = tf.reduce_sum(tf.exp(head(tf.reshape(rows, [n, *shape[1:]]))))
            d1 = t3.gradient(score, t)
            sum1 = tf.reduce_sum(d1)
        d2 = t2.gradient(sum1, t)
        sum2 = tf.reduce_sum(d2)
    d3 = t1.gradient(sum2, t)
    d1, d2, d3 = (tf.reshape(d, shape).numpy().astype(np.float64) for d in (d1, d2, d3))
    av = feats.numpy().astype(np.float64)
    return weighted_map(av, gradcam_pp_weights(av, d1, d2, d3))[0]


def gradcam_pp_paper_reference(model: keras.Model, image: np.ndarray) -> np.ndarray:
    """The paper's implementation, for timing: three nested tapes around the whole forward.

    Like the widely copied Keras code the paper used, each tape differentiates the previous
    gradient summed over A (``tape.gradient`` of a tensor), all through the full network.
    """
    x = tf.convert_to_tensor(image[None], tf.float32)
    with tf.GradientTape() as t1:
        with tf.GradientTape() as t2:
            with tf.GradientTape() as t3:
                logit, feats = model(x, training=False)[:2]
                score = tf.sigmoid(logit)[:, 0]
            first = t3.gradient(score, feats)
        second = t2.gradient(first, feats)
    third = t1.gradient(second, feats)
    av = feats.numpy().astype(np.float64)
    second = second.numpy() if second is not None else np.zeros_like(av)
    third = third.numpy() if third is not None else np.zeros_like(av)
    return weighted_map(av, gradcam_pp_weights(av, first.numpy(), second, third))[0]


# The layers of the image head, after the last activations (see ``model._head``).
HEAD_LAYERS = ("flatten", "gap", "dropout", "logit")


def _head_from_features(model: keras.Model, per_sample: bool = False) -> Callable[[tf.Tensor], tf.Tensor]:
    """The image head (pool/flatten → dropout → dense) as a function of A: the summed
    logit, or with ``per_sample`` one logit per row. Named, not taken as "every layer after
    last_conv": in a U-Net the decoder's layers come after it too."""
    names = {layer.name: layer for layer in model.layers}
    head_layers = [names[n] for n in HEAD_LAYERS if n in names]

    def head(a):
        x = a
        for layer in head_layers:
            x = layer(x, training=False) if layer.name == "dropout" else layer(x)
        return x[:, 0] if per_sample else tf.reduce_sum(x)

    return head
