"""Security headers on every response (pages, API, static files, errors)."""
from __future__ import annotations

from flask import Flask, Response

# Nothing is loaded from another site (the servers have no internet, and a photo of someone's
# plant should not be shown to third parties). Result images are data: URIs or our own URLs;
# the upload preview is a blob: URL. No inline script or style anywhere.
CONTENT_SECURITY_POLICY = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: blob:",
    "connect-src": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
    "object-src": "'none'",
}

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers without CSP level 2
    # A kept result's address is its only key: never send it to another site as a referrer.
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "geolocation=(), microphone=(), payment=(), usb=()",
}


def csp_header(policy: dict[str, str] = CONTENT_SECURITY_POLICY) -> str:
    return "; ".join(f"{directive} {value}" for directive, value in policy.items())


def install(app: Flask) -> None:
    """Add the headers to every response ``app`` sends (unless a view set its own)."""
    csp = csp_header()
    hsts = app.config.get("SESSION_COOKIE_SECURE")  # served over HTTPS

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers.setdefault("Content-Security-Policy", csp)
        for name, value in HEADERS.items():
            resp.headers.setdefault(name, value)
        if hsts:
            resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return resp
