"""``rustseg export MODEL_DIR``: the network as ONNX, for the phone's browser
(onnxruntime-web) and for ONNX Runtime on a server.

One graph, with named inputs and outputs:

* input ``image``: float32 ``[N, S, S, 3]``, RGB in [0, 1] — the photo resized to ``S``×``S``
  exactly as the server's learned mode does (``preprocess``: area when shrinking, bilinear
  when enlarging; the whole photo, squashed to a square). The model's own normalisation
  (Lite0's ``(x − 127) / 128`` of 0–255 pixels) is inside the graph.
* output ``probability``: float32 ``[N]``, the image head's probability of corrosion;
* output ``pixel_probability``: float32 ``[N, S, S]``, the per-pixel probability of rust;
* outputs ``features`` and ``feature_gradient``: float32 ``[N, h, w, C]``, the last conv map
  A and dlogit/dA, which Grad-CAM++ needs (``cam_maps.cam_from_gradients``), so that the paper's
  modes run on ONNX Runtime too. The head after A is linear (global pooling or flatten,
  dropout, one dense unit), so dlogit/dA does not depend on the photo: the export measures
  it with TensorFlow's tape, checks that it is the same for every check image, and writes
  it into the graph as a constant. Only where ``S`` is the model's input side (the
  heatmap's definition); a head that is not linear gets no such outputs.

``model.onnx`` holds every output; ``model.fp16.onnx``, for the phone, holds learned mode's
two alone (``onnx.utils.Extractor``): the phone runs nothing else. A classifier (no per-pixel
output, e.g. ``models/classifier``) is exported too, with ``probability`` and Grad-CAM++'s two
outputs and no phone copy, so that the paper's own method runs on ONNX Runtime as well.

``S`` is learned mode's side (``learned_side`` in ``rustseg.json``). What to do with the
outputs — the decision threshold, the borderline band, the mask threshold — comes from
``rustseg.json`` too, which the export updates with an ``onnx`` entry naming the files,
their sizes and SHA-256 (so a browser can tell a new version and a half download).

A half-size copy (``model.fp16.onnx``) halves what a phone downloads: its weights are
*stored* in float16, each followed by a Cast back to float32, so the arithmetic stays float32
(ONNX Runtime folds the Casts when it loads the file). Converting the arithmetic to float16
as well made the browser's WebAssembly runtime 2.5× slower (it has no float16 maths). It is
written only if its masks agree with the full-precision ones on the check images (mean IoU
≥ ``FP16_MIN_IOU``).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..pipeline.model import META_FILE, load_bundle
from ..pipeline.onnx_runtime import FEATURES, GRADIENT, INPUT, PIXELS, PROBABILITY
from .metrics import mask_scores
from ..tf_runtime import tensorflow as _tensorflow

ONNX_FILE, FP16_FILE = "model.onnx", "model.fp16.onnx"
OPSET = 17
FP16_MIN_IOU = 0.99


class ExportError(ValueError):
    """The model cannot be exported (no pixel output, or the converted graph disagrees)."""


@dataclass(frozen=True)
class Exported:
    side: int
    files: dict[str, dict]  # file name → {"bytes", "sha256", "precision"}
    max_abs_diff: float  # ONNX Runtime against Keras on the check images
    fp16_iou: float | None  # mean mask IoU of the fp16 copy against fp32 (None: not made)
    cam: bool = False  # model.onnx carries Grad-CAM++'s inputs (the paper's modes run on it)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_images(side: int, n: int = 4, seed: int = 0) -> np.ndarray:
    """Smooth random images with structure at several scales (noise alone says little)."""
    rng = np.random.default_rng(seed)
    tf = _tensorflow()
    coarse = rng.random((n, 6, 6, 3)).astype(np.float32)
    x = tf.image.resize(coarse, (side, side)).numpy() * 0.8
    return np.clip(x + 0.2 * rng.random((n, side, side, 3)), 0, 1).astype(np.float32)


def export_onnx(model_dir: str | Path, side: int | None = None, fp16: bool = True) -> Exported:
    """Write ``model.onnx`` (and ``model.fp16.onnx``) into ``model_dir`` and record them in
    its ``rustseg.json``; check the graph against the Keras model with ONNX Runtime."""
    import onnxruntime as ort
    import tf2onnx

    tf = _tensorflow()
    model_dir = Path(model_dir)
    bundle = load_bundle(model_dir)
    unet = bundle.spec.decoder
    if not unet and side not in (None, bundle.input_size):
        raise ExportError(f"a classifier is exported at its input side ({bundle.input_size} px) "
                          "only: Grad-CAM++ is defined there")
    side = int(side or bundle.info.get("learned_side") or bundle.input_size)
    model = bundle.model
    x = _check_images(side)
    gradient = feature_gradient(model, x) if side == bundle.input_size else None
    if not unet and gradient is None:
        raise ExportError(f"the model in {model_dir} has no per-pixel output and its head is not "
                          "linear in its last conv map: there is nothing ONNX Runtime could serve")

    @tf.function(input_signature=[tf.TensorSpec([None, side, side, 3], tf.float32, name=INPUT)])
    def graph(x):
        outputs = model(x, training=False)
        logit, feats = outputs[0], outputs[1]
        out = {PROBABILITY: tf.sigmoid(logit[:, 0])}
        if unet:
            out[PIXELS] = tf.sigmoid(outputs[2][..., 0])
        if gradient is not None:  # a constant of the graph (a captured tensor would be an input)
            out.update({FEATURES: feats, GRADIENT: tf.broadcast_to(tf.constant(gradient), tf.shape(feats))})
        return out

    out = model_dir / ONNX_FILE
    tmp = out.with_suffix(".tmp")
    tf2onnx.convert.from_function(graph, input_signature=graph.input_signature, opset=OPSET,
                                  output_path=str(tmp))
    want = {k: v.numpy() for k, v in graph(x).items()}
    got = _run(ort, tmp, x)
    diff = max(float(np.abs(got[k] - want[k]).max()) for k in want)
    if diff > 1e-3:
        tmp.unlink()
        raise ExportError(f"the ONNX graph disagrees with the Keras model by {diff:.2g}")
    tmp.replace(out)
    files = {ONNX_FILE: {"bytes": out.stat().st_size, "sha256": _sha256(out), "precision": "float32"}}
    fp16_iou = None
    half = model_dir / FP16_FILE
    if fp16 and unet:  # the phone runs learned mode alone: a classifier has none
        import onnx

        tmp = half.with_suffix(".tmp")
        learned_only = onnx.utils.Extractor(onnx.load(str(out))).extract_model([INPUT], [PROBABILITY, PIXELS])
        onnx.save(half_weights(learned_only), str(tmp))
        t = float(bundle.info.get("mask_threshold", 0.5))
        halves = _run(ort, tmp, x)[PIXELS]
        fp16_iou = float(np.mean([mask_scores(a > t, b > t)["iou"] for a, b in zip(halves, want[PIXELS])]))
        if fp16_iou >= FP16_MIN_IOU:
            tmp.replace(half)
            files[FP16_FILE] = {"bytes": half.stat().st_size, "sha256": _sha256(half),
                                "precision": "float16 weights, float32 arithmetic"}
        else:
            tmp.unlink()
            half.unlink(missing_ok=True)
    _record(model_dir, side, files, bundle.normalisation, unet, gradient is not None)
    return Exported(side, files, diff, fp16_iou, gradient is not None)


def feature_gradient(model, x: np.ndarray, rtol: float = 1e-5) -> np.ndarray | None:
    """dlogit/dA of the last conv map A, (h, w, C), when it is the same for every image of
    ``x`` (a head linear in A: Grad-CAM++'s closed form holds and the gradient can be a
    constant of the exported graph); else ``None``."""
    from ..pipeline.cam import make_forward_with_grads

    _, _, grads, _ = make_forward_with_grads(model, x.shape[1])(x)
    grads = grads.numpy()
    scale = float(np.abs(grads).max())
    if scale == 0 or float(np.abs(grads - grads[:1]).max()) > rtol * scale:
        return None
    return grads[0]


def half_weights(model, min_size: int = 16):
    """``model`` with each float32 weight of at least ``min_size`` values stored as float16
    and cast back to float32 where it is used (see the module docstring)."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    inits, casts = [], []
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT and int(np.prod(init.dims)) >= min_size:
            stored = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16),
                                             init.name + "__fp16")
            inits.append(stored)
            casts.append(helper.make_node("Cast", [stored.name], [init.name], to=TensorProto.FLOAT,
                                          name=init.name + "__to_fp32"))
        else:
            inits.append(init)
    nodes = list(graph.node)
    del graph.initializer[:], graph.node[:]
    graph.initializer.extend(inits)
    graph.node.extend(casts + nodes)
    return model


def _run(ort, path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, {INPUT: x})))


def _record(model_dir: Path, side: int, files: dict, normalisation: str, unet: bool, cam: bool) -> None:
    path = model_dir / META_FILE
    meta = json.loads(path.read_text())
    meta.setdefault("info", {})["onnx"] = {
        "side": side, "opset": OPSET, "files": files,
        "input": {"name": INPUT, "shape": ["N", side, side, 3], "dtype": "float32",
                  "range": "RGB in [0, 1]", "resize": "the whole photo to side x side, area "
                  "when shrinking, bilinear when enlarging", "normalisation": normalisation},
        "outputs": {PROBABILITY: {"shape": ["N"], "use": "corrosion when above threshold"},
                    **({PIXELS: {"shape": ["N", side, side], "use": "rust where above info.mask_threshold"}}
                       if unet else {}),
                    **({FEATURES: {"shape": ["N", "h", "w", "C"], "use": "the last conv map A, for Grad-CAM++",
                                   "files": [ONNX_FILE]},
                        GRADIENT: {"shape": ["N", "h", "w", "C"], "use": "dlogit/dA, for Grad-CAM++",
                                   "files": [ONNX_FILE]}} if cam else {})},
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True))
    tmp.replace(path)
