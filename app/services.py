"""What the views need besides Flask: the segmenter (loaded once per worker) and the store."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app
from werkzeug.exceptions import ServiceUnavailable

from rustseg_core.pipeline.model_files import shipped_model_dir
from rustseg_core.store import STORE_ERRORS, Correction, Record, StoreBackend, keyed_id, open_store

if TYPE_CHECKING:  # importing the segmenter pulls in TensorFlow
    from rustseg_core.inspection.roi import Polygon
    from rustseg_core.pipeline.segmenter import Result, Segmenter

    from .present import Rendered

log = logging.getLogger(__name__)
EXTENSION_KEY = "rustseg"


@dataclass
class Services:
    """Per-process objects, created once in the application factory."""

    segmenter: "Segmenter | None"
    store: StoreBackend | None  # None: keeping photos is off
    model_error: str | None = None

    @property
    def model_version(self) -> str | None:
        return self.segmenter.bundle.version if self.segmenter is not None else None


def start_services(app: Flask) -> Services:
    """Load the model (unless one was injected) and open the store, once per worker.

    A model that fails to load does not stop the app: /healthz then answers 503 with the
    reason and analysis pages answer 503, which is easier to diagnose than a crash loop.
    """
    segmenter, error = app.config.get("SEGMENTER"), None
    if segmenter is None:
        model = app.config.get("MODEL") or shipped_model_dir()
        try:
            from rustseg_core.pipeline.segmenter import Segmenter

            segmenter = Segmenter.load(model, runtime=app.config["RUNTIME"])
            log.info("loaded model %s from %s", segmenter.bundle.version, model)
        except Exception as e:  # missing folder, bad file, TF error: all mean "no model"
            error = f"{type(e).__name__}: {e}"
            log.error("could not load the RustSEG model: %s", error)
    if hasattr(segmenter, "with_config"):
        # One pixel limit: the app's, checked by the segmenter's decode from the header,
        # before any pixel is decoded (an injected test segmenter gets it too).
        segmenter = segmenter.with_config(max_pixels=app.config["MAX_PIXELS"])
    # A database URL wins over the folder: every server pointed at it shares one store.
    location = app.config.get("DATABASE_URL") or app.config.get("STORE_DIR")
    kept = open_store(location) if location else None
    if kept is not None:
        _sweep(kept)
    services = Services(segmenter=segmenter, store=kept, model_error=error)
    app.extensions[EXTENSION_KEY] = services
    return services


def _sweep(kept: StoreBackend) -> None:
    """Remove what a killed worker left half-written (only leftovers older than an hour, so
    a save in progress in another worker is never touched). Never stops the app."""
    try:
        removed = kept.sweep()
    except STORE_ERRORS:
        log.exception("could not sweep the store")
        return
    if removed:
        log.warning("removed %d half-written store folder(s) left by a crash", removed)


def services() -> Services:
    return current_app.extensions[EXTENSION_KEY]


def segmenter() -> "Segmenter":
    """The loaded segmenter, or a 503 when the model is not available."""
    s = services()
    if s.segmenter is None:
        raise ServiceUnavailable("The RustSEG model is not loaded on this server.")
    return s.segmenter


def store() -> StoreBackend | None:
    return services().store


def analyse(original: bytes, mode: str, roi: "Polygon | None" = None) -> tuple["Result", dict]:
    """Segment an upload, decoding it once, and grade it inside ``roi``: the result (mask and
    overlay within the region) and its summary with grades, severity and the photo's EXIF
    time and place. The segmenter checks the header against ``MAX_PIXELS`` before decoding,
    so an oversized or unreadable photo is refused (``ImageInputError``) before it costs
    memory or the model's time."""
    from rustseg_core.inspection.assess import assess

    return assess(segmenter().segment(original, mode=mode), roi, current_app.config["INSPECTION"])


def keep_upload(original: bytes, rendered: "Rendered", record_id: str | None = None) -> Record | None:
    """Keep a consented upload with its outputs; ``None`` if the store failed (logged).

    A full disk must not cost the person their result, and the store cleans up after itself,
    so callers show the result either way and only say the photo was not kept. With
    ``record_id`` (an idempotency key's, see ``keyed_record``) the store may raise
    ``RecordExists``: that upload was kept already.
    """
    try:
        return store().save(original, rendered.summary, rendered.files,
                            image_format=rendered.image_format, record_id=record_id)
    except STORE_ERRORS:
        log.exception("could not keep a photo")
        return None


def keyed_record_id(key: str) -> str:
    """The record id an upload with this ``Idempotency-Key`` is kept under."""
    return keyed_id(current_app.config["SECRET_KEY"], key)


def current_outputs(record: Record) -> tuple[dict, dict[str, bytes]]:
    """A kept result as its current mask says: the summary (area, grades, distribution and
    ``mask_version``: 0 for the model's mask) and the stored files that the correction
    replaces (the mask and the overlay; none before any correction)."""
    from rustseg_core.inspection.current import MODEL_MASK, current_result
    from rustseg_core.store.mask_file import read_mask_png

    latest, png = store().current_mask(record)
    if latest is None:
        return {**record.summary, "mask_version": MODEL_MASK}, {}
    config = getattr(services().segmenter, "config", None)
    style = {k: getattr(config, f"overlay_{k}") for k in ("colour", "alpha") if config is not None}
    now = current_result(record.summary, store().read_file(record, "image.jpg"),
                         read_mask_png(png, record.photo_size()), latest.version,
                         current_app.config["INSPECTION"], **style)
    return now.summary, {"mask.png": png, "overlay.jpg": now.overlay_jpeg}


def save_correction(record: Record, png: bytes) -> Correction | None:
    """Store a corrected mask for a kept record; ``None`` if the store failed (logged). The
    store checks the PNG (``MaskInputError`` with a 4xx status: the caller's problem)."""
    try:
        return store().save_correction(record.id, png)
    except STORE_ERRORS:
        log.exception("could not save a corrected mask")
        return None
