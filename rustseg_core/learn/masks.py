"""Data for the segmentation network: photos with per-pixel masks, and image-level folders.

Every sample is (photo, mask, has_mask, label): mask folders give real masks (label 1: every
photo there shows rust); ``not_corrosion`` photos are all-background masks (label 0), which
is where red paint, red doors, bricks and autumn leaves are learned as "not rust";
``corrosion`` photos have no mask (``has_mask`` 0) and teach through their label alone.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..pipeline.imageio import IMAGE_EXTENSIONS, ImageInputError
from .data import LabelledSet, cache_key, decode_resized, list_labelled
from .label_audit import LabelAudit, audited_labels
from .source_photos import held_out

log = logging.getLogger(__name__)


class MaskFolderError(ValueError):
    """A folder that is not laid out as ``images/`` + ``masks/`` pairs, or holds no pair."""


@dataclass
class MaskSet:
    """Decoded samples, squashed to ``size``×``size`` (as the network sees a photo)."""

    images: np.ndarray  # (N, S, S, 3) uint8
    masks: np.ndarray  # (N, S, S) uint8, 0/1
    has_mask: np.ndarray  # (N,) float32: 1 where ``masks`` is a real label
    labels: np.ndarray  # (N,) float32: 1 corrosion, 0 not
    names: list[str]

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, idx: np.ndarray) -> "MaskSet":
        return MaskSet(self.images[idx], self.masks[idx], self.has_mask[idx], self.labels[idx],
                       [self.names[i] for i in idx])

    @staticmethod
    def concat(sets: list["MaskSet"]) -> "MaskSet":
        sets = [s for s in sets if len(s)]
        return MaskSet(np.concatenate([s.images for s in sets]), np.concatenate([s.masks for s in sets]),
                       np.concatenate([s.has_mask for s in sets]), np.concatenate([s.labels for s in sets]),
                       [n for s in sets for n in s.names])


def pair_photos(folder: str | Path) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """(the (photo, mask) paths for ``images/NAME.*`` with ``masks/NAME.png``, the photos of
    ``images/`` that have no such mask): the layout of ``pixel/``, ``segmentation/`` and of
    ``rustseg dataset export``."""
    folder = Path(folder)
    if not (folder / "images").is_dir() or not (folder / "masks").is_dir():
        raise MaskFolderError(f"{folder} needs images/ and masks/ folders")
    pairs, unmatched = [], []
    for img in sorted((folder / "images").iterdir()):
        if img.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        mask = folder / "masks" / (img.stem + ".png")
        if mask.is_file():
            pairs.append((img, mask))
        else:
            unmatched.append(img)
    return pairs, unmatched


def mask_pairs_in(folder: str | Path) -> list[tuple[Path, Path]]:
    """The (photo, mask) pairs of :func:`pair_photos`; photos without a mask are left out,
    and a warning names them (a mask saved under another name is easy to miss)."""
    pairs, unmatched = pair_photos(folder)
    warn_unmatched(folder, [p.name for p in unmatched])
    return pairs


def warn_unmatched(folder: str | Path, names: list[str]) -> None:
    """One warning naming the photos of ``folder/images`` that have no mask (none: nothing),
    and ``rustseg import`` when some of them have a mask named otherwise."""
    if not names:
        return
    folder = Path(folder)
    photos = [p.stem for p in (folder / "images").iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS]
    elsewhere = masks_by_name(folder / "masks", photos) if (folder / "masks").is_dir() else {}
    renamed = sum(len(elsewhere.get(Path(n).stem, [])) == 1 for n in names)
    log.warning("%d photo(s) of %s/images have no mask (masks/NAME.png) and are left out: %s%s",
                len(names), folder, ", ".join(names[:5]) + (", ..." if len(names) > 5 else ""),
                f"; {renamed} of them have a mask named otherwise (NAME_mask.png, NAME.jpg): "
                f"rustseg import {folder} --out NEW renames them" if renamed else "")


MASK_SUFFIX = re.compile(r"(.+)[_.\-][A-Za-z]+")  # NAME_mask, NAME-gt, NAME_label, NAME.seg


def masks_by_name(masks: str | Path, stems: list[str]) -> dict[str, list[Path]]:
    """{photo stem: the masks named after it} for the photos ``stems``, however public sets
    name their masks: ``NAME.*`` (a PNG first), else ``NAME`` and a suffix of letters
    (``NAME_mask.png``, ``NAME-gt.png``, ``NAME_label.jpg``). Several masks of one photo (one
    a class: ``NAME_rust.png``, ``NAME_paint.png``) are all listed, for the caller to refuse:
    which of them is corrosion is the user's call."""
    stems_set = set(stems)
    found: dict[str, dict[str, Path]] = {}  # photo stem: {mask stem: mask}
    files = [m for m in Path(masks).iterdir() if m.is_file() and m.suffix.lower() in IMAGE_EXTENSIONS]
    for mask in sorted(files, key=lambda m: (m.suffix.lower() != ".png", m.name)):
        suffixed = MASK_SUFFIX.fullmatch(mask.stem)
        # a mask named exactly as a photo is that photo's, never another's with a suffix
        owner = mask.stem if mask.stem in stems_set else (suffixed.group(1) if suffixed else None)
        if owner in stems_set:
            found.setdefault(owner, {}).setdefault(mask.stem, mask)
    return {stem: [named[stem]] if stem in named else list(named.values()) for stem, named in found.items()}


def validation_mask_photos(info: dict, folder: str | Path, sample: int = 150,
                           seed: int = 0) -> tuple[set[str], str]:
    """The names of the mask photos of ``folder`` a model's paper-mode settings may be chosen
    on, and how they were picked: a U-Net's own held-out photos (``val_mask_photos``); for
    a model that learned from no masks, a seeded sample of ``sample`` of them (the CRF grid
    costs seconds a photo). ValueError for a model trained on masks that does not list its
    held-out photos: any of them may be one it learned."""
    names = sorted(p.name for p, _ in mask_pairs_in(folder))
    listed = info.get("val_mask_photos")
    trained = info.get("trained_on") if isinstance(info.get("trained_on"), dict) else {}
    # A model validated on a folder of its own (train --val-masks) learned from every photo
    # of its --masks folders: names there that match its held-out list are other photos.
    val_dirs = trained.get("validation_masks") or []
    where = f" (they are in {', '.join(val_dirs)})" if val_dirs else ""
    if val_dirs and any(Path(folder).resolve() == Path(d).resolve() for d in trained.get("masks") or []):
        raise ValueError(f"the model learned from every photo of {folder}; its held-out photos "
                         f"are in {', '.join(val_dirs)}")
    if listed:
        held_out = set(listed) & set(names)
        if not held_out:
            raise ValueError(f"none of the model's {len(listed)} held-out photos is in {folder}{where}")
        return held_out, f"the model's {len(held_out)} held-out photos of {folder}"
    if trained.get("masks"):
        raise ValueError("this model was trained on masks and does not list its held-out photos")
    if len(names) > sample:
        names = sorted(str(n) for n in np.random.default_rng(seed).choice(names, sample, replace=False))
    return set(names), (f"{len(names)} photos of {folder} (a sample, seed {seed}; the model "
                        "learned from no masks)")


def shared_held_out(infos: list[dict]) -> list[str]:
    """The held-out mask photos (``val_mask_photos``) that several U-Nets all list, sorted:
    the only photos they may be compared on. ValueError when one lists none, or
    two list different photos: each would then be scored on photos another trained on."""
    lists = [sorted(info.get("val_mask_photos") or []) for info in infos]
    if not all(lists):
        raise ValueError("every model must be a U-Net folder that lists its held-out mask "
                         "photos (val_mask_photos)")
    if any(held_out != lists[0] for held_out in lists):
        raise ValueError("the models held out different mask photos: each would be scored on "
                         "photos another trained on")
    return lists[0]


def read_mask(path: str | Path) -> np.ndarray:
    """A mask PNG of the pair layout as 8-bit grey: 255 = corrosion, 0 = not.

    A pixel is corrosion where it is neither black nor transparent, whatever the encoding:
    0/255 grey (``pixel/``, ``segmentation/``, what RustSEG writes), class indices 0/1 (many
    labelling tools' export), 1-bit, 16-bit, a palette, or a colour on black: the non-zero
    rule of a corrected mask (``store/mask_file.py``, which also refuses colour from people),
    so a folder of 0/1 masks is not read as empty. Raises ``OSError`` for a file that cannot
    be read as an image.
    """
    try:
        with Image.open(path) as img:
            if img.mode == "P":  # the palette's colours, not its indices: index 0 need not be black
                img = img.convert("RGBA")
            arr = np.asarray(img)
    except (SyntaxError, ValueError) as e:  # what Pillow raises for some damaged PNG chunks
        raise OSError(f"{path}: {e}") from e
    if arr.ndim == 3:
        colour, alpha = (arr[..., :-1], arr[..., -1]) if arr.shape[2] in (2, 4) else (arr, None)
        arr = colour.any(axis=-1) if alpha is None else colour.any(axis=-1) & (alpha != 0)
    return np.where(arr != 0, 255, 0).astype(np.uint8)


def _squash(mask: np.ndarray, size: int) -> np.ndarray:
    """A uint8 mask resized to ``size``×``size`` as its photo is (see ``decode_resized``)."""
    return np.asarray(Image.fromarray(mask).resize((size, size), Image.BILINEAR, reducing_gap=2.0))


# Cache files made by an earlier read_mask (which read 0/1 masks as empty) are not reused.
MASK_READER = "nonzero-v2"


def _cached(files: list[Path], size: int, cache_dir: str | Path | None, build) -> MaskSet:
    key = cache_key(files, size, MASK_READER)
    cache = Path(cache_dir) / f"masks-{size}-{key}.npz" if cache_dir else None
    if cache and cache.is_file():
        with np.load(cache) as z:
            return MaskSet(z["images"], z["masks"], z["has_mask"], z["labels"], list(z["names"]))
    ms = build()
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, images=ms.images, masks=ms.masks, has_mask=ms.has_mask, labels=ms.labels,
                 names=np.asarray(ms.names))
        tmp.replace(cache)
    return ms


def load_mask_folder(folder: str | Path, size: int, cache_dir: str | Path | None = None) -> MaskSet:
    """Every (photo, mask) pair of a mask folder, label 1."""
    pairs = mask_pairs_in(folder)

    def build() -> MaskSet:
        imgs, masks, names = [], [], []
        for img_path, mask_path in pairs:
            try:
                m = read_mask(mask_path)
                imgs.append(decode_resized(img_path, size))
            except (ImageInputError, OSError) as e:
                log.warning("skipping %s: %s", img_path, e)
                continue
            masks.append((_squash(m, size) >= 128).astype(np.uint8))
            names.append(str(img_path))
        n = len(names)
        return MaskSet(np.stack(imgs), np.stack(masks), np.ones(n, np.float32), np.ones(n, np.float32), names)

    return _cached([p for pair in pairs for p in pair], size, cache_dir, build)


def load_labelled_folder(folder: str | Path, size: int, cache_dir: str | Path | None = None) -> MaskSet:
    """``corrosion/`` (label 1, no mask) and ``not_corrosion/`` (label 0, empty mask)."""
    ds = list_labelled(folder)

    def build() -> MaskSet:
        imgs, labels, names = [], [], []
        for p, y in zip(ds.paths, ds.labels):
            try:
                imgs.append(decode_resized(p, size))
            except ImageInputError as e:
                log.warning("skipping %s: %s", p, e)
                continue
            labels.append(float(y))
            names.append(str(p))
        labels_ = np.asarray(labels, np.float32)
        n = len(names)
        return MaskSet(np.stack(imgs), np.zeros((n, size, size), np.uint8),
                       (labels_ == 0).astype(np.float32), labels_, names)

    return _cached(ds.paths, size, cache_dir, build)


def apply_label_audit(ms: MaskSet, folder: str | Path, audit: LabelAudit) -> tuple[MaskSet, int]:
    """An image-level set (:func:`load_labelled_folder`) with a label audit's corrections:
    a photo audited clean becomes an all-background mask, one audited rust is known by its
    label alone. Returns (the set, how many labels changed)."""
    ds = LabelledSet([Path(n) for n in ms.names], ms.labels.astype(np.int32))
    labels, changed = audited_labels(folder, ds, audit)
    labels = labels.astype(np.float32)
    return MaskSet(ms.images, ms.masks, (labels == 0).astype(np.float32), labels, ms.names), changed


def split(ms: MaskSet, fraction: float, seed: int) -> tuple[MaskSet, MaskSet]:
    """Hold out ``fraction`` of a set at random, whole source photos at a time (validation
    for mask folders without one)."""
    val = held_out(ms.names, fraction, np.random.default_rng(seed))
    return ms.subset(np.setdiff1d(np.arange(len(ms)), val)), ms.subset(val)


def blank_photos(n: int, size: int, seed: int) -> MaskSet:
    """``n`` generated photos with no texture at all, as clean samples (label 0, empty
    mask): flat colours (rust's reds and browns among them), smooth gradients and noise.
    Nothing in the photo sets shows such an image, so without them a network is free to
    call a flat red wall or sensor noise rust (the from-scratch U-Net did: 88 % and 86 %)."""
    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 3), np.uint8)
    yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    for i in range(n):
        kind = i % 4
        if kind == 0:  # flat colour; every other one in rust's hue range
            hue = rng.uniform(0.0, 0.11) if i % 8 == 0 else rng.uniform(0.0, 1.0)
            hsv = np.array([hue, rng.uniform(0.2, 1.0), rng.uniform(0.15, 1.0)])
            rgb = np.asarray(Image.fromarray((hsv * 255).astype(np.uint8)[None, None], "HSV").convert("RGB"))[0, 0]
            img = np.broadcast_to(rgb, (size, size, 3)).astype(np.float64)
        elif kind == 1:  # a smooth gradient between two colours
            a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
            angle = rng.uniform(0, 2 * np.pi)
            t = (np.cos(angle) * xx + np.sin(angle) * yy)
            t = (t - t.min()) / max(np.ptp(t), 1e-6)
            img = a + (b - a) * t[..., None]
        elif kind == 2:  # colour noise
            img = rng.uniform(0, 255, (size, size, 3))
        else:  # grey noise around a colour
            img = rng.uniform(0, 255, 3) + rng.normal(0, rng.uniform(5, 60), (size, size, 1))
        images[i] = np.clip(img, 0, 255).astype(np.uint8)
    names = [f"generated-blank-{i:04d}" for i in range(n)]
    return MaskSet(images, np.zeros((n, size, size), np.uint8), np.ones(n, np.float32),
                   np.zeros(n, np.float32), names)
