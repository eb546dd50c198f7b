"""Which photos are copies of one source photo, by their file names.

Augmented copies of a photo do not vary apart: they must fall on one side of a random
validation split (else validation scores the training photos again), and a bootstrap must
resample them together.
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable, Sequence, TypeVar

import numpy as np

# Roboflow names every exported photo ORIGINAL_ext.rf.<32 hex>.jpg; its augmented copies
# differ only in the hash.
_ROBOFLOW_COPY = re.compile(r"^(?P<source>.+)\.rf\.[0-9a-f]{32}$")
T = TypeVar("T")


def source_of(name: str) -> str:
    """The source photo of the photo file ``name``: Roboflow's copies of one photo
    (``IMG_7_jpg.rf.HASH.jpg``) share ``IMG_7_jpg``; any other photo is its own source."""
    found = _ROBOFLOW_COPY.match(Path(name).stem)
    return found["source"] if found else name


def before_first_dash(name: str) -> str:
    """The source rule of the 51 evaluation masks (``../shared/data/segmentation``, whose
    README defines it): each source photo's three augmented copies are ``SOURCE-HASH.jpg``."""
    return source_of(name).split("-")[0]


def source_rule(part: str) -> Callable[[str], str]:
    """How ``rustseg evaluate`` groups the photos of one of its parts by source photo."""
    return before_first_dash if part == "segmentation" else source_of


def names_by_source(names: Iterable[T], source: Callable[[T], str] = source_of) -> dict[str, list[T]]:
    """Photo names (or anything ``source`` names the source photo of) grouped by their source
    photo, in order of first appearance."""
    groups: dict[str, list[T]] = defaultdict(list)
    for name in names:
        groups[source(name)].append(name)
    return groups


def shared_sources(first: Iterable[str | Path], second: Iterable[str | Path]) -> list[str]:
    """The source photos, sorted, that have photos in both sets (names or paths)."""
    return sorted({source_of(Path(n).name) for n in first} & {source_of(Path(n).name) for n in second})


def held_out(names: Sequence[str | Path], fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of about ``fraction`` of ``names``, whole source photos at a time, drawn at
    random; sorted. With one photo per source, the same draw as shuffling the indices and
    taking the first ``round(len * fraction)``."""
    members = list(names_by_source(range(len(names)), lambda i: source_of(Path(names[i]).name)).values())
    order = np.arange(len(members))
    rng.shuffle(order)
    want, picked = int(round(len(names) * fraction)), []
    for g in order:
        if len(picked) >= want:
            break
        picked.extend(members[g])
    return np.sort(np.array(picked, int))
