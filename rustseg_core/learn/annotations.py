"""Other labelling tools' exports as RustSEG's data folders.

Roboflow, CVAT, Label Studio and Ultralytics write COCO JSON (polygons, RLE or boxes) or YOLO
text files (one line a region: a class, then a normalised polygon or box); LabelImg and the
VOC devkit write Pascal VOC XML (one file a photo, boxes); LabelMe writes one JSON file a
photo (polygons, rectangles, circles, masks); the VGG Image Annotator (VIA), one JSON file
for all photos (Mask R-CNN's ``via_region_data.json``); CVAT's own "CVAT for images"
export, one XML file for all photos (``annotations.xml``: polygons, masks, boxes, ellipses,
tags); Label Studio's own JSON export, one task a photo (percent coordinates, brush strokes
as its RLE); Supervisely's format, ``ann/NAME.json`` beside ``img/NAME`` a dataset
(polygons with holes, bitmaps); Roboflow's semantic segmentation export, a PNG mask a
photo (``NAME_mask.png``, its pixel values the classes); public mask sets keep ``images/``
beside ``masks/`` with masks named otherwise; photos labelled as a whole come as one folder
a class (Roboflow, Keras, most Kaggle sets) or Roboflow's ``_classes.csv``. ``rustseg
import`` turns each into the folders ``train``, ``tune`` and ``evaluate`` read:

- ``images/NAME.ext`` + ``masks/NAME.png``: photos with corrosion drawn as regions;
- ``images/NAME.ext`` + ``boxes.json``: photos with corrosion drawn as boxes only (an object
  detection export), for the pointing game, and ``corrosion/NAME.ext``;
- ``corrosion/NAME.ext``: photos labelled corrosion as a whole;
- ``not_corrosion/NAME.ext``: photos with no corrosion region (an empty label file, a COCO
  image without annotations) or labelled as another class: the clean photos of training
  and of the false-area check.

Masks are written upright, at the photo's upright size, as ``evaluate`` decodes the photo,
their polygons filled as ``pixel/``'s masks were (:func:`region_mask`).
"""
from __future__ import annotations

import csv
import json
import logging
import os
import re
import shutil
import socket
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from ..pipeline.imageio import IMAGE_EXTENSIONS, ImageInputError, decode, probe
from ..vocabulary import CORROSION, MASK_IMAGES_DIR, MASK_MASKS_DIR, NOT_CORROSION
from .data import photos_under

log = logging.getLogger(__name__)

BOXES_FILE = "boxes.json"
EMBEDDED_DIR = ".embedded"  # photos label files hold, while an import is written
IMPORT_RECORD = "import.json"
CLASSES_CSV = "_classes.csv"
# A download's split folders, as tools name them, and the names train/tune/evaluate read.
SPLIT_NAMES = {"train": "train", "training": "train", "valid": "val", "val": "val",
               "validation": "val", "test": "test", "testing": "test"}
SPLIT_ORDER = ("train", "val", "test")


# What a label drawn as an image (a mask PNG, an AI mask) raises when it cannot be read: a
# damaged file, or one Pillow takes for a decompression bomb (larger than imageio allows).
LABEL_IMAGE_ERRORS = (OSError, ValueError, Image.DecompressionBombError)


class AnnotationError(ValueError):
    """An export that cannot be imported as asked: the message says what to change."""


@dataclass
class Labelled:
    """One photo of an export and its regions of the chosen classes.

    ``shapes`` are COCO segmentations (a list of polygons, or an RLE dict) in the pixel
    coordinates of ``frame``; ``boxes`` are (x0, y0, x1, y1) in the same coordinates.
    ``frame`` is the (width, height) the tool labelled; ``None`` means the upright photo
    (YOLO's normalised coordinates are scaled to it when it is known).
    """

    photo: Path
    frame: tuple[int, int] | None = None
    shapes: list = field(default_factory=list)
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    normalised: bool = False
    problem: str | None = None  # why it cannot be imported (a malformed label file, ...)
    image_label: bool | None = None  # labelled as a whole: corrosion or not (no regions)
    # The label file that holds the photo itself (LabelMe's imageData), when the photo is
    # not found as a file; read only when written, so an export's photos are never all in memory.
    embedded_in: Path | None = None


@dataclass
class Export:
    """What a reader found: the photos, and the classes it took as corrosion."""

    source: str
    format: str
    items: list[Labelled]
    classes: list[str]


@dataclass
class ImportSummary:
    photos: int  # the photos the export holds (a photo it lists twice counted once)
    masks: int  # photos written to images/ + masks/
    boxes: int  # photos written to images/ with boxes.json (and to corrosion/)
    corrosion: int  # photos written to corrosion/
    clean: int  # photos written to not_corrosion/
    left_out: dict[str, str]  # photo: why
    classes: list[str]
    record: Path


# ------------------------------------------------------------------ choosing the classes
def choose_classes(counts: Counter, wanted: list[str] | None, unit: str = "region",
                   tags: Counter | None = None, tag_unit: str = "tag") -> set[str]:
    """The class names that mean corrosion: ``wanted`` (each must exist), else the only class
    with regions (``counts``: regions, or photos, a class; ``tags``: how many of them are
    tags of a whole photo, named ``tag_unit``). Several classes and none chosen is an error
    listing them, because which of them is corrosion is the user's call."""
    if wanted:
        unknown = [c for c in wanted if c not in counts]
        if unknown:
            raise AnnotationError(f"no class named {', '.join(unknown)} in this export; its "
                                  f"classes: {_listing(counts, unit, tags, tag_unit)}")
        return set(wanted)
    drawn = [c for c, n in counts.items() if n]
    if len(drawn) > 1:
        raise AnnotationError(f"this export has {len(drawn)} classes "
                              f"({_listing(counts, unit, tags, tag_unit)}): "
                              "say which are corrosion with --classes NAME[,NAME...]")
    return set(drawn)


def _listing(counts: Counter, unit: str, tags: Counter | None = None, tag_unit: str = "tag") -> str:
    """``rust (5 regions, 2 tags), paint (1 region)``."""
    def some(n: int, what: str) -> str:
        return f"{n} {what}{'s' if n != 1 else ''}"

    tags = tags or Counter()
    said = []
    for c, n in counts.most_common():
        parts = [some(n - tags[c], unit)] if n > tags[c] or not n else []
        parts += [some(tags[c], tag_unit)] if tags[c] else []
        said.append(f"{c} ({', '.join(parts)})")
    return ", ".join(said)


def read_export(source: str | Path, images: str | Path | None = None,
                classes: list[str] | None = None) -> Export:
    """Whichever export ``source`` is: a COCO, VIA or Label Studio JSON file or a CVAT XML
    file (or a folder holding one), Roboflow's ``_classes.csv`` (or its folder), a YOLO
    folder, a LabelMe folder, a Supervisely project or dataset, a Pascal VOC folder, or one
    folder a class. For a folder that is none of these, the error names the exports found
    inside it (a Roboflow download holds one a split: ``train/``, ``valid/``, ``test/``)."""
    source = Path(source)
    if (source / MASK_IMAGES_DIR).is_dir() and (source / MASK_MASKS_DIR).is_dir():
        from .masks import pair_photos

        if not pair_photos(source)[1]:
            raise AnnotationError(f"{source} already holds images/ + masks/: train, tune and "
                                  "evaluate read it as it is")
        if classes:
            raise AnnotationError("--classes is for exports that name their classes; a mask "
                                  "folder's non-black pixels are corrosion")
        return read_mask_folder(source)
    cvat = _cvat_source(source)
    if cvat is not None:
        return read_cvat(cvat, images, classes)
    if _supervisely_project(source) is not None:
        if images:
            raise AnnotationError("--images is for exports whose photos are elsewhere; a Supervisely "
                                  "project holds its photos in img/")
        return read_supervisely(source, classes)[""]
    if source.is_file() and source.suffix.lower() == ".xml":
        raise AnnotationError(f"{source} is not CVAT's XML (its root <annotations>); Pascal VOC files, "
                              f"one a photo, are imported by their folder, {source.parent}")
    if source.is_file() and source.suffix.lower() == ".json" and _labelme_json(source) is not None:
        raise AnnotationError(f"{source} is one LabelMe file: import its folder, {source.parent}")
    labelme = False
    if source.is_dir() and not (source / "labels").is_dir():
        labelme = is_labelme_folder(source)
        inside = [] if labelme else (sorted(p for p in source.glob("*.json") if p.name != IMPORT_RECORD)
                                     or sorted(source.glob(CLASSES_CSV)))
        if len(inside) == 1:
            source = inside[0]  # Roboflow's split folder: its photos beside the labels file
    voc = source.is_dir() and ((source / VOC_MASK_DIR).is_dir() or bool(_voc_annotations(source)))
    if images and not voc and not labelme and not (source.is_file() and source.suffix.lower() == ".json"):
        raise AnnotationError("--images is for a COCO, VIA, CVAT or Label Studio file, a LabelMe folder "
                              "or a Pascal VOC folder; other exports hold their photos")
    if labelme:
        return read_labelme(source, classes, images)
    if source.is_file():
        if source.suffix.lower() == ".csv":
            if _is_mask_classes_csv(source):
                return read_mask_pngs(source.parent, classes)
            return read_class_csv(source, classes)
        data = _json_file(source)
        if _via_photos(data) is not None:
            return read_via(source, images, classes, data=data)
        if _label_studio_tasks(data) is not None:
            return read_label_studio(source, images, classes, data=data)
        if isinstance(data, list) and data and all(isinstance(t, dict) and "annotation_id" in t
                                                   for t in data):
            raise AnnotationError(f"{source} is Label Studio's JSON-MIN export, which this does not "
                                  "read: export the project as JSON")
        return read_coco(source, images, classes, data=data)
    if (source / "images").is_dir() and (source / "labels").is_dir():
        return read_yolo(source, classes)
    if (source / VOC_MASK_DIR).is_dir():
        return read_voc_masks(source, classes, images)
    if voc:
        return read_voc(source, classes, images)
    if len(_class_folders(source)) > 1:
        return read_class_folders(source, classes)
    found = sorted({str(p) for p in source.glob("*/*.json")} | {str(p) for p in source.glob("*.json")}
                   | {str(p) for p in source.glob(f"*/{CLASSES_CSV}")}
                   | {str(p.parent) for p in source.glob("*/labels") if (p.parent / "images").is_dir()}
                   | {str(d) for d in source.iterdir() if d.is_dir() and len(_class_folders(d)) > 1})
    hint = f"; found here: {', '.join(found[:6])}" if found else ""
    raise AnnotationError(f"{source} is not an export this reads (a COCO JSON file, a YOLO folder "
                          "of images/ and labels/, a VIA, CVAT or Label Studio file, a Supervisely "
                          "project, LabelMe or Pascal VOC files, "
                          f"{CLASSES_CSV}, or one folder a class of photos){hint}")


def read_exports(source: str | Path, images: str | Path | None = None,
                 classes: list[str] | None = None) -> dict[str, Export]:
    """``source`` as one export (``{"": export}``), or, for a download that holds one a split,
    each split's (``{"train": ..., "val": ..., "test": ...}``): Roboflow's ``train/``,
    ``valid/``, ``test/`` folders, or Ultralytics' ``images/<split>/`` beside
    ``labels/<split>/``. ``classes`` applies to every split. Every split is read before
    anything is written, so a split that cannot be read stops the import."""
    source = Path(source)
    cvat = _cvat_source(source)
    if cvat is not None:
        return read_cvat_splits(cvat, images, classes)
    if _supervisely_project(source) is not None and not images:
        return read_supervisely(source, classes, split=True)
    splits = split_folders(source)
    if not splits:
        return {"": read_export(source, images, classes)}
    if images:
        raise AnnotationError("--images is for a COCO file; each split of this download holds "
                              "its photos")
    exports = {}
    for split, folder in splits.items():
        try:
            exports[split] = (read_yolo(source, classes, split=folder.name)
                              if folder.parent == source / "images" else read_export(folder, None, classes))
        except AnnotationError as e:
            raise AnnotationError(f"{split} split ({folder}): {e}") from e
    return exports


def split_folders(source: Path) -> dict[str, Path]:
    """{train|val|test: its folder} for a download of one export a split; empty for anything
    else. Roboflow calls the validation split ``valid``; ``train``, ``tune`` and ``evaluate``
    read ``val``."""
    if not source.is_dir():
        return {}
    yolo = (source / "images").is_dir() and (source / "labels").is_dir()
    parent = source / "images" if yolo else source
    if yolo and not any(d.is_dir() for d in (source / "labels").iterdir()):
        return {}  # one YOLO export, its photos perhaps in subfolders of their own
    if not yolo and (any(source.glob("*.json")) or (source / CLASSES_CSV).is_file()):
        return {}
    subs = [d for d in sorted(parent.iterdir()) if d.is_dir()]
    splits: dict[str, Path] = {}
    for d in subs:
        split = SPLIT_NAMES.get(d.name.lower())
        if split is None:
            continue
        if split in splits:
            raise AnnotationError(f"{splits[split]} and {d} are both a {split} split: "
                                  "import one of them")
        splits[split] = d
    others = [d.name for d in subs if d.name.lower() not in SPLIT_NAMES and _photos_in(d)]
    return {} if others else dict(sorted(splits.items(), key=lambda kv: SPLIT_ORDER.index(kv[0])))


# ------------------------------------------------------------------ photos labelled as a whole
def _photos_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _class_folders(folder: Path) -> dict[str, list[Path]]:
    """{subfolder name: its photos} for the subfolders of ``folder`` that hold photos."""
    subs = {d.name: _photos_in(d) for d in sorted(folder.iterdir()) if d.is_dir()}
    return {name: photos for name, photos in subs.items() if photos}


def read_class_folders(folder: str | Path, classes: list[str] | None = None) -> Export:
    """Photos sorted into one folder a class: those of the chosen classes show corrosion,
    those of every other class do not."""
    folders = _class_folders(Path(folder))
    chosen = choose_classes(Counter({c: len(p) for c, p in folders.items()}), classes, "photo")
    items = [Labelled(p, image_label=c in chosen) for c, photos in folders.items() for p in photos]
    return Export(str(folder), "class folders", items, sorted(chosen))


def read_class_csv(path: str | Path, classes: list[str] | None = None) -> Export:
    """Roboflow's ``_classes.csv``: a ``filename`` column, then one 0/1 column a class, the
    photos beside it. A photo is corrosion when a chosen class's column says 1."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in csv.DictReader(f)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise AnnotationError(f"{path} cannot be read as CSV: {e}") from e
    if not rows or "filename" not in rows[0] or len(rows[0]) < 2:
        raise AnnotationError(f"{path} is not a classes file: it needs a filename column and "
                              "one column a class")
    names = [k for k in rows[0] if k != "filename"]
    counts = Counter({c: sum(r.get(c) == "1" for r in rows) for c in names})
    chosen = choose_classes(counts, classes, "photo")
    items = [Labelled(path.parent / r["filename"], image_label=any(r.get(c) == "1" for c in chosen))
             for r in rows]
    return Export(str(path), "classes CSV", items, sorted(chosen))


# ------------------------------------------------------------------ Roboflow's PNG masks
MASK_SUFFIX = "_mask"  # Roboflow's semantic segmentation export: NAME.jpg beside NAME_mask.png


def _is_mask_classes_csv(path: Path) -> bool:
    """Whether a ``_classes.csv`` maps mask pixel values to classes (``Pixel Value, Class``,
    Roboflow's semantic segmentation export) rather than labelling photos as a whole."""
    try:
        with open(path, newline="") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return [h.strip().lower() for h in header[:2]] == ["pixel value", "class"]


def read_mask_pngs(folder: str | Path, classes: list[str] | None = None) -> Export:
    """The photos of Roboflow's "Semantic Segmentation Masks" export: ``NAME.jpg`` beside
    ``NAME_mask.png``, whose pixel values are classes named in ``_classes.csv`` (``Pixel
    Value, Class``). Value 0 and a class named background are never corrosion. A photo
    without its mask is not labelled: left out and named."""
    folder = Path(folder)
    names: dict[int, str] = {}
    try:
        with open(folder / CLASSES_CSV, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise AnnotationError(f"{folder / CLASSES_CSV} cannot be read as CSV: {e}") from e
    for n, row in enumerate(rows[1:], 2):
        if not row or not "".join(row).strip():
            continue
        try:
            value, name = int(row[0]), row[1].strip()
        except (ValueError, IndexError):
            raise AnnotationError(f"{folder / CLASSES_CSV} line {n} is not a pixel value and a "
                                  "class") from None
        if value != 0 and name.lower() != "background":
            names[value] = name
    photos = [p for p in _photos_in(folder) if not p.stem.endswith(MASK_SUFFIX)]
    counts: Counter = Counter({name: 0 for name in names.values()})
    parsed: list[tuple[Labelled, np.ndarray | None]] = []
    for photo in photos:
        png = folder / f"{photo.stem}{MASK_SUFFIX}.png"
        item, values = Labelled(photo), None
        if not png.is_file():
            item.problem = f"no mask ({png.name}): {NOT_LABELLED}"
        else:
            try:
                with Image.open(png) as img:
                    img.load()
                    values = np.asarray(img if img.mode in ("L", "P", "I", "I;16") else img.convert("L"))
                item.frame = (values.shape[1], values.shape[0])
            except LABEL_IMAGE_ERRORS as e:
                item.problem = f"its mask {png.name} cannot be read: {e}"
        if values is not None:
            counts.update({names[v] for v in np.unique(values).tolist() if v in names})  # photos a class
        parsed.append((item, values))
    if not parsed:
        raise AnnotationError(f"{folder} holds no photos beside its masks")
    chosen = choose_classes(counts, classes, "photo")
    wanted = [v for v, name in names.items() if name in chosen]
    for item, values in parsed:
        if values is not None and (pixels := np.isin(values, wanted)).any():
            item.shapes.append(_rle(pixels))
    return Export(str(folder), "Roboflow masks", [i for i, _ in parsed], sorted(chosen))


# ------------------------------------------------------------------ images/ + masks/ named otherwise
def read_mask_folder(folder: str | Path) -> Export:
    """``images/`` beside ``masks/`` whose masks are not (all) ``masks/NAME.png``, as many
    public sets name them: the photo's name and a suffix (``NAME_mask.png``,
    ``NAME-gt.png``, ``NAME_label.png``), or another format (``NAME.jpg``, ``NAME.bmp``,
    ``NAME.tif``). A mask's non-black pixels are corrosion, as
    :func:`~rustseg_core.learn.masks.read_mask` reads the pair layout, except in a JPEG, whose
    compression leaves faint pixels around every edge: there, those brighter than mid-grey.
    A photo without a mask is not labelled, and one with several (a mask a class) is left
    out, naming them: both are named, never taken as clean."""
    from .masks import masks_by_name, read_mask

    folder = Path(folder)
    photos = _photos_in(folder / MASK_IMAGES_DIR)
    masks = masks_by_name(folder / MASK_MASKS_DIR, [p.stem for p in photos])
    items = []
    for photo in photos:
        item = Labelled(photo)
        named = masks.get(photo.stem, [])
        if not named:
            item.problem = (f"no mask ({MASK_MASKS_DIR}/{photo.stem}.png or {photo.stem}_mask.*): "
                            f"{NOT_LABELLED}")
        elif len(named) > 1:
            item.problem = (f"several masks are named after it ({', '.join(m.name for m in named)}): "
                            "import a folder holding only its corrosion masks")
        else:
            mask = named[0]
            try:
                if mask.suffix.lower() in (".jpg", ".jpeg"):
                    with Image.open(mask) as img:
                        pixels = np.asarray(img.convert("L")) > 127
                else:
                    pixels = read_mask(mask) > 0
            except LABEL_IMAGE_ERRORS as e:
                item.problem = f"its mask {mask.name} cannot be read: {e}"
            else:
                item.frame = (pixels.shape[1], pixels.shape[0])
                if pixels.any():
                    item.shapes.append(_rle(pixels))
        items.append(item)
    if not items:
        raise AnnotationError(f"no photos in {folder / MASK_IMAGES_DIR}")
    return Export(str(folder), "mask folder", items, ["non-black pixels"])


# ------------------------------------------------------------------ COCO
def _json_file(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AnnotationError(f"{path} cannot be read as JSON: {e}") from e


def read_coco(path: str | Path, images: str | Path | None = None,
              classes: list[str] | None = None, data=None) -> Export:
    """The photos of a COCO JSON file (``images``: where its ``file_name`` s are; default
    the JSON's folder, as Roboflow exports it) with their regions of the chosen classes.
    A region with a ``segmentation`` is a mask; one with only a ``bbox`` is a box. ``data``:
    the file's content, when already read."""
    path = Path(path)
    data = _json_file(path) if data is None else data
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise AnnotationError(f"{path} is not a COCO file: it has no \"images\" list")
    root = Path(images) if images else path.parent
    names = {c.get("id"): str(c.get("name", c.get("id"))) for c in data.get("categories") or []}
    anns = data.get("annotations") or []
    counts = Counter({name: 0 for name in names.values()})
    counts.update(names.get(a.get("category_id"), str(a.get("category_id"))) for a in anns)
    chosen = choose_classes(counts, classes)
    items: dict = {}
    for img in data["images"]:
        w, h = img.get("width"), img.get("height")
        frame = (int(w), int(h)) if isinstance(w, (int, float)) and isinstance(h, (int, float)) else None
        items[img.get("id")] = Labelled(_coco_photo(root, str(img.get("file_name", ""))), frame)
    for a in anns:
        item = items.get(a.get("image_id"))
        if item is None or names.get(a.get("category_id"), str(a.get("category_id"))) not in chosen:
            continue
        seg, bbox = a.get("segmentation"), a.get("bbox")
        if isinstance(seg, list) and seg:
            # Fewer than three points is no area (and pycocotools reads four numbers as a box).
            polygons = [p for p in seg if isinstance(p, list) and len(p) >= 6]
            if not all(_numbers(p) for p in polygons):
                item.problem = f"annotation {a.get('id')} has a polygon of things that are not numbers"
            elif polygons:
                item.shapes.append(polygons)
        elif isinstance(seg, dict):
            item.shapes.append(seg)
        elif isinstance(bbox, list) and len(bbox) == 4 and _numbers(bbox):
            x, y, bw, bh = bbox
            item.boxes.append((x, y, x + bw, y + bh))
        elif bbox is not None or seg:
            item.problem = f"annotation {a.get('id')} is neither a polygon, an RLE nor a box"
    return Export(str(path), "COCO", list(items.values()), sorted(chosen))


def _numbers(values: list) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _coco_photo(root: Path, file_name: str) -> Path:
    """Where a COCO ``file_name`` is: under ``root`` as written, else by its name alone (Label
    Studio and CVAT write paths of their own server)."""
    direct = root / file_name
    return direct if direct.is_file() else root / Path(file_name).name


# ------------------------------------------------------------------ YOLO
def read_yolo(folder: str | Path, classes: list[str] | None = None,
              split: str | None = None) -> Export:
    """The photos of a YOLO folder (``images/`` beside ``labels/``, a label file a photo
    under the same relative name; with ``split``, ``images/SPLIT/`` beside ``labels/SPLIT/``
    as Ultralytics lays a dataset out) with their regions of the chosen classes. Class names
    come from ``data.yaml`` in the folder or the one above it (Roboflow and Ultralytics put it
    there), else they are the numbers. A photo without a label file has no region."""
    folder = Path(folder)
    if not (folder / "images").is_dir() or not (folder / "labels").is_dir():
        raise AnnotationError(f"{folder} is not a YOLO folder: it needs images/ and labels/")
    names = _yolo_names(folder)
    photos, labels = (folder / "images", folder / "labels") if split is None else \
        (folder / "images" / split, folder / "labels" / split)
    parsed: list[tuple[Labelled, list[tuple[str, list[float]]]]] = []
    counts = Counter({name: 0 for name in names.values()})
    for photo in photos_under(photos):
        label = (labels / photo.relative_to(photos)).with_suffix(".txt")
        item, regions = Labelled(photo, normalised=True), []
        if label.is_file():
            try:
                regions = _yolo_lines(label, names)
            except (OSError, UnicodeDecodeError, ValueError) as e:
                item.problem = f"its label file cannot be read: {e}"
        counts.update(name for name, _ in regions)
        parsed.append((item, regions))
    if not parsed:
        raise AnnotationError(f"no photos under {photos}")
    chosen = choose_classes(counts, classes)
    for item, regions in parsed:
        for name, xy in regions:
            if name not in chosen:
                continue
            if len(xy) == 4:
                cx, cy, bw, bh = xy
                item.boxes.append((cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2))
            else:
                item.shapes.append([xy])
    return Export(str(folder if split is None else photos), "YOLO", [i for i, _ in parsed], sorted(chosen))


def _yolo_names(folder: Path) -> dict[int, str]:
    for yaml_path in (folder / "data.yaml", folder.parent / "data.yaml"):
        if yaml_path.is_file():
            import yaml

            try:
                names = (yaml.safe_load(yaml_path.read_text()) or {}).get("names")
            except (yaml.YAMLError, AttributeError) as e:
                raise AnnotationError(f"{yaml_path} cannot be read: {e}") from e
            if isinstance(names, list):
                return {i: str(n) for i, n in enumerate(names)}
            if isinstance(names, dict):
                return {int(i): str(n) for i, n in names.items()}
    return {}


def _yolo_lines(label: Path, names: dict[int, str]) -> list[tuple[str, list[float]]]:
    """(class name, normalised numbers) for each line: four numbers are a box (centre x, y,
    width, height); six or more, an even count, a polygon. ValueError names a bad line."""
    regions = []
    for n, line in enumerate(label.read_text().splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        try:
            cls, xy = int(tokens[0]), [float(t) for t in tokens[1:]]
        except ValueError:
            raise ValueError(f"line {n} is not a class number and coordinates") from None
        if len(xy) != 4 and (len(xy) < 6 or len(xy) % 2):
            raise ValueError(f"line {n} has {len(xy)} coordinates (4 for a box, 6 or more, an "
                             "even count, for a polygon)")
        regions.append((names.get(cls, str(cls)), xy))
    return regions


# ------------------------------------------------------------------ Pascal VOC
VOC_ANNOTATION_DIRS = ("Annotations", "Annotation")  # VOC's name, and a common variant
VOC_PHOTO_DIRS = ("JPEGImages", "images")
# How a left-out photo's reason ends when the export has no labels for it at all (VOC has
# one file a labelled photo), as opposed to labels or a photo that cannot be used.
NOT_LABELLED = "not labelled"


def _voc_annotations(folder: Path) -> list[Path]:
    """The Pascal VOC XML files of ``folder``: in ``Annotations/`` (VOC, CVAT), else beside
    the photos (LabelImg saves each next to its photo)."""
    for name in VOC_ANNOTATION_DIRS:
        if (folder / name).is_dir():
            return sorted((folder / name).glob("*.xml"))
    return sorted(folder.glob("*.xml")) if folder.is_dir() else []


def read_voc(folder: str | Path, classes: list[str] | None = None,
             images: str | Path | None = None) -> Export:
    """The photos of a Pascal VOC detection export (LabelImg, CVAT, the VOC devkit): one XML
    file a photo, its ``<object>`` s each a ``<name>`` and a ``<bndbox>``, with their boxes of
    the chosen classes. VOC counts pixels from 1 with both ends inside the box; the boxes
    here count from 0 with the end outside. A photo is looked for by the XML's
    ``<filename>``, else by the XML's own name, in ``images`` when given, ``JPEGImages/``,
    ``images/``, the folder, and beside the XML. A photo there without an XML file is not
    labelled: left out and named, not taken as clean."""
    import xml.etree.ElementTree as ET  # expat >= 2.4.1 refuses entity expansion bombs

    folder = Path(folder)
    files = _voc_annotations(folder)
    if not files:
        raise AnnotationError(f"{folder} holds no Pascal VOC XML files")
    places = _voc_places(folder, images)
    found = _photo_index(places + [files[0].parent])  # the XML files share one folder
    counts: Counter = Counter()
    parsed: list[tuple[Labelled, list[tuple[str, tuple[float, ...]]]]] = []
    for xml_path in files:
        item, objects = Labelled(_voc_photo(found, places, None, xml_path.stem)), []
        try:
            root = ET.parse(xml_path).getroot()
            item.photo = _voc_photo(found, places, root.findtext("filename"), xml_path.stem)
            w, h = (_voc_number(root, f"size/{k}", 0) for k in ("width", "height"))
            item.frame = (int(w), int(h)) if w > 0 and h > 0 else None
            for obj in root.iter("object"):
                box = tuple(_voc_number(obj, f"bndbox/{k}") for k in ("xmin", "ymin", "xmax", "ymax"))
                objects.append((str(obj.findtext("name", "")).strip(), box))
        except (ET.ParseError, ValueError) as e:
            item.problem = f"its annotation {xml_path.name} cannot be read: {e}"
        counts.update(name for name, _ in objects)
        parsed.append((item, objects))
    chosen = choose_classes(counts, classes)
    for item, objects in parsed:
        item.boxes = [(x0 - 1, y0 - 1, x1, y1) for name, (x0, y0, x1, y1) in objects if name in chosen]
    items = [i for i, _ in parsed]
    return Export(str(folder), "Pascal VOC", items + _not_labelled(
        places, items, lambda p: f"no annotation file (.xml): {NOT_LABELLED}"), sorted(chosen))


VOC_MASK_DIR = "SegmentationClass"
VOC_LABELMAP = "labelmap.txt"
VOC_VOID = 255  # VOC's palette index for object outlines and unlabelled pixels


def read_voc_masks(folder: str | Path, classes: list[str] | None = None,
                   images: str | Path | None = None) -> Export:
    """The photos of a Pascal VOC segmentation export (CVAT's "Segmentation mask", the VOC
    devkit): ``SegmentationClass/NAME.png`` a photo, one colour a class, the photo in
    ``images`` when given (CVAT leaves the photos out unless asked), else ``JPEGImages/``
    (or ``images/``, or the folder). Class names and colours come from
    ``labelmap.txt`` (``name:r,g,b::`` a line, as CVAT writes it); without one, a palette
    PNG's indices are the classes (VOC's own files). Background and VOC's outline colour are
    never corrosion. A photo without a mask PNG is not labelled: left out and named."""
    folder = Path(folder)
    colours = _voc_labelmap(folder / VOC_LABELMAP)
    places = _voc_places(folder, images)
    found = _photo_index(places)
    parsed: list[tuple[Labelled, dict[str, np.ndarray]]] = []
    counts: Counter = Counter({name: 0 for name in colours})
    for png in sorted((folder / VOC_MASK_DIR).glob("*.png")):
        item, regions = Labelled(_voc_photo(found, places, None, png.stem)), {}
        try:
            regions = _voc_class_pixels(png, colours)
        except LABEL_IMAGE_ERRORS as e:
            item.problem = f"its mask {png.name} cannot be read: {e}"
        if regions:
            item.frame = next(iter(regions.values())).shape[::-1]
        counts.update(list(regions))  # photos a class
        parsed.append((item, regions))
    if not parsed:
        raise AnnotationError(f"{folder / VOC_MASK_DIR} holds no PNG masks")
    chosen = choose_classes(counts, classes, "photo")
    for item, regions in parsed:
        pixels = [m for name, m in regions.items() if name in chosen]
        if pixels:
            item.shapes.append(_rle(np.logical_or.reduce(pixels)))
    items = [i for i, _ in parsed]
    return Export(str(folder), "Pascal VOC masks", items + _not_labelled(
        places, items, lambda p: f"no mask ({VOC_MASK_DIR}/{p.stem}.png): {NOT_LABELLED}"), sorted(chosen))


def _voc_places(folder: Path, images: str | Path | None = None) -> list[Path]:
    """Where a VOC export's photos may be: ``images`` (given), ``JPEGImages/``, ``images/``,
    the folder."""
    given = [Path(images)] if images else []
    return given + [folder / d for d in VOC_PHOTO_DIRS if (folder / d).is_dir()] + [folder]


def _not_labelled(places: list[Path], items: list[Labelled], why: Callable[[Path], str]) -> list[Labelled]:
    """The photos in ``places`` no item labels, each left out with ``why`` (VOC has one file
    a labelled photo: a photo without one was not labelled, which is not the same as clean).
    An item whose photo is in none of ``places`` is left out saying where it was looked for."""
    for i in items:
        if not i.problem and not i.photo.is_file() and i.embedded_in is None:
            i.problem = (f"no such photo in {', '.join(str(p) for p in places)} (--images DIR: the "
                         "folder of the photos)")
    labelled = {i.photo.resolve() for i in items}
    # each folder once, however it was named (--images DIR may be JPEGImages/ itself, and
    # LabelMe's imagePath reaches a folder as ../photos)
    folders: dict[Path, Path] = {}
    for place in places:
        folders.setdefault(place.resolve(), place)
    return [Labelled(p, problem=why(p)) for place in folders.values() for p in _photos_in(place)
            if p.resolve() not in labelled]


def _voc_labelmap(path: Path) -> dict[str, tuple[int, int, int]]:
    """{class: RGB} from CVAT's ``labelmap.txt`` (``# label:color_rgb:parts:actions``), the
    background left out; empty without the file."""
    if not path.is_file():
        return {}
    colours = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, rest = line.partition(":")
        try:
            rgb = tuple(int(v) for v in rest.split(":")[0].split(","))
        except ValueError:
            raise AnnotationError(f"{path} line {n} is not name:r,g,b") from None
        if len(rgb) != 3:
            raise AnnotationError(f"{path} line {n} is not name:r,g,b")
        if name.strip().lower() != "background" and rgb != (0, 0, 0):
            colours[name.strip()] = rgb
    return colours


def _voc_class_pixels(png: Path, colours: dict[str, tuple[int, int, int]]) -> dict[str, np.ndarray]:
    """{class: boolean pixels} of one mask: by ``colours`` when given, else by palette index
    (0 background, 255 outline)."""
    with Image.open(png) as img:
        img.load()
        if not colours:
            if img.mode != "P":
                raise ValueError(f"a {img.mode} image without {VOC_LABELMAP} to name its colours")
            index = np.asarray(img)
            return {str(int(v)): index == v for v in np.unique(index) if v not in (0, VOC_VOID)}
        rgb = np.asarray(img.convert("RGB"))
    return {name: m for name, colour in colours.items() if (m := (rgb == colour).all(axis=-1)).any()}


def _voc_number(node, path: str, default: float | None = None) -> float:
    text = node.findtext(path)
    if text is None or not text.strip():
        if default is None:
            raise ValueError(f"it has no {path}")
        return default
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"its {path} is {text.strip()[:20]!r}, not a number") from None


def _photo_index(places: list[Path]) -> dict[str, Path]:
    """{file name: photo} and {stem: photo} of the photos in ``places``, the first place
    winning, listed once for a whole export."""
    index: dict[str, Path] = {}
    for place in reversed(places):
        for p in _photos_in(place):
            index[p.name] = index[p.stem] = p
    return index


def _file_places(path: Path, images: str | Path | None) -> list[Path]:
    """Where the photos of one labels file for all photos may be: ``images`` (given), then
    ``images/`` beside the file (CVAT's download; where users keep them), then beside it."""
    places = [Path(images)] if images else []
    if (path.parent / "images").is_dir():
        places.append(path.parent / "images")
    return places + [path.parent]


def _photos_by_name(places: list[Path], shallow: Path) -> dict[str, Path]:
    """{file name: photo} of the photos under ``places``, subfolders included but for
    ``shallow`` (the export's own folder, which may hold anything), the first place winning."""
    return {p.name: p for place in reversed(places)
            for p in (_photos_in(place) if place == shallow else photos_under(place))}


def _voc_photo(found: dict[str, Path], places: list[Path], filename: str | None, stem: str) -> Path:
    """The photo a label file labels: its ``<filename>`` among ``found``
    (:func:`_photo_index`), else a photo named like the label file (``<filename>`` is often
    stale after a rename); a missing one's expected path in the first of ``places``."""
    name = Path(filename or "").name
    if name and name in found:
        return found[name]
    if stem in found:
        return found[stem]
    return places[0] / (name or f"{stem}.jpg")


# ------------------------------------------------------------------ VGG Image Annotator
VIA_NO_ATTRIBUTE = "region"  # the class of a region without attributes (a one-class project)


def _via_photos(data) -> list[dict] | None:
    """The photo entries of a VGG Image Annotator file: its exported annotations
    (``{key: {filename, size, regions, file_attributes}}``, as Mask R-CNN's balloon sample
    keeps them in ``via_region_data.json``) or a VIA 2 project (its ``_via_img_metadata``);
    None for JSON of another kind."""
    if isinstance(data, dict) and isinstance(data.get("_via_img_metadata"), dict):
        data = data["_via_img_metadata"]
    if not isinstance(data, dict) or not data:
        return None
    entries = list(data.values())
    return entries if all(isinstance(e, dict) and "filename" in e and "regions" in e
                          for e in entries) else None


def _via_tags(attributes) -> list[str]:
    """The class names a VIA region carries: each attribute's text (a text or drop-down
    attribute), or the ticked options of a checkbox attribute; ``region`` when it has none."""
    tags: list[str] = []
    if isinstance(attributes, dict):
        for value in attributes.values():
            if isinstance(value, str) and value.strip():
                tags.append(value.strip())
            elif isinstance(value, dict):
                tags += [str(option) for option, ticked in value.items() if ticked]
    # once each: projects often repeat one class under two attributes ({"inseto": "kudzu",
    # "insect": "kudzu"}, a translated attribute kept beside the old one)
    return list(dict.fromkeys(tags)) or [VIA_NO_ATTRIBUTE]


def read_via(path: str | Path, images: str | Path | None = None,
             classes: list[str] | None = None, data=None) -> Export:
    """The photos of a VGG Image Annotator file (VIA 1 or 2: exported annotations or a
    project) with their regions of the chosen classes. A region's classes are its
    attributes' values (``{"name": "rust"}``); a region without attributes is of the class
    ``region``. Photos are found by ``filename`` in ``images`` when given, else beside the
    file. Polygons, circles and ellipses are regions (filled as polygons, ellipses by 4
    vertices a pixel of radius); rectangles are regions too in an export that has other
    regions, else boxes. A polyline or point of a chosen class encloses no pixel, so its photo is left out
    rather than taken as clean; so is a photo beside the file that it does not list (not
    labelled). VIA keeps no image size: regions are taken as drawn on the upright photo, as
    browsers show it."""
    path = Path(path)
    data = _json_file(path) if data is None else data
    entries = _via_photos(data)
    if entries is None:
        raise AnnotationError(f"{path} is not a VIA file: it needs one entry a photo, each with "
                              "a filename and regions")
    places = ([Path(images)] if images else []) + [path.parent]
    found = _photo_index(places)
    counts: Counter = Counter()
    parsed: list[tuple[Labelled, list[tuple[list[str], dict]]]] = []
    for entry in entries:
        name = str(entry.get("filename") or "")
        direct = places[0] / name
        item = Labelled(direct if name and direct.is_file()
                        else _voc_photo(found, places, name, Path(name).stem))
        regions = entry.get("regions") or []
        regions = list(regions.values()) if isinstance(regions, dict) else regions  # VIA 1: a dict
        shapes = [(_via_tags(r.get("region_attributes")), r.get("shape_attributes"))
                  for r in regions if isinstance(r, dict)]
        if len(shapes) != len(regions):
            item.problem = "its regions are not objects"
        for tags, _ in shapes:
            counts.update(tags)
        parsed.append((item, shapes))
    chosen = choose_classes(counts, classes)
    enclosed = any(isinstance(shape, dict) and shape.get("name") in ("polygon", "circle", "ellipse")
                   for _, shapes in parsed for tags, shape in shapes if chosen & set(tags))
    for item, shapes in parsed:
        for n, (tags, shape) in enumerate(shapes, 1):
            if item.problem or not chosen & set(tags):
                continue
            try:
                _add_via_shape(item, shape, enclosed)
            except (ValueError, TypeError) as e:
                item.problem = f"region {n} ({', '.join(tags)}) cannot be used: {e}"
    items = [i for i, _ in parsed]
    return Export(str(path), "VIA", items + _not_labelled(
        places, items, lambda p: f"not in {path.name}: {NOT_LABELLED}"), sorted(chosen))


def _add_via_shape(item: Labelled, shape, enclosed: bool) -> None:
    """One VIA region of a chosen class added to ``item`` as a COCO polygon or a box."""
    if not isinstance(shape, dict):
        raise ValueError("it has no shape_attributes")
    kind = shape.get("name")

    def numbers(*keys):
        values = [shape.get(k) for k in keys]
        if not _numbers(values):
            raise ValueError(f"its {', '.join(keys)} are not numbers")
        return values

    if kind == "polygon":
        xs, ys = shape.get("all_points_x"), shape.get("all_points_y")
        if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys) \
                or not _numbers(xs + ys):
            raise ValueError("its all_points_x and all_points_y are not two lists of numbers, one "
                             "a point")
        if len(xs) < 3:
            raise ValueError(f"a polygon of {len(xs)} point(s) encloses no pixel")
        item.shapes.append([[v for xy in zip(xs, ys) for v in xy]])
    elif kind == "rect":
        x, y, w, h = numbers("x", "y", "width", "height")
        _add_rectangle(item, x, y, x + w, y + h, enclosed)
    elif kind in ("circle", "ellipse"):
        if kind == "circle":
            cx, cy, r = numbers("cx", "cy", "r")
            rx, ry, theta = r, r, 0.0
        else:
            cx, cy, rx, ry = numbers("cx", "cy", "rx", "ry")
            theta = float(shape.get("theta") or 0.0)
        item.shapes.append([_ellipse_polygon(cx, cy, rx, ry, theta)])
    else:
        raise ValueError(f"a {kind} encloses no pixel: draw corrosion as polygons")


def _ellipse_polygon(cx: float, cy: float, rx: float, ry: float, theta: float) -> list[float]:
    """An ellipse turned by ``theta`` radians (clockwise on the photo, whose y runs down) as
    a flat polygon of 4 vertices a pixel of radius, for tools that keep no photo size to draw
    it at (VIA) or whose ellipses are turned (CVAT, Label Studio)."""
    t = np.linspace(0, 2 * np.pi, int(np.clip(4 * max(rx, ry), 16, 720)), endpoint=False)
    px = cx + rx * np.cos(theta) * np.cos(t) - ry * np.sin(theta) * np.sin(t)
    py = cy + rx * np.sin(theta) * np.cos(t) + ry * np.cos(theta) * np.sin(t)
    return np.column_stack([px, py]).ravel().tolist()


# ------------------------------------------------------------------ LabelMe
LABELME_AREA = ("polygon", "rectangle", "circle", "mask")  # shape types that enclose pixels


def _labelme_json(path: Path) -> dict | None:
    """A LabelMe annotation file's content, or None for a JSON file of another kind."""
    try:
        with open(path, "rb") as f:
            # LabelMe writes "shapes" after "version" and "flags" (other writers may put the
            # photo's imageData first): a COCO file of hundreds of MB, which has none of these
            # keys near its start, is not parsed here to learn that it is not LabelMe's.
            head = f.read(4096)
            if not any(key in head for key in (b'"shapes"', b'"imagePath"', b'"imageData"')):
                return None
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("shapes"), list) \
        and "imagePath" in data else None


def is_labelme_folder(folder: Path) -> bool:
    """Whether one of ``folder``'s first five JSON files is LabelMe's (one file a photo:
    ``shapes``, ``imagePath``): a folder of LabelMe files may also hold a file of another kind
    (``classes.json``, a flags list) that sorts first."""
    files = sorted(p for p in folder.glob("*.json") if p.name != IMPORT_RECORD)[:5]
    return any(_labelme_json(p) is not None for p in files)


def read_labelme(folder: str | Path, classes: list[str] | None = None,
                 images: str | Path | None = None) -> Export:
    """The photos of a LabelMe folder: one ``NAME.json`` a photo (LabelMe saves it beside
    the photo), its ``shapes`` each a ``label``, a ``shape_type`` and ``points`` in the
    pixels of the upright photo (LabelMe turns a photo by its EXIF orientation before it is
    drawn on), with their regions of the chosen classes. The photo is the file
    ``imagePath`` names, relative to the JSON (Windows paths too), else one of that name, or
    of the JSON's, in ``images`` when given or the folder, else the photo the JSON holds
    (``imageData``: LabelMe can save it there). Polygons, circles and AI masks are
    regions, filled as LabelMe's own ``labelme2voc`` fills them. Rectangles are regions too
    in an export that has other regions (as ``labelme2voc`` reads them), else boxes (a
    detection export, as ``labelme2coco`` reads them). A line or point of a chosen class
    encloses no pixel, so its photo is left out rather than taken as clean; so is a photo in
    the folder without a JSON file (not labelled)."""
    folder = Path(folder)
    files = sorted(p for p in folder.glob("*.json") if p.name != IMPORT_RECORD)
    if not files:
        raise AnnotationError(f"{folder} holds no LabelMe JSON files")
    places = ([Path(images)] if images else []) + [folder]
    found = _photo_index(places)
    counts: Counter = Counter()
    parsed: list[tuple[Labelled, list[dict]]] = []
    for path in files:
        item, shapes = Labelled(_voc_photo(found, places, None, path.stem)), []
        data = _labelme_json(path)
        if data is None:
            item.problem = f"its annotation {path.name} is not a LabelMe file"
        else:
            item.photo = _labelme_photo(path, str(data.get("imagePath") or ""), found, places)
            if not item.photo.is_file() and data.get("imageData"):
                item.embedded_in = path
            w, h = data.get("imageWidth"), data.get("imageHeight")
            item.frame = (int(w), int(h)) if _numbers([w, h]) and w > 0 and h > 0 else None
            shapes = [s for s in data["shapes"] if isinstance(s, dict)]
            if len(shapes) != len(data["shapes"]):
                item.problem = f"its annotation {path.name} has shapes that are not objects"
        counts.update(str(s.get("label", "")).strip() for s in shapes)
        parsed.append((item, shapes))
    chosen = choose_classes(counts, classes)
    regions = any(str(s.get("shape_type") or "polygon") in ("polygon", "circle", "mask")
                  for _, shapes in parsed for s in shapes if str(s.get("label", "")).strip() in chosen)
    for item, shapes in parsed:
        for n, shape in enumerate(shapes, 1):
            if item.problem or str(shape.get("label", "")).strip() not in chosen:
                continue
            try:
                _add_labelme_shape(item, shape, regions)
            except (TypeError, *LABEL_IMAGE_ERRORS) as e:
                item.problem = f"shape {n} ({shape.get('label')}) cannot be used: {e}"
    items = [i for i, _ in parsed]
    photo_folders = sorted({i.photo.parent for i in items if i.photo.is_file()})  # imagePath's
    return Export(str(folder), "LabelMe", items + _not_labelled(
        places + photo_folders, items, lambda p: f"no annotation file (.json): {NOT_LABELLED}"),
        sorted(chosen))


def _labelme_photo(path: Path, image_path: str, found: dict[str, Path], places: list[Path]) -> Path:
    """The photo a LabelMe file labels: ``imagePath`` relative to the file (LabelMe on
    Windows writes backslashes), else a photo of that name or of the file's in ``places``."""
    image_path = image_path.replace("\\", "/")
    beside = path.parent / image_path
    if image_path and beside.is_file():
        return beside
    return _voc_photo(found, places, image_path, path.stem)


def _add_labelme_shape(item: Labelled, shape: dict, regions: bool) -> None:
    """One shape of a chosen class added to ``item`` as a COCO polygon, an RLE (circles and
    masks, drawn at the labelled size), or a box. ValueError says why it cannot be."""
    kind = str(shape.get("shape_type") or "polygon")
    points = shape.get("points")
    if kind not in LABELME_AREA:
        raise ValueError(f"a {kind} encloses no pixel: draw corrosion as polygons")
    if not isinstance(points, list) or not all(isinstance(p, list) and len(p) == 2 and _numbers(p)
                                                for p in points):
        raise ValueError("its points are not [x, y] pairs of numbers")
    if kind == "polygon":
        if len(points) < 3:
            raise ValueError(f"a polygon of {len(points)} point(s) encloses no pixel")
        item.shapes.append([[v for xy in points for v in xy]])
        return
    if len(points) != 2:
        raise ValueError(f"a {kind} needs 2 points, not {len(points)}")
    (x0, y0), (x1, y1) = points
    if kind == "rectangle":
        _add_rectangle(item, min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1), regions)
        return
    if item.frame is None:
        raise ValueError(f"a {kind} needs the file's imageWidth and imageHeight")
    w, h = item.frame
    canvas = Image.new("L", (w, h), 0)
    if kind == "circle":  # centre, then a point on the rim
        r = float(np.hypot(x1 - x0, y1 - y0))
        ImageDraw.Draw(canvas).ellipse([x0 - r, y0 - r, x0 + r, y0 + r], outline=1, fill=1)
    else:  # an AI mask: a PNG of the box from the first point to the second, both inside
        import base64
        import io

        with Image.open(io.BytesIO(base64.b64decode(str(shape.get("mask") or ""), validate=True))) as png:
            part = Image.fromarray((np.asarray(png.convert("L")) > 0).astype(np.uint8))
        left, top = int(round(x0)), int(round(y0))
        if part.size != (int(round(x1)) - left + 1, int(round(y1)) - top + 1):
            raise ValueError(f"its mask is {part.size[0]} x {part.size[1]} px, not the size of its box")
        canvas.paste(part, (left, top))
    item.shapes.append(_rle(np.asarray(canvas) > 0))


# ------------------------------------------------------------------ CVAT for images
CVAT_FILE = "annotations.xml"  # the file of a "CVAT for images 1.1" download
CVAT_AREA = ("polygon", "mask", "ellipse")  # the shapes that enclose pixels, boxes aside
CVAT_SHAPES = CVAT_AREA + ("box", "polyline", "points", "cuboid", "skeleton")


def _is_cvat_xml(path: Path) -> bool:
    """Whether ``path`` is CVAT's own XML (its root ``<annotations>``; a Pascal VOC file's is
    ``<annotation>``), read no further than its first element."""
    import xml.etree.ElementTree as ET

    try:
        for _, element in ET.iterparse(path, events=("start",)):
            return element.tag == "annotations"
    except (ET.ParseError, OSError):
        return False
    return False


def _cvat_source(source: Path) -> Path | None:
    """The CVAT XML file ``source`` is or holds: ``annotations.xml`` (CVAT's download), else
    a folder's only XML file when it is CVAT's; None for anything else."""
    if source.is_file():
        return source if source.suffix.lower() == ".xml" and _is_cvat_xml(source) else None
    if not source.is_dir():
        return None
    if (source / CVAT_FILE).is_file():
        return source / CVAT_FILE if _is_cvat_xml(source / CVAT_FILE) else None
    xml = list(source.glob("*.xml"))
    return xml[0] if len(xml) == 1 and _is_cvat_xml(xml[0]) else None


def read_cvat(path: str | Path, images: str | Path | None = None,
              classes: list[str] | None = None) -> Export:
    """The photos of a "CVAT for images 1.1" export (``annotations.xml``, one ``<image>`` a
    photo) with their regions of the chosen classes, as one export (:func:`read_cvat_splits`
    splits a project's)."""
    return _read_cvat(path, images, classes, split=False)[""]


def read_cvat_splits(path: str | Path, images: str | Path | None = None,
                     classes: list[str] | None = None) -> dict[str, Export]:
    """A "CVAT for images 1.1" export as :func:`read_exports` returns it: a project whose
    photos are each in a subset named as a split (CVAT's ``Train``, ``Validation``,
    ``Test``), at least two of them, split by split; anything else as one export."""
    return _read_cvat(path, images, classes, split=True)


def _read_cvat(path: str | Path, images: str | Path | None, classes: list[str] | None,
               split: bool) -> dict[str, Export]:
    """CVAT's XML: each ``<image>`` has a ``name`` (a path, under ``images/`` in CVAT's
    download, under ``images/SUBSET/`` in a project's), a ``width`` and ``height``, and its
    shapes, each of a ``label``. Polygons, masks (RLE of their box) and ellipses are regions;
    boxes are regions too in an export that has other regions, else boxes (a detection
    export); a turned box or ellipse is turned as CVAT draws it. A photo whose corrosion is
    only a polyline, points, a cuboid or a skeleton is left out, as is one tagged corrosion
    with no region drawn. An export whose chosen classes are only tags (``<tag>``, a label
    of the whole photo) is photos labelled as a whole: a photo with another tag is clean, one
    with none is not labelled. A photo listed with no region of the chosen classes is clean,
    as in COCO; one beside the file that it does not list is not labelled."""
    import xml.etree.ElementTree as ET  # expat >= 2.4.1 refuses entity expansion bombs

    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise AnnotationError(f"{path} cannot be read as XML: {e}") from e
    if root.tag != "annotations":
        raise AnnotationError(f"{path} is not a CVAT XML file: its root is <{root.tag}>, not <annotations>")
    entries = root.findall("image")
    if not entries and root.find("track") is not None:
        raise AnnotationError(f"{path} is a \"CVAT for video 1.1\" export (tracks of frames): "
                              "export the task as \"CVAT for images 1.1\"")
    meta = root.find("meta")  # its labels, drawn or not, are the classes to choose from
    labels = [str(n.findtext("name") or "").strip() for n in meta.iter("label")] if meta is not None else []
    counts, tag_counts = Counter({name: 0 for name in labels if name}), Counter()
    places = _file_places(path, images)
    found: dict[str, Path] | None = None
    parsed: list[tuple[Labelled, str, list[tuple[str, ET.Element]]]] = []
    for entry in entries:
        name, subset = str(entry.get("name") or ""), str(entry.get("subset") or "")
        photo = next((c for place in places for c in (place / name, place / subset / name)
                      if name and c.is_file()), None)
        if photo is None:
            if found is None:  # photos moved into folders of their own: found by file name
                found = _photos_by_name(places, shallow=path.parent)
            photo = found.get(Path(name).name, places[0] / name)
        item = Labelled(photo)
        try:
            w, h = int(entry.get("width") or 0), int(entry.get("height") or 0)
            item.frame = (w, h) if w > 0 and h > 0 else None
        except ValueError:
            item.problem = "its width and height are not numbers"
        shapes = [(str(e.get("label") or "").strip(), e) for e in entry
                  if e.tag in CVAT_SHAPES or e.tag == "tag"]
        counts.update(label for label, _ in shapes)
        tag_counts.update(label for label, e in shapes if e.tag == "tag")
        parsed.append((item, subset, shapes))
    if not parsed:
        raise AnnotationError(f"{path} lists no <image>")
    chosen = choose_classes(counts, classes, tags=tag_counts)
    kinds = {e.tag for _, _, shapes in parsed for label, e in shapes if label in chosen}
    as_whole = kinds == {"tag"}  # photos labelled as a whole
    enclosed = bool(kinds & set(CVAT_AREA))
    for item, _, shapes in parsed:
        tags = [label for label, e in shapes if e.tag == "tag"]
        if as_whole:
            if not item.problem:
                item.image_label = bool(chosen & set(tags)) if tags else None
                item.problem = None if tags else f"no tag: {NOT_LABELLED}"
            continue
        for n, (label, e) in enumerate(shapes, 1):
            if item.problem or label not in chosen or e.tag == "tag":
                continue
            try:
                _add_cvat_shape(item, e, enclosed)
            except (ValueError, TypeError) as err:
                item.problem = f"its {e.tag} {n} ({label}) cannot be used: {err}"
        if not item.problem and not item.shapes and not item.boxes and chosen & set(tags):
            item.problem = f"tagged {', '.join(sorted(chosen & set(tags)))} as a whole, with no region drawn"

    def export(source: str, items: list[Labelled], where: list[Path]) -> Export:
        folders = sorted({i.photo.parent for i in items if i.photo.is_file()})
        return Export(source, "CVAT", items + _not_labelled(
            where + folders, items, lambda p: f"not in {path.name}: {NOT_LABELLED}"), sorted(chosen))

    splits = _named_splits([subset for _, subset, _ in parsed]) if split else {}
    if not splits:
        return {"": export(str(path), [i for i, _, _ in parsed], places)}
    return {name: export(f"{path} ({', '.join(subsets)})", [i for i, s, _ in parsed if s in subsets],
                         [p / s for p in places for s in subsets if (p / s).is_dir()])
            for name, subsets in splits.items()}


def _named_splits(groups: list[str]) -> dict[str, list[str]]:
    """{split: the groups named as it (a CVAT project's subsets, a Supervisely project's
    datasets), sorted}, in train, val, test order, when every group is named as a split and
    there are at least two splits; else empty: the export is read as one."""
    splits: dict[str, list[str]] = {}
    for group in sorted(set(groups)):
        name = SPLIT_NAMES.get(group.lower())
        if name is None:
            return {}
        splits.setdefault(name, []).append(group)
    return dict(sorted(splits.items(), key=lambda kv: SPLIT_ORDER.index(kv[0]))) if len(splits) > 1 else {}


def _cvat_numbers(e, *keys: str) -> list[float]:
    try:
        return [float(e.get(k)) for k in keys]
    except (TypeError, ValueError):
        raise ValueError(f"its {', '.join(keys)} are not numbers") from None


def _add_cvat_shape(item: Labelled, e, enclosed: bool) -> None:
    """One CVAT shape of a chosen class added to ``item`` as a COCO polygon, an RLE (a mask)
    or a box. ValueError says why it cannot be."""
    # CVAT turns a box or an ellipse by ``rotation`` degrees about its centre, clockwise on
    # the photo, as its own COCO export turns boxes into polygons.
    theta = np.deg2rad(float(e.get("rotation") or 0.0))
    if e.tag == "polygon":
        try:
            xy = [float(v) for point in str(e.get("points") or "").split(";") for v in point.split(",")]
        except ValueError:
            raise ValueError("its points are not x,y;x,y... numbers") from None
        if len(xy) < 6 or len(xy) % 2:
            raise ValueError(f"a polygon of {len(xy) // 2} point(s) encloses no pixel")
        item.shapes.append([xy])
    elif e.tag == "box":
        x0, y0, x1, y1 = _cvat_numbers(e, "xtl", "ytl", "xbr", "ybr")
        if not theta:
            _add_rectangle(item, x0, y0, x1, y1, enclosed)
            return
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        _add_turned_rectangle(item, [(cx + np.cos(theta) * (x - cx) - np.sin(theta) * (y - cy),
                                      cy + np.sin(theta) * (x - cx) + np.cos(theta) * (y - cy))
                                     for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))], enclosed)
    elif e.tag == "ellipse":
        cx, cy, rx, ry = _cvat_numbers(e, "cx", "cy", "rx", "ry")
        item.shapes.append([_ellipse_polygon(cx, cy, rx, ry, theta)])
    elif e.tag == "mask":
        item.shapes.append(_rle(_cvat_mask(e, item.frame)))
    else:
        raise ValueError(f"a {e.tag} encloses no pixel: draw corrosion as polygons")


def _cvat_mask(e, frame: tuple[int, int] | None) -> np.ndarray:
    """A CVAT ``<mask>`` on the whole photo: ``rle`` counts runs of its box (``left``,
    ``top``, ``width``, ``height``) row by row, starting with a run of background."""
    if frame is None:
        raise ValueError("a mask needs its image's width and height")
    try:
        runs = [int(v) for v in str(e.get("rle") or "").split(",")]
    except ValueError:
        raise ValueError("its rle is not a list of whole numbers") from None
    left, top, w, h = (int(v) for v in _cvat_numbers(e, "left", "top", "width", "height"))
    if not (0 < w <= frame[0] and 0 < h <= frame[1]):
        raise ValueError(f"its box of {w} x {h} px does not fit its image")
    if min(runs) < 0 or sum(runs) != w * h:
        raise ValueError(f"its rle counts {sum(runs)} pixels, not the {w} x {h} of its box")
    part = np.repeat(np.arange(len(runs)) % 2 == 1, runs).reshape(h, w)
    pixels = np.zeros(frame[::-1], bool)
    fh, fw = pixels.shape
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + w, fw), min(top + h, fh)
    if x1 > x0 and y1 > y0:
        pixels[y0:y1, x0:x1] = part[y0 - top:y1 - top, x0 - left:x1 - left]
    return pixels


# ------------------------------------------------------------------ Label Studio
LABEL_STUDIO_AREA = ("polygonlabels", "brushlabels", "ellipselabels")  # enclose pixels, boxes aside
LABEL_STUDIO_UPLOAD = re.compile(r"^[0-9a-f]{8}-")  # the prefix Label Studio gives an upload's name


def _label_studio_tasks(data) -> list[dict] | None:
    """The tasks of a Label Studio JSON export (a list, each with its ``data`` and its
    ``annotations``, ``completions`` in Label Studio 0.x), or None for JSON of another kind."""
    if not isinstance(data, list) or not data:
        return None
    return data if all(isinstance(t, dict) and isinstance(t.get("data"), dict)
                       and isinstance(t.get("annotations", t.get("completions")), list)
                       for t in data) else None


def _label_studio_photo_path(task: dict) -> str:
    """The path of a task's photo in its ``data`` URL (``image``, else the first value naming
    a photo): the URL's path, or the ``d`` of a local-files URL (``?d=dir/photo.jpg``)."""
    from urllib.parse import parse_qs, unquote, urlsplit

    values = [task["data"].get("image")] + list(task["data"].values())
    for value in values:
        if not isinstance(value, str):
            continue
        parts = urlsplit(value)
        local = parse_qs(parts.query).get("d")
        path = (local[0] if local else unquote(parts.path)).replace("\\", "/")
        if Path(path).suffix.lower() in IMAGE_EXTENSIONS:
            return path
    return ""


def _label_studio_photo(path: str, places: list[Path], found: dict[str, Path]) -> Path | None:
    """A task's photo: its path under one of ``places``, the longest tail of it that is there
    first (photos of one name in two folders stay two photos), else a photo of its file name
    (:func:`_photos_by_name`), also without the prefix Label Studio gives an upload."""
    parts = [p for p in path.split("/") if p not in ("", ".", "..")]
    for k in range(len(parts) - 1):
        for place in places:
            if (place / Path(*parts[k:])).is_file():
                return place / Path(*parts[k:])
    name = parts[-1] if parts else ""
    return found.get(name) or found.get(LABEL_STUDIO_UPLOAD.sub("", name))


def _label_studio_annotation(task: dict) -> dict | None:
    """The annotation of a task to import: the one marked ground truth, else the newest, of
    those not skipped (Label Studio's own converter leaves skipped ones out too, and sorts
    the rest newest first)."""
    kept = [a for a in task.get("annotations", task.get("completions")) or []
            if isinstance(a, dict) and not a.get("was_cancelled") and not a.get("skipped")]
    truth = [a for a in kept if a.get("ground_truth")]
    return max(truth or kept, key=lambda a: str(a.get("created_at", "")), default=None)


def read_label_studio(path: str | Path, images: str | Path | None = None,
                      classes: list[str] | None = None, data=None) -> Export:
    """The photos of a Label Studio JSON export (its "JSON" export: one task a photo) with
    their regions of the chosen classes. A task's photo is found by the path in its URL, or
    by its file name, in ``images`` when given, else in ``images/`` beside the file or beside
    it, also without the prefix Label Studio adds to an upload's name
    (``1a2b3c4d-photo.jpg``). Its
    annotation is the one marked ground truth, else the newest not skipped; a task no one
    annotated, or only skipped, is not labelled; a photo in several tasks (imported twice)
    takes the newest of their annotations, and a warning names it. Coordinates are
    percentages of the photo as Label Studio showed it (``original_width`` x
    ``original_height``). Polygons, brush
    strokes (Label Studio's RLE of an RGBA layer: a pixel at least half opaque is painted)
    and ellipses are regions; rectangles are regions too in an export that has other
    regions, else boxes; rectangles turn about their top left corner, ellipses about their
    centre. Key points enclose no pixel: their photo is left out. An export whose chosen
    classes are only choices labels photos as a whole: a photo annotated with another
    choice, or none, is clean."""
    path = Path(path)
    data = _json_file(path) if data is None else data
    tasks = _label_studio_tasks(data)
    if tasks is None:
        raise AnnotationError(f"{path} is not a Label Studio JSON export: it needs a list of tasks, "
                              "each with data and annotations")
    places = _file_places(path, images)
    found = _photos_by_name(places, shallow=path.parent)
    # A photo imported into Label Studio twice is two tasks: the newest annotation wins.
    by_photo: dict[Path, list[tuple[dict, dict | None]]] = {}
    for task in tasks:
        where = _label_studio_photo_path(task)
        photo = _label_studio_photo(where, places, found)
        original = LABEL_STUDIO_UPLOAD.sub("", Path(where).name) or f"task-{task.get('id')}"
        by_photo.setdefault(photo or places[0] / original, []).append((task, _label_studio_annotation(task)))
    twice = {photo: entries for photo, entries in by_photo.items() if len(entries) > 1}
    if twice:
        shown = [f"{photo.name} (tasks {', '.join(str(t.get('id')) for t, _ in entries)})"
                 for photo, entries in list(twice.items())[:5]]
        log.warning("%d photo(s) are in more than one task; each is imported from its newest "
                    "annotation: %s", len(twice), "; ".join(shown))
    counts, choice_counts = Counter(), Counter()
    parsed: list[tuple[Labelled, list[tuple[list[str], dict]]]] = []
    for photo, entries in by_photo.items():
        task, annotation = max(entries, key=lambda e: (e[1] is not None,
                                                        str((e[1] or {}).get("created_at", ""))))
        item, results = Labelled(photo), []
        if annotation is None:
            annotated = task.get("annotations", task.get("completions"))
            item.problem = (f"task {task.get('id')} was skipped" if annotated
                            else f"task {task.get('id')} has no annotation: {NOT_LABELLED}")
        else:
            for r in annotation.get("result") or []:
                value = r.get("value") if isinstance(r, dict) else None
                names = value.get(str(r.get("type", "")).lower()) if isinstance(value, dict) else None
                if isinstance(names, list) and names:
                    results.append(([str(n).strip() for n in names], dict(r, type=_label_studio_kind(r))))
                    counts.update(str(n).strip() for n in names)
                    if results[-1][1]["type"] == "choices":
                        choice_counts.update(str(n).strip() for n in names)
        parsed.append((item, results))
    chosen = choose_classes(counts, classes, tags=choice_counts, tag_unit="choice")
    kinds = {str(r["type"]).lower() for _, results in parsed for names, r in results if chosen & set(names)}
    as_whole = kinds == {"choices"}
    enclosed = bool(kinds & set(LABEL_STUDIO_AREA))
    for item, results in parsed:
        if item.problem:
            continue
        choices = {n for names, r in results if str(r["type"]).lower() == "choices" for n in names}
        if as_whole:
            item.image_label = bool(chosen & choices)
            continue
        for n, (names, r) in enumerate(results, 1):
            kind = str(r["type"]).lower()
            if item.problem or not chosen & set(names) or kind == "choices":
                continue
            try:
                _add_label_studio_region(item, r, kind, enclosed)
            except (ValueError, TypeError, KeyError) as e:
                item.problem = f"its region {n} ({', '.join(names)}) cannot be used: {e}"
        if not item.problem and not item.shapes and not item.boxes and chosen & choices:
            item.problem = (f"chose {', '.join(sorted(chosen & choices))} for the whole photo, with no "
                            "region drawn")
    items = [i for i, _ in parsed]
    folders = sorted({i.photo.parent for i in items if i.photo.is_file()})
    return Export(str(path), "Label Studio", items + _not_labelled(
        places + folders, items, lambda p: f"in no task of {path.name}: {NOT_LABELLED}"), sorted(chosen))


def _label_studio_kind(r: dict) -> str:
    """A result's type, lower case; a region of the generic ``<Labels>`` tag (type
    ``labels``) is named by its shape, as the tag it was drawn with would be."""
    kind, value = str(r.get("type", "")).lower(), r.get("value")
    if kind != "labels" or not isinstance(value, dict):
        return kind
    for key, shape in (("rle", "brushlabels"), ("points", "polygonlabels"), ("radiusX", "ellipselabels"),
                       ("width", "rectanglelabels")):
        if key in value:
            return shape
    return "keypointlabels"


def _add_label_studio_region(item: Labelled, r: dict, kind: str, enclosed: bool) -> None:
    """One Label Studio region of a chosen class added to ``item`` in pixels of the photo it
    was drawn on (``original_width`` x ``original_height``)."""
    w, h = r.get("original_width"), r.get("original_height")
    if not _numbers([w, h]) or w <= 0 or h <= 0:
        raise ValueError("it has no original_width and original_height")
    if r.get("image_rotation"):
        raise ValueError(f"it was drawn on the photo turned {r['image_rotation']} degrees in Label Studio")
    if item.frame not in (None, (int(w), int(h))):
        raise ValueError("its regions were drawn on photos of two sizes")
    item.frame = (int(w), int(h))
    value = r["value"]
    sx, sy = w / 100, h / 100  # percentages of the photo's width and height

    def numbers(*keys):
        values = [value.get(k, 0.0 if k == "rotation" else None) for k in keys]
        if not _numbers(values):
            raise ValueError(f"its {', '.join(keys)} are not numbers")
        return values

    theta = np.deg2rad(numbers("rotation")[0])
    if kind == "polygonlabels":
        points = value.get("points")
        if not isinstance(points, list) or not all(isinstance(p, list) and len(p) == 2 and _numbers(p)
                                                    for p in points):
            raise ValueError("its points are not [x, y] pairs of numbers")
        if len(points) < 3:
            raise ValueError(f"a polygon of {len(points)} point(s) encloses no pixel")
        item.shapes.append([[v for x, y in points for v in (x * sx, y * sy)]])
    elif kind == "rectanglelabels":
        x, y, bw, bh = numbers("x", "y", "width", "height")
        x, y, bw, bh = x * sx, y * sy, bw * sx, bh * sy
        if not theta:
            _add_rectangle(item, x, y, x + bw, y + bh, enclosed)
            return
        c, s = np.cos(theta), np.sin(theta)  # turned about its top left corner
        _add_turned_rectangle(item, [(x, y), (x + bw * c, y + bw * s),
                                     (x + bw * c - bh * s, y + bw * s + bh * c), (x - bh * s, y + bh * c)],
                              enclosed)
    elif kind == "ellipselabels":
        cx, cy, rx, ry = numbers("x", "y", "radiusX", "radiusY")
        item.shapes.append([_ellipse_polygon(cx * sx, cy * sy, rx * sx, ry * sy, theta)])
    elif kind == "brushlabels":
        if value.get("format", "rle") != "rle" or not isinstance(value.get("rle"), list):
            raise ValueError("its brush stroke is not Label Studio's rle")
        rgba = label_studio_rle(value["rle"], int(w) * int(h) * 4)
        item.shapes.append(_rle(rgba.reshape(int(h), int(w), 4)[:, :, 3] >= 128))
    else:
        raise ValueError(f"a {kind.removesuffix('labels')} encloses no pixel: draw corrosion as polygons")


def label_studio_rle(rle: list[int], count: int) -> np.ndarray:
    """The ``count`` values Label Studio's brush RLE encodes (bytes of a bit stream: the value
    count in 32 bits, the word size less 1 in 5, four run-length sizes less 1 in 4 bits each,
    then blocks: a flag bit, a 2-bit index of the run-length size, the run length less 1, then
    one word repeated when the flag is set, else that many words). ValueError for a damaged
    one, or one of another count (checked before anything is decoded)."""
    try:
        raw = np.asarray(rle, dtype=np.int64)
        if raw.ndim != 1 or raw.min() < 0 or raw.max() > 255:
            raise ValueError
        bits = (np.unpackbits(raw.astype(np.uint8)) + ord("0")).tobytes().decode()
    except (ValueError, TypeError):
        raise ValueError("its brush RLE is not a list of bytes") from None
    at = 0

    def read(n: int) -> int:
        nonlocal at
        if at + n > len(bits):
            raise ValueError("its brush RLE ends part way")
        at += n
        return int(bits[at - n:at], 2)

    if read(32) != count:
        raise ValueError(f"its brush RLE holds {int(bits[:32], 2)} values, not the {count} of its photo's "
                         "RGBA pixels")
    word = read(5) + 1
    sizes = [read(4) + 1 for _ in range(4)]
    out = np.zeros(count, np.uint8)
    i = 0
    while i < count:
        repeated = read(1)
        j = min(i + 1 + read(sizes[read(2)]), count)
        if repeated:
            out[i:j] = read(word)
        else:
            out[i:j] = [read(word) for _ in range(j - i)]
        i = j
    return out


# ------------------------------------------------------------------ Supervisely
SUPERVISELY_AREA = ("polygon", "bitmap")  # the shapes that enclose pixels, rectangles aside


def _supervisely_project(source: Path) -> tuple[Path, list[Path]] | None:
    """(the project folder, its datasets) of a Supervisely project (``meta.json`` beside one
    folder a dataset, each holding ``img/`` and ``ann/``), or of one dataset of it given
    alone; None for anything else."""
    if not source.is_dir():
        return None
    if (source / "ann").is_dir() and (source / "img").is_dir():
        return source.parent, [source]
    if not (source / "meta.json").is_file():
        return None
    datasets = sorted(d for d in source.iterdir() if (d / "ann").is_dir() and (d / "img").is_dir())
    return (source, datasets) if datasets else None


def read_supervisely(source: str | Path, classes: list[str] | None = None,
                     split: bool = False) -> dict[str, Export]:
    """The photos of a Supervisely project in its own format (``meta.json``, and a folder a
    dataset: ``img/NAME`` beside ``ann/NAME.json``, objects in the pixels of the photo), or
    of one of its datasets, with their regions of the chosen classes, as one export
    (``{"": export}``), or with ``split``, a project whose datasets are named as splits
    (``train``, ``val``, ``test``...), dataset by dataset. Polygons (their holes left out)
    and bitmaps (a PNG of their box at ``origin``, zlib-compressed and base64, as
    Supervisely's SDK writes it) are regions; rectangles (both corners inside) are regions
    too in an export that has other regions, else boxes. A photo whose corrosion is only a
    point, line or other shape enclosing no pixel, or only an image tag, is left out; an
    export whose chosen classes are only image tags labels photos as a whole. A photo in
    ``img/`` without its ``ann/`` file is not labelled."""
    found = _supervisely_project(Path(source))
    if found is None:
        raise AnnotationError(f"{source} is not a Supervisely project: it needs meta.json beside "
                              "dataset folders of img/ and ann/")
    project, datasets = found
    meta = _json_file(project / "meta.json") if (project / "meta.json").is_file() else {}
    counts: Counter = Counter({str(c.get("title")).strip(): 0 for c in meta.get("classes") or []
                               if isinstance(c, dict) and c.get("title")})
    tag_counts: Counter = Counter()
    parsed: list[tuple[Labelled, Path, list[tuple[str, dict]], set[str]]] = []
    for dataset in datasets:
        for ann in sorted((dataset / "ann").glob("*.json")):
            item, objects, tags = Labelled(dataset / "img" / ann.name[:-len(".json")]), [], set()
            try:
                data = json.loads(ann.read_text())
                size = data.get("size") or {}
                w, h = size.get("width"), size.get("height")
                item.frame = (int(w), int(h)) if _numbers([w, h]) and w > 0 and h > 0 else None
                objects = [(str(o.get("classTitle") or "").strip(), o) for o in data.get("objects") or []]
                tags = {str(t.get("name") or "").strip() for t in data.get("tags") or []}
            except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as e:
                item.problem = f"its annotation {ann.name} cannot be read: {e}"
            counts.update([name for name, _ in objects] + sorted(tags))
            tag_counts.update(tags)
            parsed.append((item, dataset, objects, tags))
    if not parsed:
        raise AnnotationError(f"{project} holds no annotation files (ann/NAME.json)")
    chosen = choose_classes(counts, classes, tags=tag_counts)
    kinds = {str(o.get("geometryType")) for _, _, objects, _ in parsed
             for name, o in objects if name in chosen}
    as_whole = not kinds and any(chosen & tags for _, _, _, tags in parsed)
    enclosed = bool(kinds & set(SUPERVISELY_AREA))
    for item, _, objects, tags in parsed:
        if item.problem:
            continue
        if as_whole:
            item.image_label = bool(chosen & tags)
            continue
        for n, (name, o) in enumerate(objects, 1):
            if item.problem or name not in chosen:
                continue
            try:
                _add_supervisely_object(item, o, enclosed)
            except (ValueError, TypeError, KeyError, OSError) as e:
                item.problem = f"its object {n} ({name}) cannot be used: {e}"
        if not item.problem and not item.shapes and not item.boxes and chosen & tags:
            item.problem = f"tagged {', '.join(sorted(chosen & tags))} as a whole, with no region drawn"

    def export(where: list[Path]) -> Export:
        items = [i for i, d, _, _ in parsed if d in where]
        return Export(", ".join(str(d) for d in where), "Supervisely", items + _not_labelled(
            [d / "img" for d in where], items,
            lambda p: f"no annotation file (ann/{p.name}.json): {NOT_LABELLED}"), sorted(chosen))

    splits = _named_splits([d.name for d in datasets]) if split else {}
    if not splits:
        return {"": export(datasets)}
    return {name: export([d for d in datasets if d.name in names]) for name, names in splits.items()}


def _add_supervisely_object(item: Labelled, o: dict, enclosed: bool) -> None:
    """One Supervisely object of a chosen class added to ``item`` as a COCO polygon, an RLE
    (a bitmap, a polygon with holes) or a box. ValueError says why it cannot be."""
    kind = str(o.get("geometryType"))
    if kind == "bitmap":
        if item.frame is None:
            raise ValueError("a bitmap needs the annotation's size")
        part = _supervisely_bitmap(str(o["bitmap"]["data"]), item.frame)
        col, row = (int(v) for v in o["bitmap"]["origin"])
        pixels = np.zeros(item.frame[::-1], bool)
        h, w = part.shape
        fh, fw = pixels.shape
        x0, y0, x1, y1 = max(col, 0), max(row, 0), min(col + w, fw), min(row + h, fh)
        if x1 > x0 and y1 > y0:
            pixels[y0:y1, x0:x1] = part[y0 - row:y1 - row, x0 - col:x1 - col]
        item.shapes.append(_rle(pixels))
        return
    points = o.get("points") or {}
    exterior, interior = points.get("exterior"), points.get("interior") or []
    rings = [exterior] + list(interior)
    if not all(isinstance(r, list) and all(isinstance(p, list) and len(p) == 2 and _numbers(p) for p in r)
               for r in rings):
        raise ValueError("its points are not [x, y] pairs of numbers")
    if kind == "rectangle":
        if len(exterior) != 2:
            raise ValueError(f"a rectangle of {len(exterior)} points")
        (x0, x1), (y0, y1) = sorted(p[0] for p in exterior), sorted(p[1] for p in exterior)
        if enclosed:
            _add_rectangle(item, x0, y0, x1, y1, True)
        else:  # both corners inside: a box ends one pixel past them
            _add_rectangle(item, x0, y0, x1 + 1, y1 + 1, False)
    elif kind == "polygon":
        if len(exterior) < 3:
            raise ValueError(f"a polygon of {len(exterior)} point(s) encloses no pixel")
        if not interior:
            item.shapes.append([[v for xy in exterior for v in xy]])
            return
        if item.frame is None:
            raise ValueError("a polygon with holes needs the annotation's size")
        canvas = Image.new("L", item.frame, 0)
        draw = ImageDraw.Draw(canvas)
        draw.polygon([tuple(p) for p in exterior], fill=1)
        for hole in interior:
            if len(hole) >= 3:
                draw.polygon([tuple(p) for p in hole], fill=0)
        item.shapes.append(_rle(np.asarray(canvas) > 0))
    else:
        raise ValueError(f"a {kind} encloses no pixel: draw corrosion as polygons")


def _supervisely_bitmap(data: str, frame: tuple[int, int]) -> np.ndarray:
    """A Supervisely bitmap's pixels: a PNG, zlib-compressed (or not) and base64; its alpha
    where it has one (the SDK writes a palette PNG whose index 0 is transparent), else its
    non-black pixels. One larger than its image (``frame``), or inflating past the size of
    such a PNG, is refused before it is decoded."""
    import base64
    import binascii
    import io
    import zlib

    try:
        raw = base64.b64decode(data, validate=True)
    except binascii.Error:
        raise ValueError("its bitmap is not base64") from None
    inflate = zlib.decompressobj()
    try:
        # a PNG of the whole image in RGBA, uncompressed, and its chunks: no mask needs more
        png = inflate.decompress(raw, frame[0] * frame[1] * 4 + 2**20)
        if inflate.unconsumed_tail:
            raise ValueError("its bitmap inflates past the size of its image")
        raw = png
    except zlib.error:
        pass  # an uncompressed PNG, which the SDK reads too
    try:
        with Image.open(io.BytesIO(raw)) as img:
            if img.width > frame[0] or img.height > frame[1]:
                raise ValueError(f"its bitmap of {img.width} x {img.height} px is larger than its image")
            img.load()
            if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                return np.asarray(img.convert("RGBA"))[:, :, 3] > 0
            if img.mode in ("1", "L", "P", "I", "I;16"):
                return np.asarray(img) > 0
    except Image.DecompressionBombError as e:
        raise ValueError(f"its bitmap is too large: {e}") from None
    raise ValueError(f"its bitmap is a {img.mode} image, not a mask")


# ------------------------------------------------------------------ rasterising
def _rle(pixels: np.ndarray) -> dict:
    """A boolean array as the RLE a COCO export would carry, so that one rasteriser
    (:func:`region_mask`) draws every format's regions."""
    from pycocotools import mask as coco_mask

    return coco_mask.encode(np.asfortranarray(pixels.astype(np.uint8)))


def _add_rectangle(item: Labelled, x0: float, y0: float, x1: float, y1: float, region: bool) -> None:
    """A rectangle added to ``item``: filled as a polygon where the export draws regions
    (LabelMe's and VIA's rectangles beside polygons), else as a box (a detection export)."""
    if region:
        item.shapes.append([[x0, y0, x1, y0, x1, y1, x0, y1]])
    else:
        item.boxes.append((x0, y0, x1, y1))


def _add_turned_rectangle(item: Labelled, corners: list[tuple[float, float]], region: bool) -> None:
    """A turned rectangle (its four corners in order) added to ``item``: as a polygon where the
    export draws regions, else as the upright box around it."""
    # rounded, so that a quarter turn (cos 90° is 6e-17, not 0) lands on whole pixels
    corners = [(round(float(x), 6), round(float(y), 6)) for x, y in corners]
    if region:
        item.shapes.append([[v for xy in corners for v in xy]])
    else:
        xs, ys = zip(*corners)
        item.boxes.append((min(xs), min(ys), max(xs), max(ys)))


def _frame_to_upright(photo: Path, frame: tuple[int, int] | None) -> tuple[tuple[int, int], Callable]:
    """(the frame to draw in, a function turning a 0/1 array drawn there into the upright
    photo's). Labelling tools draw on the photo as a browser shows it (upright); a frame
    that matches only the stored pixels of a turned photo was drawn on those, so the mask is
    turned with the photo's EXIF orientation; a frame of another size (the photo resized
    since) is scaled to fit."""
    upright_photo = decode(photo, max_side=64)  # reads the whole file, so a damaged one fails here
    upright, stored = upright_photo.size, probe(photo)
    stored = (stored.width, stored.height)
    exif = upright_photo.exif
    if frame is None or frame == upright:
        return upright, lambda m: m
    if frame == stored and exif is not None:
        def turned(m: np.ndarray) -> np.ndarray:
            img = Image.fromarray(m)
            img.info["exif"] = exif.tobytes()
            return np.asarray(ImageOps.exif_transpose(img))
        return stored, turned
    fw, fh = frame
    if abs(fw * upright[1] - fh * upright[0]) > 0.02 * fw * upright[1]:
        raise AnnotationError(f"labelled at {fw} x {fh} px but the photo is {upright[0]} x "
                              f"{upright[1]} px upright")
    return frame, lambda m: np.asarray(Image.fromarray(m).resize(upright, Image.NEAREST))


def _scaled(item: Labelled, size: tuple[int, int]) -> tuple[list, list]:
    """The item's shapes and boxes in pixels of ``size`` (YOLO's are normalised)."""
    if not item.normalised:
        return item.shapes, item.boxes
    w, h = size
    shapes = [[[v * (w if i % 2 == 0 else h) for i, v in enumerate(poly)] for poly in shape]
              for shape in item.shapes]
    boxes = [(x0 * w, y0 * h, x1 * w, y1 * h) for x0, y0, x1, y1 in item.boxes]
    return shapes, boxes


def region_mask(shapes: list, size: tuple[int, int]) -> np.ndarray:
    """The union of COCO segmentations (polygon lists, RLE dicts) as a uint8 0/255 array of
    ``size`` (width, height). RLE is decoded by pycocotools, exactly. Polygons are filled by
    Pillow, every pixel their outline touches included: the rasteriser that made the masks of
    ``pixel/`` from their source polygons (the same masks, pixel for pixel), which the shipped
    model learned from. pycocotools' own polygon fill is thinner at every edge (on two
    ``pixel/test`` photos, 4 % and 35 % fewer pixels), so an imported set would teach thinner
    rust than the model was trained on."""
    from pycocotools import mask as coco_mask

    w, h = size
    polygons = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(polygons)
    out = np.zeros((h, w), bool)
    for seg in shapes:
        if isinstance(seg, list):
            for poly in seg:
                draw.polygon(list(zip(poly[0::2], poly[1::2])), fill=255)
            continue
        if isinstance(seg, dict) and isinstance(seg.get("counts"), list):
            rle = coco_mask.frPyObjects(seg, *seg["size"])
        elif isinstance(seg, dict) and "counts" in seg:
            rle = dict(seg, counts=seg["counts"].encode() if isinstance(seg["counts"], str) else seg["counts"])
        else:
            raise AnnotationError(f"a segmentation that is neither polygons nor RLE: {str(seg)[:60]}")
        m = coco_mask.decode(rle).astype(bool)
        if m.shape != out.shape:
            raise AnnotationError(f"an RLE of {m.shape[1]} x {m.shape[0]} px on a photo "
                                  f"labelled at {w} x {h} px")
        out |= m
    out |= np.asarray(polygons) > 0
    return out.astype(np.uint8) * 255


def _box_bounds(box: tuple[float, float, float, float], frame: tuple[int, int],
                to_upright: Callable) -> list[int] | None:
    """A box drawn in ``frame``, as (x0, y0, x1, y1) in the upright photo."""
    w, h = frame
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    m = np.zeros((h, w), np.uint8)
    m[max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)] = 255
    ys, xs = np.nonzero(to_upright(m))
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1] if len(xs) else None


# ------------------------------------------------------------------ writing
def write_import(export: Export, out: str | Path) -> ImportSummary:
    """Write ``export`` into ``out``, as :func:`write_imports` does."""
    return write_imports({"": export}, out)[""]


def write_imports(exports: dict[str, Export], out: str | Path) -> dict[str, ImportSummary]:
    """Write each export into ``out/SPLIT`` (``""``: ``out`` itself). ``out`` must be empty or
    new: nothing there is replaced. A photo that is missing or cannot be decoded, or whose
    labels cannot be used, is left out and named in the summary and in ``import.json``; so is
    a photo with some regions drawn as boxes in a mask export (its mask would miss them).

    Everything is written into a hidden folder beside ``out`` and renamed to ``out`` once
    complete, so a failure part way (a full disk, Ctrl-C) leaves no half-imported folder that
    training would read as whole. One the process could not remove (it was killed) is removed
    by the next import into ``out``."""
    out = Path(out)
    check_new_output(out)
    exports = {split: replace(export, items=_merge_repeats(export.items))
               for split, export in exports.items()}
    # A name clash in any split refuses the whole import, before anything is written.
    names = {split: _output_names(export.items, _kind(export)) for split, export in exports.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned_imports(out)
    # Not mkdtemp: its folder is private to the user, the import is data to share.
    staging = out.parent / f"{staging_prefix(out)}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        summaries = {split: _write_export(export, names[split], staging / split, out / split)
                     for split, export in exports.items()}
        staging.rename(out)  # replaces an empty folder of that name
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return summaries


def check_new_output(out: Path) -> None:
    """Refuse an output folder that holds anything: an import replaces nothing."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AnnotationError(f"{out} already exists and is not empty: import into a new folder")


def staging_prefix(out: Path) -> str:
    """The name of an import's hidden working folder beside ``out``, up to its process id:
    the host is in it so that no machine sharing the folder takes another's import for
    abandoned."""
    return f".{out.name}.importing-{socket.gethostname()}-"


def remove_abandoned_imports(out: Path) -> None:
    """Remove the working folders of imports into ``out`` that were killed part way (a
    ``kill -9``, a machine that lost power): each holds copies of photos no one will use."""
    prefix = staging_prefix(out)
    for folder in out.parent.iterdir():
        if not folder.name.startswith(prefix):
            continue
        pid = folder.name[len(prefix):].split("-")[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            log.warning("removing %s: an import into %s that process %s started and never finished",
                        folder, out, pid)
            shutil.rmtree(folder, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _kind(export: Export) -> str:
    """What an export's photos become: ``labels``, ``masks`` or ``boxes``."""
    if any(i.image_label is not None for i in export.items):
        return "labels"
    return "masks" if any(i.shapes for i in export.items) else "boxes"


def _write_export(export: Export, names: dict[Path, str], out: Path, final: Path) -> ImportSummary:
    """Write ``export`` into ``out``, each photo under its name in ``names``
    (:func:`_output_names`); its record names ``final``, where it will be."""
    kind = _kind(export)
    for sub in {"masks": (MASK_IMAGES_DIR, MASK_MASKS_DIR), "boxes": (MASK_IMAGES_DIR,),
                "labels": ()}[kind] + (CORROSION, NOT_CORROSION):
        (out / sub).mkdir(parents=True, exist_ok=True)
    left_out: dict[str, str] = {}
    boxes: dict[str, list[list[int]]] = {}
    counts: Counter = Counter()
    for item in export.items:
        name = names[item.photo]
        if item.embedded_in is not None and not item.problem:
            try:
                item = replace(item, photo=_embedded_photo(item.embedded_in, out / EMBEDDED_DIR / name))
            except ValueError as e:
                item = replace(item, problem=f"the photo its {item.embedded_in.name} holds cannot be "
                                             f"read: {e}")
        why = item.problem or (None if item.photo.is_file() else "no such file")
        if why is None and kind == "masks" and item.boxes:
            why = "some regions drawn as boxes only, in an export of masks (its mask would miss them)"
        if why is None:
            try:
                why = _write_one(item, out, kind, name, boxes, counts)
            except ImageInputError as e:
                why = f"the photo cannot be read: {e}"
            except (AnnotationError, ValueError, TypeError, KeyError) as e:
                # pycocotools' or Pillow's own words for an RLE or polygon they cannot draw
                why = f"its labels cannot be used: {e}"
        if why:
            if kind != "labels":  # a photo labelled as a whole is checked before it is copied
                _remove_outputs(out, name)
            # INFO, not WARNING: a folder labelled in part leaves out thousands, and the
            # summary counts them, names the rest first, and import.json lists each one.
            log.info("left out %s: %s", item.photo, why)
            # A photo renamed apart from another of its name is named by where it is.
            left_out[name if name == item.photo.name else str(item.photo)] = why
    shutil.rmtree(out / EMBEDDED_DIR, ignore_errors=True)
    if kind == "boxes" and boxes:
        (out / BOXES_FILE).write_text(json.dumps(boxes, indent=1))
    summary = ImportSummary(photos=len(export.items), masks=counts["masks"], boxes=counts["boxes"], corrosion=counts["corrosion"],
                            clean=counts["clean"], left_out=left_out, classes=export.classes,
                            record=final / IMPORT_RECORD)
    (out / IMPORT_RECORD).write_text(json.dumps({
        "source": export.source, "format": export.format, "corrosion_classes": export.classes,
        "photos_with_masks": summary.masks, "photos_with_boxes": summary.boxes,
        "photos_of_corrosion": summary.corrosion, "photos_without_corrosion": summary.clean,
        "left_out": left_out}, indent=1))
    return summary


def _embedded_photo(label_file: Path, dest: Path) -> Path:
    """The photo a LabelMe file holds (base64 ``imageData``), written to ``dest``."""
    import base64
    import binascii

    try:
        data = base64.b64decode(str(json.loads(label_file.read_text())["imageData"]), validate=True)
    except (binascii.Error, KeyError, TypeError, json.JSONDecodeError) as e:
        raise ValueError(f"its imageData is not base64 ({e})") from None
    dest.parent.mkdir(exist_ok=True)
    dest.write_bytes(data)
    return dest


def _output_names(items: list[Labelled], kind: str) -> dict[Path, str]:
    """Each photo's file name in ``out``. A photo's mask is ``masks/STEM.png``, so in a mask
    or box export stems must differ; photos labelled as a whole need only differ in name
    within a class folder. Photos that would clash (``IMG_0001.jpg`` from two phones, ``1.jpg``
    in each class folder, as many sets number them) are named by their paths below the folder
    they share (``phone-a__IMG_0001.jpg``), and by their extension too when only that tells
    them apart (``x_jpg.jpg``, ``x_png.png``)."""
    def key(name: str, label: bool | None):
        return Path(name).stem if kind != "labels" else (label, name)

    names = {i.photo: i.photo.name for i in items}
    groups: dict = {}
    for i in items:
        groups.setdefault(key(i.photo.name, i.image_label), []).append(i.photo)
    for photos in groups.values():
        if len(photos) < 2:
            continue
        shared = Path(os.path.commonpath([p.absolute().parent for p in photos]))
        for p in photos:
            names[p] = "__".join(p.absolute().relative_to(shared).parts)
        if len({Path(names[p]).stem for p in photos}) < len(photos):
            names.update({p: f"{Path(names[p]).stem}_{p.suffix.lstrip('.')}{p.suffix}" for p in photos})
    # A renamed photo could still meet a photo already of that name (a__1.jpg beside a/1.jpg).
    taken = Counter(key(names[i.photo], i.image_label) for i in items)
    clashes = sorted(str(i.photo) for i in items if taken[key(names[i.photo], i.image_label)] > 1)
    if clashes:
        raise AnnotationError(f"{len(clashes)} photos would be written under one name: "
                              + ", ".join(clashes[:4]) + (", ..." if len(clashes) > 4 else "")
                              + "; rename one of each")
    return names


def _merge_repeats(items: list[Labelled]) -> list[Labelled]:
    """One item a photo. A photo an export lists twice (two COCO image entries of one file,
    as merged exports have them) keeps the regions of every entry; entries drawn at
    different sizes, or labelled as a whole both corrosion and not, cannot be joined, and
    leave it out."""
    by_photo: dict[Path, list[Labelled]] = {}
    for item in items:
        by_photo.setdefault(Path(os.path.normpath(item.photo)), []).append(item)
    repeated = [group for group in by_photo.values() if len(group) > 1]
    if not repeated:
        return items
    log.warning("%d photo(s) are listed more than once; each keeps the regions of all its "
                "entries: %s", len(repeated), ", ".join(g[0].photo.name for g in repeated[:5])
                + (", ..." if len(repeated) > 5 else ""))
    merged = []
    for group in by_photo.values():
        problem = next((i.problem for i in group if i.problem), None)
        if problem is None and len({(i.frame, i.normalised, i.embedded_in) for i in group}) > 1:
            problem = f"listed {len(group)} times, labelled at different sizes"
        if problem is None and len({i.image_label for i in group}) > 1:
            problem = f"listed {len(group)} times, labelled both corrosion and not"
        merged.append(replace(group[0], shapes=[s for i in group for s in i.shapes],
                              boxes=[b for i in group for b in i.boxes], problem=problem))
    return merged


def _write_one(item: Labelled, out: Path, kind: str, name: str, boxes: dict,
               counts: Counter) -> str | None:
    if kind == "labels":
        decode(item.photo, max_side=64)  # a damaged photo is left out here, not in training
        shutil.copyfile(item.photo, out / (CORROSION if item.image_label else NOT_CORROSION) / name)
        counts["corrosion" if item.image_label else "clean"] += 1
        return None
    # YOLO's coordinates are normalised to the upright photo.
    frame, to_upright = _frame_to_upright(item.photo, None if item.normalised else item.frame)
    shapes, bxs = _scaled(item, frame)
    if not shapes and not bxs:
        shutil.copyfile(item.photo, out / NOT_CORROSION / name)
        counts["clean"] += 1
        return None
    if kind == "masks":
        mask = to_upright(region_mask(shapes, frame))
        if not mask.any():
            return "its regions cover no pixel"
        Image.fromarray(mask).save(out / MASK_MASKS_DIR / f"{Path(name).stem}.png")
    else:
        bounds = [b for b in (_box_bounds(b, frame, to_upright) for b in bxs) if b]
        if not bounds:
            return "its boxes lie outside the photo"
        boxes[name] = bounds
    shutil.copyfile(item.photo, out / MASK_IMAGES_DIR / name)
    if kind == "boxes":  # a photo with boxes is a corrosion photo for the classifier too
        shutil.copyfile(item.photo, out / CORROSION / name)
        counts["corrosion"] += 1
    counts[kind] += 1
    return None


def _remove_outputs(out: Path, name: str) -> None:
    """Whatever was written for a photo that is then left out."""
    for path in (out / MASK_IMAGES_DIR / name, out / MASK_MASKS_DIR / f"{Path(name).stem}.png",
                 out / CORROSION / name, out / NOT_CORROSION / name):
        path.unlink(missing_ok=True)
