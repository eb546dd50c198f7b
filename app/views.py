"""The pages: home form → result (inline, or kept under a random id) → feedback."""
from __future__ import annotations

import json

from flask import (Blueprint, Flask, Response, abort, flash, make_response, redirect,
                   render_template, send_file, url_for)
from werkzeug.datastructures import FileStorage

from rustseg_core.imageio import SUPPORTED_TEXT, ImageInputError

from .forms import ALLOWED_EXTENSIONS, VERDICT_LABELS, FeedbackForm, UploadForm, upload_error_status
from .present import colour_name, inline_view, mime_type, render_result, result_json, stored_view
from .services import analyse as analyse_photo
from .services import keep_upload, services, store

web = Blueprint("web", __name__)
KEEP_FAILED = "We could not keep your photo this time, so nothing was stored. Your result is below."
SERVED_FILES = ("image.jpg", "overlay.jpg", "heatmap.png", "mask.png")


def register_template_helpers(app: Flask) -> None:
    """Values every template may use."""

    @app.context_processor
    def _globals() -> dict:
        return {"store_enabled": store() is not None,
                "overlay_colour": _overlay_colour_name(),
                "max_upload_mb": app.config["MAX_UPLOAD_BYTES"] // (1024 * 1024),
                "max_upload_bytes": app.config["MAX_UPLOAD_BYTES"],
                "supported_formats": SUPPORTED_TEXT,
                "accept_extensions": ",".join("." + e for e in ALLOWED_EXTENSIONS),
                "verdict_labels": VERDICT_LABELS}


def _overlay_colour_name() -> str | None:
    """The name of the colour the segmenter marks corrosion in (None without a model)."""
    config = getattr(services().segmenter, "config", None)
    colour = getattr(config, "overlay_colour", None)
    return colour_name(colour) if colour is not None else None


def _private(resp: Response) -> Response:
    """Pages that show someone's photo must not be cached by proxies or the browser."""
    resp.headers["Cache-Control"] = "no-store"
    return resp


@web.get("/")
def index() -> Response:
    return make_response(render_template("index.html", form=UploadForm()))


@web.get("/analyse")
def analyse_get() -> Response:
    # A refresh or bookmark of the result URL lands on the form rather than a 405.
    return redirect(url_for("web.index"))


@web.post("/analyse")
def analyse() -> Response:
    """Analyse the upload; keep it only when the box was ticked (and a store is configured)."""
    form = UploadForm()
    if not form.validate_on_submit():
        status = upload_error_status(form.photo)
        return make_response(render_template("index.html", form=form), status)
    upload: FileStorage = form.photo.data
    original = upload.read()
    try:
        result = analyse_photo(original, form.mode.data)
    except ImageInputError as e:
        form.photo.errors = [f"We could not use that photo: {e}."]
        return make_response(render_template("index.html", form=form), e.status)
    rendered = render_result(result)
    view = inline_view(rendered)
    if form.keep.data and store() is not None:
        record = keep_upload(original, rendered)
        if record is None:
            view.notice = KEEP_FAILED
        else:
            # Post/redirect/get: a reload of the result page must not upload the photo again.
            return redirect(url_for("web.record", record_id=record.id), 303)
    return _private(make_response(render_template("result.html", view=view)))


def _record_or_404(record_id: str):
    s = store()
    record = s.get(record_id) if s is not None else None
    if record is None:
        abort(404)
    return s, record


@web.get("/r/<record_id>")
def record(record_id: str) -> Response:
    """A kept result, with the "was this right?" form."""
    s, rec = _record_or_404(record_id)
    view = stored_view(rec, lambda name: url_for("web.record_file", record_id=rec.id, name=name))
    html = render_template("result.html", view=view, feedback=FeedbackForm())
    return _private(make_response(html))


@web.post("/r/<record_id>/feedback")
def feedback(record_id: str) -> Response:
    s, rec = _record_or_404(record_id)
    form = FeedbackForm()
    if not form.validate_on_submit():
        view = stored_view(rec, lambda name: url_for("web.record_file", record_id=rec.id, name=name))
        return _private(make_response(render_template("result.html", view=view, feedback=form), 400))
    s.set_verdict(rec.id, form.verdict.data)
    flash("saved", "feedback")
    return redirect(url_for("web.record", record_id=rec.id, _anchor="feedback"), 303)


@web.get("/r/<record_id>/<name>")
def record_file(record_id: str, name: str) -> Response:
    """One output of a kept result (the original upload itself is never served back)."""
    s, rec = _record_or_404(record_id)
    if name == "result.json":
        body = json.dumps(result_json(rec.summary, rec), indent=2)
        return _private(Response(body, mimetype="application/json"))
    path = s.file_path(rec, name) if name in SERVED_FILES else None
    if path is None or not path.is_file():
        abort(404)
    resp = send_file(path, mimetype=mime_type(name), max_age=0)
    return _private(resp)
