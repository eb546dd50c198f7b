"""Example pictures for the model card: photo | mask overlay | the map the mask came from.

    python3 scripts/model_card_examples.py --model models/default --out runs/model-card \
        PHOTO [PHOTO ...]

One JPEG per photo (long side of each panel 360 px), named after the photo, plus a line per
photo on stdout (probability, decision, marked area). Use it on validation or unlabelled
photos only: pictures of a test split would invite tuning on it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rustseg_core.pipeline.overlay import heatmap_over  # noqa: E402
from rustseg_core.pipeline.segmenter import Segmenter  # noqa: E402


def panel(arr: np.ndarray, side: int) -> Image.Image:
    img = Image.fromarray(arr)
    img.thumbnail((side, side), Image.BILINEAR)
    return img


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("photos", nargs="+", type=Path)
    p.add_argument("--model", default="models/default")
    p.add_argument("--mode", help="mask mode (default: the model's)")
    p.add_argument("--out", type=Path, default=Path("runs/model-card"))
    p.add_argument("--side", type=int, default=360)
    args = p.parse_args(argv)
    seg = Segmenter.load(args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in args.photos:
        r = seg.segment(path, mode=args.mode)
        panels = [panel(a, args.side) for a in (r.image, r.overlay, heatmap_over(r.image, r.heatmap))]
        w = sum(x.width for x in panels) + 8 * (len(panels) - 1)
        sheet = Image.new("RGB", (w, max(x.height for x in panels)), "white")
        x = 0
        for pan in panels:
            sheet.paste(pan, (x, 0))
            x += pan.width + 8
        name = args.out / f"{r.mode}-{path.stem}.jpg"
        sheet.save(name, quality=82)
        print(f"{name}: probability {r.probability:.3f} ({r.decision}), marked {100 * r.area_fraction:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
