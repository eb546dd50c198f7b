"""The benchmark scripts run and fill their tables (speed is not asserted here)."""
from __future__ import annotations

import json

import pytest

from benchmarks import table2
from benchmarks.common import markdown_table, summarise, synthetic_images


@pytest.fixture
def two_photos(tmp_path):
    return synthetic_images(tmp_path / "photos", 2, size=(96, 72))


def test_table2_quick_has_every_stage(tiny_model_dir, two_photos):
    from benchmarks import pipelines

    assert table2.ROWS == pipelines.ROWS  # table2 keeps its own copy to avoid importing TF
    configs = [table2.Config("ours: tiny", "ours", str(tiny_model_dir)),
               table2.Config("reference: tiny", "reference", str(tiny_model_dir))]
    results = table2.run_table2(two_photos, configs, table2.Settings.quick(isolate=False))

    assert [c["label"] for c in results["configs"]] == ["ours: tiny", "reference: tiny"]
    for c in results["configs"]:
        for stage in table2.ROWS:
            stat = c["stages"][stage]
            assert stat["n"] == 2  # 2 photos x 1 rep
            if stage == "overhead":
                assert stat["median"] >= 0
            else:
                assert stat["median"] > 0, (c["label"], stage)
        assert c["memory"]["peak_run_mb"] > 0
    gradcam = results["configs"][0]["gradcam"]
    assert gradcam["forward"]["median"] > 0 and gradcam["ratio"] > 0
    assert {t["target"].split(" (")[0] for t in results["targets"]} == {
        "Grad-CAM++ ≤ 1.2× the classification forward pass",
        "end-to-end ≥ 10× faster than the reference"}

    md = table2.render(json.loads(json.dumps(results)))  # survives a JSON round trip
    for name in table2.ROW_NAMES.values():
        assert f"| {name}" in md
    assert "Peak memory" in md and "Targets" in md


def test_scaling_quick_runs(tiny_model_dir, two_photos, tmp_path):
    from benchmarks import scaling

    results = scaling.run_scaling(two_photos, str(tiny_model_dir), [0.01, 0.03], tmp_path,
                                  scaling.Settings(reps=1, warmup=0, passes=1, threads=2))
    assert results["throughput"]["sequential"]["images_per_s"]["median"] > 0
    assert [round(s["megapixels"], 2) for s in results["sizes"]] == [0.01, 0.03]
    assert all(s["stages"]["end_to_end"]["median"] > 0 for s in results["sizes"])
    assert f"Time by photo size — ours ({tiny_model_dir.name} model)" in scaling.render(results)


def test_markdown_table_and_summary():
    stat = summarise([0.3, 0.1, 0.2])
    assert stat["median"] == pytest.approx(0.2) and stat["n"] == 3
    lines = markdown_table(["a", "b"], [["x", 1]]).splitlines()
    assert lines[1].startswith("|:") and lines[1].endswith(":|") and len(lines) == 3


@pytest.mark.slow
def test_ablation_runs_and_resumes(tmp_path, capsys):
    from benchmarks import ablation
    from tests.synthetic import write_labelled_folder

    write_labelled_folder(tmp_path / "data", n_per_class=8, size=40)
    out = tmp_path / "ablation.json"
    args = ["--data", str(tmp_path / "data"), "--epochs", "1", "--input-size", "32",
            "--base-width", "4", "--cache-dir", str(tmp_path / "cache"), "--json", str(out)]
    assert ablation.main(args + ["--only", "recipe", "constant_lr"]) == 0
    first = json.loads(out.read_text())["variants"]
    assert set(first) == {"recipe", "constant_lr"}
    assert "| constant_lr" in capsys.readouterr().out
    # A rerun keeps finished variants (resume) and only trains the new one.
    assert ablation.main(args + ["--only", "recipe", "flatten_head"]) == 0
    second = json.loads(out.read_text())["variants"]
    assert second["recipe"] == first["recipe"] and "flatten_head" in second


def test_report_overhead_measures_both_parts(tiny_model_dir, tmp_path):
    from benchmarks import report_overhead

    photos = report_overhead.synthetic_survey(tmp_path / "photos", 3, size=(96, 72))
    r = report_overhead.run(photos, str(tiny_model_dir), tmp_path / "out", None)
    assert r["segmented"] == 3 and r["report_s"] > 0 and r["segmentation_s"] > 0
    assert r["ratio"] == r["report_s"] / r["segmentation_s"]
    assert set(r["report_bytes"]) == {"report.html", "report.pdf", "report.csv", "report.geojson"}
    r.update(machine=report_overhead.machine_info(), command="x")
    assert "Report / segmentation" in report_overhead.render(r)


def test_store_keeps_times_both_stores(tmp_path, pg_url):
    from benchmarks.store_keeps import photos, saves_per_second
    from rustseg_core.store import Store, open_store

    pic = photos(1, 64)[0]
    for store in (Store(tmp_path / "store"), open_store(pg_url)):
        assert saves_per_second(store, 2, 6, pic) > 0
        found = store.check()
        assert found.ok and found.rows == 7  # the warm-up save and six timed ones


@pytest.mark.slow
def test_batch_engines_measures_both_engines(tiny_model_dir, tmp_path):
    pytest.importorskip("ray")
    from benchmarks import batch_engines

    r = batch_engines.run({"thumbnail": 3}, str(tiny_model_dir), tmp_path, workers=2,
                          sizes={"thumbnail": (96, 72)})
    s = r["sets"][0]
    assert s["photos"] == 3 and s["in_process"]["errors"] == s["ray"]["errors"] == 0
    assert s["in_process"]["photos_per_s"] > 0 and s["ray"]["photos_per_s"] > 0 and s["ratio"] > 0
    assert s["ray"]["workers"] == 2 and all(m > 50 for m in s["ray"]["actor_peak_rss_mb"])
    r.update(machine=batch_engines.machine_info(), command="x")
    md = batch_engines.render(r)
    assert "| thumbnail" in md and "each Ray actor peaked at" in md


@pytest.mark.slow
def test_client_latency_times_the_api_and_the_page(tiny_model_dir, two_photos, capsys):
    from benchmarks import client_latency

    assert client_latency.main(["--reps", "2", "--model", str(tiny_model_dir),
                                "--photo", str(two_photos[0])]) == 0
    out = capsys.readouterr().out
    for words in ("0.1 MP", "12 MP", "API `POST /api/v1/segment`", "result page `POST /analyse`",
                  "Worker peak resident memory"):
        assert words in out, words


def test_onnx_runtime_compares_every_mode(tiny_unet_dir, two_photos, tmp_path, capsys):
    import shutil

    pytest.importorskip("onnxruntime")
    from benchmarks import onnx_runtime
    from rustseg_core.learn.onnx_export import export_onnx

    model = shutil.copytree(tiny_unet_dir, tmp_path / "unet")
    export_onnx(model, fp16=False)
    assert onnx_runtime.main(["--model", str(model), "--images", str(two_photos[0].parent),
                              "--limit", "2", "--megapixels", "0"]) == 0
    out = capsys.readouterr().out
    assert "| learned " in out and "| standard " in out and "(TensorFlow:" not in out
    assert "The paper's modes on ONNX Runtime give TensorFlow's masks" in out


def test_load_test_memory_growth_is_second_half_against_first_half():
    from benchmarks.load_test import rss_growth

    # A worker that reaches its level only after its first large photo: not growth.
    assert rss_growth([298, 320, 345, 345, 347, 349, 349, 348]) == pytest.approx(4 / 345)
    # A leak keeps raising the level: growth, above the 10 % the load test allows.
    assert rss_growth([300, 310, 320, 330, 340, 350, 360, 370]) == pytest.approx(40 / 330)
    assert rss_growth([350, 350]) == 0.0


def test_reports_name_the_model_they_ran():
    from benchmarks.common import DEFAULT_MODEL, model_label

    assert model_label(str(DEFAULT_MODEL)) == "default model"
    assert model_label(str(DEFAULT_MODEL.parent / "classifier")) == "classifier model"
    assert model_label("random:paper") == "random paper model"


def test_get_json_takes_a_reply_cut_short_for_no_answer():
    """A server killed mid-reply sends its headers but not the body it announced."""
    import socket
    import threading

    from benchmarks.loopback import get_json

    with socket.create_server(("127.0.0.1", 0)) as srv:
        def reply() -> None:
            conn, _ = srv.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 100\r\n\r\n{")

        t = threading.Thread(target=reply)
        t.start()
        assert get_json(f"http://127.0.0.1:{srv.getsockname()[1]}/healthz") == (0, None)
        t.join()
