"""Fixtures and helpers shared by the web-app tests (imported by tests/test_app_*.py)."""
from __future__ import annotations

import io
import os
import re

import numpy as np
import pytest

from tests.synthetic import encode, rust_image

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def store_dir(tmp_path):
    """Where the app's opt-in store lives in a test (not created until something is kept)."""
    return tmp_path / "store"


@pytest.fixture
def app(tiny_segmenter, store_dir):
    """The app with the tiny session model injected and a 1 MB upload limit (cheap 413s)."""
    from app import create_app

    return create_app({"TESTING": True, "SEGMENTER": tiny_segmenter, "STORE_DIR": str(store_dir),
                       "SECRET_KEY": "test-secret", "MAX_UPLOAD_MB": 1})


def photo_bytes(rust: bool = True, fmt: str = "JPEG", size: int = 160, seed: int = 7) -> bytes:
    """A synthetic photo (rust blob on grey metal, or plain metal) encoded as ``fmt``."""
    img, _ = rust_image(np.random.default_rng(seed), size, rust=rust)
    return encode(img, fmt, **({"quality": 92} if fmt == "JPEG" else {}))


def csrf_token(client, path: str = "/") -> str:
    """The CSRF token of the form on ``path`` (also sets the session cookie it belongs to)."""
    resp = client.get(path)
    assert resp.status_code == 200
    m = CSRF_RE.search(resp.get_data(as_text=True))
    assert m, "no csrf_token field on " + path
    return m.group(1)


def post_photo(client, data: bytes | None, filename: str = "photo.jpg", mode: str = "standard",
               keep: bool = False, token: str | None = None, follow: bool = False):
    """Submit the home page form like a browser does."""
    form = {"mode": mode, "csrf_token": token if token is not None else csrf_token(client)}
    if data is not None:
        form["photo"] = (io.BytesIO(data), filename)
    if keep:
        form["keep"] = "y"
    return client.post("/analyse", data=form, content_type="multipart/form-data",
                       follow_redirects=follow)


def data_uris(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(data:[^"]+)"', html)


def file_tree(root) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and mtime (to prove nothing changed)."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            st = os.stat(os.path.join(dirpath, f))
            out[os.path.relpath(os.path.join(dirpath, f), root)] = (st.st_size, st.st_mtime_ns)
    return out
