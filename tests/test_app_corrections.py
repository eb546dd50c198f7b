"""Correcting a kept result's mask: the page form (CSRF, works without JavaScript) and
``GET``/``PUT /api/v1/results/<id>/mask``."""
from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from rustseg_core.store import Store
from tests.app_support import csrf_token, photo_bytes, post_photo

SIZE = 160  # photo_bytes() makes 160 x 160 photos


def _png(mask: np.ndarray, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).convert(mode).save(buf, "PNG")
    return buf.getvalue()


def _square(size: int = SIZE) -> np.ndarray:
    m = np.zeros((size, size), bool)
    m[10:50, 20:90] = True
    return m


@pytest.fixture
def kept_id(client):
    resp = post_photo(client, photo_bytes(rust=True), keep=True)
    assert resp.status_code == 303
    return resp.headers["Location"].rsplit("/", 1)[-1]


def _put(client, record_id: str, body: bytes, content_type: str = "image/png"):
    return client.put(f"/api/v1/results/{record_id}/mask", data=body, content_type=content_type)


def _error(resp, status: int) -> str:
    assert resp.status_code == status and resp.is_json
    return resp.get_json()["error"]["message"]


# ---------------------------------------------------------------- API
def test_get_returns_the_model_mask_until_corrected(client, kept_id, store_dir):
    resp = client.get(f"/api/v1/results/{kept_id}/mask")
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    assert resp.headers["X-RustSEG-Mask-Version"] == "0"
    assert resp.headers["Cache-Control"] == "no-store"
    rec = Store(store_dir).get(kept_id)
    assert resp.data == Store(store_dir).file_path(rec, "mask.png").read_bytes()


def test_put_stores_a_new_version_and_get_returns_it(client, kept_id, store_dir):
    resp = _put(client, kept_id, _png(_square(), "1"))  # no cookie, no token: the id is the key
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["version"] == 1 and body["source"] == "drawn"
    assert body["area_fraction"] == pytest.approx(_square().mean())
    assert resp.headers["Location"] == f"/api/v1/results/{kept_id}/mask"
    assert _put(client, kept_id, _png(~_square())).get_json()["version"] == 2
    got = client.get(f"/api/v1/results/{kept_id}/mask")
    assert got.headers["X-RustSEG-Mask-Version"] == "2"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(got.data))) == 255, ~_square())
    s = Store(store_dir)
    assert [c.version for c in s.corrections(kept_id)] == [1, 2] and s.check().ok


@pytest.mark.parametrize("body, content_type, status, words", [
    (_png(np.zeros((SIZE, SIZE + 1), bool)), "image/png", 422, "160 x 160"),
    (photo_bytes(rust=True), "image/jpeg", 415, "PNG"),
    (b"", "image/png", 400, "empty"),
    (b"hello", "text/plain", 415, "PNG"),
])
def test_put_refuses_what_is_not_this_photos_mask(client, kept_id, store_dir, body, content_type,
                                                  status, words):
    assert words in _error(_put(client, kept_id, body, content_type), status)
    assert Store(store_dir).corrections(kept_id) == []


def test_put_refuses_a_colour_image_and_a_multipart_form(client, kept_id):
    colour = np.zeros((SIZE, SIZE, 3), np.uint8)
    colour[..., 0] = 200
    buf = io.BytesIO()
    Image.fromarray(colour).save(buf, "PNG")
    assert "colour" in _error(_put(client, kept_id, buf.getvalue()), 422)
    resp = client.put(f"/api/v1/results/{kept_id}/mask", content_type="multipart/form-data",
                      data={"mask": (io.BytesIO(_png(_square())), "mask.png")})
    assert "request body" in _error(resp, 415)


@pytest.mark.parametrize("record_id", ["A" * 22, "not-an-id", "..%2F..%2Fstore.sqlite3"])
def test_unknown_ids_are_404(client, kept_id, record_id):
    for resp in (client.get(f"/api/v1/results/{record_id}/mask"), _put(client, record_id, _png(_square()))):
        message = _error(resp, 404)
        assert "%2F" in record_id or "no kept result" in message  # a path is no id: no route at all


def test_without_a_store_the_api_says_so(tiny_segmenter):
    from app import create_app

    app = create_app({"TESTING": True, "SEGMENTER": tiny_segmenter, "STORE_DIR": "",
                      "SECRET_KEY": "test-secret"})
    with app.test_client() as c:
        assert "keeps no photos" in _error(_put(c, "A" * 22, _png(_square())), 404)
        assert "keeps no photos" in _error(c.get("/api/v1/results/" + "A" * 22 + "/mask"), 404)


# ---------------------------------------------------------------- the page
def test_result_page_has_the_editor_and_a_no_javascript_upload(client, kept_id):
    html = client.get(f"/r/{kept_id}").get_data(as_text=True)
    assert 'id="mask-editor"' in html and "js/editor.js" in html
    assert f'action="/r/{kept_id}/mask"' in html and 'enctype="multipart/form-data"' in html
    assert 'data-width="160" data-height="160"' in html
    assert f'data-current-mask="/api/v1/results/{kept_id}/mask"' in html
    assert re.search(r'<input[^>]*id="mask-file"[^>]*type="file"|type="file"[^>]*id="mask-file"', html)


def test_unkept_result_has_no_editor(client):
    html = post_photo(client, photo_bytes(rust=True)).get_data(as_text=True)
    assert "mask-editor" not in html and "editor.js" not in html


def test_page_form_saves_a_version_and_says_so(client, kept_id, store_dir):
    token = csrf_token(client, f"/r/{kept_id}")
    resp = client.post(f"/r/{kept_id}/mask", content_type="multipart/form-data",
                       data={"csrf_token": token, "mask": (io.BytesIO(_png(_square())), "mask.png")})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/r/{kept_id}#mask-editor")
    page = client.get(f"/r/{kept_id}").get_data(as_text=True)
    assert 'data-mask-saved="1"' in page and "version 1" in page
    assert len(Store(store_dir).corrections(kept_id)) == 1
    later = client.get(f"/r/{kept_id}").get_data(as_text=True)  # the flash is shown once
    assert 'data-mask-versions="1"' in later


def test_page_form_needs_its_csrf_token(client, kept_id, store_dir):
    csrf_token(client, f"/r/{kept_id}")  # a session, but the token is not sent
    resp = client.post(f"/r/{kept_id}/mask", content_type="multipart/form-data",
                       data={"mask": (io.BytesIO(_png(_square())), "mask.png")})
    assert resp.status_code == 400
    assert Store(store_dir).corrections(kept_id) == []


@pytest.mark.parametrize("upload, status, words", [
    ((io.BytesIO(_png(np.zeros((20, 20), bool))), "mask.png"), 422, "160 x 160"),
    ((io.BytesIO(b"GIF89a"), "mask.gif"), 400, "must be a PNG"),
    (None, 400, "Draw the mask"),
])
def test_page_form_explains_a_bad_mask(client, kept_id, store_dir, upload, status, words):
    data = {"csrf_token": csrf_token(client, f"/r/{kept_id}")}
    if upload is not None:
        data["mask"] = upload
    resp = client.post(f"/r/{kept_id}/mask", content_type="multipart/form-data", data=data)
    assert resp.status_code == status
    html = resp.get_data(as_text=True)
    assert "data-mask-error" in html and words in html
    assert Store(store_dir).corrections(kept_id) == []


def test_no_rust_button_stores_an_empty_mask(client, kept_id, store_dir):
    token = csrf_token(client, f"/r/{kept_id}")
    client.post(f"/r/{kept_id}/feedback", data={"csrf_token": token, "verdict": "no_rust"})
    got = client.get(f"/api/v1/results/{kept_id}/mask")
    assert got.headers["X-RustSEG-Mask-Version"] == "1"
    assert not np.asarray(Image.open(io.BytesIO(got.data))).any()


# ---------------------------------------------------------------- what the page reads
def test_a_corrected_mask_drives_the_area_grade_overlay_and_downloads(client, kept_id, store_dir):
    rec = Store(store_dir).get(kept_id)
    model_overlay = client.get(f"/r/{kept_id}/overlay.jpg").data
    before = client.get(f"/r/{kept_id}/result.json").get_json()
    assert before["mask_version"] == 0
    page = client.get(f"/r/{kept_id}").get_data(as_text=True)
    assert "The model&#39;s mask" in page or "The model's mask" in page

    mask = np.zeros((SIZE, SIZE), bool)
    mask[:, : SIZE // 2] = True  # half the photo: 50 %, D610 grade 0, Ri 5, severe
    assert _put(client, kept_id, _png(mask)).status_code == 201
    after = client.get(f"/r/{kept_id}/result.json").get_json()
    assert after["mask_version"] == 1 and after["area_fraction"] == pytest.approx(0.5)
    assert (after["astm_d610_grade"], after["iso4628_ri"], after["severity"]) == (1, 5, "severe")
    assert after["probability"] == before["probability"]  # the model's verdict stays its own
    page = client.get(f"/r/{kept_id}").get_data(as_text=True)
    assert "Corrected by hand, version 1" in page and "50.0 %" in page
    assert 'data-severity="severe"' in page and "Ri 5 (reference area 40–50 %)" in page
    shown = client.get(f"/r/{kept_id}/mask.png")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(shown.data))) > 0, mask)
    overlay = client.get(f"/r/{kept_id}/overlay.jpg").data
    assert overlay != model_overlay
    left, right = (np.asarray(Image.open(io.BytesIO(overlay)).convert("RGB"), float)[:, s].mean((0, 1))
                   for s in (slice(5, SIZE // 2 - 5), slice(SIZE // 2 + 5, -5)))
    assert left[0] - left[2] > right[0] - right[2] + 20  # the tint is on the corrected half
    model_mask = client.get(f"/r/{kept_id}/model-mask.png").data
    assert model_mask == Store(store_dir).file_path(rec, "mask.png").read_bytes()
    assert f'data-model-mask="/r/{kept_id}/model-mask.png"' in page


def test_a_kept_result_downloads_as_one_zip_with_its_current_mask(client, kept_id):
    import json
    import zipfile

    mask = np.zeros((SIZE, SIZE), bool)
    mask[:40] = True
    assert _put(client, kept_id, _png(mask)).status_code == 201
    page = client.get(f"/r/{kept_id}").get_data(as_text=True)
    assert f'href="/r/{kept_id}/result.zip"' in page and "data-not-kept" not in page
    resp = client.get(f"/r/{kept_id}/result.zip")
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    assert f"rustseg-{kept_id}.zip" in resp.headers["Content-Disposition"]
    z = zipfile.ZipFile(io.BytesIO(resp.data))
    assert sorted(z.namelist()) == sorted(f"rustseg-{kept_id}-{n}" for n in
                                          ("mask.png", "overlay.jpg", "heatmap.png", "result.json"))
    got = np.asarray(Image.open(io.BytesIO(z.read(f"rustseg-{kept_id}-mask.png")))) > 0
    assert np.array_equal(got, mask)
    assert json.loads(z.read(f"rustseg-{kept_id}-result.json"))["mask_version"] == 1
