"""The whole pipeline behind one object: load the model once, then ``segment(photo)``."""
from __future__ import annotations

import io
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from .colour import rust_probability
from .config import RefineConfig, SegmenterConfig
from .gradcam import cam_from_gradients, make_forward_with_grads
from .imageio import Source, open_rgb
from .model import ModelBundle, default_model_dir, load_bundle, preprocess
from .overlay import heatmap_image, overlay_mask
from .refine import refine, rescale_mask_space, upsample

MODES = ("standard", "advanced")


@dataclass
class Result:
    """Everything one photo produced.

    ``image``, ``heatmap`` and ``overlay`` are at the working resolution (long side at most
    ``SegmenterConfig.work_max_side``); ``mask`` is at the photo's original upright size,
    or ``None`` when the classifier says there is no corrosion.
    """

    probability: float
    is_corrosion: bool
    threshold: float
    mode: str
    image: np.ndarray
    heatmap: np.ndarray
    mask: np.ndarray | None
    overlay: np.ndarray
    area_fraction: float
    original_size: tuple[int, int]
    model_version: str
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-ready numbers (no arrays)."""
        return {
            "probability": round(self.probability, 6),
            "decision": "corrosion" if self.is_corrosion else "no_corrosion",
            "is_corrosion": self.is_corrosion,
            "threshold": self.threshold,
            "mode": self.mode,
            "area_fraction": round(self.area_fraction, 6),
            "width": self.original_size[0],
            "height": self.original_size[1],
            "model_version": self.model_version,
            "timings_ms": {k: round(v * 1000, 1) for k, v in self.timings.items()},
        }

    def mask_png(self) -> bytes:
        """The mask as an 8-bit PNG (0 background, 255 corrosion) at the original size."""
        mask = self.mask if self.mask is not None else np.zeros(self.original_size[::-1], bool)
        return _encode(Image.fromarray(mask.astype(np.uint8) * 255, "L"), "PNG")

    def overlay_jpeg(self, quality: int = 90) -> bytes:
        return _encode(Image.fromarray(self.overlay), "JPEG", quality=quality)

    def heatmap_png(self) -> bytes:
        return _encode(Image.fromarray(heatmap_image(self.heatmap)), "PNG")

    def image_jpeg(self, quality: int = 90) -> bytes:
        return _encode(Image.fromarray(self.image), "JPEG", quality=quality)


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


class Segmenter:
    """Classify → localise (Grad-CAM++) → refine, with the model loaded once.

    Thread-safe: the traced forward function is shared; the CRF and NumPy work are
    per-call. ``segment`` accepts a path, bytes, a file object, or an RGB array.
    """

    def __init__(self, bundle: ModelBundle, config: SegmenterConfig | None = None, **overrides):
        self.bundle = bundle
        config = config or SegmenterConfig(refine=_refine_from_info(bundle.info))
        self.config = replace(config, **overrides) if overrides else config
        self._forward = make_forward_with_grads(bundle.model)
        # Trace once now so the first request does not pay for it.
        self._forward(np.zeros((1, bundle.input_size, bundle.input_size, 3), np.float32))

    @classmethod
    def load(cls, model_dir: str | Path | None = None,
             config: SegmenterConfig | None = None, **overrides) -> "Segmenter":
        """Load a model folder (default: ``$RUSTSEG_MODEL`` or the shipped ``models/default``).

        ``overrides`` replace fields of the config (e.g. ``tta_flip=True``).
        """
        return cls(load_bundle(model_dir or default_model_dir()), config, **overrides)

    @property
    def tta_flip(self) -> bool:
        t = self.config.tta_flip
        return bool(self.bundle.info.get("tta_flip", False)) if t is None else t

    @property
    def threshold(self) -> float:
        t = self.config.threshold
        return self.bundle.threshold if t is None else t

    def decode(self, source: Source | np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """Photo → (upright RGB working image, original (width, height))."""
        if isinstance(source, np.ndarray):
            arr = _as_rgb_array(source)
            h, w = arr.shape[:2]
            img = Image.fromarray(arr)
            if max(h, w) > self.config.work_max_side:
                img.thumbnail((self.config.work_max_side,) * 2, Image.BILINEAR, reducing_gap=2.0)
            return np.asarray(img), (w, h)
        img, original = open_rgb(source, max_pixels=self.config.max_pixels,
                                 max_side=self.config.work_max_side)
        return np.asarray(img), original

    def classify_and_localise(self, image: np.ndarray) -> tuple[float, np.ndarray, dict]:
        """(probability, small heatmap in [0, 1], timings) for an RGB working image."""
        t0 = time.perf_counter()
        x = preprocess(image, self.bundle.input_size)[None]
        if self.tta_flip:  # the mirrored photo rides along in the same batch
            x = np.concatenate([x, x[:, :, ::-1]])
        t1 = time.perf_counter()
        logits, feats, grads = self._forward(x)
        prob = float(1.0 / (1.0 + np.exp(-float(np.mean(logits.numpy())))))
        t2 = time.perf_counter()
        cams = cam_from_gradients(feats.numpy(), grads.numpy(), "gradcam++")
        cam = cams[0] if len(cams) == 1 else np.maximum(0.0, cams[0] + cams[1][:, ::-1]) / 2
        t3 = time.perf_counter()
        return prob, cam, {"preprocess": t1 - t0, "classify": t2 - t1, "localise": t3 - t2}

    def segment(self, source: Source | np.ndarray, mode: str | None = None) -> Result:
        """Run the whole pipeline on one photo."""
        mode = mode or self.config.refine.mode
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        rcfg: RefineConfig = replace(self.config.refine, mode=mode)
        t_start = time.perf_counter()
        image, original = self.decode(source)
        timings = {"decode": time.perf_counter() - t_start}
        prob, cam, t = self.classify_and_localise(image)
        timings.update(t)
        is_corrosion = prob > self.threshold
        t0 = time.perf_counter()
        heat = upsample(cam, image.shape[:2])
        mask_full = None
        work_mask = np.zeros(image.shape[:2], bool)
        if is_corrosion:
            small = rescale_mask_space(image, rcfg.crf.max_side)
            colour = rust_probability(small, rcfg.colour_rule) if rcfg.colour_weight > 0 else None
            m = refine(small, cam, rcfg, colour)
            work_mask = _resize_mask(m, image.shape[:2])
            mask_full = _resize_mask(m, (original[1], original[0]))
        timings["refine"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        overlay = overlay_mask(image, work_mask, self.config.overlay_colour, self.config.overlay_alpha)
        timings["render"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - t_start
        area = float(mask_full.mean()) if mask_full is not None else 0.0
        return Result(probability=prob, is_corrosion=is_corrosion, threshold=self.threshold,
                      mode=mode, image=image, heatmap=heat, mask=mask_full, overlay=overlay,
                      area_fraction=area, original_size=original,
                      model_version=self.bundle.version, timings=timings)


def _resize_mask(mask: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    if mask.shape == tuple(size_hw):
        return mask
    img = Image.fromarray(mask.astype(np.uint8) * 255, "L").resize(
        (size_hw[1], size_hw[0]), Image.BILINEAR)
    return np.asarray(img) >= 128


def _as_rgb_array(arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype != np.uint8:
        raise ValueError("arrays must be uint8")
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, -1)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {arr.shape}")
    return np.ascontiguousarray(arr[..., :3])


def _refine_from_info(info: dict) -> RefineConfig:
    """Refinement defaults tuned for a model are stored in its metadata (see model card)."""
    from .config import ColourRule, CRFConfig

    tuned = dict(info.get("refine", {}))
    crf = CRFConfig(**tuned.pop("crf", {}))
    rule = ColourRule(**tuned.pop("colour_rule", {}))
    return RefineConfig(crf=crf, colour_rule=rule,
                        **{k: v for k, v in tuned.items() if k in RefineConfig.__dataclass_fields__})
