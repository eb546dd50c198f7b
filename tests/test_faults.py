"""Faults on a real server: gunicorn on a free 127.0.0.1 port with the tiny model, a 3 s
worker timeout, two workers × two threads, and clients keeping photos while a worker

- stops answering for longer than the timeout (SIGSTOP: what a C call holding the GIL or a
  stuck request looks like to the master, which then kills the worker), or
- crashes (SIGKILL).

Acknowledged uploads (answered 200 with ``kept: true``) must all be in the store, whole;
nothing partial may be visible; the server must go on serving, including after bad input.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import time

import numpy as np
import pytest

from benchmarks.loopback import TIMEOUT_RE, GunicornServer, get_json, require_loopback
from benchmarks.upload_client import Answer, segment
from rustseg_core.store import Store
from tests.app_support import ClientLoop
from tests.synthetic import encode, rust_image
from tests.test_bad_inputs import png_bomb

pytestmark = pytest.mark.slow
WORKER_TIMEOUT_S = 3


def _photo(seed: int) -> bytes:
    img, _ = rust_image(np.random.default_rng(seed), 96, rust=True)
    return encode(img, "JPEG", quality=90)


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    srv = GunicornServer(model=tiny_model_dir, log_path=root / "gunicorn.log",
                         store_dir=root / "store", workers=2, threads=2,
                         env={"RUSTSEG_TIMEOUT": str(WORKER_TIMEOUT_S), "RUSTSEG_MAX_REQUESTS": "0",
                              "RUSTSEG_SECRET_KEY": "faults-test-" + "k" * 32,
                              "RUSTSEG_MAX_UPLOAD_MB": "2"})
    with srv:
        yield srv


class _Uploaders(ClientLoop):
    """Clients keeping photos in a loop until stopped; every answer is recorded."""

    def __init__(self, url: str, n: int = 4):
        super().__init__(n)
        self.url, self.answers = url, []

    def _run(self, i: int) -> None:
        k = 0
        while not self._stop.is_set():
            answer = segment(self.url, _photo(1000 * i + k), keep=True, timeout=60)
            with self._lock:
                self.answers.append(answer)
            k += 1

    def acknowledged(self) -> list[str]:
        return [a.kept_id for a in self.answers if a.kept_id]


def _wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _assert_store_whole(store: Store, acknowledged: list[str], server: GunicornServer) -> None:
    check = store.check()
    assert check.ok, f"partial records: {check.incomplete}"
    for rid in acknowledged:
        assert store.get(rid) is not None, f"acknowledged upload {rid} lost"
    # Leftovers of the killed saves (if any) are invisible and swept without touching records.
    for stray in check.orphans + check.staging:
        status, _ = get_json(f"{server.url}/r/{stray}/result.json")
        assert status == 404
    rows = check.rows
    store.sweep(older_than_s=0)
    assert store.check().rows == rows


def _kill_mid_upload(server: GunicornServer, how: signal.Signals) -> tuple[int, list[Answer], list[str]]:
    """Keep photos from 4 clients, hit a worker with ``how`` while they run, go on until a
    replacement worker is ready, and return (victim pid, answers, acknowledged ids)."""
    victim = server.wait_ready(2)[0]
    with _Uploaders(server.url) as clients:
        _wait_until(lambda: len(clients.answers) >= 6, 60, "the first uploads")
        os.kill(victim, how)
        if how == signal.SIGSTOP:  # the master kills it after the timeout
            _wait_until(lambda: victim not in server.worker_pids(), WORKER_TIMEOUT_S + 30,
                        "the master to kill the stopped worker")
        _wait_until(lambda: len(server.ready_pids()) == 2 and victim not in server.ready_pids(),
                    180, "a replacement worker")
        done = len(clients.answers)
        _wait_until(lambda: len(clients.answers) >= done + 4, 60, "uploads to the new workers")
    return victim, clients.answers, clients.acknowledged()


@pytest.mark.parametrize("how", [signal.SIGSTOP, signal.SIGKILL], ids=["worker_timeout", "worker_crash"])
def test_acknowledged_uploads_survive_a_dying_worker(server, how):
    store = Store(server.store_dir)
    before = [segment(server.url, _photo(s), keep=True).kept_id for s in range(3)]
    assert all(before)
    victim, answers, acknowledged = _kill_mid_upload(server, how)
    if how == signal.SIGSTOP:
        assert str(victim) in TIMEOUT_RE.findall(server.log_text())
    assert victim not in server.worker_pids()
    # Only requests caught in the dead worker may fail, and only as "no answer" (or 5xx
    # from gunicorn); everything else was served.
    failed = [a for a in answers if a.status != 200]
    assert all(a.status == 0 or a.status >= 500 for a in failed), [(a.status, a.error) for a in failed]
    assert len(failed) <= 4, "more failures than the 4 clients' requests in flight could explain"
    assert len(acknowledged) >= 8
    _assert_store_whole(store, before + acknowledged, server)
    after = segment(server.url, _photo(99), keep=True)
    assert after.status == 200 and store.get(after.kept_id) is not None


BAD_UPLOADS = {
    "empty.jpg": (b"", 400),
    "truncated.jpg": (_photo(5)[:400], 400),
    "notes.jpg": (b"plain text " * 50, 415),
    "bomb.png": (png_bomb(), 413),
}


def _oversize_raw(url: str, declared: int = 1 << 30) -> bytes:
    """Send headers claiming a 1 GiB upload plus 64 KB of it; return the server's first bytes."""
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"POST /api/v1/segment HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Type: multipart/form-data; boundary=b\r\n"
                  b"Content-Length: %d\r\n\r\n" % declared)
        try:
            s.sendall(b"\xff" * 65536)
        except OSError:  # the server may already have answered and closed
            pass
        return s.recv(4096)


def test_bad_input_never_crashes_a_worker(server):
    workers = server.wait_ready(2)
    for name, (data, status) in BAD_UPLOADS.items():
        answer = segment(server.url, data, filename=name)
        assert answer.status == status, (name, answer)
        assert answer.body["error"]["status"] == status
    t0 = time.monotonic()
    head = _oversize_raw(server.url)
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    assert time.monotonic() - t0 < 10  # answered at once, not after reading 1 GiB
    assert sorted(server.worker_pids()) == sorted(workers)  # no worker died or was replaced
    assert get_json(server.url + "/healthz")[0] == 200
    assert segment(server.url, _photo(7)).status == 200


# -- the load script (benchmarks/load_test.py) against this server -------------------------------

def test_load_script_reports_latency_errors_and_worker_memory(server, capsys):
    from benchmarks import load_test

    code = load_test.main(["--url", server.url, "--server-pid", str(server.proc.pid),
                           "--clients", "3", "--uploads", "4", "--warmup", "1", "--modes", "default,advanced",
                           "--sample-every", "0.2", "--max-rss-growth", "1.0"])
    out = capsys.readouterr().out
    assert code == 0, out
    # Each mode in turn, the model's default first (what a user who sends no mode gets).
    assert re.findall(r"### mode: (\w+) \(answered in (\w+)\)", out) == [("default", "standard"),
                                                                         ("advanced", "advanced")]
    assert out.count("requests: 12 of 12") == 2 and "errors: 0" in out and "200 × 12" in out
    assert re.search(r"latency \(s\): p50 [\d.]+, p95 [\d.]+, max [\d.]+", out)
    assert len(re.findall(r"  pid \d+: \d+ → \d+", out)) == 4  # both workers' RSS, per mode
    assert "other processes kept on average" in out


@pytest.mark.parametrize("url", ["http://10.0.0.1:8000", "http://example.com", "https://8.8.8.8",
                                 "http://127.0.0.1.example.com", "ftp://127.0.0.1/"])
def test_load_script_refuses_anything_but_loopback(url):
    from benchmarks import load_test

    with pytest.raises(SystemExit) as e:
        load_test.main(["--url", url])
    assert e.value.code == 2
    assert require_loopback("http://localhost:8000/") == "http://localhost:8000"


def test_a_worker_without_a_model_does_not_say_ready(tmp_path):
    """"Worker ready" means the model is loaded: load tests and operators wait for it."""
    srv = GunicornServer(model=tmp_path / "no-model", log_path=tmp_path / "gunicorn.log", workers=1,
                         threads=1, env={"RUSTSEG_SECRET_KEY": "no-model-test-" + "k" * 32})
    try:
        srv.launch().wait_for_log(r"Worker up WITHOUT a model.*no-model", timeout=120)
        assert get_json(srv.url + "/healthz")[0] == 503
        assert "Worker ready" not in srv.log_text()
    finally:
        srv.stop()
