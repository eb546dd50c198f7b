"""Posting photos to a local RustSEG API with the standard library only (urllib)."""
from __future__ import annotations

import http.client
import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from benchmarks.loopback import require_loopback


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type; ``files`` maps a field to
    (file name, bytes, content type)."""
    boundary = "rustseg-" + secrets.token_hex(12)
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     f"{value}\r\n".encode())
    for name, (filename, data, ctype) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                     f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n'.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@dataclass
class Answer:
    """One request's outcome: HTTP status (0: no answer, e.g. connection reset), seconds, JSON."""

    status: int
    seconds: float
    body: dict | None = None
    error: str | None = None

    @property
    def kept_id(self) -> str | None:
        return self.body.get("id") if self.status == 200 and self.body and self.body.get("kept") else None


def segment(base_url: str, photo: bytes, filename: str = "photo.jpg", mode: str | None = None,
            keep: bool = False, timeout: float = 180.0) -> Answer:
    """``POST /api/v1/segment`` on a loopback server (``mode=None``: the model's default, as a
    user who sends none gets); never raises for HTTP or network errors."""
    url = require_loopback(base_url) + "/api/v1/segment"
    ctype = "image/png" if filename.lower().endswith(".png") else "image/jpeg"
    fields = {"keep": "true" if keep else "false", **({"mode": mode} if mode else {})}
    body, content_type = multipart(fields, {"image": (filename, photo, ctype)})
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": content_type})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            data = resp.read()
            status = resp.status
    except urllib.error.HTTPError as e:
        data, status = e.read(), e.code
    except (OSError, ValueError, http.client.HTTPException) as e:  # reset, refused, timed out
        return Answer(0, time.perf_counter() - t0, error=f"{type(e).__name__}: {e}")
    seconds = time.perf_counter() - t0
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = None
    return Answer(status, seconds, parsed)
