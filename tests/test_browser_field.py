"""RustSEG on the phone itself, in a real browser (Playwright + Debian's Chromium): the
exported model run by onnxruntime-web, offline after one visit, the phone's queue sent once,
live camera mode with Chromium's fake camera, and bad input. Skipped without Chromium
(failing with RUSTSEG_REQUIRE_BROWSER=1), like tests/test_browser.py."""
from __future__ import annotations

import base64
import io
import shutil
import threading
import time

import numpy as np
import pytest
from PIL import Image

from rustseg_core.learn.metrics import mask_scores
from rustseg_core.store import Store
from tests.synthetic import rust_image
from tests.test_browser import ARTIFACTS, CHROMIUM, VIEWPORTS, _no_horizontal_scroll
from tests.test_browser import artifacts, browser  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def field_model(tiny_unet_dir, tmp_path_factory):
    """The tiny U-Net with its ONNX export (what a phone downloads)."""
    pytest.importorskip("tf2onnx")
    from rustseg_core.learn.onnx_export import export_onnx

    model = shutil.copytree(tiny_unet_dir, tmp_path_factory.mktemp("field") / "unet")
    export_onnx(model)
    return model


@pytest.fixture(scope="module")
def field_server(field_model, tmp_path_factory):
    from werkzeug.serving import make_server

    from app import create_app
    from rustseg_core.pipeline.segmenter import Segmenter

    seg = Segmenter.load(field_model)
    store_dir = tmp_path_factory.mktemp("field-store") / "store"
    app = create_app({"SEGMENTER": seg, "STORE_DIR": str(store_dir), "SECRET_KEY": "field-test" * 4,
                      "MAX_UPLOAD_MB": 4})
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}", store_dir, seg
    srv.shutdown()
    thread.join(5)


@pytest.fixture(scope="module")
def field_photos(tmp_path_factory) -> list:
    d = tmp_path_factory.mktemp("field-photos")
    paths = []
    for i in range(4):
        img, _ = rust_image(np.random.default_rng(30 + i), 96, rust=i != 3)
        big = Image.fromarray(img).resize((800, 600), Image.BILINEAR)
        paths.append(d / f"photo{i}.jpg")
        big.save(paths[-1], quality=92)
    return paths


def _page(browser, viewport="phone"):
    phone = viewport == "phone"
    ctx = browser.new_context(viewport=VIEWPORTS[viewport], device_scale_factor=2 if phone else 1,
                              is_mobile=phone, has_touch=phone)
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(f"script error: {e}"))
    page.on("console", lambda m: m.type == "error" and errors.append(f"console error: {m.text}"))
    return ctx, page, errors


def _ready(page, base):
    """First visit: the page loads the model onto the phone and its service worker takes charge."""
    page.goto(base + "/")
    page.locator("[data-field-ready]").filter(has_text="is on this phone").wait_for(timeout=60000)
    page.evaluate("navigator.serviceWorker.ready")
    if page.evaluate("navigator.serviceWorker.controller === null"):
        page.reload()  # the worker controls the pages opened after it started
        page.locator("[data-field-ready]").filter(has_text="is on this phone").wait_for(timeout=60000)


def _analyse_here(page, photo, keep=False):
    page.set_input_files("#photo", str(photo))
    if keep:
        page.check("input[name=keep]")
    page.get_by_role("button", name="Analyse photo").click()
    page.locator("[data-local-verdict]").wait_for(timeout=60000)


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_offline_after_one_visit_a_photo_is_analysed_and_shows_a_mask(browser, field_server,
                                                                    field_photos, viewport):
    base, _, _ = field_server
    ctx, page, errors = _page(browser, viewport)
    try:
        _ready(page, base)
        ctx.set_offline(True)
        page.reload()
        assert page.locator("h1").inner_text() == "Is there corrosion in this photo?"
        _analyse_here(page, field_photos[0])  # "on the server" is chosen, but there is no server
        overlay = page.locator("[data-local-overlay]")
        assert overlay.evaluate("i => i.complete && i.naturalWidth > 0")
        assert page.locator("[data-local-verdict]").get_attribute("data-local-verdict") in ("corrosion", "not_corrosion")
        assert "%" in page.locator("[data-local-probability]").inner_text()
        assert page.locator("[data-local-severity]").get_attribute("data-local-severity") in (
            "good", "fair", "poor", "severe")
        _no_horizontal_scroll(page)
        page.screenshot(path=str(ARTIFACTS / f"field-offline-{viewport}.png"), full_page=True)
        assert errors == [], errors
    finally:
        ctx.close()


def _browser_mask(page, photo) -> dict:
    page.set_input_files("#photo", str(photo))
    return page.evaluate("""async () => {
        const f = document.querySelector('#photo').files[0];
        const m = await window.rustsegField.load();
        const { result } = await window.rustsegField.analyseFile(f, m);
        const blob = await window.rustsegField.imageDataToBlob(
            window.rustsegField.maskToImageData(result.mask, result.width, result.height), 'image/png');
        const url = await new Promise((r) => { const fr = new FileReader(); fr.onload = () => r(fr.result);
                                                fr.readAsDataURL(blob); });
        return { probability: result.probability, isCorrosion: result.isCorrosion, mask: url,
                 width: result.width, height: result.height };
    }""")


def server_mask(seg, data: bytes) -> tuple[float, bool, np.ndarray]:
    """The server's learned mode at the working size, as both pages show it: (probability,
    decision, mask), the mask empty when the photo is called clean (the phone draws none then,
    and comparing its empty mask with an ungated one scored a clean photo's IoU 0)."""
    photo = seg.decode(data)
    ev = seg.learned_evidence(photo.image)
    decided = ev.probability > seg.threshold
    mask = seg.mask_from_evidence(photo.image, ev, "learned", photo.image.shape[:2])
    return ev.probability, decided, mask if decided else np.zeros_like(mask)


def mask_iou(browser_png: str, server: np.ndarray) -> float:
    got = Image.open(io.BytesIO(base64.b64decode(browser_png.split(",", 1)[1]))).convert("L")
    got = np.asarray(got.resize(server.shape[::-1], Image.NEAREST)) > 127
    return mask_scores(got, server)["iou"]


def test_the_phone_and_the_server_give_the_same_answer(browser, field_server, field_photos):
    base, _, seg = field_server
    ctx, page, errors = _page(browser, "desktop")
    try:
        _ready(page, base)
        for photo in field_photos:
            got = _browser_mask(page, photo)
            p, decided, mask = server_mask(seg, photo.read_bytes())
            assert got["isCorrosion"] == decided, photo.name
            assert got["probability"] == pytest.approx(p, abs=0.02), photo.name
            if decided:
                assert mask_iou(got["mask"], mask) >= 0.95, photo.name
        assert errors == [], errors
    finally:
        ctx.close()


def _kept(store_dir) -> list:
    s = Store(store_dir)
    return s.records() if s.exists() else []


def test_an_offline_photo_with_consent_is_kept_exactly_once(browser, field_server, field_photos):
    base, store_dir, _ = field_server
    before = len(_kept(store_dir))
    ctx, page, errors = _page(browser)
    try:
        _ready(page, base)
        ctx.set_offline(True)
        page.reload()
        _analyse_here(page, field_photos[1], keep=True)
        assert page.locator("[data-local-stored]").get_attribute("data-local-stored") == "waiting"
        assert page.locator("[data-queue-item=waiting]").count() == 1
        # The first upload never answers (the page is closed mid-upload); then a reload resends it.
        held = []
        page.route("**/api/v1/segment", lambda route: held.append(route))
        ctx.set_offline(False)
        page.evaluate("window.dispatchEvent(new Event('online'))")
        deadline = time.monotonic() + 20
        while not held and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        assert held, "the queue did not start sending"
        page.unroute("**/api/v1/segment")
        page.reload()  # mid-upload: the entry is still waiting and is sent again, with its key
        page.locator("[data-queue-item=sent]").wait_for(timeout=30000)
        for route in held:  # the first attempt reaches the server too (if the reload did not already let it)
            try:
                route.continue_()
            except Exception:
                pass
        page.wait_for_timeout(1500)
        kept = _kept(store_dir)
        assert len(kept) == before + 1, [r.id for r in kept]
        page.reload()
        page.locator("[data-queue-item=sent]").wait_for()
        page.wait_for_timeout(500)
        assert len(_kept(store_dir)) == before + 1  # nothing sent twice after more reloads
        page.locator("[data-queue-item=sent] [data-delete]").click()
        page.locator("[data-queue-item]").first.wait_for(state="detached")
    finally:
        ctx.close()


def test_without_consent_nothing_reaches_the_server(browser, field_server, field_photos):
    base, store_dir, _ = field_server
    before = len(_kept(store_dir))
    ctx, page, errors = _page(browser)
    posts = []
    try:
        _ready(page, base)
        page.on("request", lambda r: r.method == "POST" and posts.append(r.url))
        page.check("input[name=where][value=phone]")
        _analyse_here(page, field_photos[2])
        assert page.locator("[data-local-stored]").get_attribute("data-local-stored") == "phone_only"
        page.evaluate("window.dispatchEvent(new Event('online'))")
        page.reload()
        page.locator("[data-queue-item=phone_only]").first.wait_for()
        page.wait_for_timeout(1000)
        assert posts == [] and len(_kept(store_dir)) == before
        assert errors == [], errors
    finally:
        ctx.close()


def test_bad_input_and_a_model_that_fails_give_clear_messages(browser, field_server, field_photos, tmp_path):
    base, _, _ = field_server
    ctx, page, errors = _page(browser)
    try:
        _ready(page, base)
        page.check("input[name=where][value=phone]")
        text = tmp_path / "notes.jpg"
        text.write_text("this is not a photo")
        page.set_input_files("#photo", str(text))
        page.get_by_role("button", name="Analyse photo").click()
        status = page.locator("[data-field-status]")
        status.filter(has_text="could not be read").wait_for(timeout=20000)
        raw = tmp_path / "IMG_0001.DNG"  # told what to send instead, as the server tells it
        raw.write_bytes(b"II*\x00 a camera's raw file")
        page.set_input_files("#photo", str(raw))
        page.get_by_role("button", name="Analyse photo").click()
        status.filter(has_text="a camera RAW file (DNG, NEF, ...), which RustSEG does not read").wait_for(timeout=20000)
        huge = tmp_path / "huge.png"
        Image.new("L", (9000, 6000)).save(huge)  # 54 MP, over the 50 MP limit, a small file
        page.set_input_files("#photo", str(huge))
        page.get_by_role("button", name="Analyse photo").click()
        status.filter(has_text="the limit is 50 MP").wait_for(timeout=30000)
    finally:
        ctx.close()
    # A model that cannot be downloaded: the page says so, and with a server it asks the server.
    ctx, page, errors = _page(browser)
    try:
        # The context's route also catches the service worker's requests (a page route would not).
        ctx.route("**/model/*.onnx", lambda route: route.abort())
        page.goto(base + "/")
        page.check("input[name=where][value=phone]")
        page.set_input_files("#photo", str(field_photos[0]))
        page.get_by_role("button", name="Analyse photo").click()
        page.wait_for_url("**/analyse", timeout=30000)  # the server's own result page
        assert page.locator("h1").inner_text() in ("Corrosion detected", "No corrosion detected",
                                                   "Possible corrosion", "Probably no corrosion")
    finally:
        ctx.close()


def _y4m(path, photos, frames: int = 30, size=(320, 240)) -> None:
    """A short video for Chromium's fake camera, made from real (here: generated) photos."""
    w, h = size
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            img = Image.open(photos[i * len(photos) // frames]).convert("RGB").resize(size)
            y, cb, cr = img.convert("YCbCr").split()
            f.write(b"FRAME\n" + y.tobytes() + cb.resize((w // 2, h // 2)).tobytes()
                    + cr.resize((w // 2, h // 2)).tobytes())


@pytest.mark.slow  # the default suite stays under 5 minutes
def test_live_mode_with_the_fake_camera(browser, field_server, field_photos, tmp_path):
    base, _, _ = field_server
    video = tmp_path / "camera.y4m"
    _y4m(video, field_photos)
    if True:
        b = browser.browser_type.launch(executable_path=CHROMIUM, args=[
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={video}",
            "--use-fake-ui-for-media-stream"])
        ctx = b.new_context(viewport=VIEWPORTS["phone"], is_mobile=True, has_touch=True,
                            permissions=["camera"])
        page = ctx.new_page()
        try:
            _ready(page, base)
            page.get_by_role("button", name="Start live camera").click()
            rate = page.locator("[data-live-rate]")
            rate.filter(has_text="frames/s").wait_for(timeout=60000)
            deadline = time.monotonic() + 60
            while float(rate.get_attribute("data-fps") or 0) <= 0 and time.monotonic() < deadline:
                page.wait_for_timeout(200)
            assert float(rate.get_attribute("data-fps") or 0) > 0
            first = page.locator("[data-live] canvas").evaluate("c => c.toDataURL().length")
            page.wait_for_timeout(1500)
            assert "frames/s" in rate.inner_text()
            assert page.locator("[data-live] canvas").evaluate("c => c.width") > 0 and first > 0
            page.screenshot(path=str(ARTIFACTS / "field-live-phone.png"))
            page.locator("[data-live] canvas").click()  # a tap keeps this frame
            page.locator("[data-local-verdict]").wait_for(timeout=30000)
            assert page.locator("[data-live]").is_hidden()
            assert page.locator("[data-queue-item]").count() >= 1
        finally:
            b.close()
