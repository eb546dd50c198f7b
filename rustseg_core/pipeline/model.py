"""The networks: the paper's classifier and the U-Nets on its encoder or on Lite0."""
from __future__ import annotations

from ..config import ModelSpec
# Re-exported: the model folder's files, its loading and its input (none needs TensorFlow).
from .bundle import ModelBundle, load_bundle, save_bundle  # noqa: F401
from .model_files import META_FILE, MODEL_FILE, shipped_model_dir  # noqa: F401
from .resize import preprocess  # noqa: F401
from ..tf_runtime import keras as _keras
from ..tf_runtime import tensorflow as _tensorflow

tf = _tensorflow()
keras = _keras()
layers = keras.layers

FEATURES_LAYER = "last_conv"
# Name prefixes of the U-Net decoder's layers and the image head's layer names (either
# encoder), for training that freezes one part: keep them in step with the builders below.
DECODER_PREFIXES = ("up", "skip", "dec", "pixel_logit")
IMAGE_HEAD_LAYERS = ("gap", "dropout", "logit")


def _encoder(x, spec: ModelSpec, init) -> tuple[list, object]:
    """Five sections of two 3x3 conv + ReLU, 2x2 max-pool between sections, filters doubling
    from ``spec.base_width``. Returns each section's last activation (the U-Net's skips)."""
    skips = []
    for section in range(5):
        if section:
            x = layers.MaxPooling2D(2, name=f"pool{section}")(x)
        width = spec.base_width * 2**section
        for j in range(2):
            last = section == 4 and j == 1
            x = layers.Conv2D(width, 3, padding=spec.padding, use_bias=not spec.batch_norm,
                              kernel_initializer=init, name=f"conv{section + 1}_{j + 1}")(x)
            if spec.batch_norm:
                x = layers.BatchNormalization(name=f"bn{section + 1}_{j + 1}")(x)
            x = layers.ReLU(name=FEATURES_LAYER if last else f"relu{section + 1}_{j + 1}")(x)
        skips.append(x)
    return skips, x


def _head(features, spec: ModelSpec, init, seed: int | None):
    """Flatten (paper) or global-average pooling, then one linear unit: the image logit."""
    x = layers.Flatten(name="flatten")(features) if spec.head == "flatten" else \
        layers.GlobalAveragePooling2D(name="gap")(features)
    if spec.dropout:
        x = layers.Dropout(spec.dropout, seed=seed, name="dropout")(x)
    return layers.Dense(1, kernel_initializer=init, name="logit")(x)


def _features(inp, spec: ModelSpec, init) -> tuple[list, object, object]:
    """The encoder a spec names: ``(skips, decoder input, last activations)``. For the
    paper's encoder the decoder starts from the last activations themselves; for Lite0 from
    the stride-32 block output, beside the 1280-channel head the image logit pools."""
    if spec.encoder == "lite0":
        from .efficientnet_lite import lite0_encoder

        return lite0_encoder(inp, FEATURES_LAYER)
    if spec.encoder != "paper":
        raise ValueError(f"unknown encoder {spec.encoder!r}; choose 'paper' or 'lite0'")
    skips, features = _encoder(inp, spec, init)
    return skips[:-1], features, features


def build_classifier(spec: ModelSpec, seed: int | None = None) -> keras.Model:
    """Build the classifier with two outputs: ``[logit, last_conv_activations]``.

    The encoder (see :func:`_encoder`, or Lite0), then flatten (paper) or global-average
    pooling and one linear unit (the logit; apply a sigmoid for the probability). Exposing
    the last activations lets Grad-CAM++ run without rebuilding the model.
    """
    init = keras.initializers.HeUniform(seed=seed)
    side = spec.input_size if spec.encoder == "paper" else None
    inp = keras.Input((side, side, 3), name="image")
    _, _, features = _features(inp, spec, init)
    return keras.Model(inp, [_head(features, spec, init, seed), features], name=f"rustseg_{spec.name}")


def _paper_decoder(x, skips: list, spec: ModelSpec, init):
    """Four sections of bilinear ×2, the encoder section's activations concatenated, two
    3×3 conv + BN + ReLU (the classic U-Net), back to the input size."""
    for section in range(3, -1, -1):
        width = spec.base_width * 2**section
        x = layers.UpSampling2D(2, interpolation="bilinear", name=f"up{section + 1}")(x)
        x = layers.Concatenate(name=f"skip{section + 1}")([x, skips[section]])
        for j in range(2):
            x = layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_initializer=init,
                              name=f"dec{section + 1}_{j + 1}")(x)
            x = layers.BatchNormalization(name=f"dec_bn{section + 1}_{j + 1}")(x)
            x = layers.ReLU(name=f"dec_relu{section + 1}_{j + 1}")(x)
    return layers.Conv2D(1, 1, kernel_initializer=init, name="pixel_logit")(x)


# Lite0's decoder widths at strides 16, 8, 4 and 2.
LITE0_DECODER_WIDTHS = (96, 64, 40, 24)


def _lite0_decoder(x, skips: list, init):
    """From stride 32 to stride 2: bilinear ×2, concatenate the encoder's activation at that
    stride, two separable 3×3 conv + BN + ReLU; then one logit per pixel, upsampled ×2
    (bilinear, on logits) to the input size."""
    for level, (skip, width) in enumerate(zip(skips[::-1], LITE0_DECODER_WIDTHS)):
        x = layers.UpSampling2D(2, interpolation="bilinear", name=f"up{level + 1}")(x)
        x = layers.Concatenate(name=f"skip{level + 1}")([x, skip])
        for j in range(2):
            x = layers.SeparableConv2D(width, 3, padding="same", use_bias=False,
                                       depthwise_initializer=init, pointwise_initializer=init,
                                       name=f"dec{level + 1}_{j + 1}")(x)
            x = layers.BatchNormalization(name=f"dec_bn{level + 1}_{j + 1}")(x)
            x = layers.ReLU(name=f"dec_relu{level + 1}_{j + 1}")(x)
    x = layers.Conv2D(1, 1, kernel_initializer=init, name="pixel_logit_half")(x)
    return layers.UpSampling2D(2, interpolation="bilinear", name="pixel_logit")(x)


def build_segmenter_net(spec: ModelSpec, seed: int | None = None) -> keras.Model:
    """The classifier completed into a U-Net: ``[image logit, last_conv, pixel logits]``.

    The encoder and image head are the classifier's (same layer names, so a trained
    classifier's weights load into it); the decoder upsamples back to the input size,
    concatenating the encoder's activations at each stride (skip connections), and ends in
    one linear unit per pixel. Fully convolutional: any input side divisible by 16 (paper
    encoder) or 32 (Lite0) works (the image head pools globally), so large photos can be
    run at a higher resolution.
    """
    if spec.head != "gap" or (spec.encoder == "paper" and spec.padding != "same"):
        raise ValueError("the U-Net needs same padding and the global-average-pooling head")
    init = keras.initializers.HeUniform(seed=seed)
    inp = keras.Input((None, None, 3), name="image")
    skips, top, features = _features(inp, spec, init)
    logit = _head(features, spec, init, seed)
    pixels = (_lite0_decoder(top, skips, init) if spec.encoder == "lite0"
              else _paper_decoder(top, skips, spec, init))
    return keras.Model(inp, [logit, features, pixels], name=f"rustseg_{spec.name}_unet")


def copy_matching_weights(source: keras.Model, target: keras.Model) -> list[str]:
    """Copy weights layer by layer where names and shapes match (a classifier into a U-Net);
    returns the names copied."""
    names = {layer.name: layer for layer in source.layers}
    copied = []
    for layer in target.layers:
        src = names.get(layer.name)
        if src is None or not layer.weights:
            continue
        weights = src.get_weights()
        if [w.shape for w in weights] == [tuple(w.shape) for w in layer.weights]:
            layer.set_weights(weights)
            copied.append(layer.name)
    return copied


def logit_model(model: keras.Model) -> keras.Model:
    """A single-output view (shared weights) used for training and plain prediction."""
    return keras.Model(model.inputs, model.outputs[0], name=model.name + "_logit")
