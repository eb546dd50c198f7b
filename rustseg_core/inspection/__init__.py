"""Inspection outputs: what an inspector reports, computed from a segmentation result.

This package owns the rust grades (ASTM D610 / SSPC-VIS 2, ISO 4628-3), the D610
distribution type, the severity classes and their caveats (``grades``), the region of
interest a grade is measured in (``roi``), a photo's capture time and GPS position from
EXIF (``exif``), the per-photo assessment that joins them to a ``Result`` (``assess``), and
survey reports over many photos (``survey`` for the data, ``report`` for the HTML, PDF,
CSV and GeoJSON files). It takes arrays and results and knows nothing of Flask.
"""
