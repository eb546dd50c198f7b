"""Source photos by file name: validation splits and bootstraps keep copies together."""
from pathlib import Path

import numpy as np
import pytest

from rustseg_core.learn.data import LabelledSet, stratified_split
from rustseg_core.learn.masks import MaskSet, split
from rustseg_core.learn.source_photos import before_first_dash, held_out, source_of, source_rule


def roboflow(stem: str, copy: int) -> str:
    """The name Roboflow gives one exported copy of ``stem``.jpg."""
    return f"{stem}_jpg.rf.{f'{copy:x}' * 32}.jpg"


def test_roboflow_copies_share_a_source_and_other_names_are_their_own():
    assert source_of(roboflow("IMG_7", 1)) == source_of(roboflow("IMG_7", 2)) == "IMG_7_jpg"
    assert source_of(roboflow("IMG_7", 1)) != source_of(roboflow("IMG_8", 1))
    # names with dashes (screenshots, dates, numbered downloads) are photos of their own
    for name in ("Captura-de-Tela-2023-01-12-a-s-10-15-56_png_jpg.jpg", "natthaphon-000016.jpg",
                 "2017-10-30-16-34-06_jpg.jpg", "IMG_1234.JPG", "x.rf.notahash.jpg"):
        assert source_of(name) == name
    assert source_of("Captura-de-Tela-2023-01-12.jpg") != source_of("Captura-de-Tela-2023-01-13.jpg")


def test_the_51_masks_rule_is_kept_for_their_part_only():
    assert before_first_dash("train_000143-a72f59.jpg") == before_first_dash("train_000143-d12664.jpg") \
        == "train_000143"
    assert source_rule("segmentation") is before_first_dash
    assert source_rule("pixel") is source_of and source_rule("boxes") is source_of


def test_held_out_keeps_each_source_on_one_side():
    names = [roboflow(f"p{i}", c) for i in range(20) for c in range(3)] + [f"solo{i}.jpg" for i in range(10)]
    sources = [source_of(n) for n in names]
    for seed in range(20):
        val = held_out(names, 0.2, np.random.default_rng(seed))
        assert len(val) >= 14  # at least the share asked for, whole sources at a time
        assert len(val) < 14 + 3
        inside = {sources[i] for i in val}
        outside = {s for i, s in enumerate(sources) if i not in set(val)}
        assert not inside & outside


def test_with_one_photo_per_source_the_draw_is_a_plain_shuffle():
    # so models trained before sources were grouped keep their held-out photos
    names = [f"photo-{i:06d}.jpg" for i in range(97)]
    for seed in range(5):
        old = np.sort(np.random.default_rng(seed).permutation(97)[:10])
        assert list(held_out(names, 0.1, np.random.default_rng(seed))) == list(old)


def test_classifier_validation_split_keeps_copies_together():
    paths = [Path("corrosion") / roboflow(f"r{i}", c) for i in range(12) for c in range(3)] + \
            [Path("not_corrosion") / roboflow(f"c{i}", c) for i in range(12) for c in range(3)]
    ds = LabelledSet(paths, np.array([1] * 36 + [0] * 36))
    train, val = stratified_split(ds, 0.15, seed=0)
    assert len(train) + len(val) == 72
    assert sorted(val.labels) == [0] * 6 + [1] * 6  # two sources of each class: 15 % rounded up
    assert not {source_of(p.name) for p in train.paths} & {source_of(p.name) for p in val.paths}


@pytest.mark.parametrize("fraction", [0.1, 0.3])
def test_mask_validation_split_keeps_copies_together(fraction):
    names = [roboflow(f"m{i}", c) for i in range(10) for c in range(3)]
    n = len(names)
    ms = MaskSet(np.zeros((n, 4, 4, 3), np.uint8), np.zeros((n, 4, 4), np.uint8), np.ones(n, np.float32),
                 np.ones(n, np.float32), names)
    train, val = split(ms, fraction, seed=3)
    assert len(train) + len(val) == n and len(val) % 3 == 0 and len(val) >= round(n * fraction)
    assert not {source_of(x) for x in train.names} & {source_of(x) for x in val.names}


def test_tune_weighs_source_photos_by_the_rule_of_its_masks():
    from rustseg_core.learn.tuning import Cached

    gt = np.zeros((4, 4), bool)
    gt[:2] = True

    def cached(source):
        c = Cached.__new__(Cached)  # its photos given here, not decoded by a model
        c.items = [(name, gt, right, None, 1.0) for name, right in (("a-1.jpg", True), ("a-2.jpg", False),
                                                                     ("b-1.jpg", True))]
        c.threshold, c.source = 0.5, source
        return c

    def perfect_or_empty(right, ev, size):
        return gt if right else np.zeros_like(gt)

    assert cached(before_first_dash).score(perfect_or_empty) == pytest.approx(0.75)  # a: 0.5, b: 1
    assert cached(source_of).score(perfect_or_empty) == pytest.approx(2 / 3)  # three photos
