"""The two forms of the site (Flask-WTF: CSRF, file checks)."""
from __future__ import annotations

from flask import current_app
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired, FileSize
from wtforms import BooleanField, RadioField
from wtforms.validators import InputRequired

from rustseg_core.imageio import IMAGE_EXTENSIONS, SUPPORTED_TEXT
from rustseg_core.store import VERDICTS

MODE_CHOICES = [("standard", "Standard — dense CRF"),
                ("advanced", "Advanced — K-means + CRF")]
ALLOWED_EXTENSIONS = sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS)
# What the buttons on the result page say; values are the store's verdicts.
VERDICT_LABELS = {"correct": "Correct",
                  "wrong": "Wrong — there is rust it missed or misplaced",
                  "no_rust": "No rust in this photo"}
assert set(VERDICT_LABELS) == set(VERDICTS)


def max_upload_bytes() -> int:
    return int(current_app.config["MAX_UPLOAD_BYTES"])


def _size_limit(form: FlaskForm, field: FileField) -> None:
    """FileSize with the limit from the app's config (known only at request time)."""
    limit = max_upload_bytes()
    FileSize(max_size=limit, message=f"The photo is larger than {limit // (1024 * 1024)} MB.")(form, field)


def too_large(field: FileField) -> bool:
    """Whether an uploaded file is over the size limit (answered with 413 rather than 400)."""
    f = field.data
    if f is None or not hasattr(f, "stream"):
        return False
    pos = f.stream.tell()
    f.stream.seek(0, 2)
    size = f.stream.tell()
    f.stream.seek(pos)
    return size > max_upload_bytes()


class UploadForm(FlaskForm):
    """Home page: one photo, a mode and the (unticked) consent to keep it."""

    photo = FileField("Photo of steel", validators=[
        FileRequired("Choose a photo or take one."),
        FileAllowed(ALLOWED_EXTENSIONS, f"That file type is not supported; use {SUPPORTED_TEXT}."),
        _size_limit,
    ])
    mode = RadioField("Mask method", choices=MODE_CHOICES, default="standard")
    keep = BooleanField("Keep my photo to help improve RustSEG", default=False)


class FeedbackForm(FlaskForm):
    """"Was this right?" on a kept result: three submit buttons named ``verdict``."""

    verdict = RadioField("Was this right?", choices=list(VERDICT_LABELS.items()),
                         validators=[InputRequired("Pick one of the answers.")])


class ApiSegmentForm(FlaskForm):
    """``POST /api/v1/segment``: the same checks as the page, without CSRF (no cookies)."""

    class Meta:
        csrf = False

    image = FileField("image", validators=[
        FileRequired("send the photo as multipart field 'image'"),
        FileAllowed(ALLOWED_EXTENSIONS, f"that file type is not supported; use {SUPPORTED_TEXT}"),
        _size_limit,
    ])
    mode = RadioField("mode", choices=MODE_CHOICES, default="standard")
    keep = BooleanField("keep", default=False)


def upload_error_status(field: FileField) -> int:
    """HTTP status for a form that failed validation: 413 too large, 415 wrong type, else 400."""
    if too_large(field):
        return 413
    f = field.data
    name = getattr(f, "filename", None) or ""
    if name and name.rsplit(".", 1)[-1].lower() not in ALLOWED_EXTENSIONS:
        return 415
    return 400
