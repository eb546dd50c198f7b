"""Uploads stay in memory: a photo nobody agreed to keep must never reach the disk."""
from __future__ import annotations

import io
from typing import IO

from flask import Request


class InMemoryRequest(Request):
    """Werkzeug spools uploads over 500 KB to a temporary file; keep them in RAM instead.

    The request size is capped by ``MAX_CONTENT_LENGTH`` (a few tens of MB), so this is
    bounded, and without consent nothing of the photo is written anywhere.
    """

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        return io.BytesIO()
