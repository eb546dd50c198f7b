"""RustSEG core: classify → localise (Grad-CAM++) → refine (threshold + dense CRF).

The science, in four subpackages that know nothing of the web layer:

- ``pipeline``  inference on one photo (``Segmenter``)
- ``learn``     training, metrics, evaluation runs and tuning
- ``store``     the opt-in store of kept photos
- ``cli``       the ``rustseg`` command

and three modules they share: ``vocabulary`` (labels, decisions, modes, stages, output
files, verdicts), ``config`` (the science's settings, as dataclasses) and ``tf_runtime``
(TensorFlow's threads and logging). Only the CLI and the app read ``RUSTSEG_*`` variables;
the core takes paths and settings as arguments.
"""
from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("rustseg")
except _metadata.PackageNotFoundError:  # a checkout that was never installed
    __version__ = "0.1.0"
