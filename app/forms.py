"""The two forms of the site (Flask-WTF: CSRF, file checks)."""
from __future__ import annotations

from flask import current_app
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired, FileSize, MultipleFileField
from wtforms import BooleanField, HiddenField, RadioField, StringField, ValidationError
from wtforms.validators import InputRequired, StopValidation

from rustseg_core.inspection.roi import RoiError, parse_roi
from rustseg_core.pipeline.imageio import CAMERA_RAW, CAMERA_RAW_EXTENSIONS, IMAGE_EXTENSIONS, SUPPORTED_TEXT
from rustseg_core.vocabulary import DEFAULT_MODE, MODES, PAPER_MODES, REPORT_OUTPUTS, VERDICTS

from .config import FALSE_WORDS, TRUE_WORDS
from .services import services

ALLOWED_EXTENSIONS = sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS)


def available_modes() -> tuple[tuple[str, ...], str]:
    """(the modes the loaded model can run, its default mode): a U-Net adds ``learned``."""
    seg = services().segmenter
    return getattr(seg, "modes", PAPER_MODES), getattr(seg, "default_mode", DEFAULT_MODE)


class ModeForm(FlaskForm):
    """A form with a ``mode`` field whose choices and default follow the loaded model."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        modes, default = available_modes()
        self.mode.choices = [(m, MODES[m].label) for m in modes]
        if not self.mode.raw_data:  # not sent: the model's default
            self.mode.data = default

    def validate_mode(self, field) -> None:
        ids = [m for m, _ in field.choices]
        if field.data not in ids:
            raise ValidationError(f"mode must be one of {', '.join(ids)}")


class RoiMixin:
    """A ``roi`` field: a polygon in normalised coordinates as JSON text (empty: the whole
    photo); ``form.polygon`` is the parsed polygon after validation."""

    polygon = None

    def validate_roi(self, field) -> None:
        try:
            self.polygon = parse_roi(field.data)
        except RoiError as e:
            raise ValidationError(str(e)) from None


class StrictBooleanField(BooleanField):
    """A yes/no field for API clients: true/false, 1/0, yes/no, on/off (any case); anything
    else is an error rather than a silent "no" (``keep=maybe`` must not lose the photo)."""

    def process_formdata(self, valuelist):
        if not valuelist:
            self.data = False
            return
        word = str(valuelist[0]).strip().lower()
        if word not in TRUE_WORDS + FALSE_WORDS:
            self.data = False
            raise ValueError(f"{self.name} must be true or false, not {valuelist[0]!r}")
        self.data = word in TRUE_WORDS


def max_upload_bytes() -> int:
    return int(current_app.config["MAX_UPLOAD_BYTES"])


def _size_limit(form: FlaskForm, field: FileField) -> None:
    """FileSize with the limit from the app's config (known only at request time)."""
    limit = max_upload_bytes()
    FileSize(max_size=limit, message=f"The photo is larger than {limit // (1024 * 1024)} MB.")(form, field)


def is_camera_raw(filename: str) -> bool:
    """Whether an upload is named as a camera RAW file (``IMG_0001.DNG``)."""
    return "." in filename and f".{filename.rsplit('.', 1)[-1].lower()}" in CAMERA_RAW_EXTENSIONS


def _not_camera_raw(sentence: bool):
    """A validator: a camera RAW file is told what to send instead, not only that its type is
    not taken; as a sentence on the page, as the API words its errors."""
    message = CAMERA_RAW[0].upper() + CAMERA_RAW[1:] + "." if sentence else CAMERA_RAW

    def check(form: FlaskForm, field: FileField) -> None:
        if is_camera_raw(getattr(field.data, "filename", None) or ""):
            raise StopValidation(message)
    return check


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


class UploadForm(RoiMixin, ModeForm):
    """Home page: one photo, a mode and the (unticked) consent to keep it."""

    photo = FileField("Photo of steel", validators=[
        FileRequired("Choose a photo or take one."),
        _not_camera_raw(sentence=True),
        FileAllowed(ALLOWED_EXTENSIONS, f"That file type is not supported; use {SUPPORTED_TEXT}."),
        _size_limit,
    ])
    mode = RadioField("Mask method", choices=[], validate_choice=False)
    keep = BooleanField("Keep my photo to help improve RustSEG", default=False)
    roi = HiddenField("Region of interest")


class SurveyForm(ModeForm):
    """Survey page: several photos (analysed here, without the script) or, from the script,
    the API's answers for each photo as ``survey`` JSON; either way nothing is stored."""

    photos = MultipleFileField("Photos of the structure")
    mode = RadioField("Mask method", choices=[], validate_choice=False)
    title = StringField("Survey name", default="")
    site = StringField("Site or structure", default="")
    inspector = StringField("Inspector", default="")
    survey = HiddenField()

    def _short(self, field) -> None:
        if len(field.data or "") > 120:
            raise ValidationError(f"The {field.label.text.lower()} is longer than 120 characters.")

    validate_title = validate_site = validate_inspector = _short

    def uploads(self) -> list:
        """The photos actually sent (a browser sends one empty part for no choice)."""
        return [f for f in (self.photos.data or []) if getattr(f, "filename", "")]

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if ok and not self.survey.data and not self.uploads():
            self.photos.errors = ["Choose at least one photo."]
            return False
        return ok


class ReportForm(FlaskForm):
    """A survey page's download buttons: the survey as JSON and the file wanted."""

    survey = HiddenField(validators=[InputRequired("The survey is missing; start it again.")])
    format = RadioField("format", choices=[(k, o.filename) for k, o in REPORT_OUTPUTS.items()],
                        validators=[InputRequired("Choose a report format.")])


class FeedbackForm(FlaskForm):
    """"Was this right?" on a kept result: three submit buttons named ``verdict``."""

    verdict = RadioField("Was this right?", choices=list(VERDICTS.items()),
                         validators=[InputRequired("Pick one of the answers.")])


class MaskForm(FlaskForm):
    """A corrected mask for a kept result: the editor's PNG, or one chosen by hand (the form
    works without JavaScript). Size and content are checked by the store."""

    mask = FileField("Corrected mask (PNG)", validators=[
        FileRequired("Draw the mask or choose a PNG of it."),
        FileAllowed(["png"], "The mask must be a PNG."),
    ])


class ApiSegmentForm(RoiMixin, ModeForm):
    """``POST /api/v1/segment``: the same checks as the page, without CSRF (no cookies)."""

    class Meta:
        csrf = False

    image = FileField("image", validators=[
        FileRequired("send the photo as multipart field 'image'"),
        _not_camera_raw(sentence=False),
        FileAllowed(ALLOWED_EXTENSIONS, f"that file type is not supported; use {SUPPORTED_TEXT}"),
        _size_limit,
    ])
    mode = RadioField("mode", choices=[], validate_choice=False)
    keep = StrictBooleanField("keep", default=False)
    roi = StringField("roi")


def upload_error_status(field: FileField) -> int:
    """HTTP status for a form that failed validation: 413 too large, 415 wrong type, else 400."""
    if too_large(field):
        return 413
    f = field.data
    name = getattr(f, "filename", None) or ""
    if name and name.rsplit(".", 1)[-1].lower() not in ALLOWED_EXTENSIONS:
        return 415
    return 400
