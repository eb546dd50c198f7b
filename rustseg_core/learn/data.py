"""Labelled image folders → cached arrays for training and evaluation."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from ..pipeline.imageio import IMAGE_EXTENSIONS, ImageInputError, load_image
from ..vocabulary import CLASS_LABELS
from .source_photos import held_out

log = logging.getLogger(__name__)


@dataclass
class LabelledSet:
    """Image paths with 0/1 labels (1 = corrosion)."""

    paths: list[Path]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)

    def counts(self) -> dict[str, int]:
        return {c: int((self.labels == i).sum()) for i, c in enumerate(CLASS_LABELS)}


def photos_under(folder: str | Path) -> list[Path]:
    """The image files under ``folder``, subfolders included, sorted."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def list_labelled(folder: str | Path) -> LabelledSet:
    """All images under ``folder/corrosion`` and ``folder/not_corrosion`` (recursive)."""
    folder = Path(folder)
    paths, labels = [], []
    for idx, cls in enumerate(CLASS_LABELS):
        sub = folder / cls
        if not sub.is_dir():
            held = sorted(f"{d.name}/" for d in folder.iterdir() if d.is_dir()) if folder.is_dir() else []
            raise FileNotFoundError(f"{folder} has no {cls}/ folder"
                                    + (f" (it holds {', '.join(held[:6])})" if held else ""))
        for p in photos_under(sub):
            paths.append(p)
            labels.append(idx)
    if not paths:
        raise FileNotFoundError(f"no images under {folder}/{{{','.join(CLASS_LABELS)}}}")
    return LabelledSet(paths, np.asarray(labels, dtype=np.int32))


def find_splits(data_dir: str | Path) -> tuple[LabelledSet, LabelledSet | None]:
    """``DATA_DIR/{train,val}/<class>`` if present, else ``DATA_DIR/<class>`` and no val."""
    data_dir = Path(data_dir)
    if (data_dir / "train").is_dir():
        val = list_labelled(data_dir / "val") if (data_dir / "val").is_dir() else None
        return list_labelled(data_dir / "train"), val
    return list_labelled(data_dir), None


def stratified_split(ds: LabelledSet, fraction: float, seed: int) -> tuple[LabelledSet, LabelledSet]:
    """Hold out ``fraction`` of each class (the paper's 15 % validation), whole source photos
    at a time."""
    rng = np.random.default_rng(seed)
    val_idx = []
    for c in (0, 1):
        idx = np.flatnonzero(ds.labels == c)
        val_idx.extend(idx[held_out([ds.paths[i] for i in idx], fraction, rng)])
    mask = np.zeros(len(ds), bool)
    mask[val_idx] = True

    def pick(m: np.ndarray) -> LabelledSet:
        return LabelledSet([p for p, k in zip(ds.paths, m) if k], ds.labels[m])

    return pick(~mask), pick(mask)


def decode_resized(path: Path, size: int) -> np.ndarray:
    """Decode a photo and squash it to ``size``x``size`` (as the classifier sees it)."""
    img = load_image(path, max_side=max(size * 2, 256))
    return np.asarray(Image.fromarray(img).resize((size, size), Image.BILINEAR, reducing_gap=2.0))


def cache_key(paths: Iterable[Path], size: int, tag: str = "") -> str:
    """The name of a decoded-array cache: a hash of each file's path, byte size and
    modification time, the side and ``tag`` (what reads the files). A file replaced under the
    same name (a mask corrected and exported again) re-decodes, not only a changed list."""
    h = hashlib.sha1()
    for p in paths:
        st = Path(p).stat()
        h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    h.update(f"{size}|{tag}".encode())
    return h.hexdigest()[:16]


def cached_arrays(ds: LabelledSet, size: int, cache_dir: str | Path | None) -> tuple[np.ndarray, np.ndarray]:
    """Decode every image once to uint8 (N, size, size, 3); unreadable ones are skipped.

    The cache file is named by :func:`cache_key`, so a changed folder re-decodes.
    """
    key = cache_key(ds.paths, size)
    cache = Path(cache_dir) / f"images-{size}-{key}.npz" if cache_dir else None
    if cache and cache.is_file():
        with np.load(cache) as z:
            return z["x"], z["y"]
    xs, ys = [], []
    for p, y in zip(ds.paths, ds.labels):
        try:
            xs.append(decode_resized(p, size))
            ys.append(y)
        except ImageInputError as e:
            log.warning("skipping %s: %s", p, e)
    x, y = np.stack(xs), np.asarray(ys, np.int32)
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, x=x, y=y)
        tmp.replace(cache)
    return x, y
