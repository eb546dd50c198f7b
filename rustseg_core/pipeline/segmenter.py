"""The whole pipeline behind one object: load the model once, then ``segment(photo)``.

Each stage is public, so evaluation, tuning and benchmarks call the same code the product
runs instead of rebuilding it::

    photo = seg.decode(path)                       # decode
    ev = seg.evidence(photo.image)                 # classify + localise (+ pixel map)
    heat = seg.evidence_map(photo.image, ev, "standard")  # the map a mode's mask starts from
    mask = seg.mask_from_evidence(photo.image, ev, mode="advanced")   # refine
    other = seg.with_config(refine=replace(seg.config.refine, colour_weight=0))
"""
from __future__ import annotations

import io
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.special import expit, logit

from .. import vocabulary as vocab
from ..config import ColourRule, CRFConfig, RefineConfig, SegmenterConfig
from ..tf_runtime import tensorflow
from .bundle import ModelBundle, load_bundle
from .cam_maps import cam_from_gradients
from .colour import rust_probability
from .imageio import Photo, Source, decode, encode_mask_png, encode_picture_png
from .model_files import shipped_model_dir
from .overlay import heatmap_over, overlay_mask
from .refine import dynamic_threshold, fused_evidence, refine
from .resize import fit_within, fitted_size, preprocess, resize_mask, upsample

# Said on the result when advanced mode finds no region in a photo classified as corrosion.
ADVANCED_FALLBACK_NOTE = ("Advanced mode kept no region of this photo (its colour clusters did "
                          "not survive the erosion), so the standard mask is shown instead.")


@dataclass(frozen=True)
class Evidence:
    """What the model says about a working image: the corrosion probability, the Grad-CAM++
    heatmap on its last conv map (small, in [0, 1]) and, from a U-Net, its per-pixel
    corrosion probability at the model's input size (else ``None``)."""

    probability: float
    cam: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    pixels: np.ndarray | None = None


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
    image_format: str | None = None  # of the photo as received (JPEG, PNG, ...); None for arrays
    exif: Image.Exif | None = None  # of the photo as received (capture time, GPS ...)
    mask_note: str | None = None  # e.g. that advanced mode fell back to the standard mask
    # The probability is in the model's borderline band (chosen on validation photos, see
    # metrics.uncertain_band): the decision should be checked by eye.
    uncertain: bool = False

    @property
    def decision(self) -> str:
        return vocab.decision(self.is_corrosion)

    def summary(self) -> dict:
        """JSON-ready numbers (no arrays); the field names of the API and of ``results.csv``."""
        return {
            "probability": round(self.probability, 6),
            "decision": self.decision,
            "is_corrosion": self.is_corrosion,
            "uncertain": self.uncertain,
            "threshold": self.threshold,
            "mode": self.mode,
            "area_fraction": round(self.area_fraction, 6),
            "width": self.original_size[0],
            "height": self.original_size[1],
            "model_version": self.model_version,
            "mask_note": self.mask_note,
            "timings_ms": {k: round(v * 1000, 1) for k, v in self.timings.items()},
        }

    def mask_png(self) -> bytes:
        """The mask as an 8-bit PNG (0 background, 255 corrosion) at the original size."""
        mask = self.mask if self.mask is not None else np.zeros(self.original_size[::-1], bool)
        return encode_mask_png(mask)

    def overlay_jpeg(self, quality: int = 90) -> bytes:
        return _encode(Image.fromarray(self.overlay), "JPEG", quality=quality)

    def heatmap_png(self) -> bytes:
        """The map the mask came from, drawn over the photo."""
        return encode_picture_png(heatmap_over(self.image, self.heatmap))

    def image_jpeg(self, quality: int = 90) -> bytes:
        return _encode(Image.fromarray(self.image), "JPEG", quality=quality)

    def encoded(self) -> "EncodedOutputs":
        """Every output of ``vocabulary.OUTPUTS`` by file name, each encoded when first read
        (an API answer that wants only the mask never pays for the heatmap's PNG)."""
        return EncodedOutputs(self)


class EncodedOutputs(Mapping):
    """A result's encoded outputs by file name, encoded on first access and kept."""

    def __init__(self, result: Result):
        self._result = result
        self._done: dict[str, bytes] = {}
        self._encoders = {o.filename: o.encoder for o in vocab.OUTPUTS.values()}

    def __getitem__(self, filename: str) -> bytes:
        if filename not in self._done:
            self._done[filename] = getattr(self._result, self._encoders[filename])()
        return self._done[filename]

    def __iter__(self):
        return iter(self._encoders)

    def __len__(self) -> int:
        return len(self._encoders)


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


class TracedForward:
    """A model's one-pass forward with Grad-CAM++'s gradients (``cam.make_forward_with_grads``),
    traced on first use, once, and shared by the ``with_config`` copies of a segmenter.

    Tracing and its first run at the model's side cost time and the high-water memory of a
    whole pass with a gradient tape, and loading the Keras model costs TensorFlow itself;
    where ONNX Runtime serves the default learned mode, only a request in one of the paper's
    modes needs any of it."""

    def __init__(self, bundle: ModelBundle, size: int):
        self._bundle, self._size = bundle, size
        self._fn = None
        self._lock = threading.Lock()

    @property
    def traced(self) -> bool:
        return self._fn is not None

    def warm(self) -> "TracedForward":
        """Trace now (with a zero batch), so that no request pays for it."""
        with self._lock:
            if self._fn is None:
                from .cam import make_forward_with_grads  # imports TensorFlow

                fn = make_forward_with_grads(self._bundle.model, self._size)
                fn(np.zeros((1, self._size, self._size, 3), np.float32))
                self._fn = fn
        return self

    def __call__(self, x):
        return (self._fn or self.warm()._fn)(x)


class Segmenter:
    """Classify → localise (Grad-CAM++) → refine, with the model loaded once.

    Thread-safe: the traced forward function is shared; the CRF and NumPy work are
    per-call. ``segment`` accepts a path, bytes, a file object, or an RGB array.
    """

    def __init__(self, bundle: ModelBundle, config: SegmenterConfig | None = None,
                 _forward=None, _pixel_passes: dict | None = None, _onnx=None, **overrides):
        self.bundle = bundle
        config = config or SegmenterConfig(refine=refine_from_info(bundle.info))
        self._config = replace(config, **overrides) if overrides else config
        self._onnx = _onnx if _onnx is not None else self._onnx_session()
        if _forward is None:
            _forward = TracedForward(bundle, bundle.input_size)
            if not self._onnx or (self._config.refine.mode != "learned" and not self._cam_on_onnx):
                _forward.warm()  # TensorFlow serves the default mode: not on the first request
        self._forward = _forward
        # Traced pixel-map passes at other sides (learned_side), shared by with_config copies.
        self._pixel_passes = {} if _pixel_passes is None else _pixel_passes
        if bundle.spec.decoder and self.learned_side != bundle.input_size and not self._onnx:
            self._pixel_pass(self.learned_side)  # traced now too, not on the first request

    @classmethod
    def load(cls, model_dir: str | Path | None = None,
             config: SegmenterConfig | None = None, **overrides) -> "Segmenter":
        """Load a model folder (default: the shipped ``models/default``).

        ``overrides`` replace fields of the config (e.g. ``tta_flip=True``). Where ONNX
        Runtime serves the default learned mode, the Keras model (and TensorFlow with it) is
        loaded only when TensorFlow is first needed: never, when the export also carries
        Grad-CAM++'s inputs (see :attr:`cam_runtime`).
        """
        return cls(load_bundle(model_dir or shipped_model_dir(), lazy=True), config, **overrides)

    @property
    def config(self) -> SegmenterConfig:
        """The settings (read-only: use :meth:`with_config` for a variant)."""
        return self._config

    def with_config(self, **changes) -> "Segmenter":
        """A copy with some ``SegmenterConfig`` fields replaced, sharing the loaded model and
        its traced forward pass (cheap: no reloading, no retracing)."""
        config = replace(self._config, **changes)
        # The ONNX session is shared while it still fits: same runtime, same learned side.
        same = config.runtime == self._config.runtime and self._learned_side(config) == self.learned_side
        return Segmenter(self.bundle, config, _forward=self._forward,
                         _pixel_passes=self._pixel_passes, _onnx=(self._onnx or False) if same else None)

    def with_refine(self, **changes) -> "Segmenter":
        """A copy with some ``RefineConfig`` fields replaced (see :meth:`with_config`)."""
        return self.with_config(refine=replace(self._config.refine, **changes))

    @property
    def tta_flip(self) -> bool:
        t = self._config.tta_flip
        return bool(self.bundle.info.get("tta_flip", False)) if t is None else t

    @property
    def images_per_photo(self) -> int:
        """How many images the network sees for one photo: 2 with the mirrored copy."""
        return 2 if self.tta_flip else 1

    def _with_mirrors(self, x: np.ndarray) -> np.ndarray:
        """A preprocessed batch, followed by its mirrored copies when averaging is on (they
        ride along in the same batch)."""
        return np.concatenate([x, x[:, :, ::-1]]) if self.tta_flip else x

    @property
    def threshold(self) -> float:
        t = self._config.threshold
        return self.bundle.threshold if t is None else t

    @property
    def uncertain_band(self) -> tuple[float, float] | None:
        """(low, high): probabilities above ``low`` and up to ``high`` are borderline; ``None``
        for a model without one (or with the threshold overridden: the band was chosen
        around the model's own)."""
        band = self.bundle.info.get("uncertain_band")
        if not band or self._config.threshold is not None:
            return None
        return float(band["low"]), float(band["high"])

    def is_uncertain(self, probability: float) -> bool:
        band = self.uncertain_band
        return band is not None and band[0] < probability <= band[1]

    @property
    def learned_side(self) -> int:
        """The side learned mode's pixel map is computed at (see ``SegmenterConfig``)."""
        return self._learned_side(self._config)

    def _learned_side(self, config: SegmenterConfig) -> int:
        side = config.learned_side or self.bundle.info.get("learned_side")
        return int(side or self.bundle.input_size)

    @property
    def modes(self) -> tuple[str, ...]:
        """The mask modes this model can run: the paper's always, ``learned`` with a U-Net."""
        return vocab.MODE_IDS if self.bundle.spec.decoder else vocab.PAPER_MODES

    @property
    def default_mode(self) -> str:
        return self._config.refine.mode

    def check_mode(self, mode: str | None) -> str:
        """``mode`` (default: the configured one) if this model can run it, else a
        ``ValueError`` listing the modes it can."""
        mode = vocab.check_mode(mode or self._config.refine.mode)
        if mode not in self.modes:
            raise ValueError(f"this model has no per-pixel output, so mode {mode!r} is not "
                             f"available; choose one of {', '.join(self.modes)}")
        return mode

    # ------------------------------------------------------------------ stages
    def decode(self, source: Source | np.ndarray) -> Photo:
        """Photo → upright RGB working image (long side ≤ ``work_max_side``), original size."""
        side = self._config.work_max_side
        if isinstance(source, np.ndarray):
            arr = _as_rgb_array(source)
            h, w = arr.shape[:2]
            return Photo(fit_within(arr, side), (w, h), None)
        return decode(source, max_pixels=self._config.max_pixels, max_side=side)

    def _batch(self, images: list[np.ndarray]) -> np.ndarray:
        return self._with_mirrors(np.stack([preprocess(img, self.bundle.input_size) for img in images]))

    def _mean_logits(self, logits: np.ndarray, n: int) -> np.ndarray:
        return (logits[:n] + logits[n:]) / 2 if self.tta_flip else logits

    @staticmethod
    def _unmirror(maps: np.ndarray) -> np.ndarray:
        """One photo's map from its batch: the map itself, or its mean with the mirrored
        copy's map mirrored back."""
        return (maps[0] if len(maps) == 1 else (maps[0] + maps[1][:, ::-1]) / 2).astype(np.float32)

    def probabilities(self, images: list[np.ndarray]) -> np.ndarray:
        """Corrosion probabilities of working images, classified in one batch exactly as
        :meth:`evidence` does (mirrored-photo averaging and runtime included), without the
        heatmap."""
        x = self._batch(images)
        logits = _logits(self._onnx.probability(x)) if self._onnx_at_input_side else self.bundle.predict_logits(x)
        return expit(self._mean_logits(logits, len(images)))

    def evidence(self, image: np.ndarray, pixel_map: bool = True) -> Evidence:
        """Classify and localise a working image: probability, Grad-CAM++ heatmap and, from a
        U-Net, the pixel map (``pixel_map=False`` skips it: the paper's modes do not use it,
        and at a ``learned_side`` other than the input size it costs a second pass)."""
        t0 = time.perf_counter()
        x = self._batch([image])
        t1 = time.perf_counter()
        if self._cam_on_onnx:  # the learned side is the input side here: one pass gives all
            prob, pixels, feats, grads = self._onnx.with_cam(x)
            logits = _logits(prob)
        else:
            logits, feats, grads, pixel_logits = (np.asarray(t) for t in self._forward(x))
            pixels = None
            if pixel_map and pixel_logits.shape[1]:
                side = self.learned_side
                if side != self.bundle.input_size:  # the pixel map at its own resolution
                    pixel_logits = np.asarray(self._pixel_pass(side)(
                        self._with_mirrors(preprocess(image, side)[None])))
                pixels = expit(pixel_logits)
        prob = float(expit(self._mean_logits(logits, 1)[0]))
        pixels = self._unmirror(pixels) if pixel_map and pixels is not None else None
        t2 = time.perf_counter()
        cams = cam_from_gradients(feats, grads, "gradcam++")
        cam = cams[0] if len(cams) == 1 else np.maximum(0.0, cams[0] + cams[1][:, ::-1]) / 2
        t3 = time.perf_counter()
        return Evidence(prob, cam, {"preprocess": t1 - t0, "classify": t2 - t1, "localise": t3 - t2},
                        pixels)

    def _onnx_session(self):
        """ONNX Runtime for learned mode (``runtime="onnx"``, or ``"auto"`` when it can be
        had), on the model folder's exported ``model.onnx`` at the learned side; False when
        TensorFlow runs it."""
        wanted = self._config.runtime
        if wanted == "tensorflow":
            return False
        exported = self.bundle.info.get("onnx", {})
        present = (self.bundle.directory is not None and "model.onnx" in exported.get("files", {})
                   and (self.bundle.directory / "model.onnx").is_file())
        if wanted == "auto":
            if not present or int(exported.get("side", -1)) != self.learned_side:
                return False
            try:
                import onnxruntime  # noqa: F401
            except ImportError:
                return False
        from .onnx_runtime import OnnxModel

        if not present:
            raise ValueError("runtime 'onnx' needs the model folder's model.onnx: run "
                             "rustseg export MODEL_DIR first")
        session = OnnxModel(self.bundle.directory / "model.onnx")
        if session.side != self.learned_side:
            raise ValueError(f"model.onnx takes {session.side} px, learned mode runs at "
                             f"{self.learned_side}: export again with --side {self.learned_side}")
        return session

    @property
    def runtime(self) -> str:
        """What runs learned mode (a classifier: its probability): ``tensorflow`` or ``onnx``."""
        return "onnx" if self._onnx else "tensorflow"

    @property
    def _onnx_at_input_side(self) -> bool:
        return bool(self._onnx) and self._onnx.side == self.bundle.input_size

    @property
    def _cam_on_onnx(self) -> bool:
        # Grad-CAM++ is defined on the map at the model's input side.
        return self._onnx_at_input_side and self._onnx.has_cam

    @property
    def cam_runtime(self) -> str:
        """What runs the paper's modes (classification and Grad-CAM++): ``onnx`` where the
        ONNX session serves learned mode at the model's input side and the export carries
        Grad-CAM++'s inputs (``rustseg export`` since 2026-12-06), else ``tensorflow``."""
        return "onnx" if self._cam_on_onnx else "tensorflow"

    def learned_evidence(self, image: np.ndarray) -> Evidence:
        """Learned mode's evidence alone (probability and pixel map, no Grad-CAM++), on ONNX
        Runtime when it is the runtime, else the same as :meth:`evidence`."""
        if not self._onnx:
            return self.evidence(image, pixel_map=True)
        t0 = time.perf_counter()
        x = self._with_mirrors(preprocess(image, self.learned_side)[None])
        t1 = time.perf_counter()
        prob, pixels = self._onnx(x)
        p = float(expit(self._mean_logits(_logits(prob), 1)[0]))
        pix = self._unmirror(pixels)
        t2 = time.perf_counter()
        return Evidence(p, np.zeros((1, 1), np.float32), {"preprocess": t1 - t0, "classify": t2 - t1,
                                                          "localise": 0.0}, pix)

    def _pixel_pass(self, side: int):
        """The U-Net's pixel logits at ``side``, traced once per side (an eager call of the
        whole network costs several times the traced one)."""
        if side not in self._pixel_passes:
            tf = tensorflow()
            model = self.bundle.model

            @tf.function(input_signature=[tf.TensorSpec([None, side, side, 3], tf.float32)])
            def pixels(x):
                return model(x, training=False)[2][..., 0]

            pixels(np.zeros((1, side, side, 3), np.float32))
            self._pixel_passes[side] = pixels
        return self._pixel_passes[side]

    def mask_image(self, image: np.ndarray) -> np.ndarray:
        """The working image at the resolution masks are computed at (``crf.max_side``)."""
        return fit_within(image, self._config.refine.crf.max_side)

    def mask_size(self, image: np.ndarray) -> tuple[int, int]:
        """(height, width) of :meth:`mask_image`, without resizing the image."""
        return fitted_size(image.shape, self._config.refine.crf.max_side)

    def evidence_map(self, image: np.ndarray, evidence: Evidence, mode: str | None = None,
                     colour: bool = True) -> np.ndarray:
        """The per-pixel corrosion belief a mode's mask starts from, at mask resolution.

        ``learned``: the U-Net's pixel probability. The paper's modes: the upsampled
        Grad-CAM++ heatmap after the paper's threshold, mixed with rust-colour evidence by
        the configured weight (``colour=False``: the heatmap's part alone).
        """
        mode = self.check_mode(mode)
        rcfg = self._config.refine
        if mode == "learned":
            return upsample(evidence.pixels, self.mask_size(image))
        small = self.mask_image(image)
        if not colour or rcfg.colour_weight <= 0:
            return dynamic_threshold(upsample(evidence.cam, small.shape[:2]))[0]
        return fused_evidence(evidence.cam, small.shape[:2], rcfg,
                              rust_probability(small, rcfg.colour_rule))

    def mask_from_evidence(self, image: np.ndarray, evidence: Evidence, mode: str | None = None,
                           size: tuple[int, int] | None = None) -> np.ndarray:
        """A boolean mask from ``mode`` (default: the configured one), returned at ``size`` =
        (height, width) (default: the image's). ``learned``: the U-Net's probability above
        its validation-chosen threshold, upsampled to ``size`` first; the paper's modes:
        refined at mask resolution. This is the mode as defined: an empty advanced mask
        stays empty."""
        mode = self.check_mode(mode)
        size = tuple(size or image.shape[:2])
        rcfg = replace(self._config.refine, mode=mode)
        if mode == "learned":
            return upsample(evidence.pixels, size) > rcfg.learned_threshold
        small = self.mask_image(image)
        colour = rust_probability(small, rcfg.colour_rule) if rcfg.colour_weight > 0 else None
        return resize_mask(refine(small, evidence.cam, rcfg, colour), size)

    # ------------------------------------------------------------------ the whole pipeline
    def segment(self, source: Source | np.ndarray, mode: str | None = None) -> Result:
        """Run the whole pipeline on one photo."""
        mode = self.check_mode(mode)
        t_start = time.perf_counter()
        photo = self.decode(source)
        image, (w0, h0) = photo.image, photo.size
        timings = {"decode": time.perf_counter() - t_start}
        ev = self.learned_evidence(image) if mode == "learned" else self.evidence(image, pixel_map=False)
        timings.update(ev.timings)
        is_corrosion = ev.probability > self.threshold
        t0 = time.perf_counter()
        mask_full, note = None, None
        work_mask = np.zeros(image.shape[:2], bool)
        if is_corrosion:
            # Learned masks are thresholded at the working size (thin rust survives); the
            # paper's modes are refined at mask resolution, as the CRF is costly.
            at = image.shape[:2] if mode == "learned" else self.mask_size(image)
            small_mask = self.mask_from_evidence(image, ev, mode, at)
            if mode == "advanced" and not small_mask.any():
                small_mask = self.mask_from_evidence(image, ev, "standard", small_mask.shape)
                note = ADVANCED_FALLBACK_NOTE
            work_mask = resize_mask(small_mask, image.shape[:2])
            mask_full = resize_mask(small_mask, (h0, w0))
        timings["refine"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        overlay = overlay_mask(image, work_mask, self._config.overlay_colour, self._config.overlay_alpha)
        # The map the mask came from (for a clean photo too: it shows why nothing was marked).
        heat = (upsample(ev.pixels, image.shape[:2]) if mode == "learned"
                else upsample(self.evidence_map(image, ev, "standard" if note else mode), image.shape[:2]))
        timings["render"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - t_start
        area = float(mask_full.mean()) if mask_full is not None else 0.0
        return Result(probability=ev.probability, is_corrosion=is_corrosion,
                      threshold=self.threshold, mode=mode, image=image,
                      heatmap=heat, mask=mask_full, overlay=overlay,
                      area_fraction=area, original_size=photo.size,
                      model_version=self.bundle.version, timings=timings,
                      image_format=photo.format, exif=photo.exif, mask_note=note,
                      uncertain=self.is_uncertain(ev.probability))


def _logits(prob: np.ndarray) -> np.ndarray:
    """Logits of an exported graph's probabilities (float32 saturates at 1: kept finite)."""
    return logit(np.clip(np.asarray(prob, np.float64), 1e-7, 1 - 1e-7))


def _as_rgb_array(arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype != np.uint8:
        raise ValueError("arrays must be uint8")
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, -1)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {arr.shape}")
    return np.ascontiguousarray(arr[..., :3])


def refine_from_info(info: dict) -> RefineConfig:
    """Refinement defaults tuned for a model are stored in its metadata (see model card)."""
    tuned = dict(info.get("refine", {}))
    crf = CRFConfig(**tuned.pop("crf", {}))
    rule = ColourRule(**tuned.pop("colour_rule", {}))
    if "default_mode" in info:  # a U-Net names its own mode and mask threshold
        tuned["mode"] = info["default_mode"]
    if "mask_threshold" in info:
        tuned["learned_threshold"] = float(info["mask_threshold"])
    return RefineConfig(crf=crf, colour_rule=rule,
                        **{k: v for k, v in tuned.items() if k in RefineConfig.__dataclass_fields__})
