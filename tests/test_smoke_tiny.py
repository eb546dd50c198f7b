import numpy as np

from tests.synthetic import rust_image


def test_tiny_model_separates_classes(tiny_segmenter):
    rng = np.random.default_rng(123)
    probs = {True: [], False: []}
    for i in range(20):
        img, _ = rust_image(rng, 64, rust=bool(i % 2))
        probs[bool(i % 2)].append(tiny_segmenter.segment(img).probability)
    assert min(probs[True]) > max(probs[False]) - 0.2
    assert np.mean(probs[True]) > 0.5 > np.mean(probs[False])
