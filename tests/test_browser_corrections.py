"""The data loop end to end in a real browser (issue 12): keep a photo, correct its mask by
drawing with a finger at phone width, save; export the store; fine-tune a tiny U-Net for one
epoch on the exported pairs; the new model loads and lists the corrected pair.

Also the editor's tools with a mouse at desktop width: paint, erase, brush size, undo, the
mask/photo toggle and reset. Skipped without Chromium (failing with RUSTSEG_REQUIRE_BROWSER=1),
like tests/test_browser.py, whose fixtures these tests share.
"""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from rustseg_core.store import Store
from tests.test_browser import ARTIFACTS, VIEWPORTS, _new_page, _no_horizontal_scroll  # noqa: F401
from tests.test_browser import artifacts, browser, photos, server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser
ERRORS: dict[int, list[str]] = {}


def _keep_photo(page, base: str, photo, js: bool = True) -> str:
    """Upload with the consent box ticked; the id of the kept result. Script errors and CSP
    violations on the page are collected in ``ERRORS[page]``."""
    errors = ERRORS.setdefault(id(page), [])
    page.on("pageerror", lambda e: errors.append(f"script error: {e}"))
    page.on("console", lambda m: m.type == "error" and errors.append(f"console error: {m.text}"))
    page.goto(base + "/")
    page.set_input_files("#photo", str(photo))
    page.check("input[name=keep]")
    page.get_by_role("button", name="Analyse photo").click()
    page.wait_for_url("**/r/*")
    if js:
        page.locator("[data-mask-editor][data-ready=true]").wait_for()
    return page.url.rsplit("/", 1)[-1]


def _stroke(page, points, touch: bool = False, steps: int = 4) -> None:
    """One stroke through ``points`` given as fractions (x, y) of the editor canvas: a
    finger (CDP touch events, as a phone sends them) or a mouse drag of ``steps`` moves
    between points."""
    canvas = page.locator("[data-editor-canvas]")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()  # viewport coordinates, as touch and mouse events take
    xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    if touch:
        cdp = page.context.new_cdp_session(page)
        for i, (x, y) in enumerate(xy):
            kind = "touchStart" if i == 0 else "touchMove"
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        cdp.detach()
    else:
        page.mouse.move(*xy[0])
        page.mouse.down()
        for x, y in xy[1:]:
            page.mouse.move(x, y, steps=steps)
        page.mouse.up()


def _line(y: float, x0: float = 0.05, x1: float = 0.6, n: int = 8):
    return [(x0 + (x1 - x0) * i / (n - 1), y) for i in range(n)]


def _save(page, version: int) -> None:
    page.get_by_role("button", name="Save corrected mask").click()
    try:
        page.locator(f"[data-mask-saved='{version}']").wait_for(timeout=15000)
    finally:
        problem = page.locator("[data-save-error]").inner_text()
        assert ERRORS.get(id(page)) == [] and not problem, (ERRORS.get(id(page)), problem)
    page.locator("[data-mask-editor][data-ready=true]").wait_for()


def _stored_mask(store_dir, record_id: str) -> np.ndarray:
    s = Store(store_dir)
    return np.asarray(Image.open(s.correction_path(s.latest_correction(record_id))))


def _at(mask: np.ndarray, fx: float, fy: float) -> int:
    return int(mask[int(fy * mask.shape[0]), int(fx * mask.shape[1])])


@pytest.mark.slow  # a training run after the browser: with the slow end-to-end tests
def test_correct_by_finger_export_and_fine_tune(browser, server, photos, tiny_model_dir, tmp_path):
    from rustseg_core.cli import main as rustseg
    from rustseg_core.pipeline.segmenter import Segmenter
    from rustseg_core.vocabulary import TRAINING_MANIFEST
    from tests.synthetic import write_mask_folder

    base, store_dir = server
    ctx, page = _new_page(browser, "phone")
    try:
        record_id = _keep_photo(page, base, photos["rusty"])
        _no_horizontal_scroll(page)
        assert page.locator("[data-mask-upload]").is_hidden()  # the script replaced the upload
        _stroke(page, _line(0.08), touch=True)
        assert page.locator("[data-mask-editor]").get_attribute("data-strokes") == "1"
        page.locator("#mask-editor").screenshot(path=str(ARTIFACTS / "editor-phone.png"))
        _save(page, 1)
        _no_horizontal_scroll(page)
    finally:
        ctx.close()
    s = Store(store_dir)
    rec = s.get(record_id)
    saved = _stored_mask(store_dir, record_id)
    assert saved.shape == (rec.summary["height"], rec.summary["width"]) == (960, 1280)
    assert set(np.unique(saved)) <= {0, 255}
    assert _at(saved, 0.3, 0.08) == 255  # where the finger went
    assert s.check().ok and s.file_path(rec, "mask.png").is_file()  # the model's mask stays

    export, synth, out = tmp_path / "export", tmp_path / "synthetic", tmp_path / "model"
    assert rustseg(["dataset", "export", str(export), "--store", str(store_dir)]) == 0
    assert (export / "masks" / f"{record_id}.png").is_file()
    write_mask_folder(synth, n=7, size=64, seed=5)  # more pairs, so validation is not empty
    assert rustseg(["train", str(export), "--masks", str(export), "--masks", str(synth),
                    "--init-from", str(tiny_model_dir), "--out", str(out), "--epochs", "1",
                    "--input-size", "48", "--batch-size", "4", "--warmup-epochs", "1"]) == 0

    model = Segmenter.load(out)
    assert "learned" in model.modes
    info = json.loads((out / "rustseg.json").read_text())["info"]
    assert info["store_records"] == 1 and info["initialised_from"] == str(tiny_model_dir)
    with open(out / TRAINING_MANIFEST, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["photo"] for r in rows if r["store_record"] == record_id] == [
        str(export / "images" / f"{record_id}.jpg")]
    assert len(rows) == 8
    mask = model.segment((export / "images" / f"{record_id}.jpg").read_bytes()).mask
    assert mask.shape == (960, 1280)


@pytest.mark.slow  # the default suite stays under 5 minutes
def test_editor_tools_with_a_mouse(browser, server, photos):
    base, store_dir = server
    ctx, page = _new_page(browser, "desktop")
    try:
        record_id = _keep_photo(page, base, photos["rusty"])
        size = page.locator("[data-brush-size]")
        page.get_by_role("button", name="Erase").click()
        assert page.get_by_role("button", name="Erase").get_attribute("aria-pressed") == "true"
        size.fill("60")
        for i in range(15):  # wipe the model's mask: rows 60 px wide, under 50 px apart
            # one move per point: the editor draws a line between successive pointer events
            _stroke(page, _line(0.01 + 0.98 * i / 14, 0.01, 0.99), steps=1)
        page.get_by_role("button", name="Paint").click()
        size.fill("40")
        _stroke(page, _line(0.5))  # one band across the middle;
        _stroke(page, _line(0.9))  # one at the bottom, erased again with a wider brush,
        page.get_by_role("button", name="Erase").click()
        size.fill("60")
        _stroke(page, _line(0.9))
        page.get_by_role("button", name="Paint").click()
        _stroke(page, _line(0.9))  # painted once more and taken back
        page.get_by_role("button", name="Undo").click()
        assert page.locator("[data-mask-editor]").get_attribute("data-strokes") == "19"
        toggle = page.locator("[data-toggle]")
        toggle.click()
        assert toggle.get_attribute("aria-pressed") == "true" and toggle.inner_text() == "Show mask"
        page.screenshot(path=str(ARTIFACTS / "editor-photo-only-desktop.png"))
        toggle.click()
        page.locator("#mask-editor").screenshot(path=str(ARTIFACTS / "editor-desktop.png"))
        shown = page.locator("[data-editor-canvas]").bounding_box()["width"]
        _save(page, 1)
        saved = _stored_mask(store_dir, record_id) == 255
        # Only the middle band is left: 40 px on screen, i.e. 40 × (photo width / width shown).
        rows = np.flatnonzero(saved[:, int(0.3 * saved.shape[1])])
        thick = 40 * saved.shape[1] / shown
        assert rows.size == pytest.approx(thick, rel=0.15) and rows.size == rows[-1] - rows[0] + 1
        assert abs(rows.mean() / saved.shape[0] - 0.5) < 0.02
        assert not saved[int(0.75 * saved.shape[0]):].any() and not saved[: int(0.4 * saved.shape[0])].any()

        page.get_by_role("button", name="Reset to the model's mask").click()
        page.wait_for_timeout(300)
        _save(page, 2)
    finally:
        ctx.close()
    s = Store(store_dir)
    model = np.asarray(Image.open(s.file_path(s.get(record_id), "mask.png"))) > 0
    reset = _stored_mask(store_dir, record_id) > 0
    assert np.mean(model != reset) < 0.01  # the model's mask again (up to the canvas's scaling)
    assert [c.version for c in s.corrections(record_id)] == [1, 2]


@pytest.mark.parametrize("size", [(1280, 800), (1366, 768), (390, 844)])
def test_the_whole_photo_and_save_fit_one_screen(browser, server, photos, size):
    base, _ = server
    phone = size[0] < 600
    ctx = browser.new_context(viewport={"width": size[0], "height": size[1]}, is_mobile=phone,
                              has_touch=phone, device_scale_factor=2 if phone else 1)
    page = ctx.new_page()
    try:
        _keep_photo(page, base, photos["rusty"])
        tools = page.locator("[data-editor-tools]")
        tools.evaluate("t => t.scrollIntoView({block: 'start'})")
        canvas = page.locator("[data-editor-canvas]").bounding_box()
        save = page.locator("[data-save]").bounding_box()
        top = tools.bounding_box()["y"]
        assert top >= -1 and canvas["y"] > top
        assert save["y"] + save["height"] <= size[1] + 1, (canvas, save)  # photo and Save at once
        ratio = canvas["width"] / canvas["height"]
        assert ratio == pytest.approx(1280 / 960, rel=0.02)  # the photo's aspect is kept
        _no_horizontal_scroll(page)
        if size == (1280, 800):
            page.screenshot(path=str(ARTIFACTS / "editor-fits-desktop-800.png"))
    finally:
        ctx.close()


def test_without_javascript_a_mask_file_can_be_sent(browser, server, photos, tmp_path):
    base, store_dir = server
    ctx, page = _new_page(browser, "phone", js=False)
    try:
        record_id = _keep_photo(page, base, photos["rusty"], js=False)
        assert page.locator("[data-editor-stage]").is_hidden()  # no canvas without the script
        wanted = np.zeros((960, 1280), np.uint8)
        wanted[100:300, 200:700] = 255
        Image.fromarray(wanted).save(tmp_path / "mask.png")
        page.set_input_files("#mask-file", str(tmp_path / "mask.png"))
        page.get_by_role("button", name="Save corrected mask").click()
        page.locator("[data-mask-saved='1']").wait_for()
        _no_horizontal_scroll(page)
    finally:
        ctx.close()
    assert np.array_equal(_stored_mask(store_dir, record_id), wanted)
