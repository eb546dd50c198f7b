"""RustSEG core: classify → localise (Grad-CAM++) → refine (threshold + dense CRF).

This package is the science and knows nothing of the web layer.
"""
__version__ = "0.1.0"
