import csv
import json

import numpy as np
import pytest
from PIL import Image

from rustseg_core.cli import main
from tests.synthetic import rust_image


@pytest.fixture
def photo_folder(tmp_path):
    rng = np.random.default_rng(3)
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for i in range(2):
        img, _ = rust_image(rng, 96, rust=True)
        Image.fromarray(img).save(root / f"rust{i}.jpg")
    img, _ = rust_image(rng, 96, rust=False)
    Image.fromarray(img).save(root / "sub" / "plain.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "notes.txt").write_text("ignored: not an image extension")
    return root


def _video(path, frames=6):
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (96, 96))
    rng = np.random.default_rng(4)
    for _ in range(frames):
        img, _ = rust_image(rng, 96, rust=True)
        w.write(img[..., ::-1].copy())
    w.release()


def test_segment_folder_skips_broken_files(tiny_model_dir, photo_folder, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["segment", str(photo_folder), "--out", str(out), "--model", str(tiny_model_dir), "-q"])
    assert rc == 0
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == 4
    errors = {r["file"].split("/")[-1]: r["error"] for r in rows}
    assert errors["broken.jpg"] and not errors["rust0.jpg"] and not errors["plain.png"]
    for stem in ("rust0", "rust1", "sub__plain"):
        for suffix in ("_mask.png", "_overlay.jpg", "_heatmap.png"):
            assert (out / f"{stem}{suffix}").is_file()
    assert json.loads((out / "results.json").read_text())[0]["file"].endswith(".jpg")
    assert "1 skipped" in capsys.readouterr().out


def test_segment_video_every_nth_frame(tiny_model_dir, tmp_path):
    video = tmp_path / "clip.avi"
    _video(video, frames=6)
    out = tmp_path / "vout"
    rc = main(["segment", str(video), "--out", str(out), "--every", "2", "--model",
               str(tiny_model_dir), "-q", "--mode", "advanced"])
    assert rc == 0
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["frame"] for r in rows] == ["0", "2", "4"]
    assert (out / "clip_f000002_mask.png").is_file()


def test_segment_nothing_readable_fails(tiny_model_dir, tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"")
    assert main(["segment", str(bad), "--out", str(tmp_path / "o"), "--model", str(tiny_model_dir), "-q"]) == 1
