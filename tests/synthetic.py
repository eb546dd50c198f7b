"""Synthetic photos for tests: rust-coloured patches on grey metal (no ../shared needed)."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image


def metal_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    base = rng.uniform(90, 170)
    img = base + rng.normal(0, 8, (h, w, 1)) + np.linspace(-15, 15, w)[None, :, None]
    return np.clip(np.repeat(img, 3, axis=2), 0, 255)


def rust_image(rng: np.random.Generator, size: int = 64, rust: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 image, boolean ground-truth mask); a rust blob when ``rust``."""
    img = metal_background(rng, size, size)
    mask = np.zeros((size, size), bool)
    if rust:
        for _ in range(rng.integers(1, 3)):
            cy, cx = rng.integers(size // 5, 4 * size // 5, 2)
            ry, rx = rng.integers(size // 10, size // 4, 2)
            y, x = np.ogrid[:size, :size]
            mask |= ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1
        colour = np.array([rng.uniform(140, 200), rng.uniform(55, 90), rng.uniform(15, 40)])
        img[mask] = colour + rng.normal(0, 10, (mask.sum(), 3))
    return np.clip(img, 0, 255).astype(np.uint8), mask


def encode(arr: np.ndarray, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt, **kw)
    return buf.getvalue()


def write_labelled_folder(root, n_per_class: int = 12, size: int = 64, seed: int = 0) -> None:
    """``root/corrosion`` and ``root/not_corrosion`` with JPEGs, for training tests."""
    rng = np.random.default_rng(seed)
    for label, rust in (("corrosion", True), ("not_corrosion", False)):
        d = root / label
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            img, _ = rust_image(rng, size, rust)
            Image.fromarray(img).save(d / f"{label}_{i:03d}.jpg", quality=92)


def format_of(data: bytes) -> str | None:
    """The Pillow format of encoded image bytes (what the pipeline's decode reports), or
    None for bytes that are no image."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.format
    except Exception:
        return None


def write_mask_folder(root, n: int = 8, size: int = 64, seed: int = 0) -> None:
    """``root/images`` + ``root/masks`` (the layout of ``pixel/``): rust photos and their masks."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img, mask = rust_image(rng, size, rust=True)
        Image.fromarray(img).save(root / "images" / f"m{i:03d}.jpg", quality=92)
        Image.fromarray(mask.astype(np.uint8) * 255).save(root / "masks" / f"m{i:03d}.png")
