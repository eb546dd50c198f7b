"""All tunable settings of the science in one place, as dataclasses with working defaults."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Literal

Padding = Literal["valid", "same"]
Head = Literal["flatten", "gap"]
Encoder = Literal["paper", "lite0"]

# `rustseg tune --clean`: the most of the clean validation photos' area a refinement setting
# of the paper's modes may mark, gated (issue 19's target for the false area on clean photos).
MAX_FALSE_AREA = 0.01


@dataclass(frozen=True)
class ModelSpec:
    """Architecture of the classifier (and, with ``decoder``, of the U-Net built on it).

    ``paper`` reproduces the RustSEG paper (572 px input, valid convs, flatten head, final
    28x28x1024 map). ``cpu`` keeps the paper's five sections of two 3x3 conv + ReLU with 2x2
    pooling, but is narrower, uses a smaller input, same padding (so the last map stays
    12x12), batch normalisation and a global-average pooling head, which make it trainable
    from scratch on a 2-core CPU. ``lite0`` is the U-Net this project ships: an
    EfficientNet-Lite0 encoder started from ImageNet weights (``encoder``; ``base_width``,
    ``padding`` and ``batch_norm`` describe only the paper's encoder), a light decoder of
    separable convolutions, and the same global-average-pooling image head on its last
    1280-channel map.
    """

    name: str = "cpu"
    encoder: Encoder = "paper"
    input_size: int = 192
    base_width: int = 16
    padding: Padding = "same"
    batch_norm: bool = True
    head: Head = "gap"
    dropout: float = 0.3
    # True: the classifier completed into a U-Net (a per-pixel output besides the image one).
    decoder: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelSpec":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


PRESETS: dict[str, ModelSpec] = {
    "paper": ModelSpec(name="paper", input_size=572, base_width=64, padding="valid",
                       batch_norm=False, head="flatten", dropout=0.0),
    "cpu": ModelSpec(),
    "lite0": ModelSpec(name="lite0", encoder="lite0", input_size=256, dropout=0.2, decoder=True),
}


def preset(name: str, **overrides) -> ModelSpec:
    """Return a named preset, optionally with fields overridden (e.g. ``input_size``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True)
class CRFConfig:
    """Dense CRF (Kraehenbuehl & Koltun) settings, as in pydensecrf's examples.

    ``max_side`` bounds the resolution the CRF runs at: the mask is computed there and
    resized to the photo, which keeps a 12 MP photo as cheap as a thumbnail.
    """

    iterations: int = 25
    gaussian_sxy: float = 3.0
    gaussian_compat: float = 3.0
    bilateral_sxy: float = 40.0
    bilateral_srgb: float = 13.0
    bilateral_compat: float = 10.0
    # Unary confidence: probabilities are clipped to [1-gt_prob, gt_prob] before -log.
    gt_prob: float = 0.9
    max_side: int = 512


@dataclass(frozen=True)
class ColourRule:
    """Soft HSV box for rust hues (hue in degrees, saturation and value in [0, 1])."""

    hue_low: float = -12.0   # degrees; negative wraps into deep reds
    hue_high: float = 38.0
    sat_min: float = 0.28
    val_min: float = 0.12
    val_max: float = 0.95
    softness: float = 0.05   # width of the sigmoid edges, as a fraction of each range


@dataclass(frozen=True)
class RefineConfig:
    """Heatmap → mask settings (the paper's threshold + CRF, our colour evidence)."""

    mode: Literal["learned", "standard", "advanced"] = "standard"
    crf: CRFConfig = field(default_factory=CRFConfig)
    advanced_crf_iterations: int = 10
    erosion_size: int = 5
    kmeans_clusters: int = 2
    # Rust-colour evidence mixed into the CRF unary (weight 0 = the paper's method):
    # "linear": (1 − w)·thresholded heatmap + w·colour; "geometric": colour^w · heatmap^(1 − w).
    colour_weight: float = 0.0
    fusion: Literal["linear", "geometric"] = "linear"
    colour_rule: ColourRule = field(default_factory=ColourRule)
    # Pixels whose final foreground probability is above this become mask.
    mask_threshold: float = 0.5
    # Learned mode: the U-Net's pixel probability above this is mask (chosen on validation
    # masks when the model is trained, and stored with it).
    learned_threshold: float = 0.5


@dataclass(frozen=True)
class SegmenterConfig:
    """Everything :class:`rustseg_core.pipeline.segmenter.Segmenter` needs besides the model."""

    refine: RefineConfig = field(default_factory=RefineConfig)
    # Pixel limit for decoded photos (Pillow's decompression-bomb guard uses the same).
    max_pixels: int = 50_000_000
    # Photos are processed at this long side at most; outputs are returned at full size.
    work_max_side: int = 1024
    overlay_colour: tuple[int, int, int] = (255, 40, 40)
    overlay_alpha: float = 0.45
    threshold: float | None = None  # None → the model's own decision threshold
    # Average the logit (and heatmap) with the mirrored photo; None → the model's setting.
    tta_flip: bool | None = None
    # Learned mode: the side the U-Net's pixel map is computed at (a second pass when it
    # differs from the model's input size; larger keeps thinner rust). None → the model's.
    learned_side: int | None = None
    # What runs learned mode: "onnx" (ONNX Runtime on the model folder's exported
    # model.onnx), "tensorflow", or "auto": ONNX Runtime when the folder has a model.onnx at
    # the learned side and onnxruntime is installed, else TensorFlow. ONNX Runtime gives the
    # same masks faster (benchmarks/onnx_runtime.py). The paper's modes follow it where the
    # export also carries Grad-CAM++'s inputs at the model's input side.
    runtime: Literal["auto", "tensorflow", "onnx"] = "auto"
