"""The model card's validation checks (``scripts/*_check.py``) on the tiny U-Net and the data
it was trained from: they run, score only the model's held-out photos, and the threshold
check's row for the model's own threshold is the mask learned mode serves."""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def trained_on(tiny_unet_dir):
    """(mask folder, labelled folder) the tiny U-Net learned from, as its rustseg.json says."""
    info = json.loads((tiny_unet_dir / "rustseg.json").read_text())["info"]["trained_on"]
    return Path(info["masks"][0]), Path(info["image_labels"])


def test_threshold_check_scores_the_served_mask(tiny_unet_dir, trained_on, capsys):
    from rustseg_core.learn.evaluate import mask_pairs
    from rustseg_core.learn.metrics import mask_scores
    from rustseg_core.pipeline.segmenter import Segmenter

    masks, labelled = trained_on
    assert _script("learned_threshold_check").main(
        ["--model", str(tiny_unet_dir), "--masks", str(masks), "--clean", str(labelled / "not_corrosion")]) == 0
    out = capsys.readouterr().out
    seg = Segmenter.load(tiny_unet_dir)
    held_out = set(seg.bundle.info["val_mask_photos"])
    assert f"{len(held_out)} held-out close-ups" in out
    served = [mask_scores(seg.mask_from_evidence(image, seg.learned_evidence(image), "learned",
                                                 size=gt.shape), gt)["iou"]
              for image, gt in ((seg.decode(str(p)).image, gt) for p, gt in mask_pairs(masks, held_out))]
    row = re.search(r"\(the model's\)\s+([0-9.]+)", out)
    assert row and float(row.group(1)) == pytest.approx(np.mean(served), abs=5e-4)
    assert "photos, IoU" in out  # the table by the share of the photo the rust covers


def test_ensemble_check_weight_zero_is_the_first_model_alone(tiny_unet_dir, tiny_model_dir, trained_on, capsys):
    from sklearn.metrics import roc_auc_score

    from rustseg_core.learn.data import list_labelled
    from rustseg_core.pipeline.segmenter import Segmenter

    masks, labelled = trained_on
    assert _script("decision_ensemble_check").main(
        ["--model", str(tiny_unet_dir), "--other", str(tiny_model_dir), "--masks", str(masks),
         "--images", str(labelled)]) == 0
    out = capsys.readouterr().out
    seg, photos = Segmenter.load(tiny_unet_dir), list_labelled(labelled)
    p = [seg.learned_evidence(seg.decode(str(path)).image).probability for path in photos.paths]
    auc = float(re.search(r"weight 0 on .*: ROC AUC ([0-9.]+)", out).group(1))
    assert auc == pytest.approx(roc_auc_score(photos.labels, p), abs=5e-4)
    assert out.count("balanced accuracy") == 25  # 5 weights × 5 thresholds


def test_crf_check_runs_on_the_held_out_photos(tiny_unet_dir, trained_on, capsys):
    masks, _ = trained_on
    assert _script("learned_crf_check").main(["--model", str(tiny_unet_dir), "--masks", str(masks)]) == 0
    out = capsys.readouterr().out
    n = len(json.loads((tiny_unet_dir / "rustseg.json").read_text())["info"]["val_mask_photos"])
    assert out.startswith(f"{n} held-out mask photos")
    assert len(re.findall(r"mean IoU [0-9.]+", out)) == 9  # as served, then the 8 CRF settings


@pytest.mark.slow  # a research script's full grid (default suite under 5 minutes)
def test_unet_ensemble_check_of_a_model_with_itself_is_that_model(tiny_unet_dir, trained_on, capsys):
    """The mean of a model with itself scores as the model does, and its rows are the IoUs that
    ``rustseg tune --learned`` measures at that side."""
    from rustseg_core.learn.tuning import at_side, tune_learned
    from rustseg_core.pipeline.segmenter import Segmenter

    masks, labelled = trained_on
    script = _script("unet_ensemble_check")
    assert script.main(["--model", str(tiny_unet_dir), "--other", str(tiny_unet_dir),
                        "--masks", str(masks), "--images", str(labelled)]) == 0
    out = capsys.readouterr().out
    blocks = re.findall(r"close-up mean IoU by mask threshold: (.*)\n  (ROC AUC .*)", out)
    assert len(blocks) == 3 and blocks[0] == blocks[1] == blocks[2]
    gains = re.findall(r"^.* minus .*: (.*) \(95 % paired bootstrap intervals\)$", out, re.M)
    assert gains == ["+0.000 [0.000–0.000]; ROC AUC +0.000 [0.000–0.000]"] * 3
    seg = Segmenter.load(tiny_unet_dir)
    side = seg.learned_side
    _, _, table = tune_learned(at_side(seg, side), masks, set(seg.bundle.info["val_mask_photos"]),
                               sides=(side,), thresholds=script.MASK_THRESHOLDS, log=lambda _: None)
    ious = [float(v) for v in re.findall(r": ([0-9.]+)", blocks[0][0])]
    assert ious == pytest.approx([table[(side, t)] for t in script.MASK_THRESHOLDS], abs=5e-4)


@pytest.mark.slow  # a research script's full grid (default suite under 5 minutes)
def test_unet_ensemble_check_compares_two_input_sides_of_one_model(tiny_unet_dir, trained_on, capsys):
    """With --other-side the second network runs at that side: its rows are what the first
    scores there."""
    masks, labelled = trained_on
    script = _script("unet_ensemble_check")
    from rustseg_core.pipeline.segmenter import Segmenter

    side = Segmenter.load(tiny_unet_dir).learned_side
    common = ["--model", str(tiny_unet_dir), "--other", str(tiny_unet_dir), "--masks", str(masks),
              "--images", str(labelled)]
    outs = []
    for extra in (["--side", str(side), "--other-side", str(2 * side)], ["--side", str(2 * side)]):
        assert script.main(common + extra) == 0
        outs.append(capsys.readouterr().out)
    assert f"networks at {side} and {2 * side} px" in outs[0]
    two_sides, larger = (re.findall(r"close-up mean IoU by mask threshold: (.*)\n  (ROC AUC .*)", out)
                         for out in outs)
    assert two_sides[1] == larger[0] and two_sides[0] != two_sides[1]


def test_unet_ensemble_check_refuses_models_with_other_held_out_photos(tiny_unet_dir, trained_on,
                                                                       tmp_path, capsys):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(tiny_unet_dir, other)
    meta = json.loads((other / "rustseg.json").read_text())
    meta["info"]["val_mask_photos"] = meta["info"]["val_mask_photos"][1:]
    (other / "rustseg.json").write_text(json.dumps(meta))
    masks, labelled = trained_on
    with pytest.raises(SystemExit) as exit_:
        _script("unet_ensemble_check").main(["--model", str(tiny_unet_dir), "--other", str(other),
                                             "--masks", str(masks), "--images", str(labelled)])
    assert exit_.value.code == 2 and "held out different mask photos" in capsys.readouterr().err


@pytest.mark.slow  # a research script's full grid (default suite under 5 minutes)
def test_degraded_check_as_taken_is_tune_learned_and_faults_change_the_photo(tiny_unet_dir, trained_on,
                                                                             tmp_path, capsys):
    """The 'as taken' row is the IoU ``rustseg tune --learned`` measures at the model's side and
    mask threshold; each fault changes the photo, the same way for the same seed; two models
    with other held-out photos are refused."""
    import shutil

    from rustseg_core.learn.tuning import tune_learned
    from rustseg_core.pipeline.segmenter import Segmenter

    masks, _ = trained_on
    script = _script("degraded_closeups_check")
    photo = np.random.default_rng(0).integers(20, 235, (48, 48, 3)).astype(np.uint8)
    for name, fault in script.FAULTS.items():
        a, b = fault(photo, np.random.default_rng(3)), fault(photo, np.random.default_rng(3))
        assert a.dtype == np.uint8 and a.shape == photo.shape and np.array_equal(a, b), name
        assert np.abs(a.astype(int) - photo).mean() > 1, name
    assert script.main(["--model", str(tiny_unet_dir), str(tiny_unet_dir), "--masks", str(masks)]) == 0
    out = capsys.readouterr().out
    rows = dict(re.findall(r"^\| (.+?) \| (.+) \|$", out, re.M))
    assert set(script.FAULTS) < set(rows) and "all faults" in rows
    first, second = rows["as taken"].split(" | ")
    assert first == second  # the same model, the same pixels
    assert "as taken +0.000 [0.000–0.000], jpeg q35 +0.000" in out  # no difference
    assert "all faults +0.000 [0.000–0.000]" in out
    seg = Segmenter.load(tiny_unet_dir)
    t = seg.config.refine.learned_threshold
    _, _, table = tune_learned(seg, masks, set(seg.bundle.info["val_mask_photos"]),
                               sides=(seg.learned_side,), thresholds=(t,), log=lambda _: None)
    assert float(first) == pytest.approx(table[(seg.learned_side, t)], abs=5e-4)
    other = tmp_path / "other"
    shutil.copytree(tiny_unet_dir, other)
    meta = json.loads((other / "rustseg.json").read_text())
    meta["info"]["val_mask_photos"] = meta["info"]["val_mask_photos"][1:]
    (other / "rustseg.json").write_text(json.dumps(meta))
    with pytest.raises(SystemExit) as exit_:
        script.main(["--model", str(tiny_unet_dir), str(other), "--masks", str(masks)])
    assert exit_.value.code == 2 and "held out different mask photos" in capsys.readouterr().err


def test_import_roundtrip_check_gives_back_every_mask(tmp_path, capsys):
    from tests.synthetic import write_mask_folder

    write_mask_folder(tmp_path / "set", n=5, size=48)
    assert _script("import_roundtrip_check").main([str(tmp_path / "set")]) == 0
    said = capsys.readouterr().out
    for fmt in ("a CVAT segmentation-mask export", "LabelMe AI masks", "Roboflow's PNG masks",
                "masks named NAME_mask.png", "CVAT for images masks", "Label Studio brush strokes",
                "Supervisely bitmaps", "a COCO RLE export"):
        assert f"5 of 5 masks came back identical through {fmt}" in said


def test_import_roundtrip_check_gives_back_every_box(tmp_path, capsys):
    from tests.synthetic import write_mask_folder

    write_mask_folder(tmp_path / "set", n=3, size=48)
    (tmp_path / "set" / "boxes.json").write_text(json.dumps(
        {"m000.jpg": [[1, 2, 30, 40]], "m001.jpg": [[0, 0, 48, 48], [5, 5, 9, 9]], "m002.jpg": [[10, 0, 20, 7]]}))
    assert _script("import_roundtrip_check").main([str(tmp_path / "set")]) == 0
    said = capsys.readouterr().out
    for fmt in ("a COCO detection export", "a Pascal VOC export", "LabelMe rectangles", "VIA rectangles",
                "CVAT boxes", "Label Studio rectangles", "Supervisely rectangles"):
        assert f"3 of 3 photos' boxes came back identical through {fmt}" in said


def test_rasteriser_check_compares_imported_masks_with_the_shared_ones(tmp_path, capsys):
    """On a stand-in for pixel/test whose masks Pillow drew from the label files (as the
    shared ones were), every imported mask is identical; a mask drawn otherwise is not."""
    from PIL import Image, ImageDraw

    labels, folder = tmp_path / "labels", tmp_path / "pixel"
    labels.mkdir()
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    for name, poly in (("thin", [0.1, 0.5, 0.9, 0.5, 0.9, 0.51, 0.1, 0.51]),
                       ("patch", [0.2, 0.2, 0.7, 0.25, 0.6, 0.8, 0.25, 0.7])):
        (labels / f"{name}.txt").write_text("0 " + " ".join(map(str, poly)) + "\n")
        Image.new("RGB", (64, 48), (90, 90, 90)).save(folder / "images" / f"{name}.jpg")
        mask = Image.new("L", (64, 48), 0)
        ImageDraw.Draw(mask).polygon([(x * 64, y * 48) for x, y in zip(poly[0::2], poly[1::2])], fill=255)
        mask.save(folder / "masks" / f"{name}.png")
    script = _script("rasteriser_check")
    assert script.main([str(folder), "--labels", str(labels)]) == 0
    assert "2 of 2 masks imported identical" in capsys.readouterr().out
    Image.new("L", (64, 48), 0).save(folder / "masks" / "thin.png")
    assert script.main([str(folder), "--labels", str(labels)]) == 1
    assert "thin: imported mask DIFFERS" in capsys.readouterr().out
