"""Error pages in the site's style, and JSON errors under /api/."""
from __future__ import annotations

import logging

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from rustseg_core.imageio import SUPPORTED_TEXT, ImageInputError

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


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def json_error(status: int, message: str, **extra) -> Response:
    """``{"error": {"status": 413, "code": "request_entity_too_large", "message": ...}}``."""
    name = HTTP_STATUS_CODES.get(status, "error").lower().replace(" ", "_")
    resp = jsonify({"error": {"status": status, "code": name, "message": message, **extra}})
    resp.status_code = status
    return resp


def _page(status: int, detail: str | None = None) -> Response:
    title, advice = PAGES.get(status, PAGES[500] if status >= 500 else PAGES[400])
    advice = advice.format(max_mb=current_app.config["MAX_UPLOAD_BYTES"] // (1024 * 1024),
                           formats=SUPPORTED_TEXT)
    html = render_template("error.html", status=status, title=title, advice=advice, detail=detail)
    return Response(html, status=status)


def _respond(status: int, detail: str | None) -> Response:
    if _wants_json():
        return json_error(status, detail or PAGES.get(status, PAGES[500])[0])
    return _page(status, detail)


def register(app: Flask) -> None:
    """Install the handlers on ``app``."""

    @app.errorhandler(CSRFError)
    def _csrf(e: CSRFError) -> Response:
        return _respond(400, "The form expired or was not sent by this site. "
                             "Reload the page and try again.")

    @app.errorhandler(ImageInputError)
    def _image(e: ImageInputError) -> Response:
        return _respond(e.status, f"We could not use that photo: {e}.")

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException) -> Response:
        if e.code == 413:
            mb = current_app.config["MAX_UPLOAD_BYTES"] // (1024 * 1024)
            return _respond(413, f"The upload is larger than the {mb} MB limit.")
        if e.code == 405 and e.valid_methods:
            resp = _respond(405, e.description)
            resp.headers["Allow"] = ", ".join(e.valid_methods)
            return resp
        return _respond(e.code or 500, e.description if e.code not in (404, 500) else None)

    @app.errorhandler(InternalServerError)
    def _internal(e: InternalServerError) -> Response:
        original = getattr(e, "original_exception", None)
        if original is not None:
            log.error("unhandled error on %s %s", request.method, request.path, exc_info=original)
        return _respond(500, None)
