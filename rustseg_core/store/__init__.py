"""The opt-in store: photos people chose to keep, with RustSEG's outputs and their verdicts.

``Store`` (``store.local``) is the embedded backend: a folder plus SQLite. A new backend
(a database server, an object store) goes in a module beside it with the same public
methods — ``save``, ``set_verdict``, ``save_correction``, ``corrections``,
``latest_correction``, ``current_mask_path``, ``get``, ``records``, ``file_path``, ``check``,
``sweep``, ``export`` — and the same guarantees: nothing written without consent, a record
visible only when complete, ids that cannot be guessed.
"""
from .local import (EXPORT_CSV, Correction, ExportSummary, Record, Store, StoreCheck,
                    extension_for_format, is_valid_id)
from .mask_file import MaskInputError

# Where the embedded store lives when nothing says otherwise (relative to the working
# directory); the CLI's --store and the app's STORE_DIR (RUSTSEG_STORE_DIR) override it.
DEFAULT_STORE_DIR = "var/store"

__all__ = ["DEFAULT_STORE_DIR", "EXPORT_CSV", "Correction", "ExportSummary", "MaskInputError",
           "Record", "Store", "StoreCheck", "extension_for_format", "is_valid_id"]
