"""The survey pages: many photos, one report, nothing stored.

Two ways in, one page out. With the script, the browser posts each photo to the API (so it
can show progress), then posts the answers back here as ``survey`` JSON; without it, the
photos come in one multipart request and are analysed here. Either way the survey lives
only in the request and in the page: the page carries it (thumbnails included) in its
download form, and each download re-posts it to be rendered in memory.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import replace

from flask import Blueprint, Response, current_app, make_response, render_template, request
from werkzeug.datastructures import FileStorage

from rustseg_core.inspection.report import render
from rustseg_core.inspection.survey import (Survey, SurveyError, make_survey, survey_from_json,
                                            survey_photo, survey_to_json)
from rustseg_core.pipeline.imageio import CAMERA_RAW, ImageInputError
from rustseg_core.vocabulary import REPORT_OUTPUTS

from .errors import photo_problem
from .forms import ALLOWED_EXTENSIONS, ReportForm, SurveyForm, is_camera_raw
from .present import survey_view
from .services import analyse
from .views import _private

surveys = Blueprint("survey", __name__, url_prefix="/survey")


def _survey_limits() -> None:
    """A survey request may be larger than one photo's (see ``SURVEY_MAX_MB``)."""
    limit = current_app.config["SURVEY_MAX_BYTES"]
    request.max_content_length = limit
    request.max_form_memory_size = limit


@surveys.get("")
def page() -> Response:
    return make_response(render_template("survey.html", form=SurveyForm()))


def _analyse_uploads(uploads: list[FileStorage], mode: str, **about) -> Survey:
    """Analyse each photo in turn; one that cannot be used is listed as skipped."""
    photos, skipped = [], []
    first_of: dict[str, str] = {}  # a photo chosen twice, or a copy of one, is analysed once
    limit = current_app.config["MAX_UPLOAD_BYTES"]
    for upload in uploads:
        name = upload.filename or "photo"
        if is_camera_raw(name):
            skipped.append((name, CAMERA_RAW))
            continue
        if name.rsplit(".", 1)[-1].lower() not in ALLOWED_EXTENSIONS:
            skipped.append((name, "not a supported photo type"))
            continue
        original = upload.read()
        if len(original) > limit:
            skipped.append((name, f"larger than the {limit // (1024 * 1024)} MB limit per photo"))
            continue
        digest = hashlib.blake2b(original, digest_size=16).hexdigest()
        if digest in first_of:
            skipped.append((name, f"the same photo as {first_of[digest]}"))
            continue
        first_of[digest] = name
        try:
            result, summary = analyse(original, mode)
        except ImageInputError as e:
            skipped.append((name, photo_problem(e)))
            continue
        photos.append(survey_photo(name, result, summary))
    return make_survey(photos, skipped=skipped, **about)


@surveys.post("")
def create() -> Response:
    """The survey page for posted photos, or for the answers the script collected."""
    _survey_limits()
    form = SurveyForm()
    if not form.validate_on_submit():
        return make_response(render_template("survey.html", form=form), 400)
    about = dict(title=form.title.data.strip() or f"RustSEG survey {time.strftime('%Y-%m-%d')}",
                 site=form.site.data.strip(), inspector=form.inspector.data.strip(),
                 cutoffs=current_app.config["INSPECTION"].severity)
    try:
        if form.survey.data:
            survey = replace(survey_from_json(form.survey.data), **about)
        else:
            survey = _analyse_uploads(form.uploads(), form.mode.data, **about)
    except SurveyError as e:
        form.survey.errors = [f"The survey could not be used: {e}"]
        return make_response(render_template("survey.html", form=form), 400)
    if not survey.photos:
        form.photos.errors = ["None of the photos could be analysed: " +
                              "; ".join(f"{n}: {why}" for n, why in survey.skipped)]
        return make_response(render_template("survey.html", form=form), 400)
    html = render_template("survey_result.html", view=survey_view(survey),
                           report=ReportForm(survey=survey_to_json(survey)))
    return _private(make_response(html))


@surveys.post("/report")
def report() -> Response:
    """One report file of the survey the page re-sent, rendered in memory."""
    _survey_limits()
    form = ReportForm()
    try:
        if not form.validate_on_submit():
            raise SurveyError(next(iter(form.errors.values()))[0])
        survey = survey_from_json(form.survey.data)
    except SurveyError as e:
        html = render_template("error.html", status=400, title="That report could not be made",
                               advice=str(e), detail=None)
        return _private(make_response(html, 400))
    output = REPORT_OUTPUTS[form.format.data]
    resp = Response(render(survey, form.format.data), mimetype=output.mime)
    stamp = survey.created.replace(":", "").replace("-", "").replace("T", "-")
    name = f"rustseg-survey-{stamp}.{output.extension}"
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return _private(resp)
