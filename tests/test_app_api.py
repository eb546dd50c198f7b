"""JSON API: POST /api/v1/segment and GET /healthz."""
from __future__ import annotations

import base64
import re
import io
import os

import numpy as np
import pytest
from PIL import Image

from rustseg_core.store import Store
from tests.app_support import photo_bytes

SUMMARY_TYPES = {"probability": float, "decision": str, "is_corrosion": bool, "threshold": float,
                 "mode": str, "area_fraction": float, "width": int, "height": int,
                 "model_version": str, "timings_ms": dict, "mask_png_base64": str, "kept": bool}


def _segment(client, data: bytes, filename: str = "photo.jpg", **fields):
    form = {"image": (io.BytesIO(data), filename), **fields}
    return client.post("/api/v1/segment", data=form, content_type="multipart/form-data")


def _assert_error(resp, status: int) -> dict:
    assert resp.status_code == status
    assert resp.is_json
    err = resp.get_json()["error"]
    assert err["status"] == status and isinstance(err["message"], str) and err["message"]
    assert isinstance(err["code"], str)
    return err


def test_healthz_reports_the_model(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "model_loaded": True, "model_version": "tiny-test",
                               "store_enabled": True}


def test_segment_json_schema(client, store_dir):
    resp = _segment(client, photo_bytes(rust=True))  # no CSRF token needed for the API
    assert resp.status_code == 200 and resp.is_json
    body = resp.get_json()
    for key, typ in SUMMARY_TYPES.items():
        assert isinstance(body[key], typ), key
    assert body["decision"] == ("corrosion" if body["probability"] > body["threshold"] else "not_corrosion")
    assert body["is_corrosion"] == (body["decision"] == "corrosion")
    assert 0.0 <= body["probability"] <= 1.0 and 0.0 <= body["area_fraction"] <= 1.0
    assert (body["width"], body["height"]) == (160, 160) and body["mode"] == "standard"
    assert {"decode", "classify", "localise", "refine", "total"} <= set(body["timings_ms"])
    mask = Image.open(io.BytesIO(base64.b64decode(body["mask_png_base64"])))
    assert mask.size == (160, 160) and mask.mode == "L"
    values = set(np.unique(np.asarray(mask)))
    assert values <= {0, 255}
    assert np.mean(np.asarray(mask) > 0) == pytest.approx(body["area_fraction"], abs=1e-6)
    assert (body["kept"], body["id"], body["result_url"]) == (False, None, None)
    assert "overlay_jpg_base64" not in body
    assert resp.headers["Cache-Control"] == "no-store"
    assert not store_dir.exists()


def test_segment_png_advanced_with_extra_images(client):
    body = _segment(client, photo_bytes(fmt="PNG"), "p.png", mode="advanced",
                    include="overlay,heatmap").get_json()
    assert body["mode"] == "advanced"
    assert Image.open(io.BytesIO(base64.b64decode(body["overlay_jpg_base64"]))).format == "JPEG"
    assert Image.open(io.BytesIO(base64.b64decode(body["heatmap_png_base64"]))).format == "PNG"


def test_segment_keep_stores_a_record(client, store_dir):
    body = _segment(client, photo_bytes(), keep="true").get_json()
    assert body["kept"] is True
    rec = Store(store_dir).get(body["id"])
    assert rec is not None and body["result_url"].endswith(f"/r/{body['id']}")
    assert client.get(body["result_url"]).status_code == 200


def test_missing_image_is_a_json_400(client):
    err = _assert_error(client.post("/api/v1/segment", data={}), 400)
    assert "image" in err["message"] and "image" in err["fields"]


def test_unknown_include_and_mode_are_400(client):
    _assert_error(_segment(client, photo_bytes(), include="everything"), 400)
    _assert_error(_segment(client, photo_bytes(), mode="magic"), 400)


def test_oversize_is_a_json_413(client, store_dir):
    _assert_error(_segment(client, os.urandom(2 * 1024 * 1024)), 413)
    _assert_error(_segment(client, os.urandom(1024 * 1024 + 10)), 413)
    assert not store_dir.exists()


def test_unsupported_and_corrupt_images(client):
    _assert_error(_segment(client, b"GIF89a", "x.exe"), 415)
    _assert_error(_segment(client, b"not an image at all", "x.jpg"), 415)
    truncated = photo_bytes()[:300]
    _assert_error(_segment(client, truncated, "x.jpg"), 400)


def test_api_404_and_405_are_json(client):
    _assert_error(client.get("/api/v1/nothing"), 404)
    resp = client.get("/api/v1/segment")
    _assert_error(resp, 405)
    assert "POST" in resp.headers["Allow"]


def test_bad_mode_lists_the_choices(client):
    err = _assert_error(_segment(client, photo_bytes(), mode="fancy"), 400)
    assert "standard" in err["message"] and "advanced" in err["message"]


@pytest.mark.parametrize("keep", ["maybe", "2", "tru"])
def test_keep_that_is_not_a_yes_or_no_is_refused(client, store_dir, keep):
    """keep=maybe must not silently mean "do not keep": the client asked for something."""
    err = _assert_error(_segment(client, photo_bytes(), keep=keep), 400)
    assert "keep" in err["message"] and "true or false" in err["message"]
    assert not store_dir.exists()


@pytest.mark.parametrize("keep, kept", [("true", True), ("YES", True), ("1", True), ("on", True),
                                        ("false", False), ("0", False), ("no", False)])
def test_keep_words(client, keep, kept):
    resp = _segment(client, photo_bytes(), keep=keep)
    assert resp.status_code == 200 and resp.get_json()["kept"] is kept


def test_unknown_api_path_is_json(client):
    _assert_error(client.get("/api/v1/nothing-here"), 404)


def test_learned_mode_with_a_model_that_has_no_pixel_output(client):
    err = _assert_error(_segment(client, photo_bytes(), mode="learned"), 400)
    assert err["message"] == "mode must be one of standard, advanced"


def test_unet_app_defaults_to_learned_and_offers_every_mode(tiny_unet_dir, tmp_path):
    from app import create_app

    site = create_app({"TESTING": True, "MODEL": str(tiny_unet_dir), "STORE_DIR": "",
                       "SECRET_KEY": "test-secret"})
    c = site.test_client()
    body = _segment(c, photo_bytes()).get_json()
    assert body["mode"] == "learned"
    assert _segment(c, photo_bytes(), mode="advanced").get_json()["mode"] == "advanced"
    home = c.get("/").get_data(as_text=True)
    assert re.search(r'<input checked[^>]*value="learned"', home)
    for mode in ("learned", "standard", "advanced"):
        assert f'value="{mode}"' in home


# ---------------------------------------------------------------- idempotent keeps
def _keep(client, key=None, seed=0):
    from tests.app_support import photo_bytes

    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/api/v1/segment", data={"image": (io.BytesIO(photo_bytes(rust=True, seed=seed)), "p.jpg"),
                                                "keep": "true"},
                       content_type="multipart/form-data", headers=headers)


def test_an_upload_sent_again_with_its_key_is_kept_once(client, store_dir):
    from rustseg_core.store import Store

    first = _keep(client, "phone-3f9c2a1e-0001")
    again = _keep(client, "phone-3f9c2a1e-0001", seed=5)  # a retry (even of other bytes) is the same upload
    other = _keep(client, "phone-3f9c2a1e-0002")
    a, b, c = first.get_json(), again.get_json(), other.get_json()
    assert first.status_code == again.status_code == other.status_code == 200
    assert a["kept"] and b["kept"] and b["id"] == a["id"] and b.get("replayed") is True
    assert c["id"] != a["id"] and "replayed" not in a
    assert b["probability"] == a["probability"] and b["mask_png_base64"] == a["mask_png_base64"]
    assert len(Store(store_dir).records()) == 2
    assert _keep(client, "bad key!").status_code == 400
    assert _keep(client).get_json()["id"] not in (a["id"], c["id"])  # no key: a new record each time


def test_concurrent_uploads_with_one_key_keep_one_record(app, store_dir):
    import threading

    from rustseg_core.store import Store

    answers, errors = [], []

    def send():
        try:
            answers.append(_keep(app.test_client(), "phone-race-0000001"))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ids = {r.get_json()["id"] for r in answers if r.status_code == 200}
    assert len(ids) == 1 and all(r.status_code in (200, 409) for r in answers)
    assert len(Store(store_dir).records()) == 1
