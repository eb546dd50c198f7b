"""``rustseg segment --engine ray``: the same results.csv and masks as the in-process engine,
resumable, with each actor's memory reported. Skipped without Ray, unless
``RUSTSEG_REQUIRE_RAY=1`` (CI), where a missing Ray fails instead."""
from __future__ import annotations

import csv
import os

import numpy as np
import pytest
from PIL import Image

from rustseg_core.cli import main
from tests.synthetic import rust_image
from tests.test_cli import _video

if os.environ.get("RUSTSEG_REQUIRE_RAY") == "1":
    import ray
else:
    ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow  # every Ray run starts actors that each load TensorFlow


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (starting it takes seconds)."""
    from rustseg_core.cli.ray_engine import local_init_kwargs

    ray.init(num_cpus=2, **local_init_kwargs())
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory):
    """Photos in a folder and a sub-folder, a broken file and a short video."""
    rng = np.random.default_rng(11)
    root = tmp_path_factory.mktemp("ray") / "photos"
    (root / "sub").mkdir(parents=True)
    for i in range(3):
        img, _ = rust_image(rng, 96, rust=i != 2)
        Image.fromarray(img).save(root / f"rust{i}.jpg")
    img, _ = rust_image(rng, 96, rust=True)
    Image.fromarray(img).save(root / "sub" / "deep.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    _video(root / "clip.avi", frames=4)
    return root


def _rows(out, timings: bool = False):
    rows = list(csv.DictReader(open(out / "results.csv")))
    return rows if timings else [{k: v for k, v in r.items() if not k.endswith("_ms")} for r in rows]


def _segment(model, folder, out, *extra):
    return main(["segment", str(folder), "--out", str(out), "--model", str(model), "--every", "2",
                 "--report", *extra])


def test_ray_and_in_process_give_the_same_files(local_ray, tiny_model_dir, mixed_folder, tmp_path,
                                               capsys, monkeypatch):
    inproc, on_ray = tmp_path / "in-process", tmp_path / "ray"
    # Relative paths, as people type them: the actors must read them from this folder too.
    monkeypatch.chdir(mixed_folder.parent)
    assert _segment(tiny_model_dir, "photos", inproc, "-q") == 0
    assert _segment(tiny_model_dir, "photos", on_ray, "--engine", "ray", "--workers", "2") == 0
    out = capsys.readouterr()
    assert "[6/6] " in out.out  # one progress line per input file
    rows = _rows(on_ray)
    assert rows == _rows(inproc)  # every column but the timings, in the same order
    assert len(rows) == 7 and [r["frame"] for r in rows if r["file"].endswith(".avi")] == ["0", "2"]
    assert rows[-1]["file"] == "photos/sub/deep.png" and not rows[-1]["error"]
    assert sum(bool(r["error"]) for r in rows) == 1 and "broken.jpg" in out.err
    masks = sorted(p.name for p in inproc.glob("*_mask.png"))
    assert masks == sorted(p.name for p in on_ray.glob("*_mask.png")) and "sub__deep_mask.png" in masks
    for name in masks:
        assert (inproc / name).read_bytes() == (on_ray / name).read_bytes(), name
    assert (on_ray / "report.html").is_file()
    assert (on_ray / "report.csv").read_text() == (inproc / "report.csv").read_text()


def test_ray_rerun_segments_only_what_is_missing(local_ray, tiny_model_dir, mixed_folder, tmp_path):
    from rustseg_core.cli.ray_engine import segment_batch_ray
    from rustseg_core.pipeline.segmenter import Segmenter

    seg = Segmenter.load(tiny_model_dir)
    out = tmp_path / "out"
    stats: dict = {}
    first = segment_batch_ray(str(tiny_model_dir), seg, [mixed_folder], out, progress=False,
                              workers=2, stats=stats)
    assert stats["workers"] == 2 and len(stats["actor_peak_rss_mb"]) in (1, 2)
    assert all(50 < mb < 4000 for mb in stats["actor_peak_rss_mb"].values())
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*_mask.png")}
    (out / ".rustseg" / "done" / "rust1.json").unlink()
    stats = {}
    second = segment_batch_ray(str(tiny_model_dir), seg, [mixed_folder], out, progress=False,
                               workers=2, stats=stats)
    # Only rust1 and the broken file (which never completes) went to the actors again.
    assert stats["workers"] == 2 and 1 <= len(stats["actor_peak_rss_mb"]) <= 2
    assert len(second) == len(first) == 6
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*_mask.png")}
    assert [n for n in before if after[n] != before[n]] == ["rust1_mask.png"]
    assert [r["file"] for r in second] == [r["file"] for r in first]
