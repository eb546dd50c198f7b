"""What the phone needs to analyse photos itself, offline: the exported model and its
settings, the grade tables, the service worker and the web app manifest.

Everything a phone computes comes from here, never typed a second time in JavaScript:
the thresholds and the borderline band from the model's ``rustseg.json``, the overlay's
colours from the segmenter's config, the grade tables and cut-offs from
``rustseg_core.inspection.grades`` and the app's configuration.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify, send_file, url_for

from rustseg_core.inspection.grades import (ASTM_D610, CAVEATS, ISO_4628_3_CUTS, ISO_4628_3_TOP,
                                            iso4628_reference)
from rustseg_core.pipeline.imageio import CAMERA_RAW, CAMERA_RAW_EXTENSIONS
from rustseg_core.pipeline.overlay import contrasting
from rustseg_core.vocabulary import CHECK_BY_EYE, MODES, SEVERITIES

from .services import services

field = Blueprint("field", __name__)
api_field = Blueprint("api_field", __name__, url_prefix="/api/v1")
# The exported file a phone downloads: the half-size copy when there is one.
PHONE_FILES = ("model.fp16.onnx", "model.onnx")
ONNX_MIME = "application/octet-stream"


def phone_model_file() -> tuple[dict, str] | None:
    """(file entry, file name) of the model file phones use, or None without an export."""
    seg = services().segmenter
    if seg is None or not seg.bundle.spec.decoder or seg.bundle.directory is None:
        return None
    files = seg.bundle.info.get("onnx", {}).get("files", {})
    name = next((n for n in PHONE_FILES if n in files and (seg.bundle.directory / n).is_file()), None)
    return (files[name], name) if name else None


def _json(body: dict, status: int = 200, cache: str = "no-cache") -> Response:
    resp = jsonify(body)
    resp.status_code = status
    resp.headers["Cache-Control"] = cache
    return resp


@api_field.get("/model")
def model() -> Response:
    """How to run learned mode on the phone: the file, its size and SHA-256 (a new model is a
    new address; a half download does not match), the input side, and what to do with the
    outputs (thresholds, borderline band, overlay colours)."""
    found = phone_model_file()
    seg = services().segmenter
    if found is None:
        return _json({"error": {"status": 404, "message": "this server's model has no exported "
                                "ONNX file (rustseg export MODEL_DIR), so photos cannot be "
                                "analysed on the phone"}}, 404)
    entry, name = found
    info, cfg = seg.bundle.info, seg.config
    band = seg.uncertain_band
    return _json({
        "version": seg.bundle.version,
        "mode": "learned", "mode_label": MODES["learned"].label,
        "side": int(info["onnx"]["side"]), "input": info["onnx"]["input"],
        "threshold": seg.threshold,
        "uncertain_band": None if band is None else {"low": band[0], "high": band[1]},
        "mask_threshold": cfg.refine.learned_threshold,
        "work_max_side": cfg.work_max_side, "max_pixels": cfg.max_pixels,
        # what the server refuses, said the same on the phone
        "camera_raw": {"extensions": sorted(CAMERA_RAW_EXTENSIONS), "message": CAMERA_RAW},
        "overlay": {"colour": list(cfg.overlay_colour), "alpha": cfg.overlay_alpha,
                    "outline": list(contrasting(cfg.overlay_colour))},
        "file": {"url": url_for("field.model_file", sha256=entry["sha256"]), "name": name,
                 "bytes": entry["bytes"], "sha256": entry["sha256"], "precision": entry["precision"]},
    })


@field.get("/model/<sha256>.onnx")
def model_file(sha256: str) -> Response:
    """The model file by its digest: never changes, so it is cached for good."""
    found = phone_model_file()
    if found is None or found[0]["sha256"] != sha256:
        abort(404)
    resp = send_file(services().segmenter.bundle.directory / found[1], mimetype=ONNX_MIME,
                     max_age=31536000, conditional=True)
    resp.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return resp


@api_field.get("/grades")
def grades() -> Response:
    """The grade tables and this server's severity cut-offs, as the phone grades with."""
    cut = current_app.config["INSPECTION"].severity
    return _json({
        "astm_d610": [list(x) for x in ASTM_D610],
        "iso4628": {"cuts": [list(x) for x in ISO_4628_3_CUTS], "top": ISO_4628_3_TOP,
                    "reference": [iso4628_reference(ri) for ri in range(ISO_4628_3_TOP + 1)]},
        "severity": {"cutoffs": [cut.good, cut.fair, cut.poor],
                     "classes": [{"id": s.id, "label": s.label, "colour": s.colour} for s in SEVERITIES.values()]},
        "caveats": list(CAVEATS), "check_by_eye": CHECK_BY_EYE,
    })


@field.get("/sw.js")
def service_worker() -> Response:
    """The service worker, from the site's root so that it may serve every page offline."""
    resp = send_file(current_app.static_folder + "/js/sw.js", mimetype="text/javascript", max_age=0)
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["Service-Worker-Allowed"] = "/"
    return resp


@field.get("/manifest.webmanifest")
def manifest() -> Response:
    body = {
        "name": "RustSEG — corrosion in photos of steel", "short_name": "RustSEG",
        "description": "Tells whether a photo shows corrosion and marks where, on the phone itself when offline.",
        "start_url": url_for("web.index"), "scope": "/", "display": "standalone",
        "background_color": "#f4f6f8", "theme_color": "#3a4049",
        "icons": [{"src": url_for("static", filename=f"icons/rustseg-{n}.png"), "sizes": f"{n}x{n}",
                   "type": "image/png", "purpose": "any"} for n in (192, 512)]
               + [{"src": url_for("static", filename="favicon.svg"), "sizes": "any", "type": "image/svg+xml"}],
    }
    resp = _json(body)
    resp.mimetype = "application/manifest+json"
    return resp
