"""JSON API: ``POST /api/v1/segment`` and ``GET /healthz``."""
from __future__ import annotations

import base64

from flask import Blueprint, Response, jsonify, request, url_for

from rustseg_core.imageio import ImageInputError

from .errors import json_error
from .forms import ApiSegmentForm, upload_error_status
from .present import render_result
from .services import analyse, keep_upload, services, store

api = Blueprint("api", __name__, url_prefix="/api/v1")
health = Blueprint("health", __name__)
# Extra images a client may ask for with include=overlay,heatmap,image (the mask always comes).
EXTRA_IMAGES = {"overlay": "overlay.jpg", "heatmap": "heatmap.png", "image": "image.jpg"}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@api.post("/segment")
def segment() -> Response:
    """Multipart ``image`` (+ optional ``mode``, ``keep``, ``include``) → result JSON."""
    form = ApiSegmentForm()
    if not form.validate():
        status = upload_error_status(form.image)
        first = next(iter(form.errors.values()))[0]
        return json_error(status, first, fields=form.errors)
    include = {x.strip() for x in request.values.get("include", "").split(",") if x.strip()}
    unknown = include - set(EXTRA_IMAGES)
    if unknown:
        return json_error(400, f"unknown include {sorted(unknown)}; choose from {sorted(EXTRA_IMAGES)}")
    original = form.image.data.read()
    try:
        result = analyse(original, form.mode.data)
    except ImageInputError as e:
        return json_error(e.status, str(e))
    rendered = render_result(result)
    body = dict(rendered.summary)
    body["mask_png_base64"] = _b64(rendered.files["mask.png"])
    for key in sorted(include):
        name = EXTRA_IMAGES[key]
        body[f"{name.replace('.', '_')}_base64"] = _b64(rendered.files[name])
    body.update(kept=False, id=None, result_url=None)
    if form.keep.data and store() is not None:
        rec = keep_upload(original, rendered)
        if rec is None:
            body["keep_error"] = "the photo could not be kept; nothing was stored"
        else:
            body.update(kept=True, id=rec.id,
                        result_url=url_for("web.record", record_id=rec.id, _external=True))
    resp = jsonify(body)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@health.get("/healthz")
def healthz() -> Response:
    """200 with the model version when the model is loaded, else 503 with the reason."""
    s = services()
    body = {"status": "ok" if s.segmenter is not None else "unavailable",
            "model_loaded": s.segmenter is not None, "model_version": s.model_version,
            "store_enabled": s.store is not None}
    if s.model_error:
        body["error"] = s.model_error
    resp = jsonify(body)
    resp.status_code = 200 if s.segmenter is not None else 503
    resp.headers["Cache-Control"] = "no-store"
    return resp
