"""Learning and measurement: data sets, training, metrics, evaluation runs and tuning.

- ``data``      labelled image folders → cached arrays
- ``train``     the classifier from image-level labels (``rustseg train``)
- ``metrics``   pure functions: classification, mask and summary metrics
- ``evaluate``  experiment runners that call the pipeline's stage API on data sets
- ``tuning``    grid search of refinement settings on evaluation masks

Every runner calls ``Segmenter``'s public stages; none rebuilds the pipeline.
"""
