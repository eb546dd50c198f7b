"""The per-epoch log every training run writes beside its model (``training_log.csv``)."""
from __future__ import annotations

import csv
from pathlib import Path

TRAINING_LOG = "training_log.csv"


def read_training_log(out_dir: str | Path) -> list[dict[str, str]]:
    """One row per epoch of the run in ``out_dir``, as written (column name → text)."""
    with open(Path(out_dir) / TRAINING_LOG, newline="") as f:
        return list(csv.DictReader(f))
