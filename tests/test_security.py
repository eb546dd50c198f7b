"""Security basics: headers on every response, no listing or serving of arbitrary files,
unguessable server-made ids and names, and the secret key rules."""
from __future__ import annotations

import io
import os
import re
import string
import subprocess
import sys
from pathlib import Path

import pytest

from app.security import CONTENT_SECURITY_POLICY
from rustseg_core.store import Store, is_valid_id
from rustseg_core.vocabulary import OUTPUT_FILES
from tests.synthetic import format_of
from tests.app_support import csrf_token, photo_bytes, post_photo

ROOT = Path(__file__).resolve().parent.parent
MARKER = b"--ORIGINAL-UPLOAD-MARKER--"  # appended to a kept JPEG: must never come back


def _kept(client, name: str = "photo.jpg") -> str:
    resp = post_photo(client, photo_bytes() + MARKER, filename=name, keep=True)
    assert resp.status_code == 303
    return resp.headers["Location"].rsplit("/", 1)[-1]


def _csp(resp) -> dict[str, list[str]]:
    out = {}
    for part in resp.headers["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        out[name] = values
    return out


# -- headers ------------------------------------------------------------------------------------

def _responses(client) -> dict[str, object]:
    """One response of every kind the site sends."""
    record_id = _kept(client)
    token = csrf_token(client)
    return {
        "home": client.get("/"),
        "result": post_photo(client, photo_bytes(), token=token),
        "kept result": client.get(f"/r/{record_id}"),
        "kept image": client.get(f"/r/{record_id}/overlay.jpg"),
        "kept json": client.get(f"/r/{record_id}/result.json"),
        "api": client.post("/api/v1/segment", data={"image": (io.BytesIO(photo_bytes()), "p.jpg")},
                           content_type="multipart/form-data"),
        "api error": client.post("/api/v1/segment", data={}),
        "health": client.get("/healthz"),
        "static": client.get("/static/css/site.css"),
        "404": client.get("/nowhere"),
        "405": client.get("/api/v1/segment"),
        "400 csrf": client.post("/analyse", data={"mode": "standard"}),
        "413": post_photo(client, os.urandom(2 * 1024 * 1024), token=token),
    }


def test_every_response_carries_the_security_headers(client):
    for kind, resp in _responses(client).items():
        h = resp.headers
        assert h.get("X-Content-Type-Options") == "nosniff", kind
        assert h.get("X-Frame-Options") == "DENY", kind
        assert h.get("Referrer-Policy") == "no-referrer", kind  # result URLs are secrets
        csp = _csp(resp)
        assert csp["frame-ancestors"] == ["'none'"], kind
        assert csp["default-src"] == ["'none'"] and csp["object-src"] == ["'none'"], kind
        assert csp["form-action"] == ["'self'"] and csp["base-uri"] == ["'none'"], kind
        assert "Strict-Transport-Security" not in h  # only behind HTTPS (secure cookies)


def test_csp_allows_no_other_site_and_no_inline_code():
    for directive, value in CONTENT_SECURITY_POLICY.items():
        for source in value.split():
            assert source in ("'self'", "'none'", "data:", "blob:"), (directive, source)
    assert CONTENT_SECURITY_POLICY["script-src"] == "'self'"  # no data:, no 'unsafe-inline'
    assert CONTENT_SECURITY_POLICY["style-src"] == "'self'"


INLINE_CODE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=|javascript:", re.I)


def test_pages_need_nothing_the_csp_forbids(client):
    """No inline script, style attribute, event handler or external URL in any page."""
    for kind, resp in _responses(client).items():
        if resp.mimetype != "text/html":
            continue
        page = resp.get_data(as_text=True)
        assert not INLINE_CODE.search(page), (kind, INLINE_CODE.search(page))
        assert not re.search(r'(?:src|href|action)="(?:https?:)?//', page), kind


def test_hsts_behind_https(tiny_segmenter, tmp_path):
    from app import create_app

    secure = create_app({"SEGMENTER": tiny_segmenter, "STORE_DIR": "",
                         "SESSION_COOKIE_SECURE": True})
    assert secure.test_client().get("/").headers["Strict-Transport-Security"].startswith("max-age=")


def test_session_cookie_is_http_only_and_same_site(client):
    cookie = client.get("/").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


# -- no listing, no arbitrary files -------------------------------------------------------------

def test_no_listing_and_no_file_outside_the_served_outputs(client, store_dir):  # noqa: F811
    record_id = _kept(client)
    paths = ["/static/", "/static/css/", "/static/../app/config.py", "/static/%2e%2e/app/config.py",
             "/static/..%2fapp%2fconfig.py", "/static/css/../../app/config.py", "/var/store/",
             "/store.sqlite3", "/items/", f"/items/{record_id}/original.jpg", "/r/", "/r/items",
             f"/r/{record_id}/", f"/r/{record_id}/original", f"/r/{record_id}/original.jpg",
             f"/r/{record_id}/summary.json", f"/r/{record_id}/..%2f..%2fstore.sqlite3",
             f"/r/{record_id}/%2e%2e", f"/r/{record_id}/..", "/r/..%2fstore.sqlite3",
             "/r/../store.sqlite3", f"/r/{record_id}/image.jpg/..", "/app/config.py", "/.git/config",
             "/wsgi.py", "/etc/passwd", "/r/%2e%2e%2f%2e%2e%2fetc%2fpasswd"]
    original = (store_dir / "items" / record_id / "original.jpg").read_bytes()
    assert MARKER in original
    for path in paths:
        resp = client.get(path)
        assert resp.status_code in (404, 405, 308), path
        assert resp.status_code != 200, path
        body = resp.get_data()
        assert MARKER not in body and b"SQLite format 3" not in body and b"SECRET_KEY" not in body, path
        assert b"Index of" not in body and b"<li><a href=" not in body, path


def test_only_the_rendered_outputs_are_served_never_the_upload(client, store_dir):  # noqa: F811
    record_id = _kept(client)
    for name in OUTPUT_FILES:
        resp = client.get(f"/r/{record_id}/{name}")
        assert resp.status_code == 200 and MARKER not in resp.data
        assert resp.headers["Cache-Control"] == "no-store"


def test_a_missing_stored_file_is_404_not_500(client, store_dir):  # noqa: F811
    record_id = _kept(client)
    (store_dir / "items" / record_id / "mask.png").unlink()
    assert client.get(f"/r/{record_id}/mask.png").status_code == 404


# -- server-made names and unguessable ids -------------------------------------------------------

@pytest.mark.parametrize("name", ["../../../../tmp/evil.jpg", "C:\\\\Users\\\\x\\\\..\\\\p.jpg",
                                  "ünïcødé 錆 📷.jpg", ".jpg", "x" * 300 + ".jpeg"])
def test_stored_files_are_named_by_the_server(client, store_dir, name):  # noqa: F811
    record_id = _kept(client, name)
    files = sorted(str(p.relative_to(store_dir)) for p in store_dir.rglob("*") if p.is_file()
                   and "items" in p.parts)
    assert files == sorted(f"items/{record_id}/{f}" for f in
                           ("original.jpg", "summary.json", *OUTPUT_FILES))
    assert not Path("/tmp/evil.jpg").exists()


def test_ids_are_random_128_bit_tokens(tmp_path):
    store = Store(tmp_path)
    original = photo_bytes()
    outputs = {name: b"x" for name in OUTPUT_FILES}
    summary = {"probability": 0.9, "decision": "corrosion", "mode": "standard",
               "area_fraction": 0.1, "model_version": "t"}
    ids = [store.save(original, summary, outputs, image_format=format_of(original)).id for _ in range(64)]  # same photo each time
    assert len(set(ids)) == len(ids)
    assert all(is_valid_id(i) and len(i) == 22 for i in ids)  # 22 url-safe characters = 128 bits
    # No shared prefix or order (a counter or a timestamp would show one).
    assert max(len(os.path.commonprefix([a, b])) for a in ids for b in ids if a != b) <= 3
    assert ids != sorted(ids)
    seen = set("".join(ids))
    assert len(seen) >= 55 and seen <= set(string.ascii_letters + string.digits + "-_")


def test_a_kept_result_is_only_reachable_by_its_exact_id(client):
    record_id = _kept(client)
    assert client.get(f"/r/{record_id}").status_code == 200
    near = [record_id[:-1] + ("A" if record_id[-1] != "A" else "B"), record_id.lower(),
            record_id.upper(), record_id[:-1], record_id + "A"]
    for other in near:
        if other != record_id:
            assert client.get(f"/r/{other}").status_code == 404, other


# -- secret key ---------------------------------------------------------------------------------

def _gunicorn_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUSTSEG_")}
    env.update(RUSTSEG_BIND="127.0.0.1:0", RUSTSEG_WORKERS="1", **extra)
    return env


def test_gunicorn_refuses_to_start_in_production_without_a_key():
    proc = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                          cwd=ROOT, env=_gunicorn_env(RUSTSEG_PRODUCTION="1"), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0
    assert "RUSTSEG_SECRET_KEY must be set in production" in proc.stderr
    assert "Booting worker" not in proc.stderr  # refused before any worker (or TensorFlow) started


def test_production_app_refuses_missing_dev_and_short_keys(tiny_segmenter, monkeypatch):
    from app import create_app
    from app.config import DEV_SECRET_KEY

    monkeypatch.delenv("RUSTSEG_SECRET_KEY", raising=False)
    for key in (None, "", DEV_SECRET_KEY, "k" * 31):
        with pytest.raises(RuntimeError, match="RUSTSEG_SECRET_KEY"):
            create_app({"SEGMENTER": tiny_segmenter, "STORE_DIR": "", "PRODUCTION": True,
                        "SECRET_KEY": key})
    good = "k" * 32
    made = create_app({"SEGMENTER": tiny_segmenter, "STORE_DIR": "", "PRODUCTION": True,
                       "SECRET_KEY": good})
    assert made.config["SECRET_KEY"] == good


# -- in a real browser: the CSP blocks nothing the site uses -------------------------------------

def test_csp_blocks_nothing_in_a_real_browser(tiny_segmenter, tmp_path):
    from tests.test_browser import CHROMIUM, _browser_missing

    reason = _browser_missing()
    if reason:
        if os.environ.get("RUSTSEG_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    import threading

    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    from app import create_app

    site = create_app({"SEGMENTER": tiny_segmenter, "STORE_DIR": str(tmp_path / "s"),
                       "SECRET_KEY": "csp-test"})
    srv = make_server("127.0.0.1", 0, site, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    photo = tmp_path / "rust.jpg"
    photo.write_bytes(photo_bytes())
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM)
            page = browser.new_page()
            page.add_init_script("window.__csp = []; document.addEventListener("
                                 "'securitypolicyviolation', e => window.__csp.push("
                                 "e.violatedDirective + ' ' + e.blockedURI));")
            page.goto(f"http://127.0.0.1:{srv.server_port}/")
            page.set_input_files("input[type=file]:not([capture])", str(photo))
            page.locator("[data-preview]").wait_for(state="visible")  # blob: preview allowed
            assert page.evaluate("window.__csp") == []
            page.click("[data-submit]")
            page.wait_for_selector("#verdict-title")
            assert page.evaluate("window.__csp") == []  # data: images of the result
            loaded = page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
            assert loaded
            browser.close()
    finally:
        srv.shutdown()
