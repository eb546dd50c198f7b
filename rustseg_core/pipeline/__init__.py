"""Inference: one photo in, a ``Result`` out (decode → classify → localise → refine → render).

- ``imageio``  untrusted bytes → upright RGB, with clear errors for bad input
- ``model``    the classifier: architecture, preprocessing, self-describing save/load
- ``cam``      class activation maps (Grad-CAM++ in closed form, Grad-CAM)
- ``resize``   heatmap, mask and image resizing between the pipeline's resolutions
- ``refine``   evidence → mask: the paper's threshold, dense CRF, advanced mode
- ``colour``   rust-colour evidence and the colour-rule baseline
- ``overlay``  pictures for people: mask overlay and heatmap colours
- ``segmenter`` the whole pipeline behind one object, with a public API per stage

Nothing here reads the environment or knows about the web app, the store or the CLI.
Importing a module that needs TensorFlow imports it through ``rustseg_core.tf_runtime``.
"""
