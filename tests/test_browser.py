"""Real-browser tests: headless Debian Chromium via Playwright, at phone and desktop widths.

Screenshots go to tests/_artifacts/ (gitignored). Without Chromium these tests are skipped,
unless RUSTSEG_REQUIRE_BROWSER=1 (set by .ci/run when Chromium exists): then they fail.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rustseg_core.store import Store
from tests.synthetic import rust_image

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("RUSTSEG_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "_artifacts"
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -r requirements-dev.txt)"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set RUSTSEG_CHROMIUM)"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = _browser_missing()
    if reason:
        if os.environ.get("RUSTSEG_REQUIRE_BROWSER") == "1":
            pytest.fail(f"RUSTSEG_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tiny_segmenter, tmp_path_factory):
    """The app on a local port, served from a thread of this process (no fork after TF)."""
    from werkzeug.serving import make_server

    from app import create_app

    store_dir = tmp_path_factory.mktemp("browser") / "store"
    app = create_app({"SEGMENTER": tiny_segmenter, "STORE_DIR": str(store_dir),
                      "SECRET_KEY": "browser-test", "MAX_UPLOAD_MB": 2})
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}", store_dir
    srv.shutdown()
    thread.join(5)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    """A rusty and a clean 'camera' photo (4:3, bigger than the working size)."""
    d = tmp_path_factory.mktemp("photos")
    out = {}
    for name, rust in (("rusty", True), ("clean", False)):
        img, _ = rust_image(np.random.default_rng(11), 96, rust=rust)
        big = Image.fromarray(img).resize((1280, 1280), Image.BILINEAR).crop((0, 160, 1280, 1120))
        out[name] = d / f"{name}.jpg"
        big.save(out[name], quality=90)
    return out


@pytest.fixture(scope="module", autouse=True)
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def _new_page(browser, viewport: str, js: bool = True):
    phone = viewport == "phone"
    ctx = browser.new_context(viewport=VIEWPORTS[viewport], device_scale_factor=2 if phone else 1,
                              is_mobile=phone, has_touch=phone, java_script_enabled=js)
    return ctx, ctx.new_page()


def _no_horizontal_scroll(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"page is {overflow}px wider than the viewport"


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_upload_reaches_the_result_page(browser, server, photos, viewport):
    base, store_dir = server
    before = Store(store_dir).records()
    ctx, page = _new_page(browser, viewport)
    try:
        page.goto(base + "/")
        assert page.locator("h1").inner_text() == "Is there corrosion in this photo?"
        _no_horizontal_scroll(page)
        # A phone takes the photo with the camera input; a desktop has only "choose".
        camera = page.locator("label.camera")
        if viewport == "phone":
            assert camera.is_visible()
            page.set_input_files("#photo-camera", str(photos["rusty"]))
        else:
            assert not camera.is_visible()
            page.set_input_files("#photo", str(photos["rusty"]))
        page.locator("[data-preview]").wait_for(state="visible")  # the JS preview
        assert page.locator("[data-file-name]").inner_text() == "rusty.jpg"
        assert not page.locator("input[name=keep]").is_checked()
        page.screenshot(path=str(ARTIFACTS / f"home-{viewport}.png"), full_page=True)
        page.get_by_role("button", name="Analyse photo").click()
        page.wait_for_url("**/analyse")
        heading = page.locator("h1")
        assert heading.inner_text() == "Corrosion detected"
        assert "%" in page.locator("[data-probability]").inner_text()
        for img in page.locator("figure img").all():
            assert img.evaluate("i => i.complete && i.naturalWidth > 0")
        _no_horizontal_scroll(page)
        first, second = (page.locator(".figures.pair figure").nth(i).bounding_box() for i in (0, 1))
        assert "corroded areas marked" in page.locator(".figures.pair figure img").first.get_attribute("alt")
        grade = page.locator("[data-grade]").bounding_box()
        if viewport == "phone":
            assert second["y"] >= first["y"] + first["height"] - 1  # stacked
            assert first["width"] > 0.8 * VIEWPORTS["phone"]["width"]
            # The verdict and the marked photo come first (on the first screen); the grade after.
            assert first["y"] < VIEWPORTS["phone"]["height"] and grade["y"] > first["y"] + first["height"]
        else:
            assert abs(second["y"] - first["y"]) < 2 and second["x"] > first["x"] + first["width"]
        # Long values read as sentences, not a word per line.
        assert page.locator("[data-distribution]").bounding_box()["width"] > 0.35 * VIEWPORTS[viewport]["width"]
        page.screenshot(path=str(ARTIFACTS / f"result-{viewport}.png"), full_page=True)
    finally:
        ctx.close()
    assert Store(store_dir).records() == before  # no consent, nothing kept


def test_no_corrosion_is_said_clearly(browser, server, photos):
    base, _ = server
    ctx, page = _new_page(browser, "phone")
    try:
        page.goto(base + "/")
        page.set_input_files("#photo", str(photos["clean"]))
        page.get_by_role("button", name="Analyse photo").click()
        page.wait_for_url("**/analyse")
        assert page.locator("h1").inner_text() == "No corrosion detected"
        assert "%" in page.locator("[data-probability]").inner_text()
        page.screenshot(path=str(ARTIFACTS / "result-clean-phone.png"), full_page=True)
    finally:
        ctx.close()


def test_kept_photo_and_feedback_without_javascript(browser, server, photos):
    base, store_dir = server
    ctx, page = _new_page(browser, "phone", js=False)
    try:
        page.goto(base + "/")
        page.set_input_files("#photo", str(photos["rusty"]))
        page.check("input[name=keep]")
        page.check("input[value=advanced]")
        page.screenshot(path=str(ARTIFACTS / "home-nojs-phone.png"))
        page.get_by_role("button", name="Analyse photo").click()
        page.wait_for_url("**/r/*")
        record_id = page.url.rsplit("/", 1)[-1]
        assert page.get_by_role("heading", name="Was this right?").is_visible()
        page.get_by_role("button", name="No rust in this photo").click()
        page.wait_for_url(f"**/r/{record_id}#feedback")
        assert "Thank you" in page.locator(".notice").first.inner_text()
        page.screenshot(path=str(ARTIFACTS / "kept-feedback-phone.png"), full_page=True)
    finally:
        ctx.close()
    rec = Store(store_dir).get(record_id)
    assert rec.verdict == "no_rust" and rec.mode == "advanced"


def test_submitting_without_a_photo_is_stopped_by_the_script(browser, server):
    base, _ = server
    ctx, page = _new_page(browser, "desktop")
    try:
        page.goto(base + "/")
        page.get_by_role("button", name="Analyse photo").click()
        message = page.locator("[data-size-error]")
        message.wait_for(state="visible")
        assert "Choose a photo" in message.inner_text()
        assert page.url == base + "/"
    finally:
        ctx.close()


def test_oversize_photo_is_refused_before_upload(browser, server, tmp_path):
    base, _ = server
    big = tmp_path / "huge.jpg"
    big.write_bytes(os.urandom(3 * 1024 * 1024))  # the server's limit here is 2 MB
    ctx, page = _new_page(browser, "phone")
    try:
        page.goto(base + "/")
        page.set_input_files("#photo", str(big))
        message = page.locator("[data-size-error]")
        message.wait_for(state="visible")
        assert "larger than 2 MB" in message.inner_text()
        page.get_by_role("button", name="Analyse photo").click()
        page.wait_for_timeout(300)
        assert page.url == base + "/"  # the script stopped the upload
    finally:
        ctx.close()


def test_error_page_in_site_style(browser, server):
    base, _ = server
    ctx, page = _new_page(browser, "desktop")
    try:
        resp = page.goto(base + "/r/does-not-exist")
        assert resp.status == 404
        assert page.locator("h1").inner_text() == "Page not found"
        assert page.locator(".site-header").is_visible()
        page.screenshot(path=str(ARTIFACTS / "error-404-desktop.png"), full_page=True)
    finally:
        ctx.close()


def test_artifacts_are_gitignored():
    ignored = (Path(__file__).resolve().parent.parent / ".gitignore").read_text()
    assert "tests/_artifacts/" in ignored
