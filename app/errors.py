"""Error pages in the site's style; errors under the API's paths are the API's JSON."""
from __future__ import annotations

import logging

from flask import Flask, Response, current_app, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from rustseg_core.pipeline.imageio import SUPPORTED_TEXT, CorruptImageError, ImageInputError

log = logging.getLogger(__name__)

# Title and advice per status, for people.
PAGES = {
    400: ("That request could not be used", "Something in the form was missing or malformed. "
          "Go back and try again."),
    404: ("Page not found", "There is nothing at this address. Kept results are only reachable "
          "through the link you were given."),
    405: ("Not allowed", "That page cannot be used like that."),
    413: ("Photo too large", "Photos up to {max_mb} MB can be analysed. Try a smaller photo or "
          "your camera's lower resolution setting."),
    415: ("Not a photo we can read", "Use a photo in one of these formats: {formats}."),
    500: ("Something went wrong on our side", "The error has been logged. Please try again in a "
          "moment."),
    503: ("Not available right now", "The analysis model is not loaded on this server. "
          "Please try again later."),
}
# Statuses whose page says all there is: a detail would only repeat the advice.
NO_DETAIL = (404, 500, 503)


def photo_problem(e: ImageInputError) -> str:
    """What a person is told about a photo the pipeline refused, with what to do next."""
    advice = " Try sending the photo again, or export it afresh." if isinstance(e, CorruptImageError) else ""
    return f"We could not use that photo: {e}.{advice}"


def _page(status: int, detail: str | None = None) -> Response:
    title, advice = PAGES.get(status, PAGES[500] if status >= 500 else PAGES[400])
    advice = advice.format(max_mb=current_app.config["MAX_UPLOAD_BYTES"] // (1024 * 1024),
                           formats=SUPPORTED_TEXT)
    html = render_template("error.html", status=status, title=title, advice=advice, detail=detail)
    return Response(html, status=status)


def register(app: Flask) -> None:
    """Install the page handlers on ``app``; paths of the API get its JSON instead."""
    from . import api

    @app.errorhandler(CSRFError)
    def _csrf(e: CSRFError) -> Response:
        return _page(400, "The form expired or was not sent by this site. "
                          "Reload the page and try again.")

    @app.errorhandler(ImageInputError)
    def _image(e: ImageInputError) -> Response:
        if api.serves(request.path):
            return api.json_error(e.status, str(e))
        return _page(e.status, photo_problem(e))

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException) -> Response:
        if api.serves(request.path):
            return api.http_error(e)
        if e.code == 413:
            limit = "SURVEY_MAX_BYTES" if request.path.startswith("/survey") else "MAX_UPLOAD_BYTES"
            mb = current_app.config[limit] // (1024 * 1024)
            return _page(413, f"The upload is larger than the {mb} MB limit.")
        resp = _page(e.code or 500, None if e.code in NO_DETAIL else e.description)
        if e.code == 405 and e.valid_methods:
            resp.headers["Allow"] = ", ".join(e.valid_methods)
        return resp

    @app.errorhandler(InternalServerError)
    def _internal(e: InternalServerError) -> Response:
        if api.serves(request.path):
            return api.http_error(e)
        original = getattr(e, "original_exception", None)
        if original is not None:
            log.error("unhandled error on %s %s", request.method, request.path, exc_info=original)
        return _page(500, None)
