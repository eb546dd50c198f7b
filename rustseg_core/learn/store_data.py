"""Which store records a model learned from: mask folders written by ``rustseg dataset
export`` carry a manifest (``masks.csv``) naming the record behind every pair.

``rustseg train --masks`` records the count in the model card (``rustseg.json`` info) and
writes a training manifest listing every mask photo it used, with its split and record id.
"""
from __future__ import annotations

import csv
from pathlib import Path

from ..vocabulary import MASK_MANIFEST, TRAINING_MANIFEST


def store_records_of(mask_dirs: list[str | Path]) -> dict[str, str]:
    """Photo path (as the mask loader names it) → store record id, for every pair listed in
    the export manifest of any of ``mask_dirs`` (folders without one contribute nothing)."""
    found: dict[str, str] = {}
    for d in mask_dirs:
        manifest = Path(d) / MASK_MANIFEST
        if not manifest.is_file():
            continue
        with open(manifest, newline="") as f:
            for row in csv.DictReader(f):
                found[str(Path(d) / row["image"])] = row["id"]
    return found


def store_provenance(mask_dirs: list[str | Path], train_names: list[str], val_names: list[str]) -> dict:
    """The model card's ``store_records``: how many store records the mask photos came from,
    in training and in validation."""
    ids = store_records_of(mask_dirs)
    return {"store_records": sum(n in ids for n in train_names + val_names),
            "store_records_train": sum(n in ids for n in train_names),
            "store_records_val": sum(n in ids for n in val_names)}


def write_training_manifest(out_dir: str | Path, mask_dirs: list[str | Path], train_names: list[str],
                            val_names: list[str]) -> Path:
    """``OUT/training_manifest.csv``: every mask photo with its split and, for photos that
    came from the store, the record id."""
    ids = store_records_of(mask_dirs)
    path = Path(out_dir) / TRAINING_MANIFEST
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["photo", "split", "store_record"])
        for split_name, names in (("train", train_names), ("val", val_names)):
            for n in names:
                w.writerow([n, split_name, ids.get(n, "")])
    return path
