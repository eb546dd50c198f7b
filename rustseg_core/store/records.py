"""What every store backend hands out: records, corrections and reports, plus the small
rules they share (id shape, file names, the output set a keep must have)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Mapping

from ..pipeline.imageio import ALLOWED_FORMATS, FORMAT_EXTENSIONS
from ..vocabulary import CORRECTION_SOURCES, CORROSION, NO_RUST, NOT_CORROSION, OUTPUT_FILES
from .mask_file import mask_png, read_mask_png

SUMMARY_FILE = "summary.json"
EXPORT_CSV = "labels.csv"
CORRECTIONS_DIR = "corrections"

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")  # secrets.token_urlsafe(16)


def is_valid_id(record_id: str) -> bool:
    """True for strings shaped like the ids a store makes (guards file paths and queries)."""
    return isinstance(record_id, str) and bool(_ID_RE.match(record_id))


class RecordExists(Exception):
    """``save`` was given a record id that is already taken (a retried upload, see
    ``keyed_id``): nothing was written."""


def keyed_id(secret: str | bytes, key: str) -> str:
    """The record id of an upload sent with idempotency key ``key``: the same key always
    names the same record, so an upload retried or resent after a reload is kept once. A
    keyed hash (not the key itself), so a client cannot choose another record's id."""
    secret = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(secret, ("idempotency:" + key).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def now() -> str:
    """The time stamp every row carries: UTC, ISO 8601, whole seconds (sorts as text)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def correction_file(version: int) -> str:
    """``v0001.png``: the file name of a correction version (sorts by version)."""
    return f"v{version:04d}.png"


def extension_for_format(fmt: str | None) -> str:
    """File extension (``.jpg``, ``.png``, ...) an original of this decoded format is kept
    under; the format comes from the pipeline's decode, so the bytes are not parsed again."""
    if fmt not in ALLOWED_FORMATS or fmt not in FORMAT_EXTENSIONS:
        raise ValueError(f"{fmt} originals are not accepted")
    return FORMAT_EXTENSIONS[fmt]


def check_outputs(outputs: Mapping[str, bytes]) -> None:
    """Refuse a keep whose rendered outputs are not exactly ``OUTPUT_FILES``."""
    missing = set(OUTPUT_FILES) - set(outputs)
    extra = set(outputs) - set(OUTPUT_FILES)
    if missing or extra:
        raise ValueError(f"outputs must be exactly {OUTPUT_FILES} (missing {sorted(missing)}, "
                         f"unexpected {sorted(extra)})")


def record_columns(summary: Mapping) -> dict:
    """The index columns a result summary fills (every backend stores the same): the
    summary's headline fields and the whole summary as sorted JSON."""
    return {"mode": str(summary["mode"]), "model_version": str(summary["model_version"]),
            "probability": float(summary["probability"]), "decision": str(summary["decision"]),
            "area_fraction": float(summary["area_fraction"]),
            "summary_json": json.dumps(summary, sort_keys=True)}


def record_from_row(row: Mapping) -> "Record":
    """A :class:`Record` from a ``records`` row (column name → value)."""
    d = dict(row)
    d["summary"] = json.loads(d.pop("summary_json"))
    return Record(**d)


def prepare_correction(get: Callable[[str], "Record | None"], record_id: str, data: bytes,
                       source: str) -> tuple["Record", bytes, float]:
    """Check a correction before a backend stores it: (the record, the mask re-encoded 8-bit
    0/255, its area fraction). ``ValueError`` for an unknown source, ``KeyError`` for an
    unknown id, :class:`~.mask_file.MaskInputError` for bytes that are not a mask of the photo."""
    if source not in CORRECTION_SOURCES:
        raise ValueError(f"source must be one of {CORRECTION_SOURCES}, not {source!r}")
    record = get(record_id)
    if record is None:
        raise KeyError(record_id)
    mask = read_mask_png(data, record.photo_size())
    return record, mask_png(mask), float(mask.mean())


@dataclass(frozen=True)
class Record:
    """One kept photo as the index describes it."""

    id: str
    created_at: str
    original_file: str
    original_bytes: int
    mode: str
    model_version: str
    probability: float
    decision: str
    area_fraction: float
    summary: dict
    verdict: str | None
    verdict_at: str | None

    @property
    def is_corrosion(self) -> bool:
        return self.decision == CORROSION

    def label(self) -> tuple[str, str]:
        """(training label, source): the person's verdict when given, else the model's decision.

        "wrong" means there is rust the result missed or misplaced, so it labels corrosion
        whatever the model said; "no_rust" labels not_corrosion.
        """
        if self.verdict == "correct":
            return (CORROSION if self.is_corrosion else NOT_CORROSION), "user"
        if self.verdict == "wrong":
            return CORROSION, "user"
        if self.verdict == NO_RUST:
            return NOT_CORROSION, "user"
        return (CORROSION if self.is_corrosion else NOT_CORROSION), "model"

    def file_name(self, name: str) -> str:
        """The stored name of one of this record's files: ``"original"`` or a name from
        ``OUTPUT_FILES``; ``KeyError`` for anything else."""
        if name == "original":
            return self.original_file
        if name not in OUTPUT_FILES:
            raise KeyError(name)
        return name

    def photo_size(self) -> tuple[int, int]:
        """(width, height) of the photo as analysed upright: the size of every mask of it."""
        return int(self.summary["width"]), int(self.summary["height"])


@dataclass(frozen=True)
class Correction:
    """One version of a record's corrected mask (file ``corrections/<mask_file>``)."""

    record_id: str
    version: int  # 1, 2, ...: the highest is the current mask
    created_at: str
    mask_file: str
    mask_bytes: int
    source: str  # one of CORRECTION_SOURCES: drawn, or no_rust (an empty mask)
    area_fraction: float


@dataclass(frozen=True)
class StoreCheck:
    """What a store's ``check()`` found. ``ok``: every record (row) has all its files, whole.

    Orphans and staging folders are what a crash between steps of a folder store's save
    leaves: no row points at them, so no page shows them, and ``sweep()`` removes them.
    """

    rows: int
    incomplete: tuple[str, ...]  # ids with a row or an items/ folder but a missing or bad file
    orphans: tuple[str, ...]  # complete items/ folders (or file blobs) without a row
    staging: tuple[str, ...]  # folders left in staging/
    # correction files without a row (``<id>/corrections/v0002.png``): a save cut short
    stray_corrections: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.incomplete


@dataclass(frozen=True)
class ExportSummary:
    """What a store's ``export()`` wrote."""

    counts: dict[str, int]
    from_user: int
    from_model: int
    missing: int
    csv_path: Path
    mask_pairs: int = 0  # images/ + masks/ pairs written from corrected masks
    manifest_path: Path | None = None
