"""JSON API: ``POST /api/v1/segment``, ``GET``/``PUT /api/v1/results/<id>/mask``,
``GET /api/v1/model`` and ``/api/v1/grades`` (what the phone needs to analyse offline) and
``GET /healthz``, with its own JSON errors.

The API takes no cookies and is CSRF-exempt: the only key to a kept result is its
unguessable id (128 random bits), exactly as for its page.
"""
from __future__ import annotations

import base64
import io
import logging
import re
from typing import Callable

from flask import Blueprint, Response, jsonify, request, send_file, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from rustseg_core.inspection.roi import RoiError
from rustseg_core.pipeline.imageio import ImageInputError
from rustseg_core.store import MaskInputError, Record, RecordExists
from rustseg_core.vocabulary import OUTPUTS

from .forms import ApiSegmentForm, upload_error_status
from .present import render_result, result_json
from .services import analyse, keep_upload, keyed_record_id, save_correction, services, store

log = logging.getLogger(__name__)
api = Blueprint("api", __name__, url_prefix="/api/v1")
health = Blueprint("health", __name__)
# Extra images a client may ask for with include=overlay,heatmap,image (the mask always comes).
EXTRA_IMAGES = tuple(k for k in OUTPUTS if k != "mask")
# With keep=true, a client may name its upload (the phone's offline queue does): the same
# key is kept once, however often the upload is sent again.
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _add_images(body: dict, include: set[str], read: Callable[[str], bytes]) -> None:
    """``<file>_base64`` fields for the extra images asked for, their bytes from ``read(name)``."""
    for key in sorted(include):
        name = OUTPUTS[key].filename
        body[f"{name.replace('.', '_')}_base64"] = _b64(read(name))


def json_error(status: int, message: str, **extra) -> Response:
    """``{"error": {"status": 413, "code": "request_entity_too_large", "message": ...}}``."""
    name = HTTP_STATUS_CODES.get(status, "error").lower().replace(" ", "_")
    resp = jsonify({"error": {"status": status, "code": name, "message": message, **extra}})
    resp.status_code = status
    return resp


def serves(path: str) -> bool:
    """Whether a request path belongs to the API (its errors are JSON, not pages): the app's
    own handlers ask this for errors raised before a blueprint is chosen (an unknown path)."""
    return path.startswith(api.url_prefix + "/") or path == "/healthz"


def http_error(e: HTTPException) -> Response:
    """Any HTTP error as the API's JSON (a 500's cause is logged, never sent)."""
    original = getattr(e, "original_exception", None)
    if e.code == 500 and original is not None:
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=original)
    if e.code == 413:
        from flask import current_app

        mb = current_app.config["MAX_UPLOAD_BYTES"] // (1024 * 1024)
        return json_error(413, f"the upload is larger than the {mb} MB limit")
    resp = json_error(e.code or 500, e.description or HTTP_STATUS_CODES.get(e.code or 500, "error"))
    if e.code == 405 and getattr(e, "valid_methods", None):
        resp.headers["Allow"] = ", ".join(e.valid_methods)
    return resp


@api.errorhandler(HTTPException)
def _http(e: HTTPException) -> Response:
    return http_error(e)


@api.errorhandler(ImageInputError)
def _image(e: ImageInputError) -> Response:
    return json_error(e.status, str(e))


@api.post("/segment")
def segment() -> Response:
    """Multipart ``image`` (+ optional ``mode``, ``keep``, ``include``, ``roi``) → result JSON."""
    form = ApiSegmentForm()
    if not form.validate():
        status = upload_error_status(form.image)
        first = next(iter(form.errors.values()))[0]
        return json_error(status, first, fields=form.errors)
    include = {x.strip() for x in request.values.get("include", "").split(",") if x.strip()}
    unknown = include - set(EXTRA_IMAGES)
    if unknown:
        return json_error(400, f"unknown include {sorted(unknown)}; choose from {sorted(EXTRA_IMAGES)}")
    key = request.headers.get(IDEMPOTENCY_HEADER)
    keep = bool(form.keep.data) and store() is not None
    record_id = None
    if keep and key is not None:
        if not IDEMPOTENCY_KEY_RE.match(key):
            return json_error(400, f"{IDEMPOTENCY_HEADER} must be 8 to 128 letters, digits, '-', '_', '.' or ':'")
        record_id = keyed_record_id(key)
        kept_before = store().get(record_id)
        if kept_before is not None:  # a retry of an upload already kept: answer, keep nothing
            return _kept_answer(kept_before, include)
    original = form.image.data.read()
    try:
        result, summary = analyse(original, form.mode.data, form.polygon)  # ImageInputError → _image
    except RoiError as e:  # a region that covers no pixel of this photo
        return json_error(400, str(e), fields={"roi": [str(e)]})
    rendered = render_result(result, summary)
    body = dict(rendered.summary)
    body["mask_png_base64"] = _b64(rendered.files[OUTPUTS["mask"].filename])
    _add_images(body, include, rendered.files.__getitem__)
    body.update(kept=False, id=None, result_url=None)
    if keep:
        try:
            rec = keep_upload(original, rendered, record_id)
        except RecordExists:  # the same key kept by a request running beside this one
            rec = store().get(record_id)
            if rec is None:
                return json_error(409, "this upload is being kept by another request; send it again")
            return _kept_answer(rec, include)
        if rec is None:
            body["keep_error"] = "the photo could not be kept; nothing was stored"
        else:
            body.update(kept=True, id=rec.id,
                        result_url=url_for("web.record", record_id=rec.id, _external=True))
    resp = jsonify(body)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _kept_answer(rec: Record, include: set[str]) -> Response:
    """What the first upload with an idempotency key answered: the kept record's summary,
    mask and requested images, with ``replayed: true``."""
    s = store()
    _, mask = s.current_mask(rec)
    body = {**result_json(rec.summary), "mask_png_base64": _b64(mask)}
    _add_images(body, include, lambda name: s.read_file(rec, name))
    body.update(kept=True, id=rec.id, result_url=url_for("web.record", record_id=rec.id, _external=True),
                replayed=True)
    resp = jsonify(body)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@api.errorhandler(MaskInputError)
def _mask(e: MaskInputError) -> Response:
    return json_error(e.status, str(e))


class _NoRecord(Exception):
    """A mask request for a result that is not kept here (answered 404)."""


@api.errorhandler(_NoRecord)
def _no_record(e: _NoRecord) -> Response:
    return json_error(404, str(e))


def _kept(record_id: str) -> Record:
    """The kept record with this id, else a 404 that says whether the server keeps photos."""
    s = store()
    if s is None:
        raise _NoRecord("this server keeps no photos (its store is disabled), so it has no results to correct")
    rec = s.get(record_id)
    if rec is None:
        raise _NoRecord("there is no kept result with this id")
    return rec


@api.get("/results/<record_id>/mask")
def get_mask(record_id: str) -> Response:
    """The current mask of a kept result: its latest correction, else the model's mask."""
    rec = _kept(record_id)
    latest, png = store().current_mask(rec)
    resp = send_file(io.BytesIO(png), mimetype="image/png", max_age=0)
    resp.headers["X-RustSEG-Mask-Version"] = str(latest.version if latest else 0)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@api.put("/results/<record_id>/mask")
def put_mask(record_id: str) -> Response:
    """Body: a PNG the size of the photo (255 or any non-zero = corrosion) → a new version
    of the result's corrected mask; earlier versions and the model's mask are kept."""
    rec = _kept(record_id)
    if request.mimetype.startswith("multipart/") or request.mimetype == "application/x-www-form-urlencoded":
        return json_error(415, "send the mask PNG itself as the request body (Content-Type: image/png)")
    saved = save_correction(rec, request.get_data(cache=False))  # MaskInputError → _mask
    if saved is None:
        return json_error(503, "the mask could not be saved this time; nothing was changed")
    url = url_for("api.get_mask", record_id=rec.id)
    resp = jsonify({"id": rec.id, "version": saved.version, "created_at": saved.created_at,
                    "area_fraction": saved.area_fraction, "source": saved.source, "mask_url": url})
    resp.status_code = 201
    resp.headers["Location"] = url
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
