"""Does ``rustseg import`` give back the masks or boxes an export was made from? A check
README cites.

    python3 scripts/import_roundtrip_check.py ../shared/data/pixel/test --evaluate
    python3 scripts/import_roundtrip_check.py ../shared/data/boxes

Writes a mask folder (``images/`` + ``masks/``) as a COCO export with one RLE region a photo
(as CVAT and pycocotools write masks), as CVAT's "Segmentation mask" export (one colour a
class in ``SegmentationClass/``), as LabelMe files (one AI mask a photo), as Roboflow's
PNG masks (``NAME_mask.png``, pixel values named in ``_classes.csv``), as a mask folder
named otherwise (``masks/NAME_mask.png``, 0/1), as a "CVAT for images" export (one RLE
``<mask>`` a photo), as Label Studio's JSON export (one brush stroke a photo) and as a
Supervisely project (one bitmap a photo), imports each with ``rustseg import`` into a
temporary folder, and counts the masks that come back identical, pixel for pixel. With
``--evaluate``, it also scores the model (``--model``; default the shipped one) on the
original folder and on the imported one with ``evaluate_segmentation`` and says whether
every photo's scores agree. A box folder (``images/`` + ``boxes.json``) is written as a
COCO detection export, as a Pascal VOC one, as LabelMe rectangles, as a VIA file of
rectangles, as CVAT boxes, as Label Studio rectangles (in percent) and as Supervisely
rectangles instead, and its ``boxes.json`` compared with the one each import writes.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from pycocotools import mask as coco_mask

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rustseg_core.cli import main as rustseg  # noqa: E402
from rustseg_core.learn.masks import pair_photos, read_mask  # noqa: E402


def _mask_box(mask: np.ndarray) -> tuple[int, int, np.ndarray] | None:
    """(left, top, the mask cut to its bounding box), as tools that store a mask by its box
    write it; None for an empty mask."""
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return None
    return int(xs.min()), int(ys.min()), mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, stops) of the runs of equal values in a flat array."""
    edges = np.flatnonzero(np.diff(values.astype(np.int16))) + 1
    return np.concatenate([[0], edges]), np.concatenate([edges, [values.size]])


def _photo_size(photo: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(photo) as img:
        return img.size


def write_coco_rle(folder: Path, dest: Path) -> int:
    """``folder``'s pairs as ``dest/_annotations.coco.json`` beside copies of the photos."""
    dest.mkdir(parents=True)
    images, annotations = [], []
    for i, (photo, mask_path) in enumerate(pair_photos(folder)[0]):
        mask = read_mask(mask_path) > 0
        shutil.copyfile(photo, dest / photo.name)
        images.append({"id": i, "file_name": photo.name, "width": mask.shape[1], "height": mask.shape[0]})
        rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
        annotations.append({"id": i, "image_id": i, "category_id": 1, "iscrowd": 1,
                            "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}})
    (dest / "_annotations.coco.json").write_text(json.dumps(
        {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "rust"}]}))
    return len(images)


def write_voc_masks(folder: Path, dest: Path) -> int:
    """``folder``'s pairs as CVAT's "Segmentation mask" export: ``labelmap.txt``,
    ``SegmentationClass/NAME.png`` (the class colour on black) and ``JPEGImages/``."""
    from PIL import Image

    (dest / "SegmentationClass").mkdir(parents=True)
    (dest / "JPEGImages").mkdir()
    (dest / "labelmap.txt").write_text("# label:color_rgb:parts:actions\nbackground:0,0,0::\n"
                                       "rust:250,50,83::\n")
    pairs = pair_photos(folder)[0]
    for photo, mask_path in pairs:
        shutil.copyfile(photo, dest / "JPEGImages" / photo.name)
        mask = read_mask(mask_path) > 0
        rgb = np.zeros(mask.shape + (3,), np.uint8)
        rgb[mask] = (250, 50, 83)
        Image.fromarray(rgb).save(dest / "SegmentationClass" / f"{photo.stem}.png")
    return len(pairs)


def _labelme_file(dest: Path, photo: Path, size: tuple[int, int], shapes: list[dict]) -> None:
    """``photo`` copied into ``dest`` with ``NAME.json`` beside it, as LabelMe 5 saves them."""
    shutil.copyfile(photo, dest / photo.name)
    (dest / f"{photo.stem}.json").write_text(json.dumps({
        "version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": photo.name, "imageData": None,
        "imageHeight": size[1], "imageWidth": size[0]}))


def _shape(kind: str, points: list, **extra) -> dict:
    return {"label": "rust", "points": points, "group_id": None, "description": "",
            "shape_type": kind, "flags": {}, **extra}


def write_roboflow_masks(folder: Path, dest: Path) -> int:
    """``folder``'s pairs as Roboflow's "Semantic Segmentation Masks" export: ``NAME_mask.png``
    (1 where corrosion) beside each photo, and ``_classes.csv`` naming the pixel values."""
    from PIL import Image

    dest.mkdir(parents=True)
    (dest / "_classes.csv").write_text("Pixel Value, Class\n0, background\n1, rust\n")
    pairs = pair_photos(folder)[0]
    for photo, mask_path in pairs:
        shutil.copyfile(photo, dest / photo.name)
        Image.fromarray((read_mask(mask_path) > 0).astype(np.uint8)).save(dest / f"{photo.stem}_mask.png")
    return len(pairs)


def write_renamed_masks(folder: Path, dest: Path) -> int:
    """``folder``'s pairs as many public sets name them: ``images/NAME.jpg`` beside
    ``masks/NAME_mask.png``, 1 where corrosion."""
    from PIL import Image

    (dest / "images").mkdir(parents=True)
    (dest / "masks").mkdir()
    pairs = pair_photos(folder)[0]
    for photo, mask_path in pairs:
        shutil.copyfile(photo, dest / "images" / photo.name)
        Image.fromarray((read_mask(mask_path) > 0).astype(np.uint8)).save(dest / "masks" / f"{photo.stem}_mask.png")
    return len(pairs)


def write_labelme_masks(folder: Path, dest: Path) -> int:
    """``folder``'s pairs as LabelMe files: one AI mask a photo (LabelMe's ``mask`` shape, a
    base64 PNG of the mask's bounding box), beside copies of the photos."""
    import base64
    import io

    from PIL import Image

    dest.mkdir(parents=True)
    pairs = pair_photos(folder)[0]
    for photo, mask_path in pairs:
        mask = read_mask(mask_path) > 0
        shapes = []
        if box := _mask_box(mask):
            left, top, part = box
            buf = io.BytesIO()
            Image.fromarray(part.astype(np.uint8)).save(buf, "PNG")
            shapes.append(_shape("mask", [[left, top], [left + part.shape[1] - 1, top + part.shape[0] - 1]],
                                 mask=base64.b64encode(buf.getvalue()).decode()))
        _labelme_file(dest, photo, mask.shape[::-1], shapes)
    return len(pairs)


def write_labelme_boxes(folder: Path, dest: Path) -> int:
    """``folder``'s ``boxes.json`` as LabelMe rectangles (corner to corner, as labelme2coco
    reads them), beside copies of the photos."""
    dest.mkdir(parents=True)
    boxes = json.loads((folder / "boxes.json").read_text())
    for name, bxs in sorted(boxes.items()):
        size = _photo_size(folder / "images" / name)
        _labelme_file(dest, folder / "images" / name, size,
                      [_shape("rectangle", [[x0, y0], [x1, y1]]) for x0, y0, x1, y1 in bxs])
    return len(boxes)


def write_via_boxes(folder: Path, dest: Path) -> int:
    """``folder``'s ``boxes.json`` as a VGG Image Annotator file of rectangles
    (``via_region_data.json``, as Mask R-CNN's samples keep it) beside copies of the photos."""
    dest.mkdir(parents=True)
    boxes = json.loads((folder / "boxes.json").read_text())
    entries = {}
    for name, bxs in sorted(boxes.items()):
        shutil.copyfile(folder / "images" / name, dest / name)
        size = (dest / name).stat().st_size
        entries[f"{name}{size}"] = {"filename": name, "size": size, "file_attributes": {}, "regions": [
            {"shape_attributes": {"name": "rect", "x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0},
             "region_attributes": {}} for x0, y0, x1, y1 in bxs]}
    (dest / "via_region_data.json").write_text(json.dumps(entries))
    return len(boxes)


def _cvat_file(dest: Path, images: list[tuple[str, tuple[int, int], list[tuple[str, dict]]]]) -> None:
    """``dest/annotations.xml`` as CVAT's "CVAT for images 1.1" export writes it: one
    ``<image>`` (name, width, height) a photo, holding its shapes of the label ``rust``."""
    import xml.etree.ElementTree as ET

    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    label = ET.SubElement(ET.SubElement(ET.SubElement(ET.SubElement(root, "meta"), "task"), "labels"), "label")
    ET.SubElement(label, "name").text = "rust"
    for i, (name, (w, h), shapes) in enumerate(images):
        image = ET.SubElement(root, "image", {"id": str(i), "name": name, "width": str(w), "height": str(h)})
        for tag, attributes in shapes:
            ET.SubElement(image, tag, {"label": "rust", "source": "manual", "occluded": "0",
                                       **{k: str(v) for k, v in attributes.items()}, "z_order": "0"})
    ET.ElementTree(root).write(dest / "annotations.xml", encoding="utf-8", xml_declaration=True)


def write_cvat_masks(folder: Path, dest: Path) -> int:
    """``folder``'s pairs as a "CVAT for images 1.1" export: one ``<mask>`` a photo (runs of
    its bounding box, row by row, the first a run of background), the photos in ``images/``."""
    (dest / "images").mkdir(parents=True)
    images = []
    for photo, mask_path in pair_photos(folder)[0]:
        mask = read_mask(mask_path) > 0
        shutil.copyfile(photo, dest / "images" / photo.name)
        shapes = []
        if box := _mask_box(mask):
            left, top, part = box
            starts, stops = _runs(part.ravel())
            runs = ([0] if part.flat[0] else []) + (stops - starts).tolist()
            shapes.append(("mask", {"rle": ", ".join(map(str, runs)), "left": left, "top": top,
                                    "width": part.shape[1], "height": part.shape[0]}))
        images.append((photo.name, mask.shape[::-1], shapes))
    _cvat_file(dest, images)
    return len(images)


def write_cvat_boxes(folder: Path, dest: Path) -> int:
    """``folder``'s ``boxes.json`` as a "CVAT for images 1.1" export of ``<box>`` es."""
    (dest / "images").mkdir(parents=True)
    boxes = json.loads((folder / "boxes.json").read_text())
    images = []
    for name, bxs in sorted(boxes.items()):
        shutil.copyfile(folder / "images" / name, dest / "images" / name)
        size = _photo_size(folder / "images" / name)
        images.append((name, size, [("box", {"xtl": f"{x0:.2f}", "ytl": f"{y0:.2f}", "xbr": f"{x1:.2f}",
                                             "ybr": f"{y1:.2f}"}) for x0, y0, x1, y1 in bxs]))
    _cvat_file(dest, images)
    return len(boxes)


def _label_studio_brush(mask: np.ndarray) -> list[int]:
    """A boolean array as Label Studio's brush RLE of an RGBA layer (255 where painted, in all
    four channels, as its converter's ``mask2rle`` writes it): every run a repeated block,
    run lengths in 3, 4, 8 or 16 bits."""
    values = np.repeat(mask.ravel().astype(np.uint8) * 255, 4)
    sizes = (3, 4, 8, 16)
    bits = [f"{values.size:032b}", f"{8 - 1:05b}"] + [f"{n - 1:04b}" for n in sizes]
    for start, stop in zip(*_runs(values)):
        while start < stop:
            length = min(stop - start, 1 << 16)
            index = next(i for i, n in enumerate(sizes) if length - 1 < 1 << n)
            bits.append(f"1{index:02b}{length - 1:0{sizes[index]}b}{values[start]:08b}")
            start += length
    stream = "".join(bits)
    stream += "0" * (-len(stream) % 8)
    return [int(stream[i:i + 8], 2) for i in range(0, len(stream), 8)]


def _label_studio_task(task_id: int, name: str, size: tuple[int, int],
                       results: list[tuple[str, dict]]) -> dict:
    """A task of Label Studio's JSON export: its photo an upload (named with Label Studio's
    prefix), one annotation of regions of the label ``rust``."""
    return {"id": task_id, "data": {"image": f"/data/upload/1/{task_id:08x}-{name}"}, "annotations": [{
        "id": task_id, "was_cancelled": False, "ground_truth": False, "created_at": "2026-12-07T00:00:00Z",
        "result": [{"id": f"r{n}", "type": kind, "from_name": "label", "to_name": "image",
                    "original_width": size[0], "original_height": size[1], "image_rotation": 0,
                    "value": {**value, kind: ["rust"]}}
                   for n, (kind, value) in enumerate(results)]}]}


def write_label_studio_masks(folder: Path, dest: Path) -> int:
    """``folder``'s pairs as Label Studio's JSON export: one brush stroke a photo, the photos
    beside it."""
    dest.mkdir(parents=True)
    tasks = []
    for i, (photo, mask_path) in enumerate(pair_photos(folder)[0]):
        mask = read_mask(mask_path) > 0
        shutil.copyfile(photo, dest / photo.name)
        tasks.append(_label_studio_task(i + 1, photo.name, mask.shape[::-1], [
            ("brushlabels", {"format": "rle", "rle": _label_studio_brush(mask)})] if mask.any() else []))
    (dest / "project-1.json").write_text(json.dumps(tasks))
    return len(tasks)


def write_label_studio_boxes(folder: Path, dest: Path) -> int:
    """``folder``'s ``boxes.json`` as Label Studio's JSON export of rectangles, in percent."""
    dest.mkdir(parents=True)
    boxes = json.loads((folder / "boxes.json").read_text())
    tasks = []
    for i, (name, bxs) in enumerate(sorted(boxes.items())):
        shutil.copyfile(folder / "images" / name, dest / name)
        w, h = _photo_size(folder / "images" / name)
        tasks.append(_label_studio_task(i + 1, name, (w, h), [("rectanglelabels", {
            "x": 100 * x0 / w, "y": 100 * y0 / h, "width": 100 * (x1 - x0) / w, "height": 100 * (y1 - y0) / h,
            "rotation": 0}) for x0, y0, x1, y1 in bxs]))
    (dest / "project-1.json").write_text(json.dumps(tasks))
    return len(boxes)


def _supervisely_project(dest: Path, photos: list[tuple[Path, tuple[int, int], list[dict]]]) -> None:
    """``dest`` as a Supervisely project: ``meta.json`` (the class ``rust``) and the dataset
    ``ds0`` (``img/NAME`` beside ``ann/NAME.json``), ``photos`` (photo, size, objects)."""
    (dest / "ds0" / "img").mkdir(parents=True)
    (dest / "ds0" / "ann").mkdir()
    (dest / "meta.json").write_text(json.dumps({"classes": [{"title": "rust", "shape": "any",
                                                             "color": "#FA3253"}], "tags": []}))
    for photo, (w, h), objects in photos:
        shutil.copyfile(photo, dest / "ds0" / "img" / photo.name)
        (dest / "ds0" / "ann" / f"{photo.name}.json").write_text(json.dumps({
            "description": "", "tags": [], "size": {"width": w, "height": h},
            "objects": [{"classTitle": "rust", "tags": [], **o} for o in objects]}))


def write_supervisely_masks(folder: Path, dest: Path) -> int:
    """``folder``'s pairs as a Supervisely project: one bitmap a photo (a palette PNG of the
    mask's bounding box, index 0 transparent, zlib-compressed and base64, at its ``origin``)."""
    import base64
    import io
    import zlib

    from PIL import Image

    photos = []
    for photo, mask_path in pair_photos(folder)[0]:
        mask = read_mask(mask_path) > 0
        objects = []
        if box := _mask_box(mask):
            left, top, part = box
            png = Image.fromarray(part.astype(np.uint8), "P")
            png.putpalette([0, 0, 0, 255, 255, 255])
            buf = io.BytesIO()
            png.save(buf, format="PNG", transparency=0)
            objects.append({"geometryType": "bitmap", "bitmap": {
                "data": base64.b64encode(zlib.compress(buf.getvalue())).decode(), "origin": [left, top]}})
        photos.append((photo, mask.shape[::-1], objects))
    _supervisely_project(dest, photos)
    return len(photos)


def write_supervisely_boxes(folder: Path, dest: Path) -> int:
    """``folder``'s ``boxes.json`` as a Supervisely project of rectangles (both corners
    inside the box, as Supervisely keeps them)."""
    boxes = json.loads((folder / "boxes.json").read_text())
    photos = []
    for name, bxs in sorted(boxes.items()):
        size = _photo_size(folder / "images" / name)
        photos.append((folder / "images" / name, size, [
            {"geometryType": "rectangle", "points": {"exterior": [[x0, y0], [x1 - 1, y1 - 1]], "interior": []}}
            for x0, y0, x1, y1 in bxs]))
    _supervisely_project(dest, photos)
    return len(boxes)


def write_coco_boxes(folder: Path, dest: Path) -> int:
    """``folder``'s ``boxes.json`` (x0, y0, x1, y1 a box) as a COCO detection export."""
    dest.mkdir(parents=True)
    boxes = json.loads((folder / "boxes.json").read_text())
    images, annotations = [], []
    for i, (name, bxs) in enumerate(sorted(boxes.items())):
        shutil.copyfile(folder / "images" / name, dest / name)
        images.append({"id": i, "file_name": name})
        annotations += [{"id": len(annotations), "image_id": i, "category_id": 1, "segmentation": [],
                         "bbox": [x0, y0, x1 - x0, y1 - y0]} for x0, y0, x1, y1 in bxs]
    (dest / "_annotations.coco.json").write_text(json.dumps(
        {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "rust"}]}))
    return len(images)


def write_voc_boxes(folder: Path, dest: Path) -> int:
    """``folder``'s ``boxes.json`` as a Pascal VOC export (``Annotations/NAME.xml`` beside
    ``JPEGImages/``), in VOC's pixel numbering: from 1, both ends inside the box."""
    import xml.etree.ElementTree as ET

    (dest / "Annotations").mkdir(parents=True)
    (dest / "JPEGImages").mkdir()
    boxes = json.loads((folder / "boxes.json").read_text())
    for name, bxs in sorted(boxes.items()):
        shutil.copyfile(folder / "images" / name, dest / "JPEGImages" / name)
        root = ET.Element("annotation")
        ET.SubElement(root, "filename").text = name
        size = ET.SubElement(root, "size")
        ET.SubElement(size, "width").text, ET.SubElement(size, "height").text = \
            map(str, _photo_size(folder / "images" / name))
        for x0, y0, x1, y1 in bxs:
            obj = ET.SubElement(root, "object")
            ET.SubElement(obj, "name").text = "rust"
            box = ET.SubElement(obj, "bndbox")
            for key, value in zip(("xmin", "ymin", "xmax", "ymax"), (x0 + 1, y0 + 1, x1, y1)):
                ET.SubElement(box, key).text = str(value)
        ET.ElementTree(root).write(dest / "Annotations" / f"{Path(name).stem}.xml")
    return len(boxes)


def boxes_roundtrip(folder: Path, tmp: Path) -> bool:
    before = json.loads((folder / "boxes.json").read_text())
    ok = True
    for fmt, write in (("a COCO detection export", write_coco_boxes),
                       ("a Pascal VOC export", write_voc_boxes),
                       ("LabelMe rectangles", write_labelme_boxes),
                       ("VIA rectangles", write_via_boxes),
                       ("CVAT boxes", write_cvat_boxes),
                       ("Label Studio rectangles", write_label_studio_boxes),
                       ("Supervisely rectangles", write_supervisely_boxes)):
        export, imported = tmp / f"export-{write.__name__}", tmp / f"imported-{write.__name__}"
        n = write(folder, export)
        if rustseg(["import", str(export), "--out", str(imported)]) != 0:
            return False
        after = json.loads((imported / "boxes.json").read_text())
        same = sum(after.get(name) == bxs for name, bxs in before.items())
        print(f"{same} of {n} photos' boxes came back identical through {fmt} and rustseg import")
        ok = ok and same == n
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path, help="a mask folder (images/ + masks/) or a box folder "
                                             "(images/ + boxes.json)")
    p.add_argument("--evaluate", action="store_true", help="also compare evaluate's scores")
    p.add_argument("--model", help="model folder for --evaluate (default: the shipped one)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if (args.folder / "boxes.json").is_file():
            return 0 if boxes_roundtrip(args.folder, Path(tmp)) else 1
        export, imported = Path(tmp) / "export", Path(tmp) / "imported"
        ok = True
        for fmt, write, dest, back in (
                ("a CVAT segmentation-mask export", write_voc_masks, Path(tmp) / "voc", Path(tmp) / "voc-imported"),
                ("LabelMe AI masks", write_labelme_masks, Path(tmp) / "labelme", Path(tmp) / "labelme-imported"),
                ("Roboflow's PNG masks", write_roboflow_masks, Path(tmp) / "roboflow", Path(tmp) / "roboflow-imported"),
                ("masks named NAME_mask.png", write_renamed_masks, Path(tmp) / "renamed", Path(tmp) / "renamed-imported"),
                ("CVAT for images masks", write_cvat_masks, Path(tmp) / "cvat", Path(tmp) / "cvat-imported"),
                ("Label Studio brush strokes", write_label_studio_masks, Path(tmp) / "ls", Path(tmp) / "ls-imported"),
                ("Supervisely bitmaps", write_supervisely_masks, Path(tmp) / "sly", Path(tmp) / "sly-imported"),
                ("a COCO RLE export", write_coco_rle, export, imported)):  # imported: scored below
            n = write(args.folder, dest)
            if rustseg(["import", str(dest), "--out", str(back)]) != 0:
                return 1
            same = sum((back / "masks" / m.name).is_file()
                       and np.array_equal(read_mask(m), read_mask(back / "masks" / m.name))
                       for _, m in pair_photos(args.folder)[0])
            print(f"{same} of {n} masks came back identical through {fmt} and rustseg import")
            ok = ok and same == n
        if args.evaluate:
            from rustseg_core.learn.evaluate import evaluate_segmentation
            from rustseg_core.pipeline.model_files import shipped_model_dir
            from rustseg_core.pipeline.segmenter import Segmenter

            segmenter = Segmenter.load(args.model or shipped_model_dir())
            a, b = (evaluate_segmentation(segmenter, f)["gated"] for f in (args.folder, imported))
            ok = ok and a["per_image"] == b["per_image"]
            print(f"evaluate: every photo's scores {'agree' if a['per_image'] == b['per_image'] else 'DIFFER'}")
            for method in sorted(a["methods"]):
                print(f"  {method}: gated mean IoU {a['methods'][method]['per_image_mean']['iou']:.3f} "
                      f"original, {b['methods'][method]['per_image_mean']['iou']:.3f} imported")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
