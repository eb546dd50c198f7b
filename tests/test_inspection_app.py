"""Grades, ROI and surveys through the API, the pages, the store and the CLI (tiny model)."""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rustseg_core.cli import main
from rustseg_core.store import Store
from rustseg_core.vocabulary import INSPECTION_FIELDS, PHOTO_FIELDS, REPORT_OUTPUTS, SEVERITIES
from tests.app_support import CSRF_RE, csrf_token, photo_bytes
from tests.synthetic import rust_image

ROOT = Path(__file__).resolve().parent.parent
HALF = "[[0,0],[0.5,0],[0.5,1],[0,1]]"


@pytest.fixture
def client(app):
    return app.test_client()


def _gps_photo(seed: int = 7, lat=(37, 48, 30), lon=(144, 57, 10)) -> bytes:
    img, _ = rust_image(np.random.default_rng(seed), 160, rust=True)
    exif = Image.Exif()
    exif[0x8825] = {1: "S", 2: lat, 3: "E", 4: lon}
    exif[0x8769] = {36867: "2024:05:01 10:22:03"}
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=92, exif=exif)
    return buf.getvalue()


def _api(client, data: bytes, **fields):
    form = {"image": (io.BytesIO(data), "photo.jpg"), **fields}
    return client.post("/api/v1/segment", data=form, content_type="multipart/form-data")


def _mask(body: dict) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(body["mask_png_base64"])))) > 0


# ------------------------------------------------------------------ API
def test_api_returns_grades_and_exif(client):
    body = _api(client, _gps_photo()).get_json()
    assert set(INSPECTION_FIELDS) | set(PHOTO_FIELDS) <= set(body)
    assert isinstance(body["astm_d610_grade"], int) and 0 <= body["astm_d610_grade"] <= 10
    assert isinstance(body["iso4628_ri"], int) and body["severity"] in SEVERITIES
    assert body["roi"] is None and body["roi_fraction"] == 1.0
    assert body["capture_time"] == "2024-05-01T10:22:03"
    assert body["latitude"] == pytest.approx(-(37 + 48 / 60 + 30 / 3600), abs=1e-6)
    assert body["longitude"] == pytest.approx(144.952778, abs=1e-5)
    plain = _api(client, photo_bytes()).get_json()
    assert plain["latitude"] is None and plain["capture_time"] is None


def test_api_roi_restricts_mask_area_and_overlay(client):
    data = photo_bytes()
    whole = _api(client, data, include="overlay").get_json()
    half = _api(client, data, roi=HALF, include="overlay").get_json()
    assert whole["is_corrosion"] and _mask(whole).any()
    mask = _mask(half)
    assert not mask[:, 80:].any()  # nothing outside the region
    assert half["roi"] == [[0, 0], [0.5, 0], [0.5, 1], [0, 1]] and half["roi_fraction"] == 0.5
    assert half["area_fraction"] == pytest.approx(mask.sum() / (160 * 80), abs=1e-6)
    assert half["overlay_jpg_base64"] != whole["overlay_jpg_base64"]  # outline drawn


@pytest.mark.parametrize("roi,says", [("[[0,0],[1,1]]", "3 points"), ("nope", "JSON"),
                                      ("[[0,0],[2,0],[1,1]]", "[0, 1]"),
                                      ("[[0.001,0.001],[0.002,0.001],[0.002,0.002]]", "no pixel")])
def test_api_bad_roi_is_a_json_400(client, roi, says, store_dir):
    resp = _api(client, photo_bytes(), roi=roi, keep="true")
    assert resp.status_code == 400 and resp.is_json
    assert says in resp.get_json()["error"]["message"]
    assert not store_dir.exists() or not Store(store_dir).records()


def test_kept_record_holds_the_grades(client, store_dir):
    body = _api(client, _gps_photo(), keep="true", roi=HALF).get_json()
    rec = Store(store_dir).get(body["id"])
    for k in ("astm_d610_grade", "iso4628_ri", "severity", "rust_distribution", "roi", "latitude"):
        assert rec.summary[k] == body[k]
    page = client.get(f"/r/{rec.id}").get_data(as_text=True)
    assert f'data-severity="{body["severity"]}"' in page and "the region you drew (50.0 % of the photo)" in page
    assert "37.80833° S" in page


# ------------------------------------------------------------------ result page
def test_result_page_shows_grade_with_caveats(client):
    token = csrf_token(client)
    resp = client.post("/analyse", data={"csrf_token": token, "mode": "standard", "roi": HALF,
                                         "photo": (io.BytesIO(photo_bytes()), "p.jpg")},
                       content_type="multipart/form-data")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200
    sev = re.search(r'class="severity severity-(\w+)" data-severity="(\w+)"', page)
    assert sev and sev.group(1) == sev.group(2) in SEVERITIES
    assert "data-d610>" in page and "data-ri>Ri " in page and "data-caveats" in page
    assert "Stains, run-off" in page and "of the region you drew" in page


def test_result_page_bad_roi_says_why(client):
    token = csrf_token(client)
    resp = client.post("/analyse", data={"csrf_token": token, "mode": "standard", "roi": "[[0,0]]",
                                         "photo": (io.BytesIO(photo_bytes()), "p.jpg")},
                       content_type="multipart/form-data")
    assert resp.status_code == 400
    assert "at least 3 points" in resp.get_data(as_text=True)


def test_home_page_has_the_roi_field_and_script(client):
    page = client.get("/").get_data(as_text=True)
    assert 'name="roi" type="hidden"' in page and "js/roi.js" in page and "data-roi-canvas" in page


def test_severity_colours_in_css_match_the_vocabulary():
    css = (ROOT / "static" / "css" / "site.css").read_text()
    for s in SEVERITIES.values():
        assert re.search(rf"\.severity-{s.id} \{{ background: {s.colour}; \}}", css), s.id


# ------------------------------------------------------------------ surveys
def _survey_post(client, **fields):
    token = csrf_token(client, "/survey")
    return client.post("/survey", data={"csrf_token": token, "mode": "standard", **fields},
                       content_type="multipart/form-data")


def _report_form(page: str) -> tuple[str, str]:
    survey = re.search(r'name="survey" type="hidden" value="([^"]*)"', page)
    return CSRF_RE.search(page).group(1), html.unescape(survey.group(1))


def test_survey_without_javascript_posts_the_photos(client, store_dir):
    photos = [(io.BytesIO(_gps_photo(seed=1)), "gps.jpg"), (io.BytesIO(photo_bytes(rust=False)), "clean.jpg"),
              (io.BytesIO(photo_bytes(seed=3)), "rust.jpg"), (io.BytesIO(b"junk"), "junk.jpg"),
              (io.BytesIO(b"text"), "notes.txt"), (io.BytesIO(b"II*\x00raw"), "DJI_0007.DNG"),
              (io.BytesIO(photo_bytes(seed=3)), "rust (1).jpg")]  # a copy: counted once
    resp = _survey_post(client, title="Pier 3", photos=photos)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    assert '<h1 data-survey-title>Pier 3</h1>' in page
    totals = dict(re.findall(r'data-total="(\w+)">(\d+)<', page))
    assert totals["photos"] == "3" and sum(int(totals[k]) for k in SEVERITIES) == 3
    order = [m for m in re.findall(r'data-severity="(\w+)"', page)]
    ranks = [list(SEVERITIES).index(s) for s in order]
    assert ranks == sorted(ranks, reverse=True)  # worst first
    assert "junk.jpg" in page and "notes.txt" in page and "<svg" in page  # skipped; GPS plot
    assert re.search(r"rust \(1\)\.jpg.{0,200}the same photo as rust\.jpg", html.unescape(page), re.S)
    assert re.search(r"DJI_0007\.DNG.{0,200}a camera RAW file \(DNG, NEF, \.\.\.\), which RustSEG does "
                     r"not read; export the photo as JPEG", html.unescape(page), re.S)
    assert not store_dir.exists()  # a survey is never stored


def test_survey_from_the_scripts_api_answers_and_downloads(client, store_dir):
    photos = []
    for seed in range(3):
        body = _api(client, _gps_photo(seed=seed, lat=(37, 48, 30 + seed)), include="image,overlay").get_json()
        summary = {k: v for k, v in body.items() if not k.endswith("_base64")}
        photos.append({"name": f"p{seed}.jpg", "summary": summary,
                       "image_jpg_base64": body["image_jpg_base64"],
                       "overlay_jpg_base64": body["overlay_jpg_base64"]})
    resp = _survey_post(client, title="", survey=json.dumps({"photos": photos, "skipped": [["x.jpg", "413"]]}))
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and page.count("data:image/jpeg;base64,") == 3
    token, survey = _report_form(page)
    for key, output in REPORT_OUTPUTS.items():
        r = client.post("/survey/report", data={"csrf_token": token, "survey": survey, "format": key},
                        content_type="multipart/form-data")
        assert r.status_code == 200 and r.mimetype == output.mime
        assert r.headers["Content-Disposition"].startswith('attachment; filename="rustseg-survey-')
        assert r.headers["Content-Disposition"].endswith(f'.{output.extension}"')
    geo = client.post("/survey/report", data={"csrf_token": token, "survey": survey, "format": "geojson"},
                      content_type="multipart/form-data").get_json(force=True)
    assert len(geo["features"]) == 3
    assert not store_dir.exists()


@pytest.mark.parametrize("fields,says", [
    ({}, "Choose at least one photo"),
    ({"survey": "{not json"}, "not valid JSON"),
    ({"survey": json.dumps({"photos": [{"name": "a", "summary": {"probability": 2}}]})}, "probability"),
    ({"title": "x" * 121, "survey": "{}"}, "longer than 120"),
])
def test_bad_survey_input_is_a_400_page(client, fields, says):
    resp = _survey_post(client, **fields)
    assert resp.status_code == 400 and says in html.unescape(resp.get_data(as_text=True))


def test_bad_report_request_is_a_400(client):
    token = csrf_token(client, "/survey")
    for data in ({"survey": "{}", "format": "pdf"}, {"survey": "", "format": "pdf"},
                 {"survey": '{"photos": []}', "format": "docx"}):
        r = client.post("/survey/report", data={"csrf_token": token, **data},
                        content_type="multipart/form-data")
        assert r.status_code == 400
    assert client.post("/survey/report", data={"survey": "{}", "format": "pdf"}).status_code == 400  # CSRF


# ------------------------------------------------------------------ CLI
def test_cli_report_and_roi(tiny_model_dir, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "gps.jpg").write_bytes(_gps_photo())
    (src / "plain.jpg").write_bytes(photo_bytes(seed=2))
    (src / "broken.jpg").write_bytes(b"\xff\xd8 nope")
    out = tmp_path / "out"
    assert main(["segment", str(src), "--out", str(out), "--model", str(tiny_model_dir), "-q",
                 "--report", "--roi", HALF]) == 0
    rows = list(csv.DictReader(open(out / "results.csv")))
    header = list(rows[0])
    assert {"astm_d610_grade", "iso4628_ri", "severity"} <= set(header)
    good = [r for r in rows if not r["error"]]
    assert len(good) == 2 and all(json.loads(r["roi"]) == json.loads(HALF) for r in good)
    assert all(r["severity"] in SEVERITIES for r in good)
    assert json.loads((out / "results.json").read_text())[1]["roi"] == json.loads(HALF)
    for o in REPORT_OUTPUTS.values():
        assert (out / o.filename).stat().st_size > 0
    report = list(csv.DictReader(open(out / "report.csv")))
    # The same path form as results.csv's "file" column, so the two can be joined.
    assert sorted(r["file"] for r in report) == sorted(r["file"] for r in good)
    assert sorted(Path(r["file"]).name for r in report) == ["gps.jpg", "plain.jpg"]
    for r in report:
        match = next(g for g in good if g["file"] == r["file"])
        assert all(r[k] == match[k] for k in ("probability", "severity", "iso4628_ri", "mode"))
    assert len(json.loads((out / "report.geojson").read_text())["features"]) == 1
    assert "broken.jpg" in (out / "report.html").read_text()
    mask = np.asarray(Image.open(out / "gps_mask.png"))
    assert not mask[:, 80:].any()


def test_severity_cutoffs_are_configurable(tiny_segmenter, tiny_model_dir, tmp_path):
    from app import create_app

    strict = create_app({"TESTING": True, "SEGMENTER": tiny_segmenter, "STORE_DIR": "",
                         "SECRET_KEY": "t", "SEVERITY_CUTOFFS": "0,0.0001,0.0002"})
    body = _api(strict.test_client(), photo_bytes()).get_json()
    assert body["area_fraction"] > 0 and body["severity"] == "severe"
    with pytest.raises(RuntimeError, match="SEVERITY_CUTOFFS"):
        create_app({"TESTING": True, "SEGMENTER": tiny_segmenter, "STORE_DIR": "", "SECRET_KEY": "t",
                    "SEVERITY_CUTOFFS": "3,2,1"})
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jpg").write_bytes(photo_bytes())
    assert main(["segment", str(src), "--out", str(tmp_path / "o"), "--model", str(tiny_model_dir), "-q",
                 "--severity-cutoffs", "0,0.0001,0.0002"]) == 0
    assert next(csv.DictReader(open(tmp_path / "o" / "results.csv")))["severity"] == "severe"


def test_cli_bad_roi_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["segment", str(tmp_path), "--out", str(tmp_path / "o"), "--roi", "[[0,0]]"])
    assert e.value.code == 2 and "at least 3 points" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["segment", str(tmp_path), "--out", str(tmp_path / "o"), "--severity-cutoffs", "1,2"])
    assert e.value.code == 2 and "GOOD,FAIR,POOR" in capsys.readouterr().err


# ------------------------------------------------------------------ borderline results
@pytest.fixture
def borderline_client(tiny_segmenter):
    """The app with a model whose borderline band holds every probability."""

    from app import create_app
    from rustseg_core.pipeline.segmenter import Segmenter

    band = {"low": 0.0, "high": 1.0, "share_inside": 1.0}
    bundle = tiny_segmenter.bundle.replace(info={**tiny_segmenter.bundle.info, "uncertain_band": band})
    seg = Segmenter(bundle, tiny_segmenter.config, _forward=tiny_segmenter._forward)
    return create_app({"TESTING": True, "SEGMENTER": seg, "STORE_DIR": "", "SECRET_KEY": "t",
                       "WTF_CSRF_ENABLED": False}).test_client()


def test_a_borderline_result_says_check_by_eye_everywhere(borderline_client, client):
    assert _api(client, photo_bytes(rust=True)).get_json()["uncertain"] is False
    body = _api(borderline_client, photo_bytes(rust=True)).get_json()
    assert body["uncertain"] is True
    page = borderline_client.post("/analyse", data={"photo": (io.BytesIO(photo_bytes(rust=True)), "p.jpg"),
                                                    "mode": "standard"},
                                  content_type="multipart/form-data").get_data(as_text=True)
    assert "data-uncertain" in page and "Borderline: check by eye" in page
    assert "Possible corrosion" in page or "Probably no corrosion" in page
    survey = borderline_client.post("/survey", data={
        "photos": [(io.BytesIO(photo_bytes(rust=True)), "a.jpg")], "mode": "standard",
        "title": "Pier", "site": "North wharf", "inspector": "J. Doe"},
        content_type="multipart/form-data").get_data(as_text=True)
    assert "data-uncertain" in survey and "North wharf" in survey and "J. Doe" in survey
    assert "Paper method (research)" in survey and "Severity cut-offs" in survey
