"""Two gunicorn servers on different loopback ports sharing one PostgreSQL store: keeps,
verdicts and corrected masks sent through both at once, one server killed (SIGKILL, master
and workers) while requests are in flight. Afterwards: every acknowledged keep is there with
its bytes, every acknowledged mask version and verdict too, no id is used twice, and at no
moment was a partial record visible."""
from __future__ import annotations

import http.client
import http.cookiejar
import io
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest
from PIL import Image

from benchmarks.loopback import GunicornServer
from benchmarks.upload_client import segment
from rustseg_core.store import open_store
from tests.app_support import CSRF_RE, ClientLoop
from tests.synthetic import encode, rust_image
from tests.test_faults import _wait_until

pytestmark = pytest.mark.slow
SIZE = 96  # photo side: the corrected masks sent are this size


def _photo(seed: int) -> bytes:
    img, _ = rust_image(np.random.default_rng(seed), SIZE, rust=True)
    return encode(img, "JPEG", quality=90)


def _mask(seed: int) -> bytes:
    buf = io.BytesIO()
    arr = np.where(np.random.default_rng(seed).random((SIZE, SIZE)) > 0.6, 255, 0).astype(np.uint8)
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def _put_mask(base: str, record_id: str, png: bytes) -> int | None:
    """PUT a corrected mask; the version the server acknowledged, or ``None``."""
    req = urllib.request.Request(f"{base}/api/v1/results/{record_id}/mask", data=png, method="PUT",
                                 headers={"Content-Type": "image/png"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())["version"] if resp.status == 201 else None
    except (OSError, ValueError, http.client.HTTPException):  # cut short by the kill: not acknowledged
        return None


def _verdict(base: str, record_id: str, verdict: str) -> bool:
    """Answer "was this right?" with the page's form (session cookie + CSRF token)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                         _NoRedirect)
    try:
        with opener.open(f"{base}/r/{record_id}", timeout=60) as resp:
            token = CSRF_RE.search(resp.read().decode()).group(1)
        body = urllib.parse.urlencode({"verdict": verdict, "csrf_token": token}).encode()
        opener.open(urllib.request.Request(f"{base}/r/{record_id}/feedback", data=body), timeout=60)
    except urllib.error.HTTPError as e:
        return e.code == 303
    except (OSError, AttributeError, http.client.HTTPException):  # e.g. a page cut short by the kill
        return False
    return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the 303 itself is the acknowledgement


class _Clients(ClientLoop):
    """Threads that keep a photo on one server, then correct it and answer "was this
    right?" on the other, in a loop; every acknowledged write is recorded."""

    join_timeout_s = 120.0

    def __init__(self, urls: list[str], n: int = 4):
        super().__init__(n)
        self.urls = urls
        self.kept: dict[str, int] = {}  # id → photo seed
        self.ids: list[str] = []  # every acknowledged id, duplicates included
        self.masks: list[tuple[str, int, int]] = []  # (id, version, mask seed)
        self.verdicts: dict[str, str] = {}
        self.answers = 0

    def _run(self, i: int) -> None:
        k = 0
        while not self._stop.is_set():
            seed = 10_000 * i + k
            here, there = self.urls[k % 2], self.urls[(k + 1) % 2]
            k += 1
            answer = segment(here, _photo(seed), keep=True, timeout=60)
            with self._lock:
                self.answers += 1
            rid = answer.kept_id
            if rid is None:
                continue
            with self._lock:
                self.kept[rid] = seed
                self.ids.append(rid)
            version = _put_mask(there, rid, _mask(seed))
            if version is not None:
                with self._lock:
                    self.masks.append((rid, version, seed))
            if _verdict(here, rid, "wrong"):
                with self._lock:
                    self.verdicts[rid] = "wrong"


def _kill(server: GunicornServer) -> None:
    """SIGKILL the master and its workers at once: the whole server dies mid-request."""
    for pid in [server.proc.pid, *server.worker_pids()]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    server.proc.wait(10)


def test_two_servers_share_one_postgres_store(tiny_model_dir, pg_url, tmp_path):
    env = {"RUSTSEG_DATABASE_URL": pg_url, "RUSTSEG_SECRET_KEY": "two-servers-" + "k" * 32,
           "RUSTSEG_MAX_REQUESTS": "0"}
    servers = [GunicornServer(model=tiny_model_dir, log_path=tmp_path / f"gunicorn{i}.log",
                              workers=1, threads=4, env=env).launch() for i in range(2)]
    store = open_store(pg_url)
    seen_partial: list = []
    auditing = threading.Event()

    def auditor() -> None:  # at every moment: no record or mask version without its bytes
        while auditing.is_set():
            check = store.check()
            if not check.ok or check.orphans or check.stray_corrections:
                seen_partial.append(check)
            time.sleep(0.02)

    try:
        for s in servers:
            s.wait_ready(1, 300)
        audit = threading.Thread(target=auditor)
        auditing.set()
        audit.start()
        with _Clients([s.url for s in servers]) as clients:
            _wait_until(lambda: len(clients.masks) >= 6 and len(clients.verdicts) >= 4, 90,
                        "keeps and feedback through both servers")
            _kill(servers[1])  # four clients never pause: requests are in flight on it
            before = clients.answers
            _wait_until(lambda: clients.answers >= before + 8, 60, "requests after the kill")
        auditing.clear()
        audit.join()
    finally:
        auditing.clear()
        for s in servers:
            s.stop()
    assert seen_partial == []
    assert len(clients.ids) == len(set(clients.ids)), "an id was handed out twice"
    records = {r.id: r for r in store.records()}
    assert len(records) >= len(clients.kept)  # a keep cut short by the kill may have committed
    for rid, seed in clients.kept.items():  # nothing acknowledged is lost
        assert rid in records, f"acknowledged keep {rid} lost"
        assert store.read_file(records[rid], "original") == _photo(seed)
    for rid, version, seed in clients.masks:
        saved = {c.version: c for c in store.corrections(rid)}
        assert version in saved, f"acknowledged mask {rid} v{version} lost"
        got = np.asarray(Image.open(io.BytesIO(store.read_correction(saved[version])))) > 0
        assert np.array_equal(got, np.asarray(Image.open(io.BytesIO(_mask(seed)))) > 0)
    for rid, verdict in clients.verdicts.items():
        assert records[rid].verdict == verdict
    check = store.check()
    assert check.ok and check.rows == len(records) and check.orphans == check.stray_corrections == ()
