"""Where a saved model's files are, without importing TensorFlow (the CLI checks a model
folder before it pays for loading TensorFlow)."""
from __future__ import annotations

from pathlib import Path

MODEL_FILE = "model.keras"
META_FILE = "rustseg.json"


def is_model_dir(path: str | Path) -> bool:
    """Whether ``path`` holds both files of a saved model."""
    return all((Path(path) / f).is_file() for f in (MODEL_FILE, META_FILE))


def shipped_model_dir() -> Path:
    """The model that ships with RustSEG: ``models/default`` of a checkout, or its copy
    inside an installed package (``pip install .`` puts it in ``rustseg_core/models``)."""
    package = Path(__file__).resolve().parent.parent
    installed, checkout = package / "models" / "default", package.parent / "models" / "default"
    return installed if is_model_dir(installed) else checkout
