"""Does ``rustseg import`` fill a polygon as ``pixel/``'s masks were filled? A check README
cites.

    python3 scripts/rasteriser_check.py ../shared/data/pixel/test

``scripts/rasteriser_check/`` holds the YOLO label files (one polygon a line, normalised) of
two ``pixel/test`` photos as their public source publishes them: the repository
majogamit/yolov8_corrosion_segmentation, test/labels/ (Roboflow project
"corrosion-instance-segmentation", CC BY 4.0, attribution: its Roboflow workspace
cawilai-interns-july-2023). ``0879_JPG_jpg`` is thin streaks, ``0210_jpg`` larger patches.
The script imports them with those photos as a YOLO export and compares each mask written
with the shared one, pixel for pixel; beside it, the IoU that pycocotools' own polygon fill
would have given.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from pycocotools import mask as coco_mask

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rustseg_core.cli import main as rustseg  # noqa: E402
from rustseg_core.learn.masks import read_mask  # noqa: E402
from rustseg_core.learn.metrics import mask_scores  # noqa: E402

LABELS = Path(__file__).resolve().parent / "rasteriser_check"


def pycocotools_fill(label: Path, size: tuple[int, int]) -> np.ndarray:
    """The label file's polygons filled by pycocotools (``size``: height, width)."""
    h, w = size
    polygons = []
    for line in label.read_text().splitlines():
        xy = [float(t) for t in line.split()[1:]]
        polygons.append([v * (w if i % 2 == 0 else h) for i, v in enumerate(xy)])
    return coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects(polygons, h, w))) > 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path, help="pixel/test: images/ + masks/ holding the photos "
                                             "the label files name")
    p.add_argument("--labels", type=Path, default=LABELS, help="folder of YOLO label files")
    args = p.parse_args(argv)
    labels = sorted(args.labels.glob("*.txt"))
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "export"
        (export / "labels").mkdir(parents=True)
        (export / "images").mkdir()
        for label in labels:
            shutil.copyfile(label, export / "labels" / label.name)
            shutil.copyfile(args.folder / "images" / f"{label.stem}.jpg",
                            export / "images" / f"{label.stem}.jpg")
        if rustseg(["import", str(export), "--out", str(Path(tmp) / "imported")]) != 0:
            return 1
        same = 0
        for label in labels:
            shared = read_mask(args.folder / "masks" / f"{label.stem}.png") > 0
            imported = read_mask(Path(tmp) / "imported" / "masks" / f"{label.stem}.png") > 0
            identical, other = np.array_equal(imported, shared), pycocotools_fill(label, shared.shape)
            same += identical
            ious = [mask_scores(m, shared)["iou"] for m in (imported, other)]
            print(f"{label.stem}: imported mask {'identical to' if identical else 'DIFFERS from'} the "
                  f"shared one ({imported.sum()} and {shared.sum()} pixels, IoU {ious[0]:.3f}); "
                  f"pycocotools' fill: {other.sum()} pixels, IoU {ious[1]:.3f}")
    print(f"{same} of {len(labels)} masks imported identical to the shared ones")
    return 0 if same == len(labels) else 1


if __name__ == "__main__":
    sys.exit(main())
