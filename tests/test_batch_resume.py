"""Batch inputs and resumability shared by both engines, shown on the in-process one:
--from-list, s3:// without pyarrow, reruns that keep finished files, interrupted writes."""
from __future__ import annotations

import csv
import sys

import numpy as np
import pytest
from PIL import Image

from rustseg_core.cli import main
from rustseg_core.cli import photo_work
from tests.synthetic import rust_image


@pytest.fixture
def photos(tmp_path):
    rng = np.random.default_rng(5)
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(3):
        img, _ = rust_image(rng, 80, rust=i != 1)
        Image.fromarray(img).save(root / f"p{i}.jpg")
    return root


def _rows(out):
    return list(csv.DictReader(open(out / "results.csv")))


def _segment(model, out, *inputs, extra=()):
    return main(["segment", *map(str, inputs), "--out", str(out), "--model", str(model), "-q", *extra])


def _mtimes(out):
    return {p.name: p.stat().st_mtime_ns for p in out.glob("*_mask.png")}


def test_from_list_keeps_its_order_and_ignores_comments(tiny_model_dir, photos, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text(f"# survey\n{photos / 'p2.jpg'}\n\n  {photos / 'p0.jpg'}  \n")
    out = tmp_path / "out"
    assert _segment(tiny_model_dir, out, photos / "p1.jpg", extra=["--from-list", str(listing)]) == 0
    assert [r["file"].rsplit("/", 1)[-1] for r in _rows(out)] == ["p1.jpg", "p2.jpg", "p0.jpg"]


def test_bad_inputs_are_one_clear_line(tiny_model_dir, photos, tmp_path, capsys, monkeypatch):
    listing = tmp_path / "list.txt"
    listing.write_text(f"{photos / 'p0.jpg'}\n{tmp_path / 'gone.jpg'}\n")
    out = tmp_path / "out"
    assert _segment(tiny_model_dir, out, extra=["--from-list", str(listing)]) == 2
    assert "input not found: " in capsys.readouterr().err
    assert _segment(tiny_model_dir, out, extra=["--from-list", str(tmp_path / "none.txt")]) == 2
    assert "cannot read the list" in capsys.readouterr().err
    assert _segment(tiny_model_dir, out) == 2
    assert "nothing to segment" in capsys.readouterr().err
    assert _segment(tiny_model_dir, out, photos, extra=["--workers", "2"]) == 2
    assert "--workers needs --engine ray" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "pyarrow.fs", None)  # as if pyarrow were not installed
    assert _segment(tiny_model_dir, out, "s3://bucket/photos/") == 2
    err = capsys.readouterr().err
    assert "s3:// inputs need pyarrow" in err and err.count("\n") == 1
    assert not out.exists()


def test_ray_engine_without_ray_says_how_to_install(tiny_model_dir, photos, tmp_path, capsys, monkeypatch):
    from rustseg_core.cli import ray_engine

    monkeypatch.setattr(ray_engine, "ray_available", lambda: False)
    assert _segment(tiny_model_dir, tmp_path / "out", photos, extra=["--engine", "ray"]) == 2
    assert "pip install 'rustseg[ray]'" in capsys.readouterr().err


def test_rerun_recomputes_only_unfinished_files(tiny_model_dir, photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert _segment(tiny_model_dir, out, photos) == 0
    first, before = _rows(out), _mtimes(out)
    (out / ".rustseg" / "done" / "p1.json").unlink()  # as if the run had stopped before p1 ended
    (out / "p2_overlay.jpg").unlink()                 # an output lost: p2 is not complete
    assert _segment(tiny_model_dir, out, photos) == 0
    after = _mtimes(out)
    assert after["p0_mask.png"] == before["p0_mask.png"]
    assert after["p1_mask.png"] != before["p1_mask.png"] and after["p2_mask.png"] != before["p2_mask.png"]
    assert (out / "p2_overlay.jpg").is_file()
    second = _rows(out)
    assert second[0] == first[0]  # kept as it was, timings included
    strip = [{k: v for k, v in r.items() if not k.endswith("_ms")} for r in (*first, *second)]
    assert strip[:3] == strip[3:]
    # Other settings (here the mode) are other results: everything is segmented again.
    assert _segment(tiny_model_dir, out, photos, extra=["--mode", "advanced"]) == 0
    assert all(t != after[n] for n, t in _mtimes(out).items())
    assert {r["mode"] for r in _rows(out)} == {"advanced"}
    again = _mtimes(out)
    assert _segment(tiny_model_dir, out, photos, extra=["--mode", "advanced", "--redo"]) == 0
    assert all(t != again[n] for n, t in _mtimes(out).items())


def test_interrupted_write_leaves_no_partial_output(tiny_model_dir, photos, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_replace = photo_work.os.replace

    def killed_at_p1_overlay(src, dst):
        if str(dst).endswith("p1_overlay.jpg"):
            raise KeyboardInterrupt  # the run is stopped in the middle of p1's files
        real_replace(src, dst)

    monkeypatch.setattr(photo_work.os, "replace", killed_at_p1_overlay)
    with pytest.raises(KeyboardInterrupt):
        _segment(tiny_model_dir, out, photos)
    monkeypatch.setattr(photo_work.os, "replace", real_replace)
    assert not (out / "p1_overlay.jpg").exists() and not (out / "results.csv").exists()
    assert not list(out.glob(".rustseg-tmp-*"))  # the half-written file was removed
    assert (out / ".rustseg" / "done" / "p0.json").is_file()
    assert not (out / ".rustseg" / "done" / "p1.json").exists()
    (out / ".rustseg-tmp-left-by-a-kill").write_bytes(b"partial")  # e.g. after kill -9
    p0 = (out / "p0_mask.png").stat().st_mtime_ns
    assert _segment(tiny_model_dir, out, photos) == 0
    assert (out / "p0_mask.png").stat().st_mtime_ns == p0
    assert (out / "p1_overlay.jpg").is_file() and len(_rows(out)) == 3
    assert not list(out.glob(".rustseg-tmp-*"))


def test_ray_address_with_no_cluster_fails_fast(tiny_model_dir, photos, tmp_path, capsys, monkeypatch):
    pytest.importorskip("ray")
    from benchmarks.loopback import free_port

    port = free_port()  # a port nothing listens on once closed
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    assert _segment(tiny_model_dir, tmp_path / "out", photos, extra=["--engine", "ray"]) == 2
    err = capsys.readouterr().err
    assert f"no Ray cluster answers at RAY_ADDRESS=127.0.0.1:{port}" in err and err.count("\n") == 1
