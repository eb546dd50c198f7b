"""Grades at every boundary, distribution types, ROI maths, EXIF time and GPS (broken tags
included), survey input checks and report files: the core's inspection package, no model."""
from __future__ import annotations

import base64
import csv
import io
import json
import math
import re
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image, TiffImagePlugin

from rustseg_core.inspection.assess import grade_mask
from rustseg_core.inspection.exif import PhotoInfo, dms_to_degrees, info_from_exif, parse_exif_time
from rustseg_core.pipeline.imageio import ImageInputError, decode
from rustseg_core.inspection.grades import (ASTM_D610, CAVEATS, SeverityCutoffs, astm_d610_grade,
                                            distribution_type, iso4628_ri, severity)
from rustseg_core.inspection.report import locations_svg, project, render, write_reports
from rustseg_core.inspection.roi import RoiError, parse_roi, polygon_area, polygon_mask
from rustseg_core.inspection.survey import (SurveyError, SurveyPhoto, clean_summary, make_survey,
                                            survey_from_json, survey_to_json, thumbnail_jpeg)
from rustseg_core.vocabulary import REPORT_OUTPUTS, SEVERITY_IDS
from tests.synthetic import encode

up = lambda x: math.nextafter(x, math.inf)  # noqa: E731 — the next float above x


# ------------------------------------------------------------------ grades
@pytest.mark.parametrize("grade,limit", ASTM_D610)
def test_d610_each_limit_is_at_most(grade, limit):
    assert astm_d610_grade(limit) == grade
    assert astm_d610_grade(up(limit)) == grade - 1


def test_d610_table_is_the_issues():
    assert ASTM_D610 == ((10, 0.01), (9, 0.03), (8, 0.1), (7, 0.3), (6, 1), (5, 3), (4, 10),
                         (3, 16), (2, 33), (1, 50))
    assert astm_d610_grade(0) == 10 and astm_d610_grade(100) == 0 and astm_d610_grade(50.5) == 0


ISO_CUTS = [math.sqrt(0.05 * 0.5), math.sqrt(0.5 * 1), math.sqrt(1 * 8), math.sqrt(8 * 40)]


@pytest.mark.parametrize("percent,ri", [
    (0, 0), (1e-9, 1), (0.05, 1), (ISO_CUTS[0], 1), (up(ISO_CUTS[0]), 2), (0.5, 2),
    (ISO_CUTS[1], 2), (up(ISO_CUTS[1]), 3), (1, 3), (ISO_CUTS[2], 3), (up(ISO_CUTS[2]), 4),
    (8, 4), (8.2, 4), (ISO_CUTS[3], 4), (up(ISO_CUTS[3]), 5), (40, 5), (50, 5), (100, 5)])
def test_iso4628_ri_boundaries(percent, ri):
    assert iso4628_ri(percent) == ri


def test_iso4628_ri_is_the_nearest_reference_area_on_a_log_scale():
    from rustseg_core.inspection.grades import ISO_4628_3_REFERENCE, iso4628_reference

    def nearest(p):
        def distance(low, high):
            return 0.0 if low <= p <= high else min(abs(math.log(p / low)), abs(math.log(p / high)))
        return min((distance(low, high), ri) for ri, low, high in ISO_4628_3_REFERENCE[1:])[1]

    for p in np.geomspace(1e-4, 100, 400):
        assert iso4628_ri(p) == nearest(p), p
    assert [iso4628_reference(ri) for ri in range(6)] == ["0 %", "0.05 %", "0.5 %", "1 %", "8 %", "40–50 %"]


@pytest.mark.parametrize("bad", [-0.001, 100.001, float("nan"), float("inf")])
def test_grades_refuse_impossible_percentages(bad):
    for f in (astm_d610_grade, iso4628_ri, severity):
        with pytest.raises(ValueError):
            f(bad)


def test_severity_default_and_configured_cutoffs():
    assert [severity(p) for p in (0, 0.3, up(0.3), 3, up(3), 16, up(16), 100)] == \
        ["good", "good", "fair", "fair", "poor", "poor", "severe", "severe"]
    strict = SeverityCutoffs(good=0.01, fair=0.1, poor=1)
    assert [severity(p, strict) for p in (0.01, 0.02, 0.5, 2)] == list(SEVERITY_IDS)
    with pytest.raises(ValueError):
        SeverityCutoffs(good=5, fair=3, poor=16)


def test_cutoffs_from_text():
    from rustseg_core.inspection.grades import parse_cutoffs

    assert parse_cutoffs("0.1, 1,10") == SeverityCutoffs(0.1, 1, 10)
    for bad in ("1,2", "a,b,c", "3,2,1", "0,1,101", ""):
        with pytest.raises(ValueError):
            parse_cutoffs(bad)


def test_percent_from_pixel_counts_lands_on_the_boundary():
    """One rusted pixel in 10 000 is exactly 0.01 %, grade 10; two are grade 9."""
    mask = np.zeros((100, 100), bool)
    mask[0, 0] = True
    assert grade_mask(mask, mask.size).astm_d610_grade == 10
    mask[5, 5] = True
    found = grade_mask(mask, mask.size)
    assert (found.astm_d610_grade, found.iso4628_ri, found.severity) == (9, 1, "good")
    assert grade_mask(None, 100).rust_distribution is None and grade_mask(None, 100).iso4628_ri == 0


def test_caveats_say_what_the_issue_asks():
    text = " ".join(CAVEATS).lower()
    assert "defined area" in text and "coated steel" in text and "stains" in text and "not rust" in text


# ------------------------------------------------------------------ distribution
def test_distribution_types_from_components():
    one_blob = np.zeros((200, 200), bool)
    one_blob[50:120, 40:150] = True
    assert distribution_type(one_blob) == "spot"
    specks = np.zeros((200, 200), bool)
    specks[5::12, 5::12] = True  # 289 one-pixel specks
    assert distribution_type(specks) == "pinpoint"
    general = np.zeros((200, 200), bool)
    for k, (y, x) in enumerate([(10, 10), (10, 120), (80, 60), (150, 20), (150, 150), (100, 180), (40, 170)]):
        general[y:y + 15 + 2 * k, x:x + 12 + k] = True
    assert distribution_type(general) == "general"
    assert distribution_type(np.zeros((10, 10), bool)) is None


def test_rust_over_most_of_the_surface_is_general_however_few_its_spots():
    most = np.zeros((200, 200), bool)
    most[:150, :180] = True  # one blob, 67.5 % of the photo
    assert distribution_type(most) == "general"
    # Within a region of interest the share is of the area assessed: a 100×100 region.
    in_roi = np.zeros((200, 200), bool)
    in_roi[50:110, 50:150] = True  # 6,000 px: 60 % of the region
    assert distribution_type(in_roi, assessed_pixels=100 * 100) == "general"
    assert distribution_type(in_roi[:80], assessed_pixels=100 * 100) == "spot"  # 30 %


# ------------------------------------------------------------------ ROI
@pytest.mark.parametrize("text,area", [
    ("[[0,0],[1,0],[1,1],[0,1]]", 1.0),
    ("[[0,0],[0.5,0],[0.5,1],[0,1]]", 0.5),
    ("[[0.25,0.25],[0.75,0.25],[0.75,0.75],[0.25,0.75]]", 0.25),
    ("[[0.1,0.2],[0.9,0.3],[0.6,0.95]]", None),
])
def test_polygon_mask_pixel_count_matches_the_area(text, area):
    poly = parse_roi(text)
    expected = polygon_area(poly) if area is None else area
    assert polygon_area(poly) == pytest.approx(expected)
    for size in ((40, 40), (300, 400), (123, 77)):
        mask = polygon_mask(poly, size)
        assert mask.shape == size
        assert mask.mean() == pytest.approx(expected, abs=3.0 / min(size))


def test_polygon_mask_is_where_the_polygon_is():
    mask = polygon_mask(parse_roi("[[0,0],[0.5,0],[0.5,0.5],[0,0.5]]"), (10, 20))
    assert mask[:5, :10].all() and not mask[5:].any() and not mask[:, 10:].any()
    tri = polygon_mask(parse_roi("[[0,0],[1,0],[0,1]]"), (100, 100))
    assert tri[0, 0] and not tri[99, 99] and tri[10, 80] and not tri[80, 30]


@pytest.mark.parametrize("text,says", [
    ("[[0,0],[1,1]]", "at least 3 points"),
    ("not json", "not valid JSON"),
    ('{"a": 1}', "at least 3 points"),
    ("[[0,0],[1,0],[1.2,1]]", "[0, 1]"),
    ("[[0,0],[1,0],[-0.1,1]]", "[0, 1]"),
    ('[[0,0],[1,0],["x",1]]', "must be [x, y]"),
    ("[[0,0],[1,0],[true,1]]", "must be [x, y]"),
    ("[[0,0],[1,0,3],[1,1]]", "must be [x, y]"),
    ("[[0,0],[0.5,0.5],[1,1]]", "no area"),
    ("[[0,0],[1,0],[NaN,1]]", "[0, 1]"),
    ("[" + ",".join(["[0,0],[1,0],[1,1]"] * 100) + "]", "more than"),
])
def test_bad_roi_is_a_clear_error(text, says):
    with pytest.raises(RoiError, match=None) as e:
        parse_roi(text)
    assert says in str(e.value)


def test_empty_roi_is_the_whole_photo():
    assert parse_roi(None) is None and parse_roi("  ") is None


# ------------------------------------------------------------------ EXIF
def read_photo_info(data: bytes) -> PhotoInfo:
    """What the product reads: the EXIF block of the pipeline's decode (a refused photo has
    no time or place)."""
    try:
        photo = decode(data)
    except ImageInputError:
        return PhotoInfo()
    return info_from_exif(photo.exif) if photo.exif is not None else PhotoInfo()


def _jpeg_with(gps: dict | None = None, when: str | None = None, size=(64, 48)) -> bytes:
    exif = Image.Exif()
    if gps is not None:
        exif[0x8825] = gps
    if when is not None:
        exif[0x8769] = {36867: when}
    buf = io.BytesIO()
    Image.new("RGB", size, (120, 90, 60)).save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def _r(x) -> TiffImagePlugin.IFDRational:
    f = Fraction(x).limit_denominator(10000)
    return TiffImagePlugin.IFDRational(f.numerator, f.denominator)


def test_exif_time_and_gps_are_read():
    data = _jpeg_with({1: "S", 2: (_r(37), _r(48), _r(30.5)), 3: "E", 4: (_r(144), _r(57), _r(10))},
                      "2024:05:01 10:22:03")
    info = read_photo_info(data)
    assert info.capture_time == "2024-05-01T10:22:03"
    assert info.latitude == pytest.approx(-(37 + 48 / 60 + 30.5 / 3600), abs=1e-6)
    assert info.longitude == pytest.approx(144 + 57 / 60 + 10 / 3600, abs=1e-6)
    assert info.has_gps


@pytest.mark.parametrize("gps", [
    {1: "N", 2: (_r(0), _r(0), _r(0)), 3: "E", 4: (_r(0), _r(0), _r(0))},        # 0, 0: no fix
    {2: (_r(37), _r(48), _r(30)), 3: "E", 4: (_r(144), _r(57), _r(10))},          # no N/S
    {1: "X", 2: (_r(37), _r(48), _r(30)), 3: "E", 4: (_r(144), _r(57), _r(10))},  # bad ref
    {1: "N", 2: (_r(95), _r(0), _r(0)), 3: "E", 4: (_r(10), _r(0), _r(0))},       # > 90°
    {1: "N", 2: (_r(45), _r(75), _r(0)), 3: "E", 4: (_r(10), _r(0), _r(0))},      # 75 minutes
    {1: "N", 2: (_r(1), _r(2), _r(3), _r(4)), 3: "E", 4: (_r(10), _r(0), _r(0))},  # 4 parts
    {1: "N", 2: (TiffImagePlugin.IFDRational(1, 0), _r(0), _r(0)), 3: "E",
     4: (_r(10), _r(0), _r(0))},                                                  # x/0
    {1: "N", 3: "E", 4: (_r(10), _r(0), _r(0))},                                  # no latitude
])
def test_broken_or_missing_gps_is_none(gps):
    info = read_photo_info(_jpeg_with(gps, "2024:05:01 10:22:03"))
    assert info.latitude is None and info.longitude is None
    assert info.capture_time == "2024-05-01T10:22:03"  # the rest of the EXIF still counts


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the damaged EXIF
def test_no_exif_broken_exif_and_non_images_give_nothing():
    assert read_photo_info(encode(np.zeros((8, 8, 3), np.uint8))) == read_photo_info(b"not an image")
    assert read_photo_info(b"").capture_time is None
    assert read_photo_info(_jpeg_with(None, "yesterday")).capture_time is None
    good = _jpeg_with({1: "N", 2: (_r(10), _r(0), _r(0)), 3: "W", 4: (_r(20), _r(0), _r(0))},
                      "2024:05:01 10:22:03")
    start = good.index(b"Exif\x00\x00")
    rng = np.random.default_rng(0)
    for _ in range(200):  # bytes of the EXIF block overwritten at random: never an exception
        data = bytearray(good)
        for pos in rng.integers(start + 6, start + 200, 4):
            data[pos] = int(rng.integers(0, 256))
        info = read_photo_info(bytes(data))
        assert info.latitude is None or -90 <= info.latitude <= 90


def test_dms_and_time_parsers_directly():
    assert dms_to_degrees((10, 30, 0), "S", 90) == -10.5
    assert dms_to_degrees((10.5,), b"E\x00", 180) == 10.5
    assert dms_to_degrees((10, 30, 0), None, 90) is None
    assert dms_to_degrees((-1, 0, 0), "N", 90) is None
    assert dms_to_degrees((181, 0, 0), "E", 180) is None
    assert parse_exif_time(b"2023:01:02 03:04:05\x00") == "2023-01-02T03:04:05"
    assert parse_exif_time("2023:13:02 03:04:05") is None and parse_exif_time(12) is None


# ------------------------------------------------------------------ surveys and reports
def _photo(name: str, sev: str, area: float, gps=None, jpeg=True) -> SurveyPhoto:
    img = np.full((30, 40, 3), 128, np.uint8)
    s = {"probability": 0.9, "decision": "corrosion", "area_fraction": area,
         "astm_d610_grade": astm_d610_grade(100 * area), "iso4628_ri": iso4628_ri(100 * area),
         "severity": sev, "rust_distribution": "spot", "roi": None, "roi_fraction": 1.0,
         "capture_time": "2024-05-01T10:22:03", "latitude": gps[0] if gps else None,
         "longitude": gps[1] if gps else None, "mode": "standard", "model_version": "t"}
    return SurveyPhoto(name, clean_summary(s), thumbnail_jpeg(img) if jpeg else None,
                       thumbnail_jpeg(img) if jpeg else None)


@pytest.fixture
def survey():
    return make_survey([_photo("a.jpg", "good", 0.0), _photo("b.jpg", "severe", 0.4, (-37.8, 144.9)),
                        _photo("c.jpg", "poor", 0.05, (-37.801, 144.903)), _photo("d.jpg", "severe", 0.6)],
                       "Pier 3", [("e.jpg", "not an image")])


def test_survey_sorted_worst_first_with_totals(survey):
    assert [p.name for p in survey.photos] == ["d.jpg", "b.jpg", "c.jpg", "a.jpg"]
    assert survey.totals() == {"photos": 4, "good": 1, "fair": 0, "poor": 1, "severe": 2}
    assert [i for i, _ in survey.located()] == [2, 3]


def test_survey_json_round_trip(survey):
    again = survey_from_json(survey_to_json(survey))
    assert [p.name for p in again.photos] == [p.name for p in survey.photos]
    assert again.created == survey.created and again.skipped == survey.skipped
    assert again.photos[0].summary == survey.photos[0].summary


@pytest.mark.parametrize("change,says", [
    (lambda d: d.update(photos=[]), "1 to"),
    (lambda d: d["photos"][0]["summary"].update(severity="awful"), "severity"),
    (lambda d: d["photos"][0]["summary"].update(astm_d610_grade=11), "astm_d610_grade"),
    (lambda d: d["photos"][0]["summary"].update(latitude=91), "latitude"),
    (lambda d: d["photos"][0]["summary"].update(probability="high"), "probability"),
    (lambda d: d["photos"][0]["summary"].update(roi=[[0, 0]]), "3 points"),
    (lambda d: d["photos"][0].update(overlay_jpg_base64="!!!"), "base64"),
    (lambda d: d["photos"][0].update(overlay_jpg_base64=base64.b64encode(b"GIF89a").decode()), "readable"),
    (lambda d: d["photos"][0].update(name=""), "name"),
    (lambda d: d.update(skipped=[["a"]]), "skipped"),
])
def test_survey_input_is_checked(survey, change, says):
    data = json.loads(survey_to_json(survey))
    change(data)
    with pytest.raises(SurveyError, match=says):
        survey_from_json(json.dumps(data))
    with pytest.raises(SurveyError):
        survey_from_json("[1, 2")


def test_report_files(survey, tmp_path):
    paths = write_reports(survey, tmp_path)
    assert sorted(p.name for p in paths) == sorted(o.filename for o in REPORT_OUTPUTS.values())
    rows = list(csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text())))
    assert [r["file"] for r in rows] == ["d.jpg", "b.jpg", "c.jpg", "a.jpg"]
    assert rows[0]["astm_d610_grade"] == "0" and rows[3]["severity"] == "good" and rows[0]["latitude"] == ""
    geo = json.loads((tmp_path / "report.geojson").read_text())
    assert geo["type"] == "FeatureCollection"
    assert [f["properties"]["name"] for f in geo["features"]] == ["b.jpg", "c.jpg"]
    assert geo["features"][0]["geometry"]["coordinates"] == [144.9, -37.8]
    assert geo["features"][0]["properties"]["severity"] == "severe"
    html = (tmp_path / "report.html").read_text()
    assert "<svg" in html and html.count("data:image/jpeg;base64,") == 12  # table + 2 per photo
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html and "e.jpg" in html and CAVEATS[1][:40] in html
    pdf = (tmp_path / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") >= 4


def test_report_without_gps_or_images():
    survey = make_survey([_photo("a.jpg", "fair", 0.01, jpeg=False)])
    assert locations_svg(survey) == ""
    assert b"No photo in this survey has a usable GPS" in render(survey, "html")
    assert json.loads(render(survey, "geojson"))["features"] == []
    assert render(survey, "pdf").startswith(b"%PDF")


def test_plot_projection_keeps_points_in_the_box():
    xy = project([(-37.8, 144.9), (-37.81, 144.95), (-37.79, 144.91)], 700, 400, 30)
    assert all(30 - 1e-6 <= x <= 670 + 1e-6 and 30 - 1e-6 <= y <= 370 + 1e-6 for x, y in xy)
    assert xy[1][1] > xy[2][1]  # further south is lower
    assert project([(10.0, 20.0)], 700, 400, 30) == [(350.0, 200.0)]


def _poppler(pdf: bytes, tmp_path) -> tuple[str, str]:
    """(pdfinfo, pdftotext) of a PDF: it opens in a real reader. Skipped without
    poppler-utils, unless RUSTSEG_REQUIRE_POPPLER=1 (as .ci/run sets) makes that a failure."""
    import os
    import shutil
    import subprocess

    if not shutil.which("pdfinfo") or not shutil.which("pdftotext"):
        if os.environ.get("RUSTSEG_REQUIRE_POPPLER") == "1":
            pytest.fail("poppler-utils (pdfinfo, pdftotext) are required but not installed")
        pytest.skip("poppler-utils not installed")
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    return info, text


def test_pdf_is_read_by_poppler(survey, tmp_path):
    """Cover, one table page, and two photo sections per page."""
    info, text = _poppler(render(survey, "pdf"), tmp_path)
    assert re.search(r"Pages:\s+4\b", info) and "Pier 3" in info
    assert "4 photos: 1 good, 0 fair, 1 poor, 2 severe" in text and "d.jpg" in text
    assert "Stains, run-off" in text


def test_every_photo_is_named_in_full_and_the_report_says_what_made_it(tmp_path):
    from rustseg_core.inspection.grades import SeverityCutoffs

    long = "clean_data-colorImage10{}_hull_starboard_side_frame_near_the_waterline.jpg"
    photos = [_photo(long.format(k), "severe", 0.4) for k in (21, 22)]
    photos[1].summary["uncertain"] = True
    survey = make_survey(photos, "Hull survey", site="Dry dock 2", inspector="A. Inspector",
                         cutoffs=SeverityCutoffs(0.1, 1, 10))
    _, text = _poppler(render(survey, "pdf"), tmp_path)
    flat = re.sub(r"\s+", "", text)
    for k in (21, 22):
        assert long.format(k).replace(" ", "") in flat  # wrapped, never cut
    html = render(survey, "html").decode()
    for where in (text, html):
        for words in ("Dry dock 2", "A. Inspector", "Model version", "t", "Paper method (research)",
                      "Good up to 0.1 %", "Poor up to 10 %", survey.created.replace("T", " "),
                      "Borderline results", "1 of 2"):
            assert words in where, words
    assert "check by eye" in text and "check by eye" in html
    again = survey_from_json(survey_to_json(survey))
    assert (again.site, again.inspector, again.cutoffs) == ("Dry dock 2", "A. Inspector",
                                                            SeverityCutoffs(0.1, 1, 10))


def test_report_csv_and_results_csv_share_their_field_names():
    from rustseg_core.cli.photo_work import CSV_FIELDS as RESULTS_FIELDS
    from rustseg_core.inspection.report import CSV_FIELDS as REPORT_FIELDS

    shared = [f for f in REPORT_FIELDS if f != "number"]
    assert shared == [f for f in RESULTS_FIELDS if f in shared]  # same names, same order
    assert set(RESULTS_FIELDS) - set(REPORT_FIELDS) == {"error", *(f for f in RESULTS_FIELDS if f.endswith("_ms"))}


def test_distribution_of_a_large_mask_matches_full_resolution(monkeypatch):
    import cv2

    import rustseg_core.inspection.grades as grades

    rng = np.random.default_rng(4)
    smalls = [np.zeros((150, 200), bool) for _ in range(3)]
    smalls[0][40:80, 50:110] = True  # one spot
    smalls[1][rng.integers(0, 150, 200), rng.integers(0, 200, 200)] = True  # specks
    smalls[2] = rng.random((150, 200)) > 0.9  # rust everywhere
    for small in smalls:
        big = cv2.resize(small.astype(np.uint8), (2400, 1800), interpolation=cv2.INTER_NEAREST) > 0
        fast = distribution_type(big)
        monkeypatch.setattr(grades, "DISTRIBUTION_MAX_PIXELS", 10**9)
        assert fast == distribution_type(big)
        monkeypatch.undo()
    one = np.zeros((1800, 2400), bool)
    one[900, 1200] = True
    assert distribution_type(one) == "spot"  # a single rusted pixel is not lost
