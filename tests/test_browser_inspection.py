"""Real-browser tests of issue 11: drawing a region of interest by mouse (desktop) and by
touch (phone), and a 5-photo survey with progress, the survey page and its downloads.

Same set-up as tests/test_browser.py (its fixtures are reused): skipped without Chromium,
failed instead when RUSTSEG_REQUIRE_BROWSER=1.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from rustseg_core.store import Store
from rustseg_core.vocabulary import SEVERITIES
from tests.synthetic import rust_image
from tests.test_browser import (ARTIFACTS, _new_page, _no_horizontal_scroll, artifacts, browser,  # noqa: F401
                                photos, server)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def survey_photos(tmp_path_factory):
    """Five 'camera' photos: rusty and clean, three with EXIF GPS and capture time."""
    d = tmp_path_factory.mktemp("survey")
    out = []
    for i in range(5):
        img, _ = rust_image(np.random.default_rng(20 + i), 96, rust=i != 2)
        exif = Image.Exif()
        if i % 2 == 0:
            exif[0x8825] = {1: "S", 2: (37.0, 48.0, 10.0 + 5 * i), 3: "E", 4: (144.0, 57.0, 10.0 + 4 * i)}
            exif[0x8769] = {36867: f"2024:05:01 10:0{i}:00"}
        path = d / f"site_{i}.jpg"
        Image.fromarray(img).resize((800, 600), Image.BILINEAR).save(path, quality=88, exif=exif)
        out.append(path)
    return out


def _roi(page) -> list | None:
    value = page.locator("input[name=roi]").input_value()
    return json.loads(value) if value else None


def _show_preview(page, photo) -> dict:
    page.set_input_files("#photo", str(photo))
    page.locator("[data-preview]").wait_for(state="visible")
    canvas = page.locator("[data-roi-canvas]")
    canvas.wait_for(state="visible")
    page.wait_for_timeout(100)  # the canvas is sized on the next animation frame
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    preview = page.locator("[data-preview]").bounding_box()
    assert abs(box["width"] - preview["width"]) < 2 and abs(box["height"] - preview["height"]) < 2
    return box


def _submit_and_check_region(page, share: float) -> None:
    page.get_by_role("button", name="Analyse photo").click()
    page.wait_for_url("**/analyse")
    graded = page.locator("[data-roi]").inner_text()
    m = re.search(r"the region you drew \(([\d.]+) % of the photo\)", graded)
    assert m, graded
    assert float(m.group(1)) == pytest.approx(100 * share, abs=3)
    assert page.locator("[data-severity]").first.get_attribute("data-severity") in SEVERITIES
    assert page.locator("[data-caveats]").is_visible()


def test_roi_rectangle_by_mouse_on_desktop(browser, server, photos):
    base, store_dir = server
    ctx, page = _new_page(browser, "desktop")
    try:
        page.goto(base + "/")
        box = _show_preview(page, photos["rusty"])
        assert _roi(page) is None  # nothing drawn: the whole photo
        x0, y0 = box["x"] + 0.1 * box["width"], box["y"] + 0.2 * box["height"]
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.5 * box["height"], steps=4)
        page.mouse.move(box["x"] + 0.6 * box["width"], box["y"] + 0.8 * box["height"], steps=4)
        page.mouse.up()
        roi = _roi(page)
        assert roi is not None and len(roi) == 4
        xs, ys = sorted({round(p[0], 2) for p in roi}), sorted({round(p[1], 2) for p in roi})
        assert xs == pytest.approx([0.1, 0.6], abs=0.02) and ys == pytest.approx([0.2, 0.8], abs=0.02)
        assert "30 % of the photo" in page.locator("[data-roi-status]").inner_text()
        page.screenshot(path=str(ARTIFACTS / "roi-mouse-desktop.png"), full_page=True)
        _submit_and_check_region(page, 0.5 * 0.6)
        page.screenshot(path=str(ARTIFACTS / "roi-result-desktop.png"), full_page=True)
        _no_horizontal_scroll(page)
    finally:
        ctx.close()


def test_roi_by_touch_on_a_phone(browser, server, photos):
    base, _ = server
    ctx, page = _new_page(browser, "phone")
    try:
        page.goto(base + "/")
        page.set_input_files("#photo-camera", str(photos["rusty"]))
        page.locator("[data-preview]").wait_for(state="visible")
        page.wait_for_timeout(100)
        # A polygon tapped corner by corner ...
        page.get_by_role("button", name="Polygon").tap()
        page.locator('[data-roi-shape="polygon"][aria-pressed="true"]').wait_for()
        canvas = page.locator("[data-roi-canvas]")
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()  # where it is now, after the taps scrolled the page
        corners = [(0.05, 0.05), (0.95, 0.05), (0.95, 0.95), (0.05, 0.95)]
        for i, (fx, fy) in enumerate(corners):
            page.touchscreen.tap(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
            if i == 1:
                assert _roi(page) is None  # two corners are not a region yet
        roi = _roi(page)
        assert roi is not None and len(roi) == 4
        assert np.abs(np.array(roi) - np.array(corners)).max() < 0.02
        assert "81 % of the photo" in page.locator("[data-roi-status]").inner_text()
        page.screenshot(path=str(ARTIFACTS / "roi-touch-polygon-phone.png"), full_page=True)
        # ... then "Rectangle" and a rectangle dragged with a finger (raw touch events, as a
        # phone sends them) replaces it.
        page.get_by_role("button", name="Rectangle").tap()
        page.locator('[data-roi-shape="rect"][aria-pressed="true"]').wait_for()
        assert _roi(page) is None
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        cdp = ctx.new_cdp_session(page)

        def touch(kind, fx, fy):
            points = [] if kind == "touchEnd" else [{"x": box["x"] + fx * box["width"],
                                                      "y": box["y"] + fy * box["height"]}]
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

        touch("touchStart", 0.2, 0.2)
        for f in (0.3, 0.5, 0.7):
            touch("touchMove", f, f)
        touch("touchEnd", 0, 0)
        rect = _roi(page)
        assert rect is not None and len(rect) == 4
        assert sorted({round(p[0], 2) for p in rect}) == pytest.approx([0.2, 0.7], abs=0.02)
        _no_horizontal_scroll(page)
        page.screenshot(path=str(ARTIFACTS / "roi-touch-phone.png"), full_page=True)
        _submit_and_check_region(page, 0.5 * 0.5)
        page.screenshot(path=str(ARTIFACTS / "roi-result-phone.png"), full_page=True)
    finally:
        ctx.close()


# the desktop run in the slow suite: the default suite stays under 5 minutes
@pytest.mark.parametrize("viewport", ["phone", pytest.param("desktop", marks=pytest.mark.slow)])
def test_five_photo_survey(browser, server, survey_photos, viewport):
    base, store_dir = server
    before = Store(store_dir).records() if store_dir.exists() else []
    ctx, page = _new_page(browser, viewport)
    api_calls = []
    page.on("request", lambda r: api_calls.append(r.url) if r.url.endswith("/api/v1/segment") else None)
    try:
        page.goto(base + "/survey")
        _no_horizontal_scroll(page)
        page.fill("input[name=title]", f"Pier 3 ({viewport})")
        copy = survey_photos[0].with_name("site_0 (1).jpg")  # a copy is analysed once, and said
        copy.write_bytes(survey_photos[0].read_bytes())
        page.set_input_files("[data-survey-photos]", [str(p) for p in survey_photos] + [str(copy)])
        page.get_by_role("button", name="Analyse photos").click()
        page.locator("[data-survey-progress]").wait_for(state="visible")  # progress shows
        page.locator("h1[data-survey-title]").wait_for(timeout=120_000)
        assert len(api_calls) == 5  # one API call per photo, none for the copy
        assert "the same photo as site_0.jpg" in page.content()
        assert page.locator("h1").inner_text() == f"Pier 3 ({viewport})"
        assert page.locator('[data-total="photos"]').inner_text() == "5"
        counts = {k: int(page.locator(f'[data-total="{k}"]').inner_text()) for k in SEVERITIES}
        assert sum(counts.values()) == 5
        order = [li.get_attribute("data-severity") for li in page.locator(".survey-photo").all()]
        ranks = [list(SEVERITIES).index(s) for s in order]
        assert len(order) == 5 and ranks == sorted(ranks, reverse=True)
        assert page.locator(".locations svg circle").count() == 3  # the photos with GPS
        for img in page.locator(".survey-photo img").all():
            assert img.evaluate("i => i.complete && i.naturalWidth > 0")
        _no_horizontal_scroll(page)
        page.screenshot(path=str(ARTIFACTS / f"survey-{viewport}.png"), full_page=True)
        for key, magic in (("pdf", b"%PDF"), ("html", b"<!doctype html>"), ("csv", b"number,file,frame,probability"),
                           ("geojson", b"{")):
            with page.expect_download() as dl:
                page.locator(f'[data-download="{key}"]').click()
            path = dl.value.path()
            data = open(path, "rb").read()
            assert data.startswith(magic), key
            assert dl.value.suggested_filename.endswith("." + key)
            if key == "geojson":
                assert len(json.loads(data)["features"]) == 3
            if key == "csv":
                assert data.decode().count("\n") == 6
    finally:
        ctx.close()
    assert (Store(store_dir).records() if store_dir.exists() else []) == before  # nothing kept
