"""The pages: home form, validation, CSRF, upload → result, consent, feedback, errors."""
from __future__ import annotations

import base64
import io
import os
import re

import pytest
from PIL import Image

from rustseg_core.store import Store
from rustseg_core.vocabulary import MODES
from tests.app_support import csrf_token, data_uris, file_tree, photo_bytes, post_photo



# -- home page and form validation --------------------------------------------------------------

def test_home_page_has_the_form(client):
    html = client.get("/").get_data(as_text=True)
    assert "RustSEG" in html and "<form" in html
    camera, chooser = re.findall(r"<input[^>]*type=\"file\"[^>]*>", html)
    # "Take": the rear camera; "choose": the gallery (capture= would hide it on a phone).
    assert 'accept="image/*"' in camera and 'capture="environment"' in camera
    assert 'accept="image/*"' in chooser and "capture" not in chooser
    assert 'name="photo"' in camera and 'name="photo"' in chooser
    assert "required" not in camera + chooser  # one of the two is always empty
    assert 'name="csrf_token"' in html
    assert 'value="standard"' in html and 'value="advanced"' in html
    keep = re.search(r"<input[^>]*name=\"keep\"[^>]*>", html).group(0)
    assert "checked" not in keep  # consent is never pre-ticked
    assert "nothing is kept" in html
    # No external resources: the servers have no internet.
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)


def test_missing_photo_is_a_400_with_a_message(client, store_dir):
    resp = post_photo(client, None)
    assert resp.status_code == 400
    assert "Choose a photo or take one." in resp.get_data(as_text=True)
    assert not store_dir.exists()


def test_wrong_file_type_is_415(client):
    resp = post_photo(client, b"%PDF-1.4", filename="report.pdf")
    assert resp.status_code == 415
    assert "That file type is not supported" in resp.get_data(as_text=True)


def test_not_an_image_despite_its_name_is_415_from_the_core(client):
    resp = post_photo(client, b"this is plain text, not a JPEG", filename="photo.jpg")
    assert resp.status_code == 415
    html = resp.get_data(as_text=True)
    assert "We could not use that photo" in html and "<form" in html


def test_unknown_mode_is_400(client):
    resp = post_photo(client, photo_bytes(), mode="magic")
    assert resp.status_code == 400
    assert "mode must be one of standard, advanced" in resp.get_data(as_text=True)


def test_post_without_csrf_token_is_rejected(client, store_dir):
    client.get("/")
    resp = client.post("/analyse", data={"mode": "standard", "keep": "y",
                                         "photo": (io.BytesIO(photo_bytes()), "p.jpg")},
                       content_type="multipart/form-data")
    assert resp.status_code == 400
    assert "form expired" in resp.get_data(as_text=True)
    assert not store_dir.exists()


def test_post_with_a_forged_csrf_token_is_rejected(client):
    resp = post_photo(client, photo_bytes(), token="forged." + "x" * 40)
    assert resp.status_code == 400
    assert "Corrosion detected" not in resp.get_data(as_text=True)


def test_oversize_upload_is_413_in_the_site_style(client, store_dir):
    token = csrf_token(client)
    big = os.urandom(2 * 1024 * 1024)  # limit in the test app: 1 MB
    resp = post_photo(client, big, token=token)
    assert resp.status_code == 413
    html = resp.get_data(as_text=True)
    assert "Photo too large" in html and "site.css" in html
    assert not store_dir.exists()


def test_photo_just_over_the_limit_is_413_not_400(client):
    # Within the request slack, so the form's FileSize check (not MAX_CONTENT_LENGTH) answers.
    resp = post_photo(client, os.urandom(1024 * 1024 + 1000))
    assert resp.status_code == 413
    assert "larger than 1 MB" in resp.get_data(as_text=True)


# -- results ------------------------------------------------------------------------------------

def _decode_data_uri(uri: str) -> tuple[str, bytes]:
    head, b64 = uri.split(",", 1)
    return head[len("data:"):].split(";")[0], base64.b64decode(b64)


def test_jpeg_upload_renders_result_inline_without_touching_disk(client, store_dir):
    resp = post_photo(client, photo_bytes(rust=True, fmt="JPEG"))
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Corrosion detected" in html
    assert re.search(r"data-probability>\d+(\.\d)? %<", html)
    assert re.search(r"data-area>\d+(\.\d)? %<", html)
    for stage in ("Classify", "Grad-CAM++", "Mask", "Total"):
        assert stage in html
    uris = data_uris(html)
    kinds = sorted({_decode_data_uri(u)[0] for u in uris})
    assert kinds == ["application/json", "application/zip", "image/jpeg", "image/png"]
    # One download holds the whole result, and the page says an unkept result is not kept.
    assert "data-not-kept" in html and "gone once you" in html
    zip_uri = next(u for u in uris if u.startswith("data:application/zip"))
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(_decode_data_uri(zip_uri)[1])).namelist()
    assert sorted(n.split("-", 3)[-1] for n in names) == ["heatmap.png", "mask.png", "overlay.jpg",
                                                           "result.json"]
    # Downloads are named rustseg-<id>-<what>.<ext>; an unkept result's id is its time.
    ids = {re.search(r'download="rustseg-(\d{8}-\d{6})-' + what, html).group(1)
           for what in ("mask.png", "overlay.jpg", "result.json")}
    assert len(ids) == 1
    mask_uri = re.search(r'href="(data:image/png[^"]+)" download="rustseg-[\d-]+-mask.png"', html).group(1)
    mask = Image.open(io.BytesIO(_decode_data_uri(mask_uri)[1]))
    assert mask.size == (160, 160) and mask.mode == "L"
    assert resp.headers["Cache-Control"] == "no-store"
    assert "Was this right?" not in html  # only for kept photos
    assert not store_dir.exists()


def test_png_without_rust_says_so_clearly_with_the_probability(client):
    resp = post_photo(client, photo_bytes(rust=False, fmt="PNG", seed=3), filename="plate.png")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "No corrosion detected" in html and "Corrosion detected" not in html
    assert re.search(r"data-probability>\d+(\.\d)? %<", html)
    assert "nothing is marked" in html


def test_the_non_empty_of_the_two_photo_inputs_is_used(client):
    form = {"mode": "standard", "csrf_token": csrf_token(client),
            "photo": [(io.BytesIO(b""), ""), (io.BytesIO(photo_bytes()), "from-gallery.jpg")]}
    resp = client.post("/analyse", data=form, content_type="multipart/form-data")
    assert resp.status_code == 200 and "Corrosion detected" in resp.get_data(as_text=True)


def test_advanced_mode_is_used(client):
    html = post_photo(client, photo_bytes(), mode="advanced").get_data(as_text=True)
    assert MODES["advanced"].label in html


def test_uploads_are_kept_in_memory_not_spooled_to_disk(app):
    from flask import request

    body = photo_bytes(size=600) + os.urandom(700_000)  # over werkzeug's 500 KB spool limit
    with app.test_request_context("/analyse", method="POST", content_type="multipart/form-data",
                                  data={"photo": (io.BytesIO(body), "p.jpg")}):
        assert isinstance(request.files["photo"].stream, io.BytesIO)


# -- consent and the store ----------------------------------------------------------------------

def test_consent_off_leaves_an_existing_store_untouched(client, store_dir):
    post_photo(client, photo_bytes(seed=1), keep=True)
    before = file_tree(store_dir)
    assert before
    resp = post_photo(client, photo_bytes(seed=2), keep=False)
    assert resp.status_code == 200 and "Corrosion detected" in resp.get_data(as_text=True)
    assert file_tree(store_dir) == before
    assert len(Store(store_dir).records()) == 1


def test_consent_on_keeps_a_record_and_files(client, store_dir):
    original = photo_bytes(seed=5)
    resp = post_photo(client, original, filename="my-secret-name.jpg", keep=True)
    assert resp.status_code == 303
    record_id = resp.headers["Location"].rsplit("/", 1)[-1]
    rec = Store(store_dir).get(record_id)
    assert rec is not None and rec.model_version == "tiny-test" and rec.verdict is None
    folder = store_dir / "items" / record_id
    assert (folder / "original.jpg").read_bytes() == original
    for name in ("image.jpg", "overlay.jpg", "heatmap.png", "mask.png", "summary.json"):
        assert (folder / name).stat().st_size > 0
    assert "my-secret-name" not in "".join(str(p) for p in store_dir.rglob("*"))

    page = client.get(f"/r/{record_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "Was this right?" in html and 'value="no_rust"' in html
    assert not data_uris(html)  # kept results link to files instead of inlining them
    overlay = client.get(f"/r/{record_id}/overlay.jpg")
    assert overlay.status_code == 200 and overlay.mimetype == "image/jpeg"
    assert overlay.data == (folder / "overlay.jpg").read_bytes()
    mask = client.get(f"/r/{record_id}/mask.png")
    assert Image.open(io.BytesIO(mask.data)).size == (160, 160)
    js = client.get(f"/r/{record_id}/result.json").get_json()
    assert js["id"] == record_id and js["decision"] in ("corrosion", "not_corrosion")
    # Every download carries its result's id, whether saved from the page or the address.
    for name, what in (("mask.png", "mask.png"), ("overlay.jpg", "overlay.jpg"), ("result.json", "result.json")):
        resp = client.get(f"/r/{record_id}/{name}")
        assert f'filename=rustseg-{record_id}-{what}' in resp.headers["Content-Disposition"].replace('"', "")
        assert f'download="rustseg-{record_id}-{what}"' in html


def test_a_failing_store_still_shows_the_result(client, store_dir, monkeypatch):
    def full_disk(self, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Store, "save", full_disk)
    resp = post_photo(client, photo_bytes(), keep=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Corrosion detected" in html
    assert "could not keep your photo" in html
    api = client.post("/api/v1/segment", data={"image": (io.BytesIO(photo_bytes()), "p.jpg"),
                                               "keep": "true"}, content_type="multipart/form-data")
    assert api.status_code == 200
    assert api.get_json()["kept"] is False and "keep_error" in api.get_json()


def test_feedback_is_recorded(client, store_dir):
    resp = post_photo(client, photo_bytes(), keep=True)
    url = resp.headers["Location"]
    record_id = url.rsplit("/", 1)[-1]
    token = csrf_token(client, url)
    fb = client.post(f"/r/{record_id}/feedback", data={"verdict": "wrong", "csrf_token": token})
    assert fb.status_code == 303
    assert Store(store_dir).get(record_id).verdict == "wrong"
    html = client.get(fb.headers["Location"]).get_data(as_text=True)
    assert "Thank you" in html and 'data-verdict="wrong"' in html
    client.post(f"/r/{record_id}/feedback", data={"verdict": "no_rust", "csrf_token": token})
    assert Store(store_dir).get(record_id).verdict == "no_rust"


def test_bad_feedback_is_rejected(client, store_dir):
    url = post_photo(client, photo_bytes(), keep=True).headers["Location"]
    record_id = url.rsplit("/", 1)[-1]
    token = csrf_token(client, url)
    assert client.post(f"/r/{record_id}/feedback",
                       data={"verdict": "maybe", "csrf_token": token}).status_code == 400
    assert client.post(f"/r/{record_id}/feedback", data={"verdict": "correct"}).status_code == 400
    assert Store(store_dir).get(record_id).verdict is None


@pytest.mark.parametrize("path", ["/r/AAAAAAAAAAAAAAAAAAAAAA", "/r/short", "/r/AAAAAAAAAAAAAAAAAAAAAA/mask.png",
                                  "/nowhere"])
def test_unknown_pages_are_404_in_the_site_style(client, path):
    resp = client.get(path)
    assert resp.status_code == 404
    html = resp.get_data(as_text=True)
    assert "Page not found" in html and "site.css" in html


def test_a_kept_original_is_never_served_back(client):
    url = post_photo(client, photo_bytes(), keep=True).headers["Location"]
    for name in ("original", "original.jpg", "summary.json", "..%2Fstore.sqlite3"):
        assert client.get(f"{url}/{name}").status_code == 404


def test_get_analyse_goes_home(client):
    resp = client.get("/analyse")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/")


# -- failures -----------------------------------------------------------------------------------

class _BrokenSegmenter:
    """Stands in for a segmenter that hits a bug, to exercise the 500 page."""

    bundle = type("B", (), {"version": "broken"})()

    def segment(self, *a, **k):
        raise RuntimeError("boom")


def test_internal_error_is_a_500_page(tmp_path):
    from app import create_app

    broken = create_app({"SEGMENTER": _BrokenSegmenter(), "STORE_DIR": str(tmp_path / "s"),
                         "WTF_CSRF_ENABLED": False})
    resp = broken.test_client().post("/analyse", data={"photo": (io.BytesIO(photo_bytes()), "p.jpg")},
                                     content_type="multipart/form-data")
    assert resp.status_code == 500
    html = resp.get_data(as_text=True)
    assert "Something went wrong on our side" in html and "boom" not in html


def test_missing_model_gives_503_not_a_crash(tmp_path):
    from app import create_app

    app_ = create_app({"MODEL": str(tmp_path / "no-model"), "STORE_DIR": "", "WTF_CSRF_ENABLED": False})
    c = app_.test_client()
    assert c.get("/").status_code == 200
    assert "keep my photo" not in c.get("/").get_data(as_text=True).lower()  # store disabled
    resp = c.post("/analyse", data={"photo": (io.BytesIO(photo_bytes()), "p.jpg")},
                  content_type="multipart/form-data")
    assert resp.status_code == 503 and "not loaded" in resp.get_data(as_text=True)
    health = c.get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["model_loaded"] is False and "no-model" in health.get_json()["error"]


# -- the overlay colour is configurable, so the caption must follow it ---------------------------

@pytest.mark.parametrize("rgb, name", [((255, 40, 40), "red"), ((255, 150, 0), "orange"),
                                       ((240, 230, 20), "yellow"), ((20, 200, 60), "green"),
                                       ((0, 200, 255), "cyan"), ((30, 60, 255), "blue"),
                                       ((230, 0, 230), "magenta"), ((128, 128, 128), "grey"),
                                       ((255, 255, 255), "white"), ((5, 5, 5), "black")])
def test_colour_names(rgb, name):
    from app.present import colour_name

    assert colour_name(rgb) == name


def test_result_caption_names_the_configured_overlay_colour(client, tiny_segmenter, tmp_path):
    from app import create_app

    html = post_photo(client, photo_bytes()).get_data(as_text=True)
    assert "Corrosion marked in red (outlined in cyan)" in html  # the core's default colours
    cyan = create_app({"TESTING": True, "STORE_DIR": "", "SECRET_KEY": "test-secret",
                       "SEGMENTER": tiny_segmenter.with_config(overlay_colour=(0, 200, 255))})
    html = post_photo(cyan.test_client(), photo_bytes()).get_data(as_text=True)
    assert "Corrosion marked in cyan" in html and "areas marked in cyan" in html
    assert "marked in red" not in html and "(outlined in red)" in html


# -- what a new user met ---------------------------------------------------------------------

def test_probability_and_threshold_never_read_the_same_when_they_differ():
    from app.present import percent_pair

    assert percent_pair(0.399885, 0.4) == ("39.99 %", "40.00 %")
    assert percent_pair(0.3999999, 0.4)[0] != percent_pair(0.3999999, 0.4)[1]
    assert percent_pair(0.25, 0.4) == ("25.0 %", "40.0 %")
    assert percent_pair(0.4, 0.4) == ("40.0 %", "40.0 %")


def test_result_page_just_below_the_threshold_is_not_self_contradictory(app):
    from flask import render_template

    from app.present import ResultView

    summary = {"probability": 0.399885, "threshold": 0.4, "is_corrosion": False, "decision": "not_corrosion",
               "area_fraction": 0.0, "mode": "standard", "width": 10, "height": 10,
               "model_version": "x", "mask_note": None, "timings_ms": {}}
    with app.test_request_context("/"):
        html = render_template("result.html", view=ResultView(summary=summary, urls={}, result_id="r"))
    text = " ".join(html.split())
    assert "39.99 %" in text and "below the 40.00 % needed" in text


def test_without_a_model_the_home_page_says_so_and_the_503_says_it_once(tmp_path):
    from app import create_app

    app_ = create_app({"MODEL": str(tmp_path / "no-model"), "STORE_DIR": "", "WTF_CSRF_ENABLED": False})
    c = app_.test_client()
    home = c.get("/").get_data(as_text=True)
    assert "cannot be analysed on this server" in home
    assert re.search(r"<button[^>]*data-submit[^>]*disabled", home)
    page = c.post("/analyse", data={"photo": (io.BytesIO(photo_bytes()), "p.jpg")},
                  content_type="multipart/form-data").get_data(as_text=True)
    assert page.count("not loaded") == 1


def test_kept_result_shows_the_advanced_fallback_note(tiny_segmenter, tmp_path):
    from app import create_app

    seg = tiny_segmenter.with_config(threshold=0.0).with_refine(erosion_size=161)
    site = create_app({"TESTING": True, "SEGMENTER": seg, "STORE_DIR": str(tmp_path / "s"),
                       "WTF_CSRF_ENABLED": False})
    resp = site.test_client().post("/analyse", data={"photo": (io.BytesIO(photo_bytes()), "p.jpg"),
                                                     "mode": "advanced", "keep": "y"},
                                   content_type="multipart/form-data", follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "data-mask-note" in html and "standard mask is shown" in html
    assert "covers <strong data-area>0 %" not in html
