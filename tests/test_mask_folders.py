"""Mask folders as other tools write them: how a mask file is read, and what evaluation does
with photos it cannot use (no mask, a damaged photo or mask)."""
import io
import json

import numpy as np
import pytest
from PIL import Image

from rustseg_core.cli import main
from rustseg_core.learn.masks import load_mask_folder, read_mask
from tests.synthetic import write_labelled_folder, write_mask_folder

H, W = 24, 32


def _truth() -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[4:15, 6:20] = True
    m[18:22, 25:30] = True
    return m


def _palette(colours: list[tuple[int, int, int]], index: np.ndarray) -> Image.Image:
    img = Image.fromarray(index.astype(np.uint8), "P")
    img.putpalette([c for rgb in colours for c in rgb] + [0] * 3 * (256 - len(colours)))
    return img


def _rgba_on_transparent(m: np.ndarray) -> Image.Image:
    # White strokes on a transparent layer whose hidden colour is white too, as some editors
    # save it: only the alpha channel tells the two apart.
    rgba = np.full((H, W, 4), 255, np.uint8)
    rgba[..., 3] = np.where(m, 255, 0)
    return Image.fromarray(rgba, "RGBA")


ENCODINGS = {
    "grey_0_255": lambda m: Image.fromarray(np.where(m, 255, 0).astype(np.uint8)),
    "grey_class_indices_0_1": lambda m: Image.fromarray(m.astype(np.uint8)),
    "one_bit": lambda m: Image.fromarray(np.where(m, 255, 0).astype(np.uint8)).convert("1"),
    "grey16_0_65535": lambda m: Image.fromarray(np.where(m, 65535, 0).astype(np.uint16)),
    "grey16_class_indices": lambda m: Image.fromarray(m.astype(np.uint16)),
    "palette_black_red": lambda m: _palette([(0, 0, 0), (128, 0, 0)], m),
    "red_on_black_rgb": lambda m: Image.fromarray(np.dstack([np.where(m, 255, 0)] + [np.zeros((H, W))] * 2)
                                                  .astype(np.uint8)),
    "white_on_transparent_rgba": _rgba_on_transparent,
    "grey_with_alpha": lambda m: Image.fromarray(np.where(m, 255, 0).astype(np.uint8)).convert("LA"),
}


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_mask_reads_the_same_in_every_encoding(tmp_path, encoding):
    path = tmp_path / "m.png"
    ENCODINGS[encoding](_truth()).save(path)
    got = read_mask(path)
    assert got.dtype == np.uint8 and set(np.unique(got)) <= {0, 255}
    assert np.array_equal(got == 255, _truth())


def test_a_damaged_mask_raises_oserror(tmp_path):
    buf = io.BytesIO()
    ENCODINGS["grey_0_255"](_truth()).save(buf, "PNG")
    (tmp_path / "m.png").write_bytes(buf.getvalue()[:40])
    with pytest.raises(OSError):
        read_mask(tmp_path / "m.png")


def _recode(folder, encoding: str) -> None:
    for p in (folder / "masks").iterdir():
        ENCODINGS[encoding](np.asarray(Image.open(p)) > 0).save(p)


def test_training_reads_class_index_masks_as_the_same_masks(tmp_path):
    write_mask_folder(tmp_path / "a", n=3, size=48, seed=2)
    write_mask_folder(tmp_path / "b", n=3, size=48, seed=2)
    _recode(tmp_path / "b", "grey_class_indices_0_1")
    a, b = load_mask_folder(tmp_path / "a", 32), load_mask_folder(tmp_path / "b", 32)
    assert a.masks.any() and np.array_equal(a.masks, b.masks)


def test_a_mask_replaced_under_the_same_name_is_read_again_not_served_from_the_cache(tmp_path):
    # `rustseg dataset export` writes masks/<id>.png again after more corrections.
    write_mask_folder(tmp_path / "pix", n=2, size=48, seed=3)
    cache = tmp_path / "cache"
    first = load_mask_folder(tmp_path / "pix", 32, cache)
    mask = sorted((tmp_path / "pix" / "masks").iterdir())[0]
    Image.fromarray(np.zeros((48, 48), np.uint8)).save(mask)
    again = load_mask_folder(tmp_path / "pix", 32, cache)
    assert first.masks[0].any() and not again.masks[0].any()
    assert np.array_equal(first.masks[1], again.masks[1])


def _evaluate(model_dir, data, out, *parts: str) -> dict:
    assert main(["evaluate", "--data", str(data), "--model", str(model_dir), "--only", ",".join(parts),
                 "--out", str(out)]) == 0
    return json.loads((out / "metrics.json").read_text())


def test_evaluation_scores_class_index_masks_as_their_0_255_twins(tiny_model_dir, tmp_path):
    write_mask_folder(tmp_path / "a" / "pixel" / "test", n=3, size=64, seed=4)
    write_mask_folder(tmp_path / "b" / "pixel" / "test", n=3, size=64, seed=4)
    _recode(tmp_path / "b" / "pixel" / "test", "grey_class_indices_0_1")
    a = _evaluate(tiny_model_dir, tmp_path / "a", tmp_path / "ra", "pixel")["pixel"]["ungated"]
    b = _evaluate(tiny_model_dir, tmp_path / "b", tmp_path / "rb", "pixel")["pixel"]["ungated"]
    assert a["methods"]["colour_rule"]["per_image_mean"]["iou"] > 0.5
    assert a["methods"] == b["methods"] and b["n_images"] == 3


def test_evaluation_leaves_out_what_it_cannot_score_and_says_so(tiny_model_dir, tmp_path, capsys):
    pixel = tmp_path / "pixel" / "test"
    write_mask_folder(pixel, n=5, size=64, seed=5)
    (pixel / "masks" / "m000.png").unlink()  # a photo without its mask
    (pixel / "images" / "m001.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (pixel / "masks" / "m002.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    classification = tmp_path / "classification" / "test"
    write_labelled_folder(classification, n_per_class=3, size=64, seed=6)
    (classification / "corrosion" / "damaged.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    report = _evaluate(tiny_model_dir, tmp_path, tmp_path / "r", "classification", "pixel")
    assert report["pixel"]["gated"]["n_images"] == 2
    assert report["pixel"]["gated"]["left_out"] == {
        "m000.jpg": "no mask (masks/NAME.png)", "m001.jpg": "cannot be read as an image",
        "m002.jpg": "the mask cannot be read"}
    c = report["classification"]
    assert c["n"] == 6 and list(c["left_out"]) == [str(classification / "corrosion" / "damaged.jpg")]
    printed = capsys.readouterr().out
    assert "left out of these figures: 3 photo(s)" in printed
    assert "left out of these figures: 1 photo(s)" in printed and "damaged.jpg" in printed


def test_evaluation_warns_of_a_mask_turned_against_its_photo(tiny_model_dir, tmp_path, caplog):
    pixel = tmp_path / "pixel" / "test"
    write_mask_folder(pixel, n=2, size=64, seed=7)
    turned = pixel / "masks" / "m001.png"
    Image.open(turned).crop((0, 0, 40, 64)).save(turned)  # 40 x 64 beside a 64 x 64 photo
    report = _evaluate(tiny_model_dir, tmp_path, tmp_path / "r", "pixel")
    assert report["pixel"]["gated"]["n_images"] == 2
    warned = [r.getMessage() for r in caplog.records if "stretched to fit" in r.getMessage()]
    assert len(warned) == 1 and "m001.jpg is 64 x 64 px upright but its mask is 40 x 64 px" in warned[0]


def test_clean_photos_that_cannot_be_scored_give_no_figure(tiny_model_dir, tmp_path, capsys):
    """An empty clean folder is refused before the model loads; one whose every photo is
    unreadable says so instead of reporting 0 % called corrosion on no photo at all."""
    (tmp_path / "empty").mkdir()
    args = ["evaluate", "--only", "clean", "--model", str(tiny_model_dir), "--out", str(tmp_path / "e")]
    assert main([*args, "--clean", str(tmp_path / "empty")]) == 2
    assert "no photos under" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.jpg").write_bytes(b"not a photo")
    assert main([*args, "--clean", str(tmp_path / "bad")]) == 0
    said = capsys.readouterr().out
    assert "none could be read, so no figure" in said and "x.jpg" in said
    clean = json.loads((tmp_path / "e" / "metrics.json").read_text())["clean"]
    assert clean["n_images"] == 0 and clean["share_called_corrosion"] is None


def test_classification_and_boxes_that_cannot_be_scored_say_so(tiny_model_dir, tmp_path, capsys):
    """No readable photo: no figure (it was a scikit-learn traceback for the classification,
    and nan for the pointing game). Photos of one class only, as a user with a folder of
    rust photos has: the accuracy, and the ROC AUC said to be undefined, not nan."""
    write_labelled_folder(tmp_path / "one", n_per_class=3, size=32)
    for p in (tmp_path / "one" / "not_corrosion").iterdir():
        p.unlink()
    (tmp_path / "junk" / "corrosion").mkdir(parents=True)
    (tmp_path / "junk" / "not_corrosion").mkdir()
    (tmp_path / "junk" / "corrosion" / "a.jpg").write_bytes(b"not a photo")
    (tmp_path / "boxes" / "images").mkdir(parents=True)
    (tmp_path / "boxes" / "boxes.json").write_text(json.dumps({"gone.jpg": [[0, 0, 5, 5]]}))
    base = ["evaluate", "--model", str(tiny_model_dir), "--out", str(tmp_path / "e")]
    assert main([*base, "--only", "classification", "--classification", str(tmp_path / "one")]) == 0
    said = capsys.readouterr().out
    assert "(n=3): accuracy" in said and "ROC AUC n/a (photos of one class)" in said
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())["classification"]
    assert metrics["roc_auc"] is None and not (tmp_path / "e" / "roc.png").exists()
    assert main([*base, "--only", "classification,boxes", "--classification", str(tmp_path / "junk"),
                 "--boxes", str(tmp_path / "boxes")]) == 0
    said = capsys.readouterr().out
    assert said.count("no photo could be read, so no figure") == 2
    assert "a.jpg" in said and "gone.jpg (no such file)" in said
    report = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert report["classification"]["n"] == 0 and report["boxes"]["pointing_game_centre_baseline"] is None
