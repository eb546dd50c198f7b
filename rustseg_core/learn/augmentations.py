"""The ranges of the segmentation network's training augmentation, by name
(``rustseg train --masks --augmentation NAME``). Plain data, no TensorFlow, so that the
command line can describe them without loading it; ``train_masks`` applies them."""
from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the training augmentation: geometry moves photo and mask together,
    appearance changes the photo alone. Probabilities are per sample. Flips are always on."""

    zoom: tuple[float, float] = (0.7, 1.6)  # close-up and wide
    rotation: float = 0.2  # ± radians
    shift: float = 0.15  # ± share of the side
    perspective: float = 0.4
    exposure: tuple[float, float] = (0.7, 1.4)  # gamma
    white_balance: float = 0.1  # ± per channel gain
    contrast: tuple[float, float] = (0.75, 1.3)
    saturation: tuple[float, float] = (0.75, 1.3)
    brightness: float = 0.1
    blur: float = 0.25  # out of focus / motion
    noise: float = 0.25  # sensor noise
    jpeg: float = 0.3  # messenger-app recompression, quality 30–90


AUGMENTATIONS = {
    # Phone photos: what the shipped model was trained with.
    "phone": Augmentation(),
    # The lighter recipe of issue 19's calibration run: zoom, shifts, flips, brightness,
    # contrast and saturation; no rotation, perspective, exposure, blur, noise or JPEG.
    "light": Augmentation(zoom=(0.8, 1.4), rotation=0.0, perspective=0.0, exposure=(1.0, 1.0),
                          white_balance=0.0, contrast=(0.8, 1.25), saturation=(0.8, 1.25),
                          blur=0.0, noise=0.0, jpeg=0.0),
}


def describe(a: Augmentation) -> str:
    """The ranges that change anything, in words (a range of 1–1, or 0, is left out)."""
    parts = ["flips"]
    for f in fields(a):
        v = getattr(a, f.name)
        name = f.name.replace("_", " ")
        if isinstance(v, tuple):
            if v[0] != v[1]:
                parts.append(f"{name} {v[0]:g}-{v[1]:g}")
        elif v:
            prefix = "p=" if f.name in ("blur", "noise", "jpeg") else "±"
            parts.append(f"{name} {prefix}{v:g}{' rad' if f.name == 'rotation' else ''}")
    return ", ".join(parts)
