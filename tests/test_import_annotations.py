"""``rustseg import``: COCO, YOLO, Pascal VOC, LabelMe, VIA, CVAT, Label Studio and Supervisely
exports, Roboflow's
_classes.csv (image labels or PNG masks), class folders and mask folders named otherwise, as
labelling tools and public sets lay them out, become the folders train, tune and evaluate read
(images/ + masks/, boxes.json, corrosion/, not_corrosion/)."""
import base64
import json
import logging
import os
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from pycocotools import mask as coco_mask

from rustseg_core.cli import main
from rustseg_core.learn.annotations import (AnnotationError, read_coco, read_export, read_exports,
                                            read_yolo, write_import, write_imports)
from rustseg_core.learn.masks import pair_photos, read_mask
from rustseg_core.pipeline.imageio import load_image

W, H = 40, 30


def _photo(path, size=(W, H), orientation=None, square=None):
    """A grey photo, with a red square at ``square`` (x0, y0, x1, y1 of its stored pixels)."""
    rgb = np.full((size[1], size[0], 3), 90, np.uint8)
    if square:
        x0, y0, x1, y1 = square
        rgb[y0:y1, x0:x1] = (200, 30, 20)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(rgb)
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        img.save(path, exif=exif.tobytes(), quality=100)
    else:
        img.save(path)
    return path


def _coco(folder, images, annotations, categories=({"id": 1, "name": "rust"},)):
    path = folder / "_annotations.coco.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": list(categories)}))
    return path


def _polygon(image_id, xy, category=1):
    return {"image_id": image_id, "category_id": category, "segmentation": [list(xy)],
            "bbox": [0, 0, 1, 1], "iscrowd": 0}


def _square(x0, y0, x1, y1):
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def test_coco_polygons_become_masks_and_photos_without_regions_clean(tmp_path):
    src = tmp_path / "export"
    _photo(src / "a.jpg")
    _photo(src / "b.png")
    # Roboflow's parent category (id 0) holds no region and is not a class to choose.
    _coco(src, [{"id": 1, "file_name": "a.jpg", "width": W, "height": H},
                {"id": 2, "file_name": "b.png", "width": W, "height": H}],
          [_polygon(1, _square(5, 4, 15, 12)), _polygon(1, _square(20, 20, 30, 28))],
          categories=[{"id": 0, "name": "corrosion-xyz"}, {"id": 1, "name": "rust"}])
    summary = write_import(read_export(src), tmp_path / "out")  # the folder holding the JSON
    out = tmp_path / "out"
    assert (summary.masks, summary.boxes, summary.clean, summary.left_out) == (1, 0, 1, {})
    assert summary.classes == ["rust"]
    pairs, unmatched = pair_photos(out)
    assert [(p.name, m.name) for p, m in pairs] == [("a.jpg", "a.png")] and unmatched == []
    expected = np.zeros((H, W), bool)
    # Filled as pixel/'s masks were drawn from their polygons: every pixel the outline touches.
    expected[4:13, 5:16] = expected[20:29, 20:31] = True
    assert np.array_equal(read_mask(out / "masks" / "a.png") > 0, expected)
    assert (out / "images" / "a.jpg").read_bytes() == (src / "a.jpg").read_bytes()
    assert [p.name for p in (out / "not_corrosion").iterdir()] == ["b.png"]
    assert (out / "corrosion").is_dir() and not any((out / "corrosion").iterdir())
    record = json.loads((out / "import.json").read_text())
    assert record["format"] == "COCO" and record["corrosion_classes"] == ["rust"]
    assert (record["photos_with_masks"], record["photos_without_corrosion"]) == (1, 1)


@pytest.mark.parametrize("compressed", [True, False])
def test_coco_rle_masks_come_back_exactly(tmp_path, compressed):
    rng = np.random.default_rng(0)
    truth = rng.random((H, W)) > 0.6
    rle = coco_mask.encode(np.asfortranarray(truth.astype(np.uint8)))
    if compressed:
        seg = {"size": rle["size"], "counts": rle["counts"].decode()}
    else:  # CVAT's and Label Studio's uncompressed counts: run lengths from the first column
        flat = truth.T.ravel()
        edges = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
        runs = np.diff(np.concatenate([[0], edges, [flat.size]]))
        seg = {"size": [H, W], "counts": ([0] if flat[0] else []) + runs.tolist()}
    _photo(tmp_path / "x" / "p.jpg")
    path = _coco(tmp_path / "x", [{"id": 7, "file_name": "p.jpg", "width": W, "height": H}],
                 [{"image_id": 7, "category_id": 1, "segmentation": seg, "iscrowd": 1}])
    write_import(read_coco(path), tmp_path / "out")
    assert np.array_equal(read_mask(tmp_path / "out" / "masks" / "p.png") > 0, truth)


def test_several_classes_must_be_chosen(tmp_path):
    _photo(tmp_path / "a.jpg")
    path = _coco(tmp_path, [{"id": 1, "file_name": "a.jpg", "width": W, "height": H}],
                 [_polygon(1, _square(0, 0, 10, 10), 1), _polygon(1, _square(20, 0, 30, 10), 2)],
                 categories=[{"id": 1, "name": "rust"}, {"id": 2, "name": "crack"}])
    with pytest.raises(AnnotationError, match=r"2 classes \(.*rust.*crack.*--classes"):
        read_coco(path)
    with pytest.raises(AnnotationError, match="no class named paint"):
        read_coco(path, classes=["paint"])
    write_import(read_coco(path, classes=["rust"]), tmp_path / "out")
    mask = read_mask(tmp_path / "out" / "masks" / "a.png") > 0
    assert mask[:10, :10].all() and not mask[:, 20:].any()  # the crack is not corrosion


def test_a_photo_turned_by_exif_gets_its_mask_turned(tmp_path):
    """A tool that drew on the stored pixels of a turned phone photo (its frame is the stored
    size) gets a mask turned as the photo is; one that drew on the upright photo, as is."""
    red = (4, 3, 14, 9)  # on the stored 40 x 30 pixels
    _photo(tmp_path / "src" / "turned.jpg", orientation=6, square=red)
    _photo(tmp_path / "src" / "upright.jpg", orientation=6, square=red)
    stored = np.zeros((H, W), bool)
    stored[3:9, 4:14] = True
    seen_red = load_image(tmp_path / "src" / "turned.jpg")[..., 0] > 150
    shown = np.rot90(stored, k=-1)  # orientation 6: shown turned 90 degrees clockwise
    assert seen_red.shape == shown.shape == (W, H)  # 30 wide, 40 high as a browser shows it
    assert (seen_red & shown).sum() / (seen_red | shown).sum() > 0.9
    stored[3:10, 4:15] = True  # the polygon's fill: every pixel its outline touches
    expected = np.rot90(stored, k=-1)
    ys, xs = np.nonzero(expected)
    path = _coco(tmp_path / "src", [
        {"id": 1, "file_name": "turned.jpg", "width": W, "height": H},
        {"id": 2, "file_name": "upright.jpg", "width": H, "height": W}], [
        _polygon(1, _square(*red)),
        _polygon(2, _square(int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())))])
    write_import(read_coco(path), tmp_path / "out")
    for name in ("turned", "upright"):
        assert np.array_equal(read_mask(tmp_path / "out" / "masks" / f"{name}.png") > 0, expected), name


def test_a_photo_resized_since_labelling_is_scaled_and_a_wrong_one_left_out(tmp_path):
    _photo(tmp_path / "small.jpg")
    _photo(tmp_path / "other.jpg")
    path = _coco(tmp_path, [{"id": 1, "file_name": "small.jpg", "width": 2 * W, "height": 2 * H},
                            {"id": 2, "file_name": "other.jpg", "width": 100, "height": 20}],
                 [_polygon(1, _square(0, 0, W, H)), _polygon(2, _square(0, 0, 10, 10))])
    summary = write_import(read_coco(path), tmp_path / "out")
    mask = read_mask(tmp_path / "out" / "masks" / "small.png") > 0
    assert mask.shape == (H, W) and mask[: H // 2, : W // 2].all() and not mask[H // 2:, :].any()
    assert "labelled at 100 x 20 px but the photo is 40 x 30 px" in summary.left_out["other.jpg"]
    assert not (tmp_path / "out" / "images" / "other.jpg").exists()


def test_missing_and_damaged_photos_are_left_out_and_named(tmp_path):
    _photo(tmp_path / "ok.jpg")
    (tmp_path / "broken.jpg").write_bytes((tmp_path / "ok.jpg").read_bytes()[:200])
    images = [{"id": i, "file_name": n, "width": W, "height": H}
              for i, n in enumerate(["ok.jpg", "broken.jpg", "gone.jpg"])]
    path = _coco(tmp_path, images, [_polygon(i, _square(0, 0, 9, 9)) for i in range(3)])
    summary = write_import(read_coco(path), tmp_path / "out")
    assert summary.masks == 1
    assert summary.left_out["gone.jpg"] == "no such file"
    assert summary.left_out["broken.jpg"].startswith("the photo cannot be read")
    assert sorted(p.name for p in (tmp_path / "out" / "masks").iterdir()) == ["ok.png"]
    assert json.loads((tmp_path / "out" / "import.json").read_text())["left_out"] == summary.left_out


def test_malformed_regions_leave_their_photo_out(tmp_path):
    for name in ("words", "rle", "nothing", "ok"):
        _photo(tmp_path / f"{name}.jpg")
    images = [{"id": i, "file_name": f"{n}.jpg", "width": W, "height": H}
              for i, n in enumerate(("words", "rle", "nothing", "ok"))]
    path = _coco(tmp_path, images, [
        {"id": 10, "image_id": 0, "category_id": 1, "segmentation": [["a", "b", "c", "d", "e", "f"]]},
        {"id": 11, "image_id": 1, "category_id": 1, "segmentation": {"size": [H, W], "counts": [0, 10**6]}},  # runs beyond the photo
        {"id": 12, "image_id": 2, "category_id": 1, "bbox": ["x", 1, 2, 3]},
        _polygon(3, _square(0, 0, 9, 9))])
    summary = write_import(read_coco(path), tmp_path / "out")
    assert summary.masks == 1 and summary.clean == 0
    assert "annotation 10 has a polygon of things that are not numbers" in summary.left_out["words.jpg"]
    assert summary.left_out["rle.jpg"].startswith("its labels cannot be used")
    assert "annotation 12 is neither a polygon, an RLE nor a box" in summary.left_out["nothing.jpg"]
    assert sorted(p.name for p in (tmp_path / "out" / "masks").iterdir()) == ["ok.png"]


def test_a_detection_export_gives_boxes_and_corrosion_photos(tmp_path):
    _photo(tmp_path / "a.jpg")
    _photo(tmp_path / "turned.jpg", orientation=6)
    _photo(tmp_path / "clean.jpg")
    # Label Studio writes the path on its own server: the photo is found by its name.
    path = _coco(tmp_path, [{"id": 1, "file_name": "/data/upload/3/a.jpg", "width": W, "height": H},
                            {"id": 2, "file_name": "turned.jpg", "width": W, "height": H},
                            {"id": 3, "file_name": "clean.jpg", "width": W, "height": H}],
                 [{"image_id": 1, "category_id": 1, "segmentation": [], "bbox": [2, 3, 10, 5]},
                  {"image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 5]}])
    summary = write_import(read_coco(path), tmp_path / "out")
    out = tmp_path / "out"
    assert (summary.masks, summary.boxes, summary.clean) == (0, 2, 1)
    boxes = json.loads((out / "boxes.json").read_text())
    assert boxes["a.jpg"] == [[2, 3, 12, 8]]
    # Drawn on the stored pixels of a photo turned 90 degrees clockwise: the top-left strip
    # is the right-hand strip of the upright photo (30 wide, 40 high).
    assert boxes["turned.jpg"] == [[H - 5, 0, H, 10]]
    assert sorted(p.name for p in (out / "corrosion").iterdir()) == ["a.jpg", "turned.jpg"]
    assert not (out / "masks").exists()


def _yolo_folder(root):
    root.mkdir(parents=True)
    (root / "data.yaml").write_text("names: ['rust', 'paint']\n")
    split = root / "train"
    for name in ("poly", "box_only", "empty", "nolabel", "badline"):
        _photo(split / "images" / f"{name}.jpg")
    labels = split / "labels"
    labels.mkdir(parents=True)
    (labels / "poly.txt").write_text("0 0.0 0.0 0.5 0.0 0.5 0.5 0.0 0.5\n1 0.5 0.5 1 0.5 1 1\n")
    (labels / "box_only.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (labels / "empty.txt").write_text("")
    (labels / "badline.txt").write_text("0 0.1 0.2 0.3\n")
    return split


def test_yolo_polygons_with_class_names_from_data_yaml(tmp_path):
    split = _yolo_folder(tmp_path / "export")
    with pytest.raises(AnnotationError, match="rust.*paint|paint.*rust"):
        read_yolo(split)
    summary = write_import(read_yolo(split, classes=["rust"]), tmp_path / "out")
    assert (summary.masks, summary.clean) == (1, 2)  # empty label file, no label file
    mask = read_mask(tmp_path / "out" / "masks" / "poly.png") > 0
    assert mask.shape == (H, W)
    assert mask[: H // 2, : W // 2].all() and not mask[H // 2 + 1:, :].any()  # no paint
    assert summary.left_out["box_only.jpg"].startswith("some regions drawn as boxes only")
    assert "line 1 has 3 coordinates" in summary.left_out["badline.jpg"]


def test_the_command_imports_and_refuses_what_it_cannot(tmp_path, capsys):
    split = _yolo_folder(tmp_path / "export")
    assert main(["import", str(split), "--classes", "rust", "--out", str(tmp_path / "out")]) == 0
    said = capsys.readouterr().out
    assert "1 with corrosion drawn" in said and "left out: 2 photo(s)" in said
    assert "rustseg evaluate --only pixel,clean" in said
    # Nothing already there is replaced.
    assert main(["import", str(split), "--classes", "rust", "--out", str(tmp_path / "out")]) == 2
    assert "not empty" in capsys.readouterr().err
    (tmp_path / "notcoco.json").write_text("[1, 2]")
    assert main(["import", str(tmp_path / "notcoco.json"), "--out", str(tmp_path / "o2")]) == 2
    assert "not a COCO file" in capsys.readouterr().err
    # The download holding it (data.yaml beside train/): its split, once its classes are chosen.
    assert main(["import", str(tmp_path / "export"), "--out", str(tmp_path / "o3")]) == 2
    assert f"train split ({split}): this export has 2 classes" in capsys.readouterr().err
    # A mask folder is not two class folders.
    assert main(["import", str(tmp_path / "out"), "--out", str(tmp_path / "o4")]) == 2
    assert "already holds images/ + masks/" in capsys.readouterr().err
    assert not any((tmp_path / o).exists() for o in ("o2", "o3", "o4"))


def test_photos_of_one_name_from_two_folders_are_both_imported(tmp_path):
    """``IMG_0001.jpg`` from two phones: each photo and its mask named by its path below the
    folder they share, or by its extension when only that tells them apart."""
    for name, square in (("phone-a/IMG_0001.jpg", (0, 0, 5, 5)), ("phone-b/IMG_0001.jpg", (10, 10, 20, 20)),
                         ("x.jpg", (0, 0, 8, 8)), ("x.png", (30, 20, 40, 30))):
        _photo(tmp_path / name)
    images = [{"id": i, "file_name": name, "width": W, "height": H}
              for i, name in enumerate(["phone-a/IMG_0001.jpg", "phone-b/IMG_0001.jpg", "x.jpg", "x.png"])]
    path = _coco(tmp_path, images, [_polygon(0, _square(0, 0, 4, 4)), _polygon(1, _square(10, 10, 19, 19)),
                                    _polygon(2, _square(0, 0, 7, 7)), _polygon(3, _square(30, 20, 39, 29))])
    summary = write_import(read_coco(path), tmp_path / "out")
    assert (summary.photos, summary.masks, summary.left_out) == (4, 4, {})
    pairs, _ = pair_photos(tmp_path / "out")
    assert [(p.name, m.name) for p, m in pairs] == [
        ("phone-a__IMG_0001.jpg", "phone-a__IMG_0001.png"), ("phone-b__IMG_0001.jpg", "phone-b__IMG_0001.png"),
        ("x_jpg.jpg", "x_jpg.png"), ("x_png.png", "x_png.png")]
    # Each mask is its own photo's.
    assert [int((read_mask(m) > 0).sum()) for _, m in pairs] == [25, 100, 64, 100]
    assert (tmp_path / "out/images/phone-b__IMG_0001.jpg").read_bytes() == \
        (tmp_path / "phone-b/IMG_0001.jpg").read_bytes()


def test_a_name_the_renaming_would_take_twice_is_refused_before_anything_is_written(tmp_path):
    for name in ("a/1.jpg", "b/1.jpg", "a__1.jpg"):
        _photo(tmp_path / name)
    path = _coco(tmp_path, [{"id": i, "file_name": n} for i, n in enumerate(["a/1.jpg", "b/1.jpg", "a__1.jpg"])],
                 [_polygon(i, _square(0, 0, 5, 5)) for i in range(3)])
    with pytest.raises(AnnotationError, match=r"2 photos would be written under one name: .*/a/1\.jpg, "
                                              r".*/a__1\.jpg; rename one of each"):
        write_import(read_coco(path), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_photo_listed_twice_keeps_the_regions_of_both_entries(tmp_path, caplog, capsys):
    """Merged COCO files list a photo once per source; one drawn at two sizes is left out."""
    _photo(tmp_path / "p.jpg")
    _photo(tmp_path / "q.jpg")
    images = [{"id": 1, "file_name": "p.jpg", "width": W, "height": H},
              {"id": 2, "file_name": "./p.jpg", "width": W, "height": H},
              {"id": 3, "file_name": "q.jpg", "width": W, "height": H},
              {"id": 4, "file_name": "q.jpg", "width": 2 * W, "height": 2 * H}]
    path = _coco(tmp_path, images, [_polygon(1, _square(0, 0, 9, 9)), _polygon(2, _square(20, 10, 29, 19)),
                                    _polygon(3, _square(0, 0, 9, 9))])
    with caplog.at_level(logging.WARNING):
        assert main(["import", str(path), "--out", str(tmp_path / "out")]) == 0
    assert "2 photo(s) are listed more than once; each keeps the regions of all its entries: " \
           "p.jpg, q.jpg" in caplog.text
    assert capsys.readouterr().out.startswith("2 photo(s) in COCO export")
    expected = np.zeros((H, W), bool)
    expected[0:10, 0:10] = expected[10:20, 20:30] = True
    assert np.array_equal(read_mask(tmp_path / "out/masks/p.png") > 0, expected)
    record = json.loads((tmp_path / "out/import.json").read_text())
    assert record["left_out"] == {"q.jpg": "listed 2 times, labelled at different sizes"}



def test_a_renamed_photo_left_out_is_named_by_where_it_is(tmp_path):
    for name in ("a/1.jpg", "b/1.jpg"):
        _photo(tmp_path / name)
    (tmp_path / "b/1.jpg").write_bytes(b"not a photo")
    path = _coco(tmp_path, [{"id": 0, "file_name": "a/1.jpg"}, {"id": 1, "file_name": "b/1.jpg"}],
                 [_polygon(0, _square(0, 0, 5, 5)), _polygon(1, _square(0, 0, 5, 5))])
    summary = write_import(read_coco(path), tmp_path / "out")
    assert summary.masks == 1 and [p.name for p in (tmp_path / "out/images").iterdir()] == ["a__1.jpg"]
    assert list(summary.left_out) == [str(tmp_path / "b/1.jpg")]


def test_photos_labelled_as_a_whole_of_one_name_in_two_folders_keep_both(tmp_path):
    from rustseg_core.learn.annotations import Export, Labelled

    items = []
    for site in ("bridge", "tank"):
        _photo(tmp_path / site / "rust" / "1.jpg", square=(0, 0, 10, 10) if site == "tank" else None)
        items.append(Labelled(tmp_path / site / "rust" / "1.jpg", image_label=True))
    summary = write_import(Export("test", "class folders", items, ["rust"]), tmp_path / "out")
    assert summary.corrosion == 2
    copies = sorted((tmp_path / "out/corrosion").iterdir())
    assert [p.name for p in copies] == ["bridge__rust__1.jpg", "tank__rust__1.jpg"]
    assert copies[1].read_bytes() == (tmp_path / "tank/rust/1.jpg").read_bytes()


@pytest.mark.slow  # a training run (default suite under 5 minutes)
def test_an_imported_export_trains_and_evaluates(tmp_path, tiny_model_dir, capsys):
    """What the command says to run next works on what it wrote: a COCO export of mask photos
    and clean photos (no annotations) trains a U-Net and is scored by evaluate."""
    from rustseg_core.learn.train_masks import MaskTrainConfig, train_masks
    from tests.synthetic import write_labelled_folder, write_mask_folder

    write_mask_folder(tmp_path / "set", n=12, size=48, seed=4)
    write_labelled_folder(tmp_path / "lab", n_per_class=6, size=48, seed=5)
    src = tmp_path / "export"
    src.mkdir()
    images, anns = [], []
    for i, (photo, mask_path) in enumerate(pair_photos(tmp_path / "set")[0]):
        photo.rename(src / photo.name)
        rle = coco_mask.encode(np.asfortranarray((read_mask(mask_path) > 0).astype(np.uint8)))
        anns.append({"image_id": i, "category_id": 1, "iscrowd": 1,
                     "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}})
        images.append({"id": i, "file_name": photo.name, "width": 48, "height": 48})
    for photo in (tmp_path / "lab" / "not_corrosion").iterdir():
        photo.rename(src / photo.name)
        images.append({"id": len(images), "file_name": photo.name, "width": 48, "height": 48})
    _coco(src, images, anns)
    out = tmp_path / "out"
    assert main(["import", str(src), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "12 with corrosion drawn" in said and "6 without corrosion" in said
    assert f"rustseg train {out} --masks {out}" in said
    cfg = MaskTrainConfig(input_size=32, cache_size=48, epochs=1, batch_size=8,
                          init_from=str(tiny_model_dir), val_fraction=0.25)
    train_masks([out], out, tmp_path / "model", cfg, command="test")
    assert main(["evaluate", "--only", "pixel,clean", "--pixel", str(out), "--clean",
                 str(out / "not_corrosion"), "--model", str(tmp_path / "model"),
                 "--out", str(tmp_path / "eval")]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["pixel"]["gated"]["n_images"] == 12 and metrics["pixel"]["gated"]["left_out"] == {}
    assert metrics["clean"]["n_images"] == 6


def test_class_folders_become_corrosion_and_not_corrosion(tmp_path, capsys):
    """One folder a class, as Roboflow, Keras and most Kaggle sets keep photos labelled as a
    whole; many number their photos in each folder, so names repeat."""
    src = tmp_path / "train"
    for cls in ("Rust", "paint", "clean"):
        for i in range(2):
            _photo(src / cls / f"{i}.jpg")
    (src / "clean" / "2.jpg").write_bytes(b"not a photo")
    with pytest.raises(AnnotationError, match=r"3 classes .*--classes"):
        read_export(src)
    out = tmp_path / "out"
    assert main(["import", str(src), "--classes", "Rust", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "2 labelled corrosion" in said and "4 without corrosion" in said
    assert f"rustseg train {out} --out models/mine" in said
    assert sorted(p.name for p in (out / "corrosion").iterdir()) == ["0.jpg", "1.jpg"]
    assert sorted(p.name for p in (out / "not_corrosion").iterdir()) == [
        "clean__0.jpg", "clean__1.jpg", "paint__0.jpg", "paint__1.jpg"]
    record = json.loads((out / "import.json").read_text())
    assert record["format"] == "class folders" and record["corrosion_classes"] == ["Rust"]
    assert record["left_out"]["2.jpg"].startswith("the photo cannot be read")
    from rustseg_core.learn.data import list_labelled

    assert sorted(list_labelled(out).labels.tolist()) == [0, 0, 0, 0, 1, 1]


def test_roboflow_classes_csv(tmp_path):
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        _photo(tmp_path / "valid" / name)
    (tmp_path / "valid" / "_classes.csv").write_text(
        "filename, corrosion, no-corrosion\na.jpg,1,0\nb.jpg,0,1\nc.jpg,1,0\ngone.jpg,0,1\n")
    with pytest.raises(AnnotationError, match="2 classes"):
        read_export(tmp_path / "valid")
    # The download's root holds one folder a split, named as train and evaluate name it.
    with pytest.raises(AnnotationError, match=r"found here: .*valid/_classes.csv"):
        read_export(tmp_path)
    assert list(read_exports(tmp_path, classes=["corrosion"])) == ["val"]
    summary = write_import(read_export(tmp_path / "valid", classes=["corrosion"]), tmp_path / "out")
    assert (summary.corrosion, summary.clean, summary.left_out) == (2, 1, {"gone.jpg": "no such file"})
    assert sorted(p.name for p in (tmp_path / "out" / "corrosion").iterdir()) == ["a.jpg", "c.jpg"]


def _roboflow_coco_download(root):
    """Roboflow's COCO download: train/, valid/ and test/, each its photos beside its JSON."""
    for split, n in (("train", 3), ("valid", 2), ("test", 2)):
        folder = root / split
        images = [{"id": i, "file_name": f"{split}{i}.jpg", "width": W, "height": H} for i in range(n)]
        for img in images:
            _photo(folder / img["file_name"])
        # The first photo of each split has rust drawn, the others none: clean photos.
        _coco(folder, images, [_polygon(0, _square(2, 2, 12, 10))],
              categories=[{"id": 0, "name": "corrosion-x"}, {"id": 1, "name": "rust"}])
    (root / "README.roboflow.txt").write_text("exported from roboflow")
    return root


def test_a_download_of_splits_imports_each_split_as_train_and_evaluate_name_it(tmp_path, capsys):
    """A Roboflow download's train/, valid/ and test/ become OUT/train, OUT/val and OUT/test
    (before, its split folders were read as classes named train, valid and test)."""
    src = _roboflow_coco_download(tmp_path / "download")
    out = tmp_path / "out"
    assert main(["import", str(src), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    for split, n_clean in (("train", 2), ("val", 1), ("test", 1)):
        assert len(list((out / split / "masks").iterdir())) == 1
        assert len(list((out / split / "not_corrosion").iterdir())) == n_clean
        assert json.loads((out / split / "import.json").read_text())["source"].startswith(str(src))
        assert f"into {out / split}:" in said
    assert f"rustseg train {out} --masks {out / 'train'} --val-masks {out / 'val'} --out" in said
    assert f"--pixel {out / 'test'} --clean {out / 'test'}/not_corrosion" in said
    from rustseg_core.learn.data import find_splits

    train, val = find_splits(out)  # what train reads of it
    assert (len(train), len(val)) == (2, 1)


def test_a_split_that_cannot_be_read_stops_the_whole_download(tmp_path, capsys):
    src = _roboflow_coco_download(tmp_path / "download")
    (src / "test" / "_annotations.coco.json").write_text("{ not json")
    assert main(["import", str(src), "--out", str(tmp_path / "out")]) == 2
    assert "test split" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_ultralytics_splits_under_images_and_labels(tmp_path):
    root = tmp_path / "ds"
    root.mkdir()
    (root / "data.yaml").write_text("names: {0: rust}\n")
    for split in ("train", "val"):
        _photo(root / "images" / split / f"{split}_a.jpg")
        _photo(root / "images" / split / f"{split}_b.jpg")
        (root / "labels" / split).mkdir(parents=True)
        (root / "labels" / split / f"{split}_a.txt").write_text("0 0 0 0.5 0 0.5 0.5\n")
    exports = read_exports(root)
    assert list(exports) == ["train", "val"]
    assert {e.items[0].photo.parent.name for e in exports.values()} == {"train", "val"}
    summaries = {s: write_import(e, tmp_path / s) for s, e in exports.items()}
    assert all((s.masks, s.clean) == (1, 1) for s in summaries.values())


def test_a_failure_part_way_leaves_no_half_imported_folder(tmp_path, monkeypatch):
    """An import that stops part way (a full disk, Ctrl-C) leaves neither OUT nor its hidden
    working folder: training never reads half an import as a whole one."""
    from rustseg_core.learn import annotations

    src = _roboflow_coco_download(tmp_path / "download")
    exports = read_exports(src)
    copies = []

    def full_disk(item, *args):
        copies.append(item.photo)
        if len(copies) == 5:
            raise OSError(28, "No space left on device")
        return real(item, *args)

    real = annotations._write_one
    monkeypatch.setattr(annotations, "_write_one", full_disk)
    (tmp_path / "out").mkdir()  # an empty folder to import into stays as it was
    with pytest.raises(OSError, match="No space left"):
        annotations.write_imports(exports, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["download", "out"]
    monkeypatch.setattr(annotations, "_write_one", real)
    annotations.write_imports(exports, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["test", "train", "val"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["download", "out"]


def test_the_working_folder_of_a_killed_import_is_removed_by_the_next(tmp_path):
    """``kill -9`` gives an import no chance to clean up: the next import into the same
    folder removes what it left, and nothing that a live import, or another machine's, owns."""
    import socket
    import subprocess
    import sys

    from rustseg_core.learn import annotations

    src = _roboflow_coco_download(tmp_path / "download")
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    dead, host = int(ended.stdout), socket.gethostname()
    left = {name: tmp_path / name for name in (
        f".out.importing-{host}-{dead}-0badf00d",  # killed
        f".out.importing-{host}-{os.getpid()}-0badf00d",  # still running
        f".out.importing-elsewhere-{dead}-0badf00d",  # another machine's
        f".other.importing-{host}-{dead}-0badf00d")}  # an import into another folder
    for folder in left.values():
        (folder / "train").mkdir(parents=True)
        (folder / "train" / "copy.jpg").write_bytes(b"x")
    annotations.write_imports(read_exports(src), tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["download", "out"] + list(left)[1:])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["test", "train", "val"]


def _voc_xml(path, filename, size, objects):
    """A Pascal VOC annotation as LabelImg writes it (its Windows <path> included)."""
    objs = "".join(f"<object><name>{name}</name><difficult>0</difficult><bndbox><xmin>{x0}</xmin>"
                   f"<ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
                   for name, (x0, y0, x1, y1) in objects)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<annotation><folder>x</folder><filename>{filename}</filename>"
                    f"<path>D:\\labels\\{filename}</path><size><width>{size[0]}</width>"
                    f"<height>{size[1]}</height><depth>3</depth></size>{objs}</annotation>")


def test_pascal_voc_boxes_as_labelimg_saves_them(tmp_path):
    """LabelImg saves NAME.xml beside each photo, in VOC's pixel numbering (from 1, both ends
    inside the box); a photo it never saved an XML for is not labelled, not clean."""
    src = tmp_path / "labelimg"
    for name in ("a", "b", "none", "unsaved", "bad"):
        _photo(src / f"{name}.jpg")
    _voc_xml(src / "a.xml", "a.jpg", (W, H), [("rust", (1, 1, 10, 5)), ("paint", (20, 20, 30, 30))])
    _voc_xml(src / "b.xml", "old-name.jpg", (W, H), [("rust", (5, 6, 40, 30))])  # renamed since
    _voc_xml(src / "none.xml", "none.jpg", (W, H), [])
    (src / "bad.xml").write_text("<annotation><object><name>rust</name><bndbox><xmin>x</xmin>")
    with pytest.raises(AnnotationError, match="paint.*rust|rust.*paint"):
        read_export(src)
    summary = write_import(read_export(src, classes=["rust"]), tmp_path / "out")
    boxes = json.loads((tmp_path / "out" / "boxes.json").read_text())
    assert boxes == {"a.jpg": [[0, 0, 10, 5]], "b.jpg": [[4, 5, 40, 30]]}
    assert (summary.boxes, summary.clean) == (2, 1)
    assert summary.left_out["unsaved.jpg"].startswith("no annotation file")
    assert "bad.xml cannot be read" in summary.left_out["bad.jpg"]


def test_a_folder_labelled_in_part_is_summed_up_not_listed(tmp_path, capsys, caplog):
    """LabelImg on a folder of 60 photos, 2 of them labelled, one damaged: the summary names
    the damaged photo first and counts the unlabelled ones; no line a photo on the console."""
    src = tmp_path / "labelimg"
    for i in range(60):
        _photo(src / f"p{i:02d}.jpg")
    for i in range(3):
        _voc_xml(src / f"p{i:02d}.xml", f"p{i:02d}.jpg", (W, H), [("rust", (1, 1, 10, 5))])
    (src / "p02.jpg").write_bytes(b"not a photo")
    caplog.set_level(logging.INFO, logger="rustseg_core.learn.annotations")
    assert main(["import", str(src), "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    said = captured.out.splitlines()
    damaged = next(i for i, line in enumerate(said) if "left out: 1 photo(s): p02.jpg (the photo cannot be read" in line)
    assert "left out: 57 photo(s) with no label file, not labelled: p03.jpg, p04.jpg" in said[damaged + 1]
    assert "(every photo left out, and why)" in said[damaged + 2]
    assert "p59" not in captured.out
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # `-v` lists them
    assert any("p59.jpg: no annotation file" in r.getMessage() for r in caplog.records)
    record = json.loads((tmp_path / "out" / "import.json").read_text())
    assert len(record["left_out"]) == 58 and record["photos_with_boxes"] == 2


def test_a_voc_download_of_splits_as_the_shared_boxes_came(tmp_path, capsys):
    """The layout of the shared boxes' source (Metal_Corrosion_Classification): train/ with
    Annotation/, test/ with Annotations/, the photos in each split's folder."""
    root = tmp_path / "Detection datasets"
    for split, folder, names in (("train", "Annotation", ("1", "2")), ("test", "Annotations", ("229",))):
        for n in names:
            _photo(root / split / f"{n}.jpg")
            _voc_xml(root / split / folder / f"{n}.xml", f"{n}.jpg", (W, H), [("rust", (1, 1, W, H - 2))])
    out = tmp_path / "out"
    assert main(["import", str(root), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "in Pascal VOC export" in said
    assert json.loads((out / "test" / "boxes.json").read_text()) == {"229.jpg": [[0, 0, W, H - 2]]}
    assert sorted(json.loads((out / "train" / "boxes.json").read_text())) == ["1.jpg", "2.jpg"]
    assert f"rustseg evaluate --only boxes --boxes {out / 'test'}" in said


def test_voc_segmentation_masks_as_cvat_exports_them(tmp_path):
    """CVAT's "Segmentation mask" export: SegmentationClass/NAME.png, one colour a class named
    in labelmap.txt, the photos in JPEGImages/."""
    src = tmp_path / "cvat"
    src.mkdir()
    (src / "labelmap.txt").write_text("# label:color_rgb:parts:actions\nbackground:0,0,0::\n"
                                      "rust:250,50,83::\npaint:0,0,255::\n")
    for name in ("a", "b", "c"):
        _photo(src / "JPEGImages" / f"{name}.jpg")
    a = np.zeros((H, W, 3), np.uint8)
    a[2:10, 3:12] = (250, 50, 83)
    a[20:25, 20:30] = (0, 0, 255)
    (src / "SegmentationClass").mkdir()
    Image.fromarray(a).save(src / "SegmentationClass" / "a.png")
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(src / "SegmentationClass" / "b.png")
    with pytest.raises(AnnotationError, match="2 classes"):
        read_export(src)
    summary = write_import(read_export(src, classes=["rust"]), tmp_path / "out")
    assert (summary.masks, summary.clean) == (1, 1)
    mask = read_mask(tmp_path / "out" / "masks" / "a.png") > 0
    expected = np.zeros((H, W), bool)
    expected[2:10, 3:12] = True
    assert np.array_equal(mask, expected)  # the paint is not rust
    assert summary.left_out["c.jpg"].startswith("no mask (SegmentationClass/c.png)")


def test_voc_palette_masks_without_a_labelmap_leave_the_outline_out(tmp_path):
    src = tmp_path / "voc"
    _photo(src / "JPEGImages" / "x.jpg")
    index = np.zeros((H, W), np.uint8)
    index[5:15, 5:15] = 255  # VOC draws an outline (void) around each object
    index[6:14, 6:14] = 1
    png = Image.fromarray(index, mode="P")
    png.putpalette([0, 0, 0, 128, 0, 0] + [0] * (253 * 3) + [224, 224, 192])
    (src / "SegmentationClass").mkdir()
    png.save(src / "SegmentationClass" / "x.png")
    summary = write_import(read_export(src), tmp_path / "out")
    assert summary.classes == ["1"] and summary.masks == 1
    assert (read_mask(tmp_path / "out" / "masks" / "x.png") > 0).sum() == 8 * 8


def test_evaluate_on_an_imported_download_says_how_to_score_its_test_split(tmp_path, capsys):
    """evaluate --data reads ../shared/data's layout; an import is laid out by split, so it
    names the command that scores the import's test split (what the import itself printed)."""
    src = _roboflow_coco_download(tmp_path / "download")
    out = tmp_path / "out"
    assert main(["import", str(src), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split("score a model on it: ")[1].splitlines()[0]
    assert main(["evaluate", "--data", str(out), "--out", str(tmp_path / "eval")]) == 2
    err = capsys.readouterr().err
    assert f"to score what {out / 'test'} holds: {printed}" in err
    assert printed.startswith("rustseg evaluate --only pixel,clean")


def test_voc_photos_from_another_folder_with_images(tmp_path, capsys):
    """CVAT leaves the photos out of a segmentation-mask export unless asked: --images names
    the folder they are in."""
    src = tmp_path / "cvat"
    (src / "SegmentationClass").mkdir(parents=True)
    (src / "labelmap.txt").write_text("background:0,0,0::\nrust:250,50,83::\n")
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[:5, :5] = (250, 50, 83)
    Image.fromarray(rgb).save(src / "SegmentationClass" / "p.png")
    _photo(tmp_path / "photos" / "p.jpg")
    assert main(["import", str(src), "--out", str(tmp_path / "o1")]) == 1  # nothing imported
    assert "p.jpg (no such photo in" in capsys.readouterr().out
    assert main(["import", str(src), "--images", str(tmp_path / "photos"), "--out", str(tmp_path / "o2")]) == 0
    assert "1 with corrosion drawn" in capsys.readouterr().out
    assert (read_mask(tmp_path / "o2" / "masks" / "p.png") > 0).sum() == 25


def test_polygons_are_filled_as_the_training_masks_were_drawn(tmp_path):
    """pixel/'s masks are Pillow's fill of their polygons (checked pixel for pixel against
    their source labels): an imported polygon is filled the same way, every pixel its outline
    touches, so a streak of rust half a pixel high (run-off under a bolt) is a whole row.
    pycocotools' fill keeps fewer pixels at every edge, and the model would learn thinner rust
    from an import than from its own training masks."""
    src = tmp_path / "export"
    _photo(src / "streak.jpg")
    streak = [2, 10.2, 30, 10.2, 30, 10.7, 2, 10.7]
    blob = [5.5, 15.2, 20.3, 16.8, 18.1, 27.6, 6.4, 25.1]
    _coco(src, [{"id": 1, "file_name": "streak.jpg", "width": W, "height": H}],
          [_polygon(1, streak), _polygon(1, blob)])
    write_import(read_export(src), tmp_path / "out")
    mask = read_mask(tmp_path / "out" / "masks" / "streak.png") > 0
    drawn = Image.new("L", (W, H), 0)
    for poly in (streak, blob):
        ImageDraw.Draw(drawn).polygon(list(zip(poly[0::2], poly[1::2])), fill=255)
    assert np.array_equal(mask, np.asarray(drawn) > 0)
    assert mask[10, 2:31].all() and not mask[9].any() and not mask[11, :2].any()
    coco = coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects([streak, blob], H, W))) > 0
    assert coco.sum() < mask.sum()


def drawn(draw_with):
    """A W x H boolean picture drawn by ``draw_with(ImageDraw)``."""
    img = Image.new("L", (W, H), 0)
    draw_with(ImageDraw.Draw(img))
    return np.asarray(img) > 0


def masks_of(out, stem):
    return read_mask(out / "masks" / f"{stem}.png") > 0


def _labelme(path, image_path, shapes, size=(W, H)):
    """A LabelMe annotation file as LabelMe 5 saves it (the photo not embedded)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "version": "5.4.1", "flags": {}, "imagePath": image_path, "imageData": None,
        "imageHeight": size[1], "imageWidth": size[0],
        "shapes": [{"label": label, "points": points, "group_id": None, "description": "",
                    "shape_type": kind, "flags": {}, **extra} for label, kind, points, extra in shapes]}))


def _ai_mask(part):
    """A LabelMe AI mask: the base64 PNG of a boolean array, as labelme.utils writes it."""
    import base64
    import io

    buf = io.BytesIO()
    Image.fromarray(part.astype(np.uint8)).save(buf, format="PNG")
    return {"mask": base64.b64encode(buf.getvalue()).decode()}


def test_labelme_regions_of_every_kind_become_masks(tmp_path):
    """LabelMe saves NAME.json beside each photo. Polygons, circles, rectangles and AI masks
    are regions, filled as LabelMe's own labelme2voc fills them; a photo saved with no shape is
    clean; one whose rust is only a line, or that was never saved, is left out, not clean."""
    src = tmp_path / "labelme"
    for name in ("a", "b", "c", "d", "e", "unsaved"):
        _photo(src / f"{name}.jpg")
    blob = [[5.5, 15.2], [20.3, 16.8], [18.1, 27.6], [6.4, 25.1]]
    part = np.zeros((6, 8), bool)
    part[1:5, 2:7] = True
    _labelme(src / "a.json", "a.jpg", [("rust", "polygon", blob, {}), ("paint", "polygon", [[0, 0], [5, 0], [5, 5]], {}),
                                       ("rust", "mask", [[30, 2], [37, 7]], _ai_mask(part))])
    _labelme(src / "b.json", "b.jpg", [("rust", "circle", [[20, 12], [24, 15]], {})])
    _labelme(src / "c.json", "c.jpg", [("rust", "rectangle", [[12, 20], [3, 4]], {})])
    _labelme(src / "d.json", "d.jpg", [])
    _labelme(src / "e.json", "e.jpg", [("rust", "line", [[1, 1], [30, 20]], {})])
    with pytest.raises(AnnotationError, match="paint.*rust|rust.*paint"):
        read_export(src)
    export = read_export(src, classes=["rust"])
    assert export.format == "LabelMe"
    summary = write_import(export, tmp_path / "out")
    assert (summary.masks, summary.clean) == (3, 1)
    assert "a line encloses no pixel" in summary.left_out["e.jpg"]
    assert summary.left_out["unsaved.jpg"] == "no annotation file (.json): not labelled"

    expected_a = drawn(lambda d: d.polygon([tuple(p) for p in blob], fill=1))
    expected_a[2:8, 30:38] |= part  # the paint is not rust
    assert np.array_equal(masks_of(tmp_path / "out", "a"), expected_a)
    r = np.hypot(4, 3)
    disc = drawn(lambda d: d.ellipse([20 - r, 12 - r, 20 + r, 12 + r], outline=1, fill=1))
    assert np.array_equal(masks_of(tmp_path / "out", "b"), disc)
    box = drawn(lambda d: d.rectangle([3, 4, 12, 20], outline=1, fill=1))
    assert np.array_equal(masks_of(tmp_path / "out", "c"), box)


def test_labelme_rectangles_alone_are_boxes_and_photos_found_by_image_path(tmp_path, capsys):
    """A LabelMe detection project (rectangles only) gives boxes, as labelme2coco reads them.
    LabelMe run with --output keeps the JSON files apart from the photos, imagePath relative
    to each, with backslashes when saved on Windows; an EXIF-turned phone photo was drawn on
    upright, as LabelMe shows it."""
    photos, labels = tmp_path / "site" / "photos", tmp_path / "site" / "labels"
    _photo(photos / "pier.jpg")
    _photo(photos / "phone.jpg", size=(H, W), orientation=6)  # stored 30 x 40, upright 40 x 30
    _photo(photos / "skipped.jpg")
    _labelme(labels / "pier.json", "..\\photos\\pier.jpg", [("rust", "rectangle", [[2, 3], [10, 8]], {})])
    _labelme(labels / "phone.json", "../photos/phone.jpg", [("rust", "rectangle", [[30, 20], [40, 30]], {})])
    # LabelMe 3: no image size, no shape_type; the photo's path on the labeller's own machine
    _photo(photos / "old.jpg")
    (labels / "old.json").write_text(json.dumps({
        "version": "3.16.7", "flags": {}, "lineColor": [0, 255, 0, 128], "fillColor": [255, 0, 0, 128],
        "imagePath": "C:\\Users\\inspector\\old.jpg", "imageData": None,
        "shapes": [{"label": "rust", "line_color": None, "fill_color": None, "points": [[1, 2], [5, 9]],
                    "shape_type": "rectangle"}]}))
    out = tmp_path / "out"
    assert main(["import", str(labels), "--images", str(photos), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "in LabelMe export" in said and "skipped.jpg" in said
    assert json.loads((out / "boxes.json").read_text()) == {
        "old.jpg": [[1, 2, 5, 9]], "phone.jpg": [[30, 20, 40, 30]], "pier.jpg": [[2, 3, 10, 8]]}
    assert sorted(p.name for p in (out / "corrosion").iterdir()) == ["old.jpg", "phone.jpg", "pier.jpg"]


def test_a_labelme_file_alone_or_broken_is_named(tmp_path):
    src = tmp_path / "labelme"
    _photo(src / "a.jpg")
    _photo(src / "b.jpg")
    _labelme(src / "a.json", "a.jpg", [("rust", "polygon", [[1, 1], [9, 1], [9, 9]], {})])
    _labelme(src / "b.json", "b.jpg", [("rust", "mask", [[0, 0], [4, 4]], _ai_mask(np.ones((2, 2), bool)))])
    with pytest.raises(AnnotationError, match="one LabelMe file: import its folder"):
        read_export(src / "a.json")
    (src / "_flags.json").write_text(json.dumps(["rusty", "clean"]))  # sorts first; not LabelMe's
    summary = write_import(read_export(src), tmp_path / "out")
    assert summary.masks == 1
    assert "its mask is 2 x 2 px, not the size of its box" in summary.left_out["b.jpg"]
    assert summary.left_out["_flags.jpg"] == "its annotation _flags.json is not a LabelMe file"


def test_a_labelme_file_that_holds_its_photo_needs_no_photo_beside_it(tmp_path):
    """LabelMe can save the photo inside its JSON (imageData, base64); a set shared as JSON
    files alone imports from them. A photo file beside the JSON is used when there is one."""
    import base64

    src = tmp_path / "labelme"
    photo = tmp_path / "elsewhere" / "held.jpg"
    photo.parent.mkdir()
    noisy = np.random.default_rng(0).integers(0, 256, (2 * H, 2 * W, 3), dtype=np.uint8)
    Image.fromarray(noisy).save(photo, quality=95)
    held = base64.b64encode(photo.read_bytes()).decode()
    assert len(held) > 4096  # more than is read to tell a LabelMe file from a COCO one
    _labelme(src / "held.json", "held.jpg", [("rust", "rectangle", [[2, 3], [11, 8]], {}),
                                             ("rust", "polygon", [[20, 20], [30, 20], [30, 28]], {})],
             size=(2 * W, 2 * H))
    data = json.loads((src / "held.json").read_text())
    # a writer other than LabelMe's may put the photo first, the shapes far from the start
    (src / "held.json").write_text(json.dumps({"imageData": held, **{k: v for k, v in data.items() if k != "imageData"}}))
    _labelme(src / "clean.json", "clean.jpg", [])  # the first file, looked at to tell the format
    (src / "clean.json").write_text(json.dumps(dict(json.loads((src / "clean.json").read_text()), imageData=held)))
    _labelme(src / "broken.json", "x.jpg", [])
    (src / "x.json").write_text(json.dumps(dict(json.loads((src / "broken.json").read_text()), imageData="%%")))
    (src / "broken.json").unlink()
    out = tmp_path / "out"
    summary = write_import(read_export(src), out)
    assert (summary.masks, summary.clean) == (1, 1)
    assert (out / "images" / "held.jpg").read_bytes() == photo.read_bytes()
    assert (out / "not_corrosion" / "clean.jpg").read_bytes() == photo.read_bytes()
    assert "imageData is not base64" in summary.left_out["x.jpg"]
    assert (read_mask(out / "masks" / "held.png") > 0)[3:9, 2:12].all()
    assert sorted(p.name for p in out.iterdir()) == ["corrosion", "images", "import.json", "masks", "not_corrosion"]


def _via(path, photos, wrap=False):
    """A VGG Image Annotator 2 annotations file ({filename + size: entry}), or a project
    holding it (``wrap``)."""
    entries = {f"{name}{i}": {"filename": name, "size": i, "regions": regions, "file_attributes": {}}
               for i, (name, regions) in enumerate(photos.items())}
    data = {"_via_settings": {}, "_via_img_metadata": entries, "_via_attributes": {}} if wrap else entries
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def _region(shape, **attributes):
    return {"shape_attributes": shape, "region_attributes": attributes}


def test_via_regions_as_mask_rcnn_keeps_them(tmp_path):
    """Mask R-CNN's balloon sample: via_region_data.json beside the photos, one class, its
    regions without attributes. Polygons, circles, ellipses and rectangles are regions; a
    photo listed without regions is clean; a polyline leaves its photo out; a photo the file
    does not list is not labelled."""
    src = tmp_path / "train"
    for name in ("a", "b", "c", "d", "e", "unlisted"):
        _photo(src / f"{name}.jpg")
    xs, ys = [5.5, 20.3, 18.1, 6.4], [15.2, 16.8, 27.6, 25.1]
    _via(src / "via_region_data.json", {
        "a.jpg": [_region({"name": "polygon", "all_points_x": xs, "all_points_y": ys}),
                  _region({"name": "rect", "x": 30, "y": 2, "width": 6, "height": 5})],
        "b.jpg": [_region({"name": "circle", "cx": 20, "cy": 14, "r": 8}),
                  _region({"name": "ellipse", "cx": 5, "cy": 5, "rx": 4, "ry": 2, "theta": 0.5})],
        "d.jpg": [],
        "e.jpg": [_region({"name": "polyline", "all_points_x": [1, 30], "all_points_y": [1, 20]})],
        "gone.jpg": []})
    export = read_export(src)
    assert export.format == "VIA" and export.classes == ["region"]
    summary = write_import(export, tmp_path / "out")
    assert (summary.masks, summary.clean) == (2, 1)
    assert "a polyline encloses no pixel" in summary.left_out["e.jpg"]
    assert summary.left_out["unlisted.jpg"] == "not in via_region_data.json: not labelled"
    assert summary.left_out["gone.jpg"].startswith("no such photo in")
    img = Image.new("L", (W, H), 0)
    ImageDraw.Draw(img).polygon(list(zip(xs, ys)), fill=1)
    ImageDraw.Draw(img).polygon([(30, 2), (36, 2), (36, 7), (30, 7)], fill=1)
    a = np.asarray(img) > 0
    assert np.array_equal(read_mask(tmp_path / "out" / "masks" / "a.png") > 0, a)
    b = read_mask(tmp_path / "out" / "masks" / "b.png") > 0
    disc = Image.new("L", (W, H), 0)
    ImageDraw.Draw(disc).ellipse([12, 6, 28, 22], fill=1)
    disc = np.asarray(disc) > 0
    circle = b.copy()
    circle[:, :11] = False  # the ellipse is left of x = 10
    assert (circle & disc).sum() / (circle | disc).sum() > 0.9 and b[14, 20] and not b[14, 29]
    assert b[5, 5] and b[5:8, 1:10].sum() > 8 and not b[5:8, 1:10].all()  # the turned ellipse


def test_via_classes_from_attributes_and_rectangles_alone_as_boxes(tmp_path, capsys):
    """A VIA 1 project (regions keyed by number) whose regions carry a drop-down class and a
    checkbox: the values are the classes to choose from; rectangles alone are boxes. A
    download of splits (the balloon sample's train/ and val/) imports split by split."""
    root = tmp_path / "dataset"
    for split in ("train", "val"):
        _photo(root / split / "p.jpg")
        _photo(root / split / "q.jpg")
        regions = {"0": _region({"name": "rect", "x": 1, "y": 2, "width": 10, "height": 5}, name="rust", nome="rust"),
                   "1": _region({"name": "rect", "x": 20, "y": 20, "width": 5, "height": 5}, name="paint",
                                extra={"flaking": True, "blistered": False})}
        _via(root / split / "via_region_data.json", {"p.jpg": regions, "q.jpg": {}}, wrap=split == "val")
    assert main(["import", str(root), "--out", str(tmp_path / "o1")]) == 2
    assert "3 classes (rust (1 region), paint (1 region), flaking (1 region))" in capsys.readouterr().err
    assert main(["import", str(root), "--classes", "rust,flaking", "--out", str(tmp_path / "out")]) == 0
    said = capsys.readouterr().out
    assert "in VIA export" in said
    for split in ("train", "val"):
        assert json.loads((tmp_path / "out" / split / "boxes.json").read_text()) == {
            "p.jpg": [[1, 2, 11, 7], [20, 20, 25, 25]]}
        assert [p.name for p in (tmp_path / "out" / split / "not_corrosion").iterdir()] == ["q.jpg"]


def _cvat(path, images, labels=("rust",), track=False):
    """A "CVAT for images 1.1" annotations.xml: ``images`` {name: (attributes, [(tag,
    attributes)])}, its meta listing ``labels``."""
    import xml.etree.ElementTree as ET

    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    task = ET.SubElement(ET.SubElement(root, "meta"), "task")
    names = ET.SubElement(task, "labels")
    for label in labels:
        node = ET.SubElement(names, "label")
        ET.SubElement(node, "name").text = label
        ET.SubElement(ET.SubElement(ET.SubElement(node, "attributes"), "attribute"), "name").text = "visibility"
    for i, (name, (attributes, shapes)) in enumerate(images.items()):
        image = ET.SubElement(root, "track" if track else "image",
                              {"id": str(i), "name": name, **{k: str(v) for k, v in attributes.items()}})
        for tag, shape in shapes:
            ET.SubElement(image, tag, {k: str(v) for k, v in shape.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def _cvat_rle(mask):
    """A boolean array as CVAT's mask RLE: runs of its rows, one after another, the first a
    run of background (of length 0 when the first pixel is set)."""
    flat = mask.ravel()
    edges = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    return ", ".join(map(str, ([0] if flat[0] else []) + runs))


def test_cvat_for_images_regions_of_every_kind_become_masks(tmp_path, capsys):
    """CVAT's download: annotations.xml beside images/. Polygons, masks (RLE of their box),
    ellipses and boxes (turned ones too) are regions, drawn as CVAT draws them; a photo listed
    with no region is clean; one whose rust is a polyline, or is only tagged, is left out; a
    photo the file does not list is not labelled; broken masks are named."""
    src = tmp_path / "task_12-2026_12_07"
    for name in ("a", "b", "c", "d", "e", "f", "g", "h", "unlisted"):
        _photo(src / "images" / f"{name}.jpg")
    size = {"width": W, "height": H}
    blob = [(5.5, 15.2), (20.3, 16.8), (18.1, 27.6), (6.4, 25.1)]
    part = np.zeros((6, 9), bool)
    part[1:5, 2:7] = True
    part[0, 0] = True
    _cvat(src / "annotations.xml", {
        "a.jpg": (size, [("polygon", {"label": "rust", "points": ";".join(f"{x},{y}" for x, y in blob)}),
                         ("polygon", {"label": "paint", "points": "0,0;5,0;5,5"}),
                         ("mask", {"label": "rust", "rle": _cvat_rle(part), "left": 30, "top": 2,
                                   "width": 9, "height": 6})]),
        "b.jpg": (size, [("ellipse", {"label": "rust", "cx": 20, "cy": 14, "rx": 8, "ry": 3, "rotation": 90}),
                         ("box", {"label": "rust", "xtl": 1, "ytl": 1, "xbr": 6, "ybr": 4})]),
        "c.jpg": (size, [("box", {"label": "rust", "xtl": 10, "ytl": 10, "xbr": 30, "ybr": 14, "rotation": 90})]),
        "d.jpg": (size, [("polygon", {"label": "paint", "points": "0,0;5,0;5,5"})]),
        "e.jpg": (size, [("polyline", {"label": "rust", "points": "1,1;30,20"})]),
        "f.jpg": (size, [("tag", {"label": "rust"})]),
        "g.jpg": (size, [("mask", {"label": "rust", "rle": "3, 4", "left": 0, "top": 0, "width": 3, "height": 3})]),
        "h.jpg": (size, [("mask", {"label": "rust", "rle": "0, 1000000000000", "left": 0, "top": 0,
                                   "width": 1000000, "height": 1000000})]),
        "gone.jpg": (size, [])}, labels=("rust", "paint", "unused"))
    assert main(["import", str(src), "--out", str(tmp_path / "o1")]) == 2
    assert "rust (8 regions, 1 tag), paint (2 regions), unused (0 regions)" in capsys.readouterr().err
    export = read_export(src, classes=["rust"])
    assert export.format == "CVAT" and export.classes == ["rust"]
    summary = write_import(export, tmp_path / "out")
    assert (summary.masks, summary.clean) == (3, 1)
    assert "its polyline 1 (rust) cannot be used: a polyline encloses no pixel" in summary.left_out["e.jpg"]
    assert summary.left_out["f.jpg"] == "tagged rust as a whole, with no region drawn"
    assert "its rle counts 7 pixels, not the 3 x 3 of its box" in summary.left_out["g.jpg"]
    assert "its box of 1000000 x 1000000 px does not fit its image" in summary.left_out["h.jpg"]
    assert summary.left_out["unlisted.jpg"] == "not in annotations.xml: not labelled"
    assert summary.left_out["gone.jpg"].startswith("no such photo in")

    expected_a = drawn(lambda d: d.polygon(blob, fill=1))
    expected_a[2:8, 30:39] |= part  # the paint is not rust
    assert np.array_equal(masks_of(tmp_path / "out", "a"), expected_a)
    b = masks_of(tmp_path / "out", "b")
    assert b[1:5, 1:7].all() and b[7:22, 19:22].all()  # the ellipse turned upright: 6 wide, 16 high
    assert not b[14, 12:17].any() and not b[14, 24:29].any()
    # the 20 x 4 box turned a quarter about its centre (20, 12): 4 wide, 20 high
    assert np.array_equal(masks_of(tmp_path / "out", "c"), drawn(lambda d: d.rectangle([18, 2, 22, 22], fill=1)))


def test_cvat_boxes_alone_tags_alone_and_a_project_of_subsets(tmp_path, capsys):
    """Boxes alone are a detection export (a turned box, the upright box around it); tags
    alone label photos as a whole (an untagged photo is not labelled); a project's Train and
    Test subsets, its photos under images/SUBSET/, import split by split."""
    src = tmp_path / "boxes"
    _photo(src / "images" / "p.jpg")
    _photo(src / "images" / "q.jpg")
    _cvat(src / "annotations.xml", {
        "p.jpg": ({"width": W, "height": H}, [
            ("box", {"label": "rust", "xtl": 1, "ytl": 2, "xbr": 11, "ybr": 7}),
            ("box", {"label": "rust", "xtl": 10, "ytl": 10, "xbr": 30, "ybr": 14, "rotation": 90})]),
        "q.jpg": ({"width": W, "height": H}, [])})
    summary = write_import(read_export(src / "annotations.xml"), tmp_path / "out-boxes")
    assert (summary.boxes, summary.clean) == (1, 1)
    assert json.loads((tmp_path / "out-boxes" / "boxes.json").read_text()) == {
        "p.jpg": [[1, 2, 11, 7], [18, 2, 22, 22]]}

    tags = tmp_path / "tags"
    for name in ("r", "s", "t"):
        _photo(tags / "images" / f"{name}.jpg")
    _cvat(tags / "annotations.xml", {"r.jpg": ({}, [("tag", {"label": "rust"})]),
                                     "s.jpg": ({}, [("tag", {"label": "clean"})]),
                                     "t.jpg": ({}, [])}, labels=("rust", "clean"))
    summary = write_import(read_export(tags, classes=["rust"]), tmp_path / "out-tags")
    assert (summary.corrosion, summary.clean) == (1, 1)
    assert summary.left_out == {"t.jpg": "no tag: not labelled"}
    assert [p.name for p in (tmp_path / "out-tags" / "corrosion").iterdir()] == ["r.jpg"]

    project = tmp_path / "project"
    polygon = [("polygon", {"label": "rust", "points": "2,2;12,2;12,9"})]
    for subset, name in (("Train", "u.jpg"), ("Train", "v.jpg"), ("Test", "w.jpg")):
        _photo(project / "images" / subset / name)
    _cvat(project / "annotations.xml", {
        "u.jpg": ({"subset": "Train", "width": W, "height": H}, polygon),
        "v.jpg": ({"subset": "Train", "width": W, "height": H}, []),
        "w.jpg": ({"subset": "Test", "width": W, "height": H}, polygon)})
    assert main(["import", str(project), "--out", str(tmp_path / "out")]) == 0
    assert "in CVAT export" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["test", "train"]
    assert [m.name for _, m in pair_photos(tmp_path / "out" / "train")[0]] == ["u.png"]
    assert [p.name for p in (tmp_path / "out" / "train" / "not_corrosion").iterdir()] == ["v.jpg"]
    assert [m.name for _, m in pair_photos(tmp_path / "out" / "test")[0]] == ["w.png"]


def test_cvat_for_video_and_a_single_voc_file_are_refused_with_what_to_do(tmp_path):
    _photo(tmp_path / "video" / "images" / "frame_000000.jpg")
    _cvat(tmp_path / "video" / "annotations.xml", {"frame_000000.jpg": ({}, [])}, track=True)
    with pytest.raises(AnnotationError, match="CVAT for video 1.1.*export the task as \"CVAT for images 1.1\""):
        read_exports(tmp_path / "video")
    voc = tmp_path / "labelimg" / "a.xml"
    voc.parent.mkdir()
    voc.write_text("<annotation><filename>a.jpg</filename></annotation>")
    with pytest.raises(AnnotationError, match="imported by their folder"):
        read_export(voc)


# label_studio_converter.brush.mask2rle (0.0.59, Label Studio's own converter) of a 6 x 4 mask:
# its top left pixel, and rows 1-2 of columns 2-4.
LABEL_STUDIO_BRUSH = [0, 0, 0, 96, 57, 27, 252, 127, 248, 108, 2, 223, 253, 176, 11, 127, 248, 108, 0]


def _ls_task(task_id, image, *annotations):
    return {"id": task_id, "data": {"image": image}, "annotations": list(annotations), "predictions": []}


def _ls_annotation(*results, created="2026-03-01T10:00:00Z", **extra):
    return {"id": 1, "result": list(results), "was_cancelled": False, "ground_truth": False,
            "created_at": created, **extra}


def _ls_region(kind, size=(W, H), **value):
    return {"id": "r", "type": kind, "from_name": "label", "to_name": "image", "original_width": size[0],
            "original_height": size[1], "image_rotation": 0, "value": value}


def test_label_studio_json_export_becomes_masks(tmp_path, capsys, caplog):
    """Label Studio's JSON export: one task a photo, its URL an upload (named with a prefix
    of Label Studio's) or a local file; coordinates in percent. Polygons, brush strokes
    (decoded as Label Studio's own converter writes them), ellipses and rectangles, turned
    about their top left corner, are regions. The ground-truth annotation, else the newest
    not skipped, is imported; a task no one annotated, or only skipped, is not labelled."""
    photos = tmp_path / "photos"
    for name in ("a", "b", "c", "d", "e", "f", "g", "h", "unlisted"):
        _photo(photos / f"{name}.jpg")
    _photo(photos / "brush.png", size=(6, 4))
    polygon = _ls_region("polygonlabels", points=[[12.5, 50], [50, 50], [50, 90]], polygonlabels=["rust"])
    export = tmp_path / "ls" / "project-3-at-2026-12-07.json"
    export.parent.mkdir()
    export.write_text(json.dumps([
        _ls_task(1, "/data/upload/3/1a2b3c4d-a.jpg", _ls_annotation(
            polygon, _ls_region("polygonlabels", points=[[0, 0], [10, 0], [10, 10]], polygonlabels=["paint"]))),
        _ls_task(2, "/data/local-files/?d=site%2Fb.jpg", _ls_annotation(
            _ls_region("rectanglelabels", x=25, y=10, width=25, height=10, rotation=90, rectanglelabels=["rust"]),
            _ls_region("ellipselabels", x=75, y=60, radiusX=10, radiusY=10, rotation=0, ellipselabels=["rust"]))),
        _ls_task(3, "/data/upload/3/c.jpg", _ls_annotation(polygon, created="2026-01-01T00:00:00Z"),
                 _ls_annotation(created="2026-02-01T00:00:00Z"),
                 _ls_annotation(polygon, created="2026-04-01T00:00:00Z", was_cancelled=True)),
        _ls_task(4, "/data/upload/3/d.jpg", _ls_annotation(polygon, created="2026-01-01T00:00:00Z", ground_truth=True),
                 _ls_annotation(created="2026-02-01T00:00:00Z")),
        _ls_task(5, "/data/upload/3/e.jpg", _ls_annotation(_ls_region("keypointlabels", x=5, y=5, width=1,
                                                                      keypointlabels=["rust"]))),
        _ls_task(6, "/data/upload/3/f.jpg"),
        _ls_task(7, "/data/upload/3/g.jpg", _ls_annotation(polygon, was_cancelled=True)),
        _ls_task(8, "s3://inspections/brush.png", _ls_annotation(
            _ls_region("brushlabels", size=(6, 4), format="rle", rle=LABEL_STUDIO_BRUSH, brushlabels=["rust"]))),
        _ls_task(9, "/data/upload/3/gone.jpg", _ls_annotation()),
        _ls_task(10, "/data/upload/3/1a2b3c4d-h.jpg", _ls_annotation(  # the 6 x 4 stroke on a 40 x 30 photo
            _ls_region("brushlabels", format="rle", rle=LABEL_STUDIO_BRUSH, brushlabels=["rust"]))),
        # a.jpg imported a second time, annotated earlier: task 1's newer annotation is the one
        _ls_task(11, "/data/upload/3/9e8d7c6b-a.jpg", _ls_annotation(created="2025-01-01T00:00:00Z"))]))
    assert main(["import", str(export), "--images", str(photos), "--out", str(tmp_path / "o1")]) == 2
    assert "rust (7 regions), paint (1 region)" in capsys.readouterr().err
    with caplog.at_level(logging.WARNING):
        result = read_export(export.parent, photos, classes=["rust"])  # the folder holding the JSON
    assert "1 photo(s) are in more than one task; each is imported from its newest annotation: " \
           "a.jpg (tasks 1, 11)" in caplog.text
    assert result.format == "Label Studio"
    summary = write_import(result, tmp_path / "out")
    out = tmp_path / "out"
    assert (summary.masks, summary.clean) == (4, 1)
    assert [p.name for p in (out / "not_corrosion").iterdir()] == ["c.jpg"]  # its newest annotation
    assert "a keypoint encloses no pixel" in summary.left_out["e.jpg"]
    assert summary.left_out["f.jpg"] == "task 6 has no annotation: not labelled"
    assert "brush RLE holds 96 values, not the 4800 of its photo's RGBA pixels" in summary.left_out["h.jpg"]
    assert summary.left_out["g.jpg"] == "task 7 was skipped"
    assert summary.left_out["unlisted.jpg"] == "in no task of project-3-at-2026-12-07.json: not labelled"
    assert summary.left_out["gone.jpg"].startswith("no such photo in")
    triangle = drawn(lambda d: d.polygon([(5, 15), (20, 15), (20, 27)], fill=1))
    assert np.array_equal(masks_of(out, "a"), triangle) and np.array_equal(masks_of(out, "d"), triangle)
    b = masks_of(out, "b")
    # the 10 x 3 px rectangle at (10, 3) turned a quarter about that corner: x 7-10, y 3-13
    assert np.array_equal(b[:, :15], drawn(lambda d: d.rectangle([7, 3, 10, 13], fill=1))[:, :15])
    assert b[18, 30] and b[18, 27:34].all() and not b[18, 35] and not b[13, 30]  # the disc at (30, 18), r 4 x 3
    brush = np.zeros((4, 6), bool)
    brush[0, 0] = True
    brush[1:3, 2:5] = True
    assert np.array_equal(masks_of(out, "brush"), brush)


def test_label_studio_choices_alone_and_rectangles_alone(tmp_path):
    """A classification project (choices) labels photos as a whole; rectangles alone are a
    detection export; JSON-MIN, which this does not read, is named."""
    for name in ("p", "q", "r", "site2/t"):
        _photo(tmp_path / "cls" / f"{name}.jpg")
    _photo(tmp_path / "cls" / "site1" / "t.jpg", square=(2, 2, 9, 9))  # not the same photo as site2's
    choice = {"type": "choices", "from_name": "verdict", "to_name": "image", "value": {"choices": ["rust"]}}
    clean = dict(choice, value={"choices": ["clean"]})
    (tmp_path / "cls" / "export.json").write_text(json.dumps([
        _ls_task(1, "/data/upload/1/0badcafe-p.jpg", _ls_annotation(choice)),
        _ls_task(2, "/data/upload/1/q.jpg", _ls_annotation(clean)),
        _ls_task(3, "/data/upload/1/r.jpg", _ls_annotation()),
        # local files of one name in two folders are two photos, not one photo in two tasks
        _ls_task(4, "/data/local-files/?d=inspections/site1/t.jpg", _ls_annotation(choice)),
        _ls_task(5, "/data/local-files/?d=inspections/site2/t.jpg", _ls_annotation(clean))]))
    with pytest.raises(AnnotationError, match=r"2 classes \(rust \(2 choices\), clean \(2 choices\)\)"):
        read_export(tmp_path / "cls" / "export.json")
    summary = write_import(read_export(tmp_path / "cls" / "export.json", classes=["rust"]), tmp_path / "out-cls")
    assert (summary.corrosion, summary.clean, summary.left_out) == (2, 3, {})
    assert sorted(p.name for p in (tmp_path / "out-cls" / "corrosion").iterdir()) == ["p.jpg", "t.jpg"]
    site1 = (tmp_path / "cls" / "site1" / "t.jpg").read_bytes()
    assert (tmp_path / "out-cls" / "corrosion" / "t.jpg").read_bytes() == site1
    assert (tmp_path / "out-cls" / "not_corrosion" / "t.jpg").read_bytes() != site1

    _photo(tmp_path / "det" / "images" / "s.jpg")
    (tmp_path / "det" / "export.json").write_text(json.dumps([_ls_task(1, "/data/upload/1/s.jpg", _ls_annotation(
        _ls_region("rectanglelabels", x=25, y=10, width=25, height=10, rotation=0, rectanglelabels=["rust"]),
        _ls_region("rectanglelabels", x=25, y=10, width=25, height=10, rotation=90, rectanglelabels=["rust"])))]))
    write_import(read_export(tmp_path / "det"), tmp_path / "out-det")
    assert json.loads((tmp_path / "out-det" / "boxes.json").read_text()) == {"s.jpg": [[10, 3, 20, 6], [7, 3, 10, 13]]}

    (tmp_path / "min.json").write_text(json.dumps([{"image": "/data/upload/1/s.jpg", "id": 1, "annotation_id": 1}]))
    with pytest.raises(AnnotationError, match="JSON-MIN export, which this does not read: export the project as JSON"):
        read_export(tmp_path / "min.json")


# A 3 x 3 ring (its centre unset) placed at x 1, y 1: Supervisely's SDK writes it so in its
# own documentation (Bitmap.to_json).
SUPERVISELY_RING = ("eJzrDPBz5+WS4mJgYOD19HAJAtLMIMwIInOeqf8BUmwBPiGuQPr///9Lb86/C2QxlgT5BTM4PLuRBuTwebo4hlTMSa44"
                    "sKHhISMDuxpTYrr03F6gDIOnq5/LOqeEJgDM5ht6")


def _supervisely_png(mask):
    """A bitmap as Supervisely's SDK writes it: a palette PNG, index 0 transparent, zlib, base64."""
    import io

    png = Image.fromarray(mask.astype(np.uint8), "P")
    png.putpalette([0, 0, 0, 255, 255, 255])
    buf = io.BytesIO()
    png.save(buf, format="PNG", transparency=0)
    return base64.b64encode(zlib.compress(buf.getvalue())).decode()


def _supervisely(dataset, photos, size=(W, H)):
    """A Supervisely dataset: img/NAME beside ann/NAME.json, ``photos`` {name: (objects, tags)}."""
    for name, (objects, tags) in photos.items():
        _photo(dataset / "img" / name)
        (dataset / "ann").mkdir(parents=True, exist_ok=True)
        (dataset / "ann" / f"{name}.json").write_text(json.dumps({
            "description": "", "size": {"width": size[0], "height": size[1]},
            "tags": [{"name": t, "value": None} for t in tags],
            "objects": [{"classTitle": title, "geometryType": kind, "tags": [], **shape}
                        for title, kind, shape in objects]}))


def _exterior(*points, holes=()):
    return {"points": {"exterior": [list(p) for p in points], "interior": [[list(p) for p in h] for h in holes]}}


def test_supervisely_project_becomes_masks(tmp_path, capsys):
    """Supervisely's own format: meta.json beside a folder a dataset (img/ + ann/). Polygons,
    their holes left out, and bitmaps (decoded as the SDK writes them) are regions; a photo
    with no object is clean; one whose rust is a line, or only an image tag, is left out; a
    photo without its annotation file is not labelled."""
    project = tmp_path / "Corrosion survey"
    project.mkdir()
    (project / "meta.json").write_text(json.dumps({"classes": [
        {"title": t, "shape": "polygon", "color": "#FF0000"} for t in ("rust", "paint", "unused")], "tags": []}))
    _supervisely(project / "ds0", {
        "a.jpg": ([("rust", "polygon", _exterior((2, 2), (20, 2), (20, 20), (2, 20),
                                                 holes=[((8, 8), (14, 8), (14, 14), (8, 14))])),
                   ("rust", "bitmap", {"bitmap": {"data": SUPERVISELY_RING, "origin": [30, 2]}})], []),
        "b.jpg": ([("rust", "rectangle", _exterior((12, 20), (3, 4))),
                   ("paint", "polygon", _exterior((30, 20), (38, 20), (38, 28)))], []),
        "c.jpg": ([], []),
        "d.jpg": ([("rust", "line", _exterior((1, 1), (30, 20)))], []),
        "e.jpg": ([], ["rust"]),
        "f.jpg": ([("rust", "bitmap", {"bitmap": {"data": _supervisely_png(np.ones((50, 50), bool)),
                                                  "origin": [0, 0]}})], []),
        "g.jpg": ([("rust", "bitmap", {"bitmap": {  # 20 MB of zeros in 20 kB
            "data": base64.b64encode(zlib.compress(bytes(20_000_000))).decode(), "origin": [0, 0]}})], [])})
    _photo(project / "ds0" / "img" / "unlabelled.jpg")
    assert main(["import", str(project), "--out", str(tmp_path / "o1")]) == 2
    assert "rust (6 regions, 1 tag), paint (1 region), unused (0 regions)" in capsys.readouterr().err
    assert main(["import", str(project), "--classes", "rust", "--out", str(tmp_path / "out")]) == 0
    assert "in Supervisely export" in capsys.readouterr().out
    record = json.loads((tmp_path / "out" / "import.json").read_text())
    assert (record["photos_with_masks"], record["photos_without_corrosion"]) == (2, 1)
    assert "a line encloses no pixel" in record["left_out"]["d.jpg"]
    assert record["left_out"]["e.jpg"] == "tagged rust as a whole, with no region drawn"
    assert record["left_out"]["unlabelled.jpg"] == "no annotation file (ann/unlabelled.jpg.json): not labelled"
    assert "its bitmap of 50 x 50 px is larger than its image" in record["left_out"]["f.jpg"]
    assert "its bitmap inflates past the size of its image" in record["left_out"]["g.jpg"]
    a = drawn(lambda d: d.polygon([(2, 2), (20, 2), (20, 20), (2, 20)], fill=1))
    a &= ~drawn(lambda d: d.polygon([(8, 8), (14, 8), (14, 14), (8, 14)], fill=1))
    a[2:5, 30:33] = True  # the ring at its origin: x 30, y 2
    a[3, 31] = False
    assert np.array_equal(masks_of(tmp_path / "out", "a"), a)
    assert np.array_equal(masks_of(tmp_path / "out", "b"), drawn(lambda d: d.rectangle([3, 4, 12, 20], fill=1)))


def test_supervisely_datasets_as_splits_rectangles_alone_and_tags_alone(tmp_path):
    """Datasets named train and test import split by split; rectangles alone are boxes (both
    corners inside); image tags alone label photos as a whole."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "meta.json").write_text(json.dumps({"classes": [{"title": "rust", "shape": "rectangle"}]}))
    for split in ("train", "test"):
        _supervisely(project / split, {"p.jpg": ([("rust", "rectangle", _exterior((1, 2), (10, 6)))], []),
                                       "q.jpg": ([], [])})
    exports = read_exports(project)
    assert sorted(exports) == ["test", "train"]
    write_imports(exports, tmp_path / "out")
    for split in ("train", "test"):
        assert json.loads((tmp_path / "out" / split / "boxes.json").read_text()) == {"p.jpg": [[1, 2, 11, 7]]}
        assert [p.name for p in (tmp_path / "out" / split / "not_corrosion").iterdir()] == ["q.jpg"]

    tags = tmp_path / "tags" / "ds"
    _supervisely(tags, {"r.jpg": ([], ["rust"]), "s.jpg": ([], ["clean"])})
    summary = write_import(read_export(tags, classes=["rust"]), tmp_path / "out-tags")  # one dataset alone
    assert (summary.corrosion, summary.clean, summary.left_out) == (1, 1, {})


def test_a_download_as_it_comes_a_zip_imports_as_its_folder(tmp_path, capsys, monkeypatch):
    """Tools hand out their exports as a .zip: import reads it as the folder it unpacks to
    (its one top folder when it holds only that), leaves out what macOS's Finder adds, names
    the zip, not the folder it was unpacked to, and leaves nothing of it behind."""
    import zipfile

    src = tmp_path / "task"
    _photo(src / "images" / "a.jpg")
    _cvat(src / "annotations.xml", {"a.jpg": ({"width": W, "height": H}, [
        ("polygon", {"label": "rust", "points": "2,2;12,2;12,9"})]), "gone.jpg": ({}, [])})
    download = tmp_path / "downloads" / "task_7-2026_12_07.zip"
    download.parent.mkdir()
    with zipfile.ZipFile(download, "w") as zf:
        for path in sorted(src.rglob("*")):
            zf.write(path, path.relative_to(src))
        zf.writestr("__MACOSX/images/._a.jpg", b"\0\5\26\7 Finder metadata")
        zf.writestr("images/._b.jpg", b"\0\5\26\7 Finder metadata")
    out = tmp_path / "imports" / "site7"
    assert main(["import", str(download), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert f"CVAT export {download}/annotations.xml" in said
    record = json.loads((out / "import.json").read_text())
    assert record["source"] == f"{download}/annotations.xml" and record["photos_with_masks"] == 1
    assert record["left_out"]["gone.jpg"].startswith(f"no such photo in {download}/images")
    assert sorted(p.name for p in out.parent.iterdir()) == ["site7"]  # nothing unpacked is left

    project = tmp_path / "zipped whole.zip"  # a folder zipped whole: its one top folder is read
    with zipfile.ZipFile(project, "w") as zf:
        for path in sorted(src.rglob("*")):
            zf.write(path, Path("task") / path.relative_to(src))
    assert main(["import", str(project), "--out", str(tmp_path / "whole")]) == 0
    assert (tmp_path / "whole" / "masks" / "a.png").is_file()

    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(download.read_bytes()[:-200])
    assert main(["import", str(damaged), "--out", str(tmp_path / "d")]) == 2
    assert "cannot be unpacked" in capsys.readouterr().err
    assert main(["import", str(download), "--out", str(out)]) == 2  # not empty: refused before unpacking
    assert "already exists and is not empty" in capsys.readouterr().err
    assert sorted(p.name for p in out.parent.iterdir()) == ["site7"]
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10**9, 10**9 - 100, 100))
    assert main(["import", str(download), "--out", str(tmp_path / "full")]) == 2
    assert "and the import copies its photos again" in capsys.readouterr().err
    assert not (tmp_path / "full").exists() and not list(tmp_path.glob(".full.importing-*"))


def test_a_tar_download_imports_and_one_reaching_outside_is_refused(tmp_path, capsys):
    """Supervisely hands its projects out as a .tar: read as the folder it unpacks to. A tar
    whose entry reaches outside it is refused, and nothing of it is written anywhere."""
    import io
    import tarfile

    project = tmp_path / "Corrosion survey"
    project.mkdir()
    (project / "meta.json").write_text(json.dumps({"classes": [{"title": "rust", "shape": "polygon"}]}))
    _supervisely(project / "ds0", {"a.jpg": ([("rust", "polygon", _exterior((2, 2), (20, 2), (20, 20)))], [])})
    download = tmp_path / "Corrosion survey.tar.gz"
    with tarfile.open(download, "w:gz") as tf:
        tf.add(project, arcname="Corrosion survey")
    assert main(["import", str(download), "--out", str(tmp_path / "out")]) == 0
    assert f"Supervisely export {download}/ds0" in capsys.readouterr().out
    assert (tmp_path / "out" / "masks" / "a.png").is_file()

    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tf:
        data = b"not a photo"
        info = tarfile.TarInfo("../escaped.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    assert main(["import", str(evil), "--out", str(tmp_path / "o2")]) == 2
    assert "cannot be unpacked" in capsys.readouterr().err
    assert not list(tmp_path.rglob("escaped.txt")) and not list(tmp_path.glob(".o2.importing-*"))


def _roboflow_masks(folder, masks):
    """Roboflow's "Semantic Segmentation Masks" export: NAME.jpg beside NAME_mask.png (pixel
    values are classes) and _classes.csv naming them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "_classes.csv").write_text("Pixel Value, Class\n0, background\n1, rust\n2, paint\n")
    for name, values in masks.items():
        _photo(folder / f"{name}_jpg.rf.{'a' * 32}.jpg")
        if values is not None:
            Image.fromarray(values).save(folder / f"{name}_jpg.rf.{'a' * 32}_mask.png")


def test_roboflow_semantic_masks_become_masks(tmp_path, capsys):
    """Roboflow's PNG mask export, as a download of splits: its _classes.csv maps pixel values
    to classes (it is not the image-label CSV of the same name); a photo whose mask is all
    background is clean, one without a mask is not labelled."""
    root = tmp_path / "download"
    a = np.zeros((H, W), np.uint8)
    a[2:10, 3:12] = 1
    a[20:25, 20:30] = 2
    _roboflow_masks(root / "train", {"a": a, "b": np.zeros((H, W), np.uint8), "c": None})
    _roboflow_masks(root / "valid", {"d": a})
    with pytest.raises(AnnotationError, match="2 classes"):
        read_export(root / "train")
    out = tmp_path / "out"
    assert main(["import", str(root), "--classes", "rust", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "in Roboflow masks export" in said and "--val-masks" in said
    masks = {p.name: read_mask(p) > 0 for p in (out / "train" / "masks").iterdir()}
    assert list(masks) == [f"a_jpg.rf.{'a' * 32}.png"] and np.array_equal(masks[f"a_jpg.rf.{'a' * 32}.png"], a == 1)
    assert [p.name for p in (out / "train" / "not_corrosion").iterdir()] == [f"b_jpg.rf.{'a' * 32}.jpg"]
    record = json.loads((out / "train" / "import.json").read_text())
    assert record["left_out"] == {f"c_jpg.rf.{'a' * 32}.jpg": f"no mask (c_jpg.rf.{'a' * 32}_mask.png): not labelled"}
    assert len(list((out / "val" / "masks").iterdir())) == 1


def test_a_mask_folder_named_otherwise_is_paired_and_renamed(tmp_path, capsys):
    """images/ + masks/ as many public sets name them (NAME_mask.png, NAME_gt.png, JPEG
    masks): evaluate says import renames them, and import pairs them. A JPEG mask's
    compression noise is not rust; a photo with a mask a class is named, not paired with one
    of them; a folder already in the pair layout is still refused."""
    src = tmp_path / "kaggle"
    rust = np.zeros((H, W), bool)
    rust[2:9, 3:20] = True
    for name in ("a", "b", "c", "d", "e", "site", "site_A", "none"):
        _photo(src / "images" / f"{name}.jpg")
    (src / "masks").mkdir()
    Image.fromarray(rust.astype(np.uint8) * 255).save(src / "masks" / "a_mask.png")
    Image.fromarray(rust.astype(np.uint8)).save(src / "masks" / "b-mask.png")  # class indices 0/1
    Image.fromarray(rust.astype(np.uint8) * 255).save(src / "masks" / "d_gt.png")
    for name in ("e_rust.png", "e_paint.png", "site_A.bmp"):  # site_A.bmp is site_A's, not site's
        Image.fromarray(rust.astype(np.uint8) * 255).save(src / "masks" / name)
    noisy = rust.astype(np.uint8) * 255
    noisy[20:, :] = 9  # what JPEG compression leaves in the dark
    Image.fromarray(noisy).save(src / "masks" / "c.jpg", quality=60)
    assert main(["evaluate", "--only", "pixel", "--pixel", str(src), "--out", str(tmp_path / "e")]) == 2
    assert f"rustseg import {src} --out NEW renames them" in capsys.readouterr().err
    out = tmp_path / "out"
    summary = write_import(read_export(src), out)
    assert summary.masks == 5 and summary.left_out == {
        "none.jpg": "no mask (masks/none.png or none_mask.*): not labelled",
        "site.jpg": "no mask (masks/site.png or site_mask.*): not labelled",
        "e.jpg": "several masks are named after it (e_paint.png, e_rust.png): import a folder holding only "
                 "its corrosion masks"}
    for name in ("a", "b", "d", "site_A"):
        assert np.array_equal(read_mask(out / "masks" / f"{name}.png") > 0, rust)
    c = read_mask(out / "masks" / "c.png") > 0
    assert not c[20:].any() and (c & rust).sum() / (c | rust).sum() > 0.9
    with pytest.raises(AnnotationError, match="already holds images/ \\+ masks/"):
        read_export(out)


def test_a_folder_paired_in_part_names_import_for_masks_named_otherwise(tmp_path, caplog):
    """train and evaluate leave out a photo without masks/NAME.png; when its mask is there
    under another name (a set relabelled in part), the warning says import renames it."""
    from rustseg_core.learn.masks import mask_pairs_in

    src = tmp_path / "mixed"
    for name in ("a", "b", "c", "c_x"):
        _photo(src / "images" / f"{name}.jpg")
    (src / "masks").mkdir()
    for mask in ("a.png", "b_mask.png", "c_x.png"):  # c_x.png is c_x's own, not c's
        Image.new("L", (W, H), 255).save(src / "masks" / mask)
    with caplog.at_level(logging.WARNING):
        assert [p.name for p, _ in mask_pairs_in(src)] == ["a.jpg", "c_x.jpg"]
    assert "2 photo(s) of" in caplog.text and "b.jpg, c.jpg" in caplog.text
    assert f"1 of them have a mask named otherwise (NAME_mask.png, NAME.jpg): rustseg import {src} --out NEW" \
        in caplog.text
    caplog.clear()
    (src / "masks" / "b_mask.png").unlink()
    with caplog.at_level(logging.WARNING):
        mask_pairs_in(src)
    assert "2 photo(s) of" in caplog.text and "rustseg import" not in caplog.text


def test_a_label_image_pillow_takes_for_a_bomb_leaves_its_photo_out(tmp_path, monkeypatch):
    """A mask PNG or a LabelMe AI mask larger than imageio lets Pillow open is named among
    those left out; before, Pillow's DecompressionBombError stopped the whole import."""
    folder = tmp_path / "kaggle"
    _photo(folder / "images" / "a.jpg")
    (folder / "masks").mkdir()
    Image.new("L", (W, H), 255).save(folder / "masks" / "a_mask.png")
    labelme = tmp_path / "labelme"
    _photo(labelme / "b.jpg")
    _labelme(labelme / "b.json", "b.jpg", [("rust", "mask", [[30, 2], [37, 7]], _ai_mask(np.ones((6, 8), bool)))])
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # both masks are over twice this: Pillow refuses them
    assert "exceeds limit" in read_export(folder).items[0].problem
    assert "exceeds limit" in read_export(labelme).items[0].problem


def test_images_naming_a_folder_the_export_already_holds_lists_its_photos_once(tmp_path, capsys):
    """--images JPEGImages/ of a VOC export names a folder the reader looks in anyway: its
    unlabelled photos are left out once, not twice (which refused the import as two photos of
    one name)."""
    src = tmp_path / "voc"
    for name in ("a", "b"):
        _photo(src / "JPEGImages" / f"{name}.jpg")
    _voc_xml(src / "Annotations" / "a.xml", "a.jpg", (W, H), [("rust", (1, 1, 9, 9))])
    assert main(["import", str(src), "--images", str(src / "JPEGImages"), "--out", str(tmp_path / "out")]) == 0
    record = json.loads((tmp_path / "out" / "import.json").read_text())
    assert record["left_out"] == {"b.jpg": "no annotation file (.xml): not labelled"}
