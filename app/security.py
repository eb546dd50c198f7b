"""Security headers on every response (pages, API, static files, errors)."""
from __future__ import annotations

from flask import Flask, Response, g, request

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
    # The service worker (offline use) and ONNX Runtime's threads are scripts of this site.
    "worker-src": "'self'",
    "manifest-src": "'self'",
}
# Where the phone runs the model (WebAssembly): those pages, and ONNX Runtime's own files
# (its threads compile WebAssembly too). Nowhere else.
WASM_PATHS = ("/static/vendor/onnxruntime_web/",)

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers without CSP level 2
    # A kept result's address is its only key: never send it to another site as a referrer.
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    # With the opener policy, this isolates the page: ONNX Runtime may then run its
    # WebAssembly on several threads (SharedArrayBuffer). Everything is same-origin anyway.
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "geolocation=(), microphone=(), payment=(), usb=()",
}


def csp_header(policy: dict[str, str] = CONTENT_SECURITY_POLICY) -> str:
    return "; ".join(f"{directive} {value}" for directive, value in policy.items())


def wasm_policy(policy: dict[str, str] = CONTENT_SECURITY_POLICY) -> dict[str, str]:
    """The policy with WebAssembly allowed ('wasm-unsafe-eval': compiling it, not eval)."""
    return {**policy, "script-src": policy["script-src"] + " 'wasm-unsafe-eval'"}


def allow_wasm() -> None:
    """Called by a view whose page runs the model in the browser."""
    g.rustseg_wasm = True


def install(app: Flask) -> None:
    """Add the headers to every response ``app`` sends (unless a view set its own)."""
    csp, csp_wasm = csp_header(), csp_header(wasm_policy())
    hsts = app.config.get("SESSION_COOKIE_SECURE")  # served over HTTPS

    @app.after_request
    def _headers(resp: Response) -> Response:
        wasm = g.get("rustseg_wasm") or request.path.startswith(WASM_PATHS)
        resp.headers.setdefault("Content-Security-Policy", csp_wasm if wasm else csp)
        for name, value in HEADERS.items():
            resp.headers.setdefault(name, value)
        if hsts:
            resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return resp
