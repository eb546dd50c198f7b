import io

import numpy as np
import pytest
from PIL import Image

from rustseg_core.config import SegmenterConfig
from rustseg_core.pipeline.segmenter import Segmenter
from tests.synthetic import encode, rust_image

STAGES = {"decode", "preprocess", "classify", "localise", "refine", "render", "total"}


@pytest.fixture(scope="module")
def big_rust():
    img, mask = rust_image(np.random.default_rng(11), 64, rust=True)
    # Upscale to a 'photo' so original and working resolutions differ.
    big = np.asarray(Image.fromarray(img).resize((1300, 1300), Image.NEAREST))[:, :1200]
    return big


def test_segment_result_fields(tiny_segmenter, rust_photo):
    img, _ = rust_photo
    r = tiny_segmenter.segment(img)
    assert r.is_corrosion and r.probability > 0.5
    assert r.mask.shape == img.shape[:2] and r.mask.dtype == bool
    assert 0 < r.area_fraction < 1 and r.area_fraction == pytest.approx(r.mask.mean())
    assert r.overlay.shape == img.shape and r.heatmap.shape == img.shape[:2]
    assert set(r.timings) == STAGES and all(v >= 0 for v in r.timings.values())
    s = r.summary()
    assert s["decision"] == "corrosion" and s["width"] == 160 and s["height"] == 120
    assert Image.open(io.BytesIO(r.mask_png())).size == (160, 120)
    assert Image.open(io.BytesIO(r.overlay_jpeg())).format == "JPEG"
    assert Image.open(io.BytesIO(r.heatmap_png())).mode == "RGB"


def test_below_threshold_returns_no_mask(tiny_model_dir):
    seg = Segmenter.load(tiny_model_dir, SegmenterConfig(threshold=1.0))
    img, _ = rust_image(np.random.default_rng(2), 64, rust=True)
    r = seg.segment(img)
    assert not r.is_corrosion and r.mask is None and r.area_fraction == 0.0
    assert np.array_equal(r.overlay, r.image)
    assert Image.open(io.BytesIO(r.mask_png())).getextrema() == (0, 0)


def test_large_photo_mask_at_original_size(tiny_segmenter, big_rust):
    r = tiny_segmenter.segment(encode(big_rust, "JPEG", quality=90))
    assert r.original_size == (1200, 1300)
    assert r.mask.shape == (1300, 1200)
    assert max(r.image.shape[:2]) <= tiny_segmenter.config.work_max_side


def test_exif_rotation_keeps_mask_aligned(tiny_model_dir, big_rust):
    """A phone JPEG stored sideways with EXIF orientation 6 must segment as displayed."""
    seg = Segmenter.load(tiny_model_dir, SegmenterConfig(threshold=0.0))
    upright = np.asarray(Image.fromarray(big_rust).resize((480, 640)))
    stored = np.ascontiguousarray(np.rot90(upright, k=1))  # rotated 90° CCW on disk
    exif = Image.Exif()
    exif[0x0112] = 6  # display needs a 90° CW turn
    buf = io.BytesIO()
    Image.fromarray(stored).save(buf, "JPEG", quality=95, exif=exif)
    r_exif = seg.segment(buf.getvalue())
    r_plain = seg.segment(encode(upright, "JPEG", quality=95))
    assert r_exif.original_size == (480, 640)
    assert r_exif.mask.shape == (640, 480)
    inter = (r_exif.mask & r_plain.mask).sum() / max((r_exif.mask | r_plain.mask).sum(), 1)
    assert r_plain.mask.any() and inter > 0.9


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "I;16", "CMYK"])
def test_colour_modes_are_converted(tiny_segmenter, rust_photo, mode):
    img, _ = rust_photo
    pil = Image.fromarray(img)
    if mode == "I;16":
        pil = Image.fromarray((np.asarray(pil.convert("L")).astype(np.uint16) * 257))
    else:
        pil = pil.convert(mode)
    buf = io.BytesIO()
    pil.save(buf, "JPEG" if mode == "CMYK" else "PNG")
    r = tiny_segmenter.segment(buf.getvalue())
    assert r.image.shape == (120, 160, 3) and r.image.dtype == np.uint8


def test_extreme_aspect_ratio(tiny_segmenter):
    r = tiny_segmenter.segment(np.full((1, 3000, 3), 120, np.uint8))
    assert r.image.shape[2] == 3 and r.original_size == (3000, 1)


def test_modes_and_bad_mode(tiny_segmenter, rust_photo):
    img, _ = rust_photo
    assert tiny_segmenter.segment(img, mode="advanced").mode == "advanced"
    with pytest.raises(ValueError, match="mode"):
        tiny_segmenter.segment(img, mode="fast")


def test_flip_tta_is_symmetric(tiny_model_dir, rust_photo):
    img, _ = rust_photo
    seg = Segmenter.load(tiny_model_dir, SegmenterConfig(tta_flip=True))
    a, b = seg.evidence(img), seg.evidence(np.ascontiguousarray(img[:, ::-1]))
    assert a.probability == pytest.approx(b.probability, abs=1e-5)
    np.testing.assert_allclose(a.cam, b.cam[:, ::-1], atol=1e-5)
    # The batch classifier gives the same probability as the stage that also localises.
    assert seg.probabilities([img])[0] == pytest.approx(a.probability, abs=1e-5)


def test_overlay_stays_visible_on_a_surface_of_its_own_colour():
    """A red tint vanishes on red paint: the outline must stand out against it."""
    from rustseg_core.pipeline.overlay import contrasting, overlay_mask

    red = np.zeros((120, 160, 3), np.uint8)
    red[:] = (255, 40, 40)  # the default overlay colour itself
    mask = np.zeros((120, 160), bool)
    mask[30:90, 40:120] = True
    out = overlay_mask(red, mask, colour=(255, 40, 40)).astype(int)
    border = mask & ~np.roll(mask, 1, axis=0)  # the mask's top edge
    distance = np.abs(out[border] - np.array([255, 40, 40])).sum(axis=1)
    assert distance.min() >= 300  # e.g. cyan against red: clearly visible
    outside = np.zeros_like(mask)
    outside[29, 40:120] = True  # just outside the top edge: the dark line
    assert out[outside].max() == 0
    assert contrasting((128, 128, 128)) in ((0, 0, 0), (255, 255, 255))


def test_advanced_mode_that_keeps_nothing_falls_back_and_says_so(tiny_segmenter, rust_photo):
    """A close-up that is all rust can leave advanced mode nothing after erosion; the result
    must not claim corrosion with a 0 % area and no word of why."""
    img, _ = rust_photo
    seg = tiny_segmenter.with_config(threshold=0.0).with_refine(erosion_size=161)
    ev = seg.evidence(img)
    assert not seg.mask_from_evidence(img, ev, "advanced").any()  # the mode as defined
    r = seg.segment(img, mode="advanced")
    assert r.is_corrosion and r.mode == "advanced"
    assert r.area_fraction > 0 and r.mask_note and "standard mask" in r.mask_note
    assert r.summary()["mask_note"] == r.mask_note
    assert seg.segment(img, mode="standard").mask_note is None


def test_with_config_shares_the_model_and_leaves_the_original_alone(tiny_segmenter):
    other = tiny_segmenter.with_refine(colour_weight=0.5)
    assert other.bundle is tiny_segmenter.bundle and other._forward is tiny_segmenter._forward
    assert other.config.refine.colour_weight == 0.5
    assert tiny_segmenter.config.refine.colour_weight != 0.5
    with pytest.raises(AttributeError):
        tiny_segmenter.config = other.config  # variants are made with with_config, not by mutation


def test_result_knows_the_format_it_was_decoded_from(tiny_segmenter, rust_photo):
    from tests.synthetic import encode

    img, _ = rust_photo
    assert tiny_segmenter.segment(encode(img, "PNG")).image_format == "PNG"
    assert tiny_segmenter.segment(img).image_format is None


# -- the U-Net and its learned mode -------------------------------------------------------------

@pytest.fixture(scope="module")
def unet(tiny_unet_dir):
    return Segmenter.load(tiny_unet_dir)


def test_unet_runs_every_mode_and_defaults_to_learned(unet, rust_photo):
    img, _ = rust_photo
    assert unet.modes == ("learned", "standard", "advanced") and unet.default_mode == "learned"
    ev = unet.evidence(img)
    assert ev.pixels is not None and ev.pixels.shape == (unet.bundle.input_size,) * 2
    assert 0.0 <= ev.pixels.min() <= ev.pixels.max() <= 1.0
    seg = unet.with_config(threshold=0.0)  # always "corrosion", so every mode draws a mask
    for mode in unet.modes:
        r = seg.segment(img, mode=mode)
        assert r.mode == mode and r.mask.shape == img.shape[:2]
    r = seg.segment(img)
    assert r.mode == "learned"
    # The mask is the pixel map above the model's own threshold, and the heatmap is that map.
    expected = seg.mask_from_evidence(r.image, ev, "learned")
    np.testing.assert_array_equal(r.mask, expected)
    np.testing.assert_allclose(r.heatmap, seg.evidence_map(r.image, ev, "learned"), atol=1e-6)
    assert seg.config.refine.learned_threshold == unet.bundle.info["mask_threshold"]


def test_classifier_only_model_refuses_learned_mode_clearly(tiny_segmenter, rust_photo):
    img, _ = rust_photo
    assert "learned" not in tiny_segmenter.modes
    with pytest.raises(ValueError, match="no per-pixel output.*standard, advanced"):
        tiny_segmenter.segment(img, mode="learned")


def test_unet_classifies_like_its_image_head(unet, rust_photo):
    img, _ = rust_photo
    assert unet.probabilities([img])[0] == pytest.approx(unet.evidence(img).probability, abs=1e-5)


def test_learned_side_computes_the_pixel_map_at_another_resolution(unet, rust_photo):
    img, _ = rust_photo
    big = unet.with_config(learned_side=64, threshold=0.0)
    ev = big.evidence(img)
    assert ev.pixels.shape == (64, 64)
    assert ev.probability == pytest.approx(unet.evidence(img).probability, abs=1e-5)  # same classifier pass
    assert big.segment(img).mask.shape == img.shape[:2]


def test_the_papers_modes_skip_the_pixel_map(unet, rust_photo):
    img, _ = rust_photo
    assert unet.evidence(img, pixel_map=False).pixels is None
    r = unet.with_config(threshold=0.0).segment(img, mode="standard")
    assert r.mode == "standard" and r.mask is not None
