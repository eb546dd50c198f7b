"""Label audits: corrections to the image labels of a labelled folder, made by looking.

The classification photos were scraped from the web, and their folder labels are noisy:
stock photos of new blue pipes and propellers sit in ``corrosion/``, rusted valves and
drain pipes in ``not_corrosion/``. Scored against such labels, a model that is right about
the photo is counted wrong, and a decision threshold chosen on them is pushed to call real
rust clean. An audit records, for photos someone has looked at, what each photo shows.

An audit is a CSV file with the columns ``file`` (the photo's path from the labelled
folder's parent, e.g. ``val/corrosion/x.jpg`` for ``classification/val``), ``label`` (the
folder it sits in) and ``audited`` (``corrosion`` or ``not_corrosion``: what it shows),
and optionally ``note``. The folders are never changed: the audit is applied where labels
are read, and every result says how many labels it changed.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..vocabulary import CLASS_LABELS
from .data import LabelledSet

COLUMNS = ("file", "label", "audited")


class LabelAuditError(ValueError):
    """An audit file that cannot be read, or that does not fit the folder it is applied to."""


@dataclass(frozen=True)
class LabelAudit:
    """``{file: (folder label, audited label)}``, ``file`` as in the CSV."""

    entries: dict[str, tuple[str, str]]
    source: str = ""

    def __len__(self) -> int:
        return len(self.entries)


def read_label_audit(path: str | Path) -> LabelAudit:
    """Read and check an audit CSV (see the module docstring)."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise LabelAuditError(f"cannot read the label audit {path}: {e}") from e
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise LabelAuditError(f"{path}: the label audit needs the columns {', '.join(COLUMNS)} "
                              f"(missing: {', '.join(missing)})")
    entries: dict[str, tuple[str, str]] = {}
    for line, row in enumerate(rows, start=2):
        file = Path(row["file"].strip()).as_posix()
        label, audited = row["label"].strip(), row["audited"].strip()
        for value in (label, audited):
            if value not in CLASS_LABELS:
                raise LabelAuditError(f"{path}, line {line}: {value!r} is not one of {', '.join(CLASS_LABELS)}")
        if label == audited:
            raise LabelAuditError(f"{path}, line {line}: {file} is audited as its own label ({label})")
        if file in entries:
            raise LabelAuditError(f"{path}, line {line}: {file} is listed twice")
        entries[file] = (label, audited)
    return LabelAudit(entries, str(path))


def audited_labels(folder: str | Path, ds: LabelledSet, audit: LabelAudit) -> tuple[np.ndarray, int]:
    """The labels of ``ds`` (read from ``folder``) with the audit's corrections applied, and
    how many were changed. Entries for other folders are left alone; an entry for this
    folder naming a photo that is not there, or one in another class folder than the
    audit says, raises :class:`LabelAuditError`: the audit no longer fits the data."""
    folder = Path(folder)
    index = {(Path(folder.name) / p.relative_to(folder)).as_posix(): i for i, p in enumerate(ds.paths)}
    labels = np.array(ds.labels, copy=True)
    changed = 0
    prefix = folder.name + "/"
    for file, (label, audited) in audit.entries.items():
        if not file.startswith(prefix):
            continue
        if file not in index:
            raise LabelAuditError(f"the label audit {audit.source} names {file}, which is not in {folder}")
        i = index[file]
        if CLASS_LABELS[ds.labels[i]] != label:
            raise LabelAuditError(f"the label audit {audit.source} says {file} sits in {label}/, "
                                  f"but it is in {CLASS_LABELS[ds.labels[i]]}/")
        labels[i] = CLASS_LABELS.index(audited)
        changed += 1
    return labels, changed
