import json
import re

import numpy as np
import pytest
from PIL import Image

from rustseg_core.learn import evaluate as ev
from rustseg_core.learn import metrics
from rustseg_core.learn.source_photos import before_first_dash
from rustseg_core.cli import main
from tests.synthetic import rust_image, write_labelled_folder, write_mask_folder


def test_mask_scores_hand_example():
    gt = np.array([[1, 1, 0, 0]], bool)
    pred = np.array([[1, 0, 1, 0]], bool)
    s = metrics.mask_scores(pred, gt)
    assert s["iou"] == pytest.approx(1 / 3) and s["dice"] == pytest.approx(0.5)
    assert s["precision"] == pytest.approx(0.5) and s["recall"] == pytest.approx(0.5)
    empty = np.zeros((2, 2), bool)
    assert metrics.mask_scores(empty, empty)["iou"] == 1.0


def test_classification_metrics():
    labels = np.array([0, 0, 1, 1, 1])
    probs = np.array([0.1, 0.7, 0.8, 0.9, 0.4])
    m = metrics.classification_metrics(labels, probs)
    assert m["accuracy"] == pytest.approx(0.6)
    assert m["confusion_matrix"]["rows_true_cols_pred"] == [[1, 1], [1, 2]]
    assert m["roc_auc"] == pytest.approx(5 / 6)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)


def test_per_source_means_weight_each_source_once():
    # two of Roboflow's augmented copies of a, and b
    a1, a2 = (f"a_jpg.rf.{h * 32}.jpg" for h in "01")
    per_image = {
        a1: {"probability": 1, "scores": {"m": {"iou": 1.0, "dice": 1, "precision": 1, "recall": 1}}},
        a2: {"probability": 1, "scores": {"m": {"iou": 0.0, "dice": 0, "precision": 0, "recall": 0}}},
        "b-1.jpg": {"probability": 1, "scores": {"m": {"iou": 1.0, "dice": 1, "precision": 1, "recall": 1}}},
    }
    s = metrics.summarise_segmentation(per_image)
    assert s["n_sources"] == 2
    assert s["methods"]["m"]["per_source_mean"]["iou"] == pytest.approx(0.75)
    assert s["methods"]["m"]["per_image_mean"]["iou"] == pytest.approx(2 / 3)


def test_bootstrap_intervals_say_how_far_a_mean_could_move():
    rng = np.random.default_rng(0)
    small, large = rng.random(20), rng.random(2000)
    ci = metrics.interval(small)
    assert ci == metrics.interval(small)  # seeded: a rerun prints the same interval
    assert small.min() <= ci[0] < small.mean() < ci[1] <= small.max()
    wide, narrow = ci[1] - ci[0], np.subtract(*metrics.interval(large)[::-1])
    assert narrow < wide / 5  # 100x the photos: about a tenth of the width
    assert metrics.interval([0.2, 0.2, 0.2]) == [0.2, 0.2] and metrics.interval([0.4]) is None
    assert metrics.format_interval([0.1234, 0.5]) == " [0.123–0.500]" and metrics.format_interval(None) == ""


def test_auc_interval_resamples_photos_with_their_labels():
    y = np.array([0] * 30 + [1] * 30)
    assert metrics.auc_interval(y, y * 0.5 + 0.2) == [1.0, 1.0]  # separated in every resample
    p = np.random.default_rng(1).random(60)
    low, high = metrics.auc_interval(y, p)
    auc = metrics.classification_metrics(y, p)["roc_auc"]
    assert low < auc < high and low < 0.5 < high  # chance scores: chance is inside
    assert metrics.auc_interval([0, 1, 1, 1], [0.1, 0.2, 0.3, 0.4]) is None  # one clean photo
    # the vectorised AUC is scikit-learn's, tied scores included, on the same resamples
    from scipy.stats import bootstrap
    from sklearn.metrics import roc_auc_score

    tied = np.round(p, 1)
    r = bootstrap((y, tied), roc_auc_score, paired=True, vectorized=False, n_resamples=200,
                  method="percentile", rng=np.random.default_rng(0))
    assert metrics.auc_interval(y, tied, resamples=200) == pytest.approx(list(r.confidence_interval))
    # a paired gain: none against itself; a better model's gain is above 0, a coin flip's is not
    assert metrics.auc_gain_interval(y, p, p) == [0.0, 0.0]
    better = np.clip(p + 0.4 * y, 0, 1)
    assert metrics.auc_gain_interval(y, p, better)[0] > 0
    low, high = metrics.auc_gain_interval(y, p, np.random.default_rng(2).random(60))
    assert low < 0 < high


def test_iou_intervals_resample_source_photos():
    def scored(iou):
        return {"probability": 1, "scores": {"m": {"iou": iou, "dice": 0, "precision": 0, "recall": 0}}}

    # source a: four augmented copies, mean 0.5; source b: one photo, 1.0
    per_image = {**{f"a-{i}.jpg": scored(i % 2) for i in range(4)}, "b-1.jpg": scored(1.0)}
    # the 51 masks' rule: copies are SOURCE-HASH.jpg
    summary = metrics.summarise_segmentation(per_image, source=before_first_dash)
    ci = metrics.iou_intervals(summary, before_first_dash)["m"]
    assert ci["per_source_mean"] == [0.5, 1.0]  # two sources: means of 0.5, 0.75 or 1.0
    # the copies of a are drawn together, never one by one: per image 0.5, 0.6 or 1.0 (an IoU
    # of 0 or 1 alone, as five independent photos would give, never)
    assert ci["per_image_mean"] == [0.5, 1.0]
    assert metrics.interval([0.5, 1.0], weights=[4, 1], resamples=200) == [0.5, 1.0]


@pytest.fixture
def eval_data(tmp_path):
    rng = np.random.default_rng(9)
    write_labelled_folder(tmp_path / "classification" / "test", n_per_class=6)
    seg = tmp_path / "segmentation"
    write_mask_folder(tmp_path / "pixel" / "test", n=3, size=80, seed=4)
    (seg / "images").mkdir(parents=True)
    (seg / "masks").mkdir()
    boxes = {}
    (tmp_path / "boxes" / "images").mkdir(parents=True)
    for i in range(4):
        img, mask = rust_image(rng, 96, rust=True)
        Image.fromarray(img).save(seg / "images" / f"src{i // 2}-{i}.jpg", quality=95)
        Image.fromarray(mask.astype(np.uint8) * 255).save(seg / "masks" / f"src{i // 2}-{i}.png")
        Image.fromarray(img).save(tmp_path / "boxes" / "images" / f"b{i}.jpg")
        ys, xs = np.nonzero(mask)
        boxes[f"b{i}.jpg"] = [[int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]]
    (tmp_path / "boxes" / "boxes.json").write_text(json.dumps(boxes))
    return tmp_path


@pytest.mark.parametrize("model", ["tiny_model_dir", "tiny_unet_dir"])
def test_evaluate_command_end_to_end(model, eval_data, tmp_path, capsys, request):
    out = tmp_path / "report"
    model_dir = request.getfixturevalue(model)
    learned = model == "tiny_unet_dir"
    assert main(["evaluate", "--data", str(eval_data), "--model", str(model_dir), "--out", str(out)]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["runtime"] == {"learned": "tensorflow", "paper_modes": "tensorflow"}  # nothing exported
    c = report["classification"]
    assert c["n"] == 12
    if not learned:  # the tiny U-Net trains for seconds: its numbers mean nothing
        assert c["accuracy"] >= 0.75 and c["roc_auc"] >= 0.8
    assert (out / "roc.png").is_file() and (out / "confusion.png").is_file()
    seg = report["segmentation"]["ungated"]
    assert seg["n_images"] == 4 and seg["n_sources"] == 2
    variants = {"standard", "advanced", "paper_crf", "paper_advanced", "heatmap", "colour_rule"} | (
        {"learned"} if learned else set())
    assert set(seg["methods"]) == variants
    assert seg["methods"]["colour_rule"]["per_source_mean"]["iou"] > 0.7
    gated = report["segmentation"]["gated"]
    assert gated["methods"]["colour_rule"] == seg["methods"]["colour_rule"]  # no classifier, no gate
    for m in variants - {"colour_rule"}:  # the gate can only remove masks
        assert gated["methods"][m]["per_source_mean"]["recall"] <= seg["methods"][m]["per_source_mean"]["recall"]
    pixel = report["pixel"]["gated"]
    assert pixel["n_images"] == 3 and set(pixel["methods"]) == variants
    assert pixel["share_called_clean"] == pytest.approx(1 - pixel["classified_corrosion"] / pixel["n_images"])
    clean = report["clean"]
    assert clean["n_images"] == 6 and set(clean["false_area_gated"]) == variants
    for m in variants:
        assert 0 <= clean["false_area_gated"][m] <= clean["false_area_ungated"][m] <= 1
    b = report["boxes"]
    assert b["n_images"] == 4
    keys = {"standard", "heatmap", "colour_only", "centre_baseline"} | ({"learned"} if learned else set())
    for key in keys:
        assert 0 <= b[f"pointing_game_{key}"] <= 1
    # every headline figure comes with a bootstrap interval around it
    def within(ci, value):
        return ci is None or ci[0] - 1e-9 <= value <= ci[1] + 1e-9

    assert within(c["ci95"]["accuracy"], c["accuracy"]) and within(c["ci95"]["roc_auc"], c["roc_auc"])
    for m in variants:
        ci = pixel["ci95"]["iou"][m]
        assert within(ci["per_image_mean"], pixel["methods"][m]["per_image_mean"]["iou"])
        assert within(ci["per_source_mean"], pixel["methods"][m]["per_source_mean"]["iou"])
        assert within(clean["ci95"]["false_area_gated"][m], clean["false_area_gated"][m])
    assert within(clean["ci95"]["share_called_corrosion"], clean["share_called_corrosion"])
    for key in keys:
        assert within(b["ci95"][f"pointing_game_{key}"], b[f"pointing_game_{key}"])
    printed = capsys.readouterr().out
    assert "pointing game" in printed and "false area" in printed and "close-up masks" in printed
    assert "95 % bootstrap interval" in printed
    # photos.csv: the default mode's figures photo by photo, which give back the headline ones.
    import csv

    mode = report["default_mode"]
    rows = list(csv.DictReader((out / "photos.csv").open()))
    by_part = {part: [r for r in rows if r["part"] == part] for part in
               ("classification", "pixel", "segmentation", "clean", "boxes")}
    assert {k: len(v) for k, v in by_part.items()} == {"classification": 12, "pixel": 3,
                                                       "segmentation": 4, "clean": 6, "boxes": 4}
    assert np.mean([r["correct"] == "True" for r in by_part["classification"]]) == pytest.approx(c["accuracy"])
    assert np.mean([float(r["iou"]) for r in by_part["pixel"]]) == pytest.approx(
        pixel["methods"][mode]["per_image_mean"]["iou"], abs=1e-3)
    assert np.mean([float(r["false_area"]) for r in by_part["clean"]]) == pytest.approx(
        clean["false_area_gated"][mode], abs=1e-3)
    assert np.mean([r["pointing_hit"] == "True" for r in by_part["boxes"]]) == pytest.approx(
        b[f"pointing_game_{mode if learned else 'standard'}"])
    # A run compared with itself: every difference is nil, and said to be within chance.
    assert main(["compare", str(out), str(out)]) == 0
    said = capsys.readouterr().out
    assert "accuracy: A" in said and "B − A +0.000" in said and "beyond chance" not in said
    for part in ("classification", "pixel", "segmentation", "clean", "boxes"):
        assert f"{part} (" in said


def test_evaluate_says_so_when_a_mask_folder_holds_no_photo_with_a_mask(tiny_model_dir, eval_data,
                                                                          tmp_path, capsys):
    for p in (eval_data / "pixel" / "test" / "masks").iterdir():
        p.unlink()
    argv = ["evaluate", "--data", str(eval_data), "--model", str(tiny_model_dir), "--only", "pixel",
            "--out", str(tmp_path / "report")]
    assert main(argv) == 2
    assert "has a mask" in capsys.readouterr().err
    (eval_data / "pixel" / "test" / "masks").rmdir()
    assert main(argv) == 2
    assert "needs images/ and masks/" in capsys.readouterr().err


def test_evaluate_on_a_data_folder_with_some_parts_says_which_to_score(tmp_path, capsys):
    write_labelled_folder(tmp_path / "classification" / "test", n_per_class=2)
    assert main(["evaluate", "--data", str(tmp_path), "--out", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "pixel" / "test") in err and "add --only classification,clean" in err


def test_evaluate_keeps_the_traceback_of_a_fault_that_is_not_the_folders(tiny_model_dir, eval_data,
                                                                        tmp_path, monkeypatch):
    def broken(segmenter, folder, source):
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr(ev, "evaluate_segmentation", broken)
    argv = ["evaluate", "--data", str(eval_data), "--model", str(tiny_model_dir), "--only", "pixel",
            "--out", str(tmp_path / "report")]
    with pytest.raises(ValueError, match="broadcast"):
        main(argv)


def test_tune_writes_defaults_the_segmenter_uses(tiny_model_dir, eval_data, tmp_path, monkeypatch):
    import shutil

    from rustseg_core.learn import tuning
    from rustseg_core.pipeline.segmenter import Segmenter

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    monkeypatch.setattr(tuning, "COLOUR_GRID", {"sat_min": [0.15, 0.9]})
    monkeypatch.setattr(tuning, "FUSION_GRID", {"fusion": ["linear"], "colour_weight": [0.0, 0.7],
                                                "bilateral_srgb": [13.0], "gt_prob": [0.9]})
    assert main(["tune", "--segmentation", str(eval_data / "segmentation"), "--model", str(model), "--write"]) == 0
    cfg = Segmenter.load(model).config.refine
    assert cfg.colour_rule.sat_min == 0.15  # 0.9 would miss the synthetic rust
    meta = json.loads((model / "rustseg.json").read_text())
    assert "tuned on the evaluation masks" in meta["info"]["refine_note"]
    # Learned mode's cut is info.mask_threshold's alone: no second copy here to disagree with it.
    assert "learned_threshold" not in meta["info"]["refine"]


def test_tune_rules_out_settings_that_paint_clean_photos(tiny_model_dir, eval_data, tmp_path, monkeypatch,
                                                         capsys):
    """Rust-brown paint with no rust, every photo let through the gate (threshold 0): the
    colour evidence paints it, the heatmap alone does not. The masks' scores are fixed so
    that the colour setting wins on them (the tiny model's heatmap is too good on synthetic
    rust for that); the false areas are measured. A limit between the two settings' areas
    rules the winner out; a limit under both chooses nothing and writes nothing."""
    import itertools
    import shutil

    from rustseg_core.learn import tuning
    from rustseg_core.pipeline.segmenter import Segmenter

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    meta_path = model / "rustseg.json"
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "threshold": 0.0}))
    clean = tmp_path / "clean"
    clean.mkdir()
    rng = np.random.default_rng(5)
    for i in range(3):
        paint = np.clip(rng.normal((150, 70, 35), 12, (80, 80, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(paint).save(clean / f"door{i}.jpg", quality=95)
    (clean / "broken.jpg").write_bytes(b"not a photo")  # skipped and logged, as evaluate does
    monkeypatch.setattr(tuning, "COLOUR_GRID", {"sat_min": [0.15]})
    monkeypatch.setattr(tuning, "FUSION_GRID", {"fusion": ["linear"], "colour_weight": [0.0, 0.7],
                                                "bilateral_srgb": [13.0], "gt_prob": [0.9]})
    # Per tune: the colour rule, then colour weight 0 and 0.7 in grid order.
    scores = itertools.cycle([0.3, 0.5, 0.6])
    monkeypatch.setattr(tuning.Cached, "score", lambda self, fn, gated=False: next(scores))
    seg = Segmenter.load(model)
    masks = eval_data / "segmentation"
    quiet = lambda s: None  # noqa: E731
    free, rows = tuning.tune(seg, masks, log=quiet)
    assert free.colour_weight == 0.7 and all(area is None for *_, area in rows)
    _, rows = tuning.tune(seg, masks, clean=clean, max_false_area=1.0, log=quiet)
    area = {p["colour_weight"]: a for _, p, a in rows}
    assert set(area[0.7]) == {"standard", "advanced"}
    worst = {w: max(a.values()) for w, a in area.items()}
    assert worst[0.7] > 0.5 and worst[0.7] > worst[0.0]  # 3 photos: broken.jpg is not counted
    limit = (worst[0.7] + worst[0.0]) / 2
    guarded, _ = tuning.tune(seg, masks, clean=clean, max_false_area=limit, log=quiet)
    assert guarded.colour_weight == 0.0
    # The same through the command line, and a limit no setting meets: nothing is written.
    argv = ["tune", "--segmentation", str(masks), "--clean", str(clean), "--model", str(model), "--write"]
    assert main(argv + ["--max-false-area", str(limit)]) == 0
    assert Segmenter.load(model).config.refine.colour_weight == 0.0
    assert "--clean" in json.loads(meta_path.read_text())["info"]["refine_note"]
    before = meta_path.read_text()
    capsys.readouterr()
    assert main(argv + ["--max-false-area", "-0.1"]) == 2
    assert "--max-false-area is a share" in capsys.readouterr().err
    with pytest.raises(ValueError, match="nothing chosen"):
        tuning.tune(seg, masks, clean=clean, max_false_area=-1.0, log=quiet)
    assert meta_path.read_text() == before
    assert main(["tune", "--learned", "--masks", str(masks), "--clean", str(clean), "--model", str(model)]) == 2
    assert "--clean is for the paper modes" in capsys.readouterr().err


def test_tune_on_validation_masks_picks_a_seeded_sample_for_an_image_label_model(
        tiny_model_dir, tmp_path, monkeypatch):
    """The classifier learned from no masks: any photo of a mask folder is unseen by it, and a
    seeded sample of them is what its refinement is tuned on (and the note says so)."""
    import shutil

    from rustseg_core.learn import tuning
    from rustseg_core.learn.masks import validation_mask_photos

    write_mask_folder(tmp_path / "pixel", n=6, size=80, seed=2)
    names, where = validation_mask_photos({}, tmp_path / "pixel", sample=3)
    assert len(names) == 3 and names == validation_mask_photos({}, tmp_path / "pixel", sample=3)[0]
    assert names < {f"m{i:03d}.jpg" for i in range(6)} and "a sample" in where
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    monkeypatch.setattr(tuning, "COLOUR_GRID", {"sat_min": [0.15]})
    monkeypatch.setattr(tuning, "FUSION_GRID", {"fusion": ["linear"], "colour_weight": [0.0, 0.7],
                                                "bilateral_srgb": [13.0], "gt_prob": [0.9]})
    assert main(["tune", "--masks", str(tmp_path / "pixel"), "--sample", "3", "--model", str(model),
                 "--write"]) == 0
    note = json.loads((model / "rustseg.json").read_text())["info"]["refine_note"]
    assert "3 photos of" in note and "a sample, seed 0" in note


def test_validation_masks_of_a_unet_are_its_held_out_photos(tmp_path):
    from rustseg_core.learn.masks import validation_mask_photos

    write_mask_folder(tmp_path / "pixel", n=4, size=64)
    info = {"val_mask_photos": ["m001.jpg", "m003.jpg", "gone.jpg"],
            "trained_on": {"masks": [str(tmp_path / "pixel")]}}
    names, where = validation_mask_photos(info, tmp_path / "pixel")
    assert names == {"m001.jpg", "m003.jpg"} and "held-out" in where
    with pytest.raises(ValueError, match="none of the model's 1 held-out photos"):
        validation_mask_photos({**info, "val_mask_photos": ["x.jpg"]}, tmp_path / "pixel")
    with pytest.raises(ValueError, match="does not list its held-out photos"):
        validation_mask_photos({"trained_on": info["trained_on"]}, tmp_path / "pixel")


def test_a_model_validated_on_its_own_folder_is_tuned_there_only(tmp_path):
    """train --val-masks: every photo of --masks was learned from, so photos there that share
    a held-out photo's name are other photos; tune is told where the held-out ones are."""
    from rustseg_core.learn.masks import validation_mask_photos

    for folder in ("train", "val", "other"):
        write_mask_folder(tmp_path / folder, n=3, size=64)
    info = {"val_mask_photos": ["m000.jpg", "m001.jpg", "m002.jpg"],
            "trained_on": {"masks": [str(tmp_path / "train")], "validation_masks": [str(tmp_path / "val")]}}
    assert validation_mask_photos(info, tmp_path / "val")[0] == {"m000.jpg", "m001.jpg", "m002.jpg"}
    with pytest.raises(ValueError, match=f"learned from every photo of {tmp_path / 'train'}; its held-out "
                                         f"photos are in {tmp_path / 'val'}"):
        validation_mask_photos(info, tmp_path / "train")
    (tmp_path / "other" / "images" / "m000.jpg").rename(tmp_path / "other" / "images" / "x.jpg")
    for name in ("m001", "m002"):
        (tmp_path / "other" / "images" / f"{name}.jpg").unlink()
    with pytest.raises(ValueError, match=r"none of the model's 3 held-out photos is in .*other \(they are in"):
        validation_mask_photos(info, tmp_path / "other")


def test_models_are_compared_only_on_the_photos_all_of_them_held_out():
    from rustseg_core.learn.masks import shared_held_out

    a, b = {"val_mask_photos": ["m2.jpg", "m1.jpg"]}, {"val_mask_photos": ["m1.jpg", "m2.jpg"]}
    assert shared_held_out([a, b]) == ["m1.jpg", "m2.jpg"]  # order does not matter
    with pytest.raises(ValueError, match="held out different mask photos"):
        shared_held_out([a, {"val_mask_photos": ["m1.jpg"]}])
    with pytest.raises(ValueError, match="lists its held-out mask photos"):
        shared_held_out([a, {"trained_on": "classification"}])


@pytest.mark.parametrize("args", [[], ["--masks", "M", "--segmentation", "M"], ["--masks", "NOPE"]])
def test_tune_asks_for_one_mask_folder_before_tensorflow_loads(tmp_path, args):
    import subprocess
    import sys

    write_mask_folder(tmp_path / "M", n=1, size=32)
    folders = {"M": str(tmp_path / "M"), "NOPE": str(tmp_path / "nope")}
    args = [folders.get(a, a) for a in args]
    code = ("import sys; from rustseg_core.cli import main; rc = main(sys.argv[1:]); "
            "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'; sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code, "tune", *args], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert ("needs --masks DIR" in r.stderr) if len(args) != 2 else ("mask folder" in r.stderr)


def test_tune_learned_refuses_a_model_without_a_pixel_map_or_held_out_list_before_tensorflow(
        tiny_model_dir, tiny_unet_dir, tmp_path):
    import json
    import shutil
    import subprocess
    import sys

    write_mask_folder(tmp_path / "M", n=1, size=32)
    unlisted = tmp_path / "unlisted"
    shutil.copytree(tiny_unet_dir, unlisted)
    meta = json.loads((unlisted / "rustseg.json").read_text())
    del meta["info"]["val_mask_photos"]
    (unlisted / "rustseg.json").write_text(json.dumps(meta))
    code = ("import sys; from rustseg_core.cli import main; rc = main(sys.argv[1:]); "
            "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'; sys.exit(rc)")
    for model, message in ((tiny_model_dir, "no per-pixel output"), (unlisted, "validation mask photos")):
        r = subprocess.run([sys.executable, "-c", code, "tune", "--learned", "--masks", str(tmp_path / "M"),
                            "--model", str(model)], capture_output=True, text=True)
        assert r.returncode == 2 and message in r.stderr, r.stderr


def test_decision_threshold_counts_the_held_out_close_ups(tmp_path):
    """On the web-style photos alone 0.6 is best (6/6); the held-out close-ups (all rust,
    scored 0.45) make 0.4 the best over everything (all 5 rust photos, 2 of 3 clean ones)."""
    from types import SimpleNamespace

    from rustseg_core.learn.tuning import tune_decision

    write_labelled_folder(tmp_path / "val", n_per_class=3, size=32, seed=1)
    write_mask_folder(tmp_path / "pixel", n=4, size=32, seed=2)
    held = {"m000.jpg", "m001.jpg"}
    clean = [0.2, 0.35, 0.55]

    def prob(path):
        if path.parent.name == "corrosion":
            return 0.65
        if path.parent.name == "not_corrosion":
            return clean[int(path.stem[-3:])]
        return 0.45

    seg = SimpleNamespace(decode=lambda p: SimpleNamespace(image=p), images_per_photo=1,
                          probabilities=lambda paths: np.array([prob(p) for p in paths]))
    best, found = tune_decision(seg, tmp_path / "val", tmp_path / "pixel", held, log=lambda s: None)
    assert best == 0.4
    assert found["accuracy_by_threshold"] == pytest.approx(
        {0.3: 6 / 8, 0.4: 7 / 8, 0.5: 5 / 8, 0.6: 6 / 8, 0.7: 3 / 8, 0.8: 3 / 8})
    # Balanced: (rust called rust + clean called clean) / 2.
    assert found["balanced_accuracy_by_threshold"] == pytest.approx(
        {0.3: (1 + 1 / 3) / 2, 0.4: (1 + 2 / 3) / 2, 0.5: (3 / 5 + 2 / 3) / 2, 0.6: (3 / 5 + 1) / 2,
         0.7: 1 / 2, 0.8: 1 / 2})
    # The one photo called wrong (the clean one at 0.55) is 0.15 above 0.4: the band takes it
    # in above; below 0.4 every photo is clean, so the band does not reach down.
    band = found["uncertain_band"]
    assert band["low"] == pytest.approx(0.4) and band["high"] == pytest.approx(0.55)
    assert band["share_inside"] == pytest.approx(3 / 8) and band["accuracy_outside"] == 1.0


def test_tune_learned_uses_only_the_models_validation_photos(tiny_unet_dir, tmp_path, capsys):
    import shutil

    from rustseg_core.pipeline.segmenter import Segmenter
    from tests.synthetic import write_mask_folder

    model = tmp_path / "unet"
    shutil.copytree(tiny_unet_dir, model)
    info = json.loads((model / "rustseg.json").read_text())["info"]
    assert info["val_mask_photos"]  # recorded by training
    masks = tmp_path / "pixel"
    write_mask_folder(masks, n=24, size=64, seed=1)  # the same names as the training data
    labelled = tmp_path / "val"
    write_labelled_folder(labelled, n_per_class=4, size=64, seed=3)
    assert main(["tune", "--learned", "--masks", str(masks), "--images", str(labelled),
                 "--model", str(model), "--write", "--tta"]) == 0
    out = capsys.readouterr().out
    # the chosen setting's IoU and the AUC with their bootstrap intervals, for comparing models
    assert re.search(r"best mean IoU [0-9.]+ \[[0-9.]+–[0-9.]+\] at side", out), out
    assert re.search(r"ROC AUC on the labelled photos [0-9.]+ \[[0-9.]+–[0-9.]+\]", out), out
    whole = json.loads((model / "rustseg.json").read_text())
    meta = whole["info"]
    assert meta["tta_flip"] is True  # chosen with mirrored-photo averaging: kept with it
    assert whole["threshold"] in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
    assert meta["thresholds"]["decision_threshold"] == whole["threshold"]
    assert str(labelled) in meta["decision_note"]
    assert meta["learned_side"] in (192, 256, 320, 384) and 0.3 <= meta["mask_threshold"] <= 0.7
    assert whole["spec"]["input_size"] == whole["input_size"] == meta["learned_side"]  # one side
    band = meta["uncertain_band"]
    assert band["low"] <= whole["threshold"] <= band["high"] and 0 <= band["share_inside"] <= 1
    assert "held-out" in meta["learned_note"]
    seg = Segmenter.load(model)
    assert seg.tta_flip
    assert seg.learned_side == seg.bundle.input_size == meta["learned_side"]
    assert seg.config.refine.learned_threshold == meta["mask_threshold"]
    assert seg.threshold == whole["threshold"]
    # A folder without any of the model's validation photos is refused, not silently used.
    other = tmp_path / "other"
    write_mask_folder(other, n=2, size=64, seed=5)
    for f in (other / "images").iterdir():
        f.rename(f.with_name("x" + f.name))
    for f in (other / "masks").iterdir():
        f.rename(f.with_name("x" + f.name))
    with pytest.raises(ValueError, match="no validation mask photos"):
        from rustseg_core.learn.tuning import tune_learned
        tune_learned(seg, other, set(info["val_mask_photos"]), log=lambda s: None)


def test_decision_threshold_is_not_bought_with_false_alarms_on_clean_photos():
    """Nine rust photos to two clean ones: plain accuracy ties at 0.3 and 0.5 (10/11 each) and
    would take 0.3, where one of the two clean photos is called rust; balanced accuracy takes
    0.5 (8 of 9 rust photos, both clean ones)."""
    from rustseg_core.learn.metrics import decision_threshold

    labelled, labels = np.array([0.4, 0.2, 0.9]), np.array([0, 0, 1])
    close_ups = np.array([0.8, 0.7, 0.6, 0.9, 0.95, 0.55, 0.85, 0.45])
    best, balanced, plain = decision_threshold(labelled, labels, close_ups, (0.3, 0.5))
    assert plain[0.3] == pytest.approx(10 / 11) and plain[0.5] == pytest.approx(10 / 11)
    assert balanced[0.3] == pytest.approx((1 + 1 / 2) / 2)
    assert balanced[0.5] == pytest.approx((8 / 9 + 1) / 2) and best == 0.5


def test_near_ties_in_balanced_accuracy_go_to_fewer_false_alarms():
    """0.5 is best by 0.0025 (five rust photos lost at 0.7, two clean ones gained): within the
    tolerance, so the higher 0.7, with fewer clean photos called rust, is taken; with no
    tolerance, 0.5."""
    from rustseg_core.learn.metrics import decision_threshold

    clean = np.r_[np.full(97, 0.1), 0.6, 0.65, 0.8]  # 100 clean photos: 3 above 0.5, 1 above 0.7
    rust = np.r_[np.full(195, 0.9), 0.55, 0.6, 0.6, 0.65, 0.65]  # 200 rust photos: 5 in (0.5, 0.7]
    labels = np.r_[np.zeros(100), np.ones(200)]
    best, balanced, _ = decision_threshold(np.r_[clean, rust], labels, np.zeros(0), (0.5, 0.7))
    assert balanced[0.5] == pytest.approx((1 + 0.97) / 2)
    assert balanced[0.7] == pytest.approx((195 / 200 + 0.99) / 2) and balanced[0.5] > balanced[0.7]
    assert best == 0.7
    assert decision_threshold(np.r_[clean, rust], labels, np.zeros(0), (0.5, 0.7), tolerance=0)[0] == 0.5


def test_at_side_runs_the_whole_network_at_one_side(tiny_unet_dir):
    from rustseg_core.learn.tuning import at_side
    from rustseg_core.pipeline.segmenter import Segmenter
    from tests.synthetic import rust_image

    seg = Segmenter.load(tiny_unet_dir, runtime="tensorflow")
    side = seg.bundle.input_size + 32
    big = at_side(seg, side)
    assert (big.bundle.input_size, big.learned_side, big.runtime) == (side, side, "tensorflow")
    img, _ = rust_image(np.random.default_rng(0), 120, rust=True)
    ev = big.evidence(img)
    assert ev.pixels.shape == (side, side)
    assert ev.cam.shape[0] > seg.evidence(img).cam.shape[0]  # classified (and localised) at it
    assert at_side(seg, seg.bundle.input_size) is seg


def test_borderline_band_leaves_confident_calls_alone_when_the_mistakes_lie_below():
    """Every photo above 0.7 is rust, but rust photos down to 0.45 sit among the clean ones:
    the band reaches down from the threshold, not up, and a 0.95 call is not 'borderline'."""
    from rustseg_core.learn.metrics import uncertain_band

    rust, clean = [0.95, 0.9, 0.85, 0.8, 0.6, 0.5, 0.45], [0.1, 0.15, 0.2, 0.3, 0.5, 0.55, 0.65]
    probs = np.array(rust + clean)
    labels = np.array([1] * len(rust) + [0] * len(clean))
    band = uncertain_band(probs, labels, 0.7)
    assert band["high"] == pytest.approx(0.7) and band["reached"]
    assert band["low"] == pytest.approx(0.44)  # at or below 0.44 every photo is clean
    assert band["accuracy_outside"] == 1.0 and band["share_inside"] == pytest.approx(6 / 14, abs=1e-4)


def test_predict_folder_bounds_the_network_batch_mirrored_copies_included(tiny_model_dir, tmp_path):
    from rustseg_core.learn.data import list_labelled
    from rustseg_core.pipeline.segmenter import Segmenter

    write_labelled_folder(tmp_path, n_per_class=5, size=48, seed=2)
    paths = list(list_labelled(tmp_path).paths)
    for tta in (False, True):
        seg = Segmenter.load(tiny_model_dir).with_config(tta_flip=tta)
        seen, predict = [], seg.bundle.predict_logits
        seg.bundle.predict_logits = lambda x: (seen.append(len(x)), predict(x))[1]
        probs = ev.predict_folder(seg, paths, batch=4)
        assert max(seen) <= 4 and sum(seen) == len(paths) * (2 if tta else 1)
        one_by_one = np.array([seg.probabilities([seg.decode(p).image])[0] for p in paths])
        np.testing.assert_allclose(probs, one_by_one, rtol=1e-4, atol=1e-5)
