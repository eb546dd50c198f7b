"""The pages: home form → result (inline, or kept under a random id) → feedback."""
from __future__ import annotations

import io
import json

from flask import (Blueprint, Flask, Response, abort, flash, make_response, redirect,
                   render_template, send_file, url_for)
from werkzeug.datastructures import FileStorage

from rustseg_core.inspection.grades import CAVEATS, ri_text
from rustseg_core.inspection.roi import RoiError
from rustseg_core.pipeline.imageio import SUPPORTED_TEXT, ImageInputError
from rustseg_core.pipeline.overlay import contrasting
from rustseg_core.store import MaskInputError
from rustseg_core.vocabulary import (CHECK_BY_EYE, MODES, OUTPUTS, RESULT_JSON, SEVERITIES, VERDICTS,
                                     download_name, output_for_file)

from .errors import photo_problem
from .field import phone_model_file
from .security import allow_wasm
from .forms import ALLOWED_EXTENSIONS, FeedbackForm, MaskForm, UploadForm, upload_error_status
from .present import (ZIP_MIME, ZIP_OUTPUTS, colour_name, inline_view, render_result, result_json,
                      result_zip, stored_view, zip_name)
from .services import analyse as analyse_photo
from .services import current_outputs, keep_upload, save_correction, services, store

web = Blueprint("web", __name__)
MASK_FILE, OVERLAY_FILE = OUTPUTS["mask"].filename, OUTPUTS["overlay"].filename
ZIP_FILE = "result.zip"  # mask, overlay, heatmap and JSON in one download
# The model's own mask of a kept result, beside mask.png (the current one): the editor's reset.
MODEL_MASK_FILE = "model-mask.png"
KEEP_FAILED = "We could not keep your photo this time, so nothing was stored. Your result is below."
MASK_FAILED = "We could not save your mask this time; nothing was changed. Please try again."


def register_template_helpers(app: Flask) -> None:
    """Values every template may use."""

    @app.context_processor
    def _globals() -> dict:
        return {"store_enabled": store() is not None,
                "model_ready": services().segmenter is not None,
                "modes": MODES,
                "overlay_colour": _overlay_colour_name(),
                "overlay_outline": _overlay_colour_name(outline=True),
                "max_upload_mb": app.config["MAX_UPLOAD_BYTES"] // (1024 * 1024),
                "max_upload_bytes": app.config["MAX_UPLOAD_BYTES"],
                "supported_formats": SUPPORTED_TEXT,
                "accept_extensions": ",".join("." + e for e in ALLOWED_EXTENSIONS),
                "verdict_labels": VERDICTS,
                "caveats": CAVEATS,
                "ri_text": ri_text,
                "check_by_eye": CHECK_BY_EYE,
                "severities": SEVERITIES}


def _overlay_colour_name(outline: bool = False) -> str | None:
    """The name of the colour the segmenter marks corrosion in, or of the contrasting
    colour it outlines the mask in (None without a model)."""
    config = getattr(services().segmenter, "config", None)
    colour = getattr(config, "overlay_colour", None)
    if colour is None:
        return None
    return colour_name(contrasting(colour) if outline else colour)


def _private(resp: Response) -> Response:
    """Pages that show someone's photo must not be cached by proxies or the browser."""
    resp.headers["Cache-Control"] = "no-store"
    return resp


@web.get("/")
def index() -> Response:
    allow_wasm()  # the page can analyse on the phone itself (static/js/field.mjs)
    return make_response(render_template("index.html", form=UploadForm(),
                                         phone_model=phone_model_file() is not None))


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
        result, summary = analyse_photo(original, form.mode.data, form.polygon)
    except ImageInputError as e:
        form.photo.errors = [photo_problem(e)]
        return make_response(render_template("index.html", form=form), e.status)
    except RoiError as e:  # a region that covers no pixel of this photo
        form.roi.errors = [str(e)]
        return make_response(render_template("index.html", form=form), 400)
    rendered = render_result(result, summary)
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


def _record_page(s, rec, status: int = 200, feedback: FeedbackForm | None = None,
                 mask_form: MaskForm | None = None) -> Response:
    """A kept result's page: the result, "was this right?" and the mask editor."""
    summary, _ = current_outputs(rec)
    view = stored_view(rec, lambda name: url_for("web.record_file", record_id=rec.id, name=name),
                       summary=summary)
    view.urls["model_mask"] = url_for("web.record_file", record_id=rec.id, name=MODEL_MASK_FILE)
    view.urls["zip"] = url_for("web.record_file", record_id=rec.id, name=ZIP_FILE)
    html = render_template("result.html", view=view, feedback=feedback or FeedbackForm(),
                           mask_form=mask_form or MaskForm(), corrections=s.corrections(rec.id))
    return _private(make_response(html, status))


@web.get("/r/<record_id>")
def record(record_id: str) -> Response:
    """A kept result, with the "was this right?" form and the mask editor."""
    s, rec = _record_or_404(record_id)
    return _record_page(s, rec)


@web.post("/r/<record_id>/feedback")
def feedback(record_id: str) -> Response:
    s, rec = _record_or_404(record_id)
    form = FeedbackForm()
    if not form.validate_on_submit():
        return _record_page(s, rec, 400, feedback=form)
    s.set_verdict(rec.id, form.verdict.data)
    flash("saved", "feedback")
    return redirect(url_for("web.record", record_id=rec.id, _anchor="feedback"), 303)


@web.post("/r/<record_id>/mask")
def mask(record_id: str) -> Response:
    """Save a corrected mask (the editor posts its PNG here; without JavaScript, a chosen
    file). Each save is a new version; the model's mask and earlier versions stay."""
    s, rec = _record_or_404(record_id)
    form = MaskForm()
    if not form.validate_on_submit():
        return _record_page(s, rec, 400, mask_form=form)
    try:
        saved = save_correction(rec, form.mask.data.read())
    except MaskInputError as e:
        form.mask.errors = [str(e)[0].upper() + str(e)[1:] + "."]
        return _record_page(s, rec, e.status, mask_form=form)
    if saved is None:
        form.mask.errors = [MASK_FAILED]
        return _record_page(s, rec, 503, mask_form=form)
    flash(str(saved.version), "mask")
    return redirect(url_for("web.record", record_id=rec.id, _anchor="mask-editor"), 303)


@web.get("/r/<record_id>/<name>")
def record_file(record_id: str, name: str) -> Response:
    """One output of a kept result (the original upload itself is never served back). The
    mask, the overlay and the JSON follow the current mask (a correction, once saved);
    ``model-mask.png`` is the model's own."""
    s, rec = _record_or_404(record_id)
    if name == ZIP_FILE:
        summary, current = current_outputs(rec)
        files = {o.filename: current.get(o.filename) or s.read_file(rec, o.filename) for o in ZIP_OUTPUTS}
        resp = send_file(io.BytesIO(result_zip(rec.id, result_json(summary, rec), files)),
                         mimetype=ZIP_MIME, max_age=0, as_attachment=True, download_name=zip_name(rec.id))
        return _private(resp)
    output = output_for_file(MASK_FILE if name == MODEL_MASK_FILE else name)
    if output is None:
        abort(404)
    if output is RESULT_JSON:
        body = json.dumps(result_json(current_outputs(rec)[0], rec), indent=2)
        resp = Response(body, mimetype=output.mime)
        resp.headers["Content-Disposition"] = f'inline; filename="{download_name(rec.id, output)}"'
        return _private(resp)
    try:
        if name == MASK_FILE:
            data = s.current_mask(rec)[1]
        elif name == OVERLAY_FILE:
            data = current_outputs(rec)[1].get(name) or s.read_file(rec, name)
        else:
            data = s.read_file(rec, output.filename)
    except FileNotFoundError:
        abort(404)
    # Content-Disposition names the file as the page's download attribute does: a browser
    # prefers the header's name, and "mask.png" from two results would collide.
    resp = send_file(io.BytesIO(data), mimetype=output.mime, max_age=0,
                     download_name=download_name(rec.id, output))
    return _private(resp)
