import numpy as np
import pytest

from rustseg_core.config import preset
from rustseg_core.pipeline.cam import (cam_from_gradients, gradcam_pp, gradcam_pp_nested_exact,
                                  make_forward_with_grads)
from rustseg_core.pipeline.model import build_classifier


@pytest.fixture(scope="module", params=["gap", "flatten"])
def small_random_model(request):
    from rustseg_core.tf_runtime import keras

    keras().utils.set_random_seed(3)
    spec = preset("cpu", input_size=32, base_width=2, batch_norm=False, dropout=0.0,
                  head=request.param, padding="same")
    return build_classifier(spec, seed=3)


def test_closed_form_matches_nested_tapes_for_exponential_score(small_random_model):
    rng = np.random.default_rng(0)
    for _ in range(3):
        img = rng.random((32, 32, 3), np.float32)
        _, closed = gradcam_pp(small_random_model, img[None])
        literal = gradcam_pp_nested_exact(small_random_model, img)
        assert closed[0].shape == literal.shape == (2, 2)
        np.testing.assert_allclose(closed[0], literal, rtol=1e-5, atol=1e-6)


def test_gradcam_pp_hand_example():
    # One channel is positive everywhere with positive gradient → its map, normalised.
    a = np.zeros((1, 2, 2, 2))
    a[0, :, :, 0] = [[1.0, 2.0], [0.0, 4.0]]
    a[0, :, :, 1] = [[5.0, 5.0], [5.0, 5.0]]
    g = np.zeros_like(a)
    g[..., 0] = 0.5
    g[..., 1] = -1.0  # negative evidence: relu(g) = 0 → channel ignored
    cam = cam_from_gradients(a, g, "gradcam++")[0]
    np.testing.assert_allclose(cam, [[0.25, 0.5], [0.0, 1.0]], atol=1e-6)


def test_heatmaps_are_normalised(small_random_model):
    x = np.random.default_rng(1).random((3, 32, 32, 3), np.float32)
    logits, feats, grads, _ = make_forward_with_grads(small_random_model)(x)
    for method in ("gradcam++", "gradcam"):
        cams = cam_from_gradients(feats.numpy(), grads.numpy(), method)
        assert cams.shape == (3, 2, 2)
        assert cams.min() >= 0.0 and cams.max() <= 1.0 + 1e-6
        for c in cams:
            assert c.max() == pytest.approx(1.0) or c.max() == 0.0


def test_unknown_method():
    with pytest.raises(ValueError):
        cam_from_gradients(np.ones((1, 2, 2, 1)), np.ones((1, 2, 2, 1)), "lime")


def test_heatmap_points_at_the_rust(tiny_segmenter):
    from tests.synthetic import rust_image

    from rustseg_core.pipeline.resize import upsample

    rng = np.random.default_rng(5)
    hits, area = 0, 0.0
    for _ in range(20):
        img, mask = rust_image(rng, 64, rust=True)
        cam = tiny_segmenter.evidence(img).cam
        heat = upsample(cam, mask.shape)
        hits += bool(mask[np.unravel_index(np.argmax(heat), heat.shape)])
        area += mask.mean() / 20
    # Pointing game on synthetic blobs: a random point would hit with probability `area`.
    assert hits / 20 >= max(0.4, 2 * area)


def test_fused_traced_forward_matches_eager_model(small_random_model):
    x = np.random.default_rng(4).random((2, 32, 32, 3), np.float32)
    logits, feats, _, _ = make_forward_with_grads(small_random_model)(x)
    eager_logit, eager_feats = small_random_model(x, training=False)
    np.testing.assert_allclose(logits.numpy(), eager_logit.numpy()[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(feats.numpy(), eager_feats.numpy(), rtol=1e-5, atol=1e-6)
