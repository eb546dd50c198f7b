"""What every store backend does the same way, on top of its own primitives
(``latest_correction``, ``read_correction``, ``read_file``, ``records``,
``latest_corrections``): one definition, inherited by both backends."""
from __future__ import annotations

from pathlib import Path

from .export import export_store
from .records import Correction, ExportSummary, Record


class StoreCommon:
    """Reads and exports written once for ``Store`` and ``DatabaseStore``."""

    def current_mask(self, record: Record) -> tuple[Correction | None, bytes]:
        """(latest correction or ``None``, its PNG, else the model's ``mask.png``)."""
        latest = self.latest_correction(record.id)
        return latest, (self.read_correction(latest) if latest else self.read_file(record, "mask.png"))

    def export(self, dest: str | Path, verified_only: bool = False) -> ExportSummary:
        """Write the kept photos as training data (see :func:`.export.export_store`)."""
        return export_store(self, dest, verified_only)
