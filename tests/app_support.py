"""Helpers shared by the web-app tests (their fixtures, ``app`` and ``store_dir``, are in
conftest.py)."""
from __future__ import annotations

import io
import os
import re
import threading

import numpy as np

from tests.synthetic import encode, rust_image

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


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


class ClientLoop:
    """``n`` client threads, each running ``self._run(i)`` until ``self._stop`` is set:
    started when the ``with`` block begins, stopped and joined when it ends."""

    join_timeout_s = 90.0

    def __init__(self, n: int):
        self._stop, self._lock = threading.Event(), threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(n)]

    def _run(self, i: int) -> None:
        raise NotImplementedError

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(self.join_timeout_s)


def errors_from_threads(work, n: int) -> list[Exception]:
    """Run ``work(i)`` for ``i`` in ``range(n)`` on ``n`` threads at once; what they raised."""
    errors: list[Exception] = []

    def run(i: int) -> None:
        try:
            work(i)
        except Exception as e:  # reported to the caller
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors
