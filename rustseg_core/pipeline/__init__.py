"""Inference: one photo in, a ``Result`` out (decode → classify → localise → refine → render).

- ``imageio``  untrusted bytes → upright RGB, with clear errors for bad input
- ``model``    the networks: the paper's classifier and the U-Nets
- ``bundle``   a saved model folder: its metadata, and the Keras model loaded on first use
- ``cam``      class activation maps (Grad-CAM++ in closed form, Grad-CAM)
- ``resize``   the model's input, and heatmap, mask and image resizing between resolutions
- ``refine``   evidence → mask: the paper's threshold, dense CRF, advanced mode
- ``colour``   rust-colour evidence and the colour-rule baseline
- ``overlay``  pictures for people: mask overlay and heatmap colours
- ``segmenter`` the whole pipeline behind one object, with a public API per stage

Nothing here reads the environment or knows about the web app, the store or the CLI.
Importing a module that needs TensorFlow imports it through ``rustseg_core.tf_runtime``.
"""
