import numpy as np
import pytest

from rustseg_core.config import CRFConfig, RefineConfig
from rustseg_core.pipeline.colour import colour_rule_mask, rust_probability
from rustseg_core.pipeline.refine import (dense_crf, diamond, dynamic_threshold, erode, fused_evidence,
                                          kmeans_cluster_mask, peak, refine)
from rustseg_core.pipeline.resize import fit_within, resize_mask, thumbnail, upsample
from tests.synthetic import rust_image


def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def test_dynamic_threshold_hand_computed():
    h = np.array([[0.0, 0.2], [0.6, 1.0]], np.float32)
    # mean = 0.45, max = 1 → T = 1 − (1 − 0.45) = 0.45: 0.0 and 0.2 are zeroed.
    kept, t = dynamic_threshold(h)
    assert t == pytest.approx(0.45)
    np.testing.assert_allclose(kept, [[0.0, 0.0], [0.6, 1.0]])


def test_dynamic_threshold_unnormalised_heatmap():
    h = np.array([[0.1, 0.3], [0.5, 0.5]], np.float32)
    kept, t = dynamic_threshold(h)  # T = 1 − (0.5 − 0.35) = 0.85: nothing survives
    assert t == pytest.approx(0.85)
    assert not kept.any()


def test_upsample_bilinear_shape_and_range():
    small = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    up = upsample(small, (40, 60))
    assert up.shape == (40, 60)
    assert 0.0 <= up.min() and up.max() <= 1.0
    assert up[0, 0] < 0.1 and up[0, -1] > 0.9


def test_diamond_element():
    d = diamond(5)
    assert d.shape == (5, 5) and d.sum() == 13 and d[2, 2] and not d[0, 0]


def test_crf_snaps_a_blurry_guess_to_the_rust_edges():
    img, mask = rust_image(np.random.default_rng(1), 96, rust=True)
    from scipy import ndimage

    blurry = ndimage.gaussian_filter(mask.astype(np.float32), 6)  # coarse heatmap-like belief
    blurry /= blurry.max()
    before = iou(blurry > 0.5, mask)
    after = iou(dense_crf(img, blurry, CRFConfig()) > 0.5, mask)
    assert after > before and after > 0.7


def test_refine_standard_and_advanced(rust_photo):
    img, mask = rust_photo
    from scipy import ndimage

    heat = ndimage.zoom(ndimage.gaussian_filter(mask.astype(np.float32), 8), 0.1, order=1)
    heat /= heat.max()
    std = refine(img, heat, RefineConfig())
    adv = refine(img, heat, RefineConfig(mode="advanced"))
    assert std.shape == adv.shape == mask.shape and std.dtype == bool
    assert iou(std, mask) > 0.5
    assert iou(adv, mask) > 0.5


def test_refine_without_crf_is_threshold():
    img = np.zeros((10, 10, 3), np.uint8)
    heat = np.zeros((10, 10), np.float32)
    heat[2:5, 2:5] = 1.0
    out = refine(img, heat, RefineConfig(crf=CRFConfig(iterations=0)))
    assert out.sum() == 9


def test_fused_evidence_mixes_heatmap_and_colour():
    heat = np.array([[0.0, 0.2], [0.6, 1.0]], np.float32)
    colour = np.array([[1.0, 0.0], [0.0, 0.5]], np.float32)
    kept = dynamic_threshold(heat)[0]
    np.testing.assert_allclose(fused_evidence(heat, (2, 2), RefineConfig(), colour), kept)
    linear = fused_evidence(heat, (2, 2), RefineConfig(colour_weight=0.25), colour)
    np.testing.assert_allclose(linear, 0.75 * kept + 0.25 * colour)
    geo = fused_evidence(heat, (2, 2), RefineConfig(colour_weight=0.5, fusion="geometric"), colour)
    np.testing.assert_allclose(geo, np.sqrt(heat * colour), rtol=1e-6)
    assert fused_evidence(np.ones((3, 3), np.float32), (12, 9), RefineConfig()).shape == (12, 9)


def test_peak_prefers_a_region_over_a_single_saturated_pixel():
    m = np.zeros((100, 100), np.float32)
    m[3, 3] = 1.0                # a speckle, first in scan order
    m[60:80, 40:70] = 1.0        # a patch of equally strong evidence
    assert peak(m, smooth=0) == (3, 3)
    r, c = peak(m, smooth=0.02)
    assert 60 <= r < 80 and 40 <= c < 70


def test_kmeans_keeps_the_cluster_under_the_seed(rust_photo):
    img, mask = rust_photo
    seed = np.zeros_like(mask)
    ys, xs = np.nonzero(mask)
    seed[ys[len(ys) // 2], xs[len(xs) // 2]] = True
    cluster = kmeans_cluster_mask(img, seed)
    assert iou(cluster, mask) > 0.8


def test_colour_rule_finds_synthetic_rust(rust_photo):
    img, mask = rust_photo
    p = rust_probability(img)
    assert p.shape == mask.shape and p.min() >= 0 and p.max() <= 1
    assert iou(colour_rule_mask(img), mask) > 0.8
    grey = np.full((8, 8, 3), 128, np.uint8)
    assert not colour_rule_mask(grey).any()


@pytest.mark.parametrize("size", [3, 5, 31])
def test_erode_is_scipys_binary_erosion_with_a_background_border(size):
    from scipy import ndimage

    rng = np.random.default_rng(size)
    for _ in range(5):
        m = ndimage.binary_dilation(rng.random((60, 80)) > 0.97, iterations=int(rng.integers(1, 12)))
        m[:, :3] = True  # touching the border: outside must count as background
        assert (erode(m, diamond(size)) == ndimage.binary_erosion(m, structure=diamond(size))).all()


def test_fit_within():
    img = np.zeros((100, 400, 3), np.uint8)
    assert fit_within(img, 200).shape == (50, 200, 3)
    assert fit_within(img, 1000) is img


@pytest.mark.parametrize("shape", [(768, 1024, 3), (767, 1023, 3), (3001, 97, 3), (50, 40, 3)])
def test_thumbnail_has_fit_withins_size_and_picture(shape):
    """The display thumbnail's fast path (whole-factor box reduce, edge pixels dropped) gives
    fit_within's size and, on a smooth picture, the same picture to a grey level or two."""
    h, w = shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([255 * xx / w, 255 * yy / h, 128 + 0 * xx], -1).astype(np.uint8)
    small = thumbnail(img, 480)
    assert small.shape == fit_within(img, 480).shape and small.dtype == np.uint8
    assert np.abs(small.astype(int) - fit_within(img, 480).astype(int)).mean() < 2.5
    assert thumbnail(img, max(h, w)) is img


def test_resize_mask_keeps_shape_and_cuts_at_half():
    m = np.zeros((4, 4), bool)
    m[:, :2] = True
    assert resize_mask(m, (4, 4)) is m
    big = resize_mask(m, (8, 8))
    assert big.shape == (8, 8) and big[:, :3].all() and not big[:, 5:].any()
