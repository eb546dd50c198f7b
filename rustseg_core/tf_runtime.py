"""TensorFlow's process settings — threads, C++ logging, no GPU probing — in one place.

These settings only take effect before TensorFlow is imported, so every module of RustSEG
that needs TensorFlow gets it from :func:`tensorflow` rather than importing it first.
Importing this module itself does not import TensorFlow: gunicorn's master process uses
:func:`configure` before it forks the workers that will import it.
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading
from types import ModuleType

_lock = threading.Lock()


def configure(threads: int | None = None, interop_threads: int | None = None,
              quiet: bool = True, environ: dict | None = None) -> None:
    """Set TensorFlow's environment defaults (a value already in the environment wins).

    ``threads``: intra-op threads (and OpenMP's), e.g. a gunicorn worker's share of the
    cores; ``interop_threads``: parallel ops. ``quiet``: no C++ info/warning lines.
    """
    env = os.environ if environ is None else environ
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if quiet else "0")
    # CPU only: this is what ships; probing for CUDA costs seconds and prints errors.
    env.setdefault("CUDA_VISIBLE_DEVICES", "")
    if threads:
        for var in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS"):
            env.setdefault(var, str(threads))
    if interop_threads:
        env.setdefault("TF_NUM_INTEROP_THREADS", str(interop_threads))


def _quiet_import() -> None:
    """Import TensorFlow and Keras with file descriptor 2 sent to a temporary file.

    TensorFlow's C++ libraries log through abseil before ``TF_CPP_MIN_LOG_LEVEL`` is read
    ("oneDNN custom operations are on", "All log messages before absl::InitializeLog()"),
    and only at the file-descriptor level can they be silenced. If the import fails, what
    was written is replayed so the reason is not lost.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def tensorflow() -> ModuleType:
    """The ``tensorflow`` module, imported with RustSEG's settings (see :func:`configure`)."""
    if "tensorflow" not in sys.modules:
        with _lock:
            if "tensorflow" not in sys.modules:
                configure()
                if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2") not in ("0", "1"):
                    _quiet_import()
    import tensorflow as tf

    return tf


def keras() -> ModuleType:
    """The ``keras`` module, after :func:`tensorflow` has set TensorFlow up."""
    tensorflow()
    import keras as k

    return k
