"""The pipelines being timed: ours (``Segmenter.segment``) and the paper's literal method.

Each runner takes the bytes of one photo and returns seconds per stage, so both fill the
same table. Importing this module imports TensorFlow.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from rustseg_core.config import CRFConfig, RefineConfig, preset
from rustseg_core.pipeline.cam import cam_from_gradients, gradcam_pp_paper_reference, make_forward_with_grads
from rustseg_core.pipeline.imageio import decode, load_image
from rustseg_core.pipeline.model import ModelBundle, build_classifier, load_bundle, preprocess
from rustseg_core.pipeline.overlay import overlay_mask
from rustseg_core.pipeline.refine import refine
from rustseg_core.pipeline.segmenter import Segmenter
from rustseg_core.tf_runtime import keras as _keras
from rustseg_core.tf_runtime import tensorflow as _tensorflow
from rustseg_core.vocabulary import STAGE_IDS

from benchmarks.common import summarise

tf = _tensorflow()
keras = _keras()
STAGES = STAGE_IDS
# Every runner returns these keys; "overhead" is end-to-end minus the stages.
ROWS = STAGES + ("overhead", "end_to_end", "end_to_end_cpu")
RANDOM_PREFIX = "random:"
# The paper ran the CRF on the whole photo: no cap on its resolution.
UNLIMITED_SIDE = 2**31 - 1

Runner = Callable[[bytes], dict[str, float]]


def load_model(source: str) -> ModelBundle:
    """A saved model folder, or ``random:<preset>`` for untrained weights of a preset.

    Untrained weights time the same as trained ones (same layers, same shapes).
    """
    if source.startswith(RANDOM_PREFIX):
        name = source[len(RANDOM_PREFIX):]
        keras.utils.set_random_seed(0)
        spec = preset(name)
        return ModelBundle(model=build_classifier(spec, seed=0), spec=spec,
                           info={"version": f"{name}-random-weights"})
    return load_bundle(source)


def forced_segmenter(bundle: ModelBundle) -> Segmenter:
    """The shipped ``Segmenter`` with the model's own settings, except that every photo
    goes through refinement (the CRF) whatever the model decides: that is the worst case,
    and untrained timing models would otherwise skip it at random."""
    return Segmenter(bundle).with_config(threshold=-1.0)


def ours_runner(bundle: ModelBundle) -> Runner:
    """``Segmenter.segment`` as shipped, with its own per-stage timings."""
    seg = forced_segmenter(bundle)

    def run(data: bytes) -> dict[str, float]:
        c0, t0 = time.process_time(), time.perf_counter()
        result = seg.segment(data)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        t = {k: result.timings[k] for k in STAGES}
        return _finish(t, wall, cpu)

    run.refine = describe_refine(seg.config.refine)  # type: ignore[attr-defined]
    return run


def reference_runner(bundle: ModelBundle, crf_iterations: int = 25) -> Runner:
    """The paper's method, stage by stage: full-resolution decode, an eager forward pass,
    Grad-CAM++ with three nested tapes through the whole network, the heatmap upsampled to
    the full photo, T = 1 − (max − mean), dense CRF with ``crf_iterations`` at full size."""
    model, size = bundle.model, bundle.input_size
    rcfg = RefineConfig(mode="standard", colour_weight=0.0,
                        crf=CRFConfig(iterations=crf_iterations, max_side=UNLIMITED_SIDE))

    def run(data: bytes) -> dict[str, float]:
        c0, t0 = time.process_time(), time.perf_counter()
        marks = [t0]
        image = decode(data).image  # no draft decode, no downscale
        marks.append(time.perf_counter())
        x = preprocess(image, size)
        marks.append(time.perf_counter())
        logit = model(x[None], training=False)[0]
        float(tf.sigmoid(logit)[0, 0])
        marks.append(time.perf_counter())
        cam = gradcam_pp_paper_reference(model, x)
        marks.append(time.perf_counter())
        mask = refine(image, cam, rcfg)
        marks.append(time.perf_counter())
        overlay_mask(image, mask)
        marks.append(time.perf_counter())
        t = {k: b - a for k, a, b in zip(STAGES, marks, marks[1:])}
        return _finish(t, marks[-1] - t0, time.process_time() - c0)

    run.refine = describe_refine(rcfg, full_resolution=True)  # type: ignore[attr-defined]
    return run


def describe_refine(cfg: RefineConfig, full_resolution: bool = False) -> str:
    """One line saying how a runner refines, so tables are read with the right settings."""
    iters = cfg.advanced_crf_iterations if cfg.mode == "advanced" else cfg.crf.iterations
    where = "full photo" if full_resolution else f"long side ≤ {cfg.crf.max_side} px"
    colour = f", colour weight {cfg.colour_weight:g}" if cfg.colour_weight > 0 else ""
    return f"{cfg.mode} refine, CRF {iters} iterations at {where}{colour}"


def _finish(t: dict[str, float], wall: float, cpu: float) -> dict[str, float]:
    t["overhead"] = max(0.0, wall - sum(t[k] for k in STAGES))
    t["end_to_end"] = wall
    t["end_to_end_cpu"] = cpu
    return t


def make_runner(method: str, bundle: ModelBundle) -> Runner:
    if method == "ours":
        return ours_runner(bundle)
    if method == "reference":
        return reference_runner(bundle)
    raise ValueError(f"unknown method {method!r}")


def gradcam_cost(bundle: ModelBundle, data: bytes, reps: int) -> dict:
    """Grad-CAM++ compared with the classification forward pass it rides on.

    Times, interleaved so background load hits all three alike: a traced forward pass
    alone; the fused forward + head-only gradient our Segmenter runs; the closed form.
    ``ratio`` = (fused + closed form) / forward, i.e. Grad-CAM++ computed as its own pass
    relative to classifying; ``extra`` = what it adds on top of classifying, / forward.
    """
    model, size = bundle.model, bundle.input_size
    x = tf.convert_to_tensor(preprocess(load_image(data, max_side=1024), size)[None])
    fused = make_forward_with_grads(model)

    @tf.function(input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)])
    def forward(batch):
        return model(batch, training=False)[0]

    def run_fused() -> tuple[np.ndarray, np.ndarray]:
        logit, feats, grads, _ = fused(x)
        logit.numpy()
        return feats.numpy(), grads.numpy()

    for _ in range(2):  # trace and warm both
        forward(x).numpy()
        run_fused()
    s = {"forward": [], "forward_grads": [], "closed_form": [], "gradcam_pass": []}
    for _ in range(max(1, reps)):
        t0 = time.perf_counter()
        forward(x).numpy()
        t1 = time.perf_counter()
        feats, grads = run_fused()
        t2 = time.perf_counter()
        cam_from_gradients(feats, grads, "gradcam++")
        t3 = time.perf_counter()
        s["forward"].append(t1 - t0)
        s["forward_grads"].append(t2 - t1)
        s["closed_form"].append(t3 - t2)
        s["gradcam_pass"].append(t3 - t1)
    stats = {k: summarise(v) for k, v in s.items()}
    fwd = stats["forward"]["median"]
    stats["ratio"] = stats["gradcam_pass"]["median"] / fwd
    stats["extra"] = (stats["gradcam_pass"]["median"] - fwd) / fwd
    return stats
