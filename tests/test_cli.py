import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rustseg_core.cli import build_parser, main
from tests.synthetic import rust_image

ROOT = Path(__file__).resolve().parent.parent


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


def _without_tensorflow(*argv: str) -> subprocess.CompletedProcess:
    """``rustseg ARGV`` in a fresh interpreter that must not have loaded TensorFlow."""
    code = ("import sys; from rustseg_core.cli import main; "
            f"rc = main({list(argv)!r}); "
            "assert 'tensorflow' not in sys.modules, 'TensorFlow was loaded'; sys.exit(rc)")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)


def test_segment_nothing_readable_fails_before_the_model_loads(tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("a text file with a photo's name")
    out = _without_tensorflow("segment", str(bad), str(text), "--out", str(tmp_path / "o"))
    assert out.returncode == 2, out.stderr
    assert "no readable photo" in out.stderr and "notes.jpg" in out.stderr and "x.png" in out.stderr


def test_an_archive_of_photos_is_told_to_be_unpacked(tmp_path):
    import zipfile

    Image.new("RGB", (8, 8)).save(tmp_path / "IMG_0001.jpg")
    with zipfile.ZipFile(tmp_path / "photos.zip", "w") as z:
        z.write(tmp_path / "IMG_0001.jpg", "IMG_0001.jpg")
    out = _without_tensorflow("segment", str(tmp_path / "photos.zip"), "--out", str(tmp_path / "o"))
    assert out.returncode == 2, out.stderr
    assert f"{tmp_path / 'photos.zip'}: an archive of files: unpack it and give segment its folder" in out.stderr


def test_an_empty_folder_says_no_photos_were_found(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no photos here")
    out = _without_tensorflow("segment", str(tmp_path / "empty"), "--out", str(tmp_path / "o"))
    assert out.returncode == 2 and "no photos or videos found in" in out.stderr, out.stderr


def test_camera_raw_files_are_named_not_passed_over(tmp_path, capsys):
    """RAW is not read: a RAW photo with its camera's JPEG beside it is read from the JPEG; one
    alone is named, before the model loads, with what to do."""
    folder = tmp_path / "drone"
    folder.mkdir()
    (folder / "DJI_0001.DNG").write_bytes(b"II*\x00raw")
    (folder / "DJI_0002.dng").write_bytes(b"II*\x00raw")
    out = _without_tensorflow("segment", str(folder), "--out", str(tmp_path / "o"))
    assert out.returncode == 2, out.stderr
    assert "no photos or videos found in" in out.stderr
    assert "2 camera RAW file(s) with no JPEG beside them" in out.stderr and "DJI_0002.dng" in out.stderr
    assert "export them as JPEG" in out.stderr

    from rustseg_core.cli import _check_local_photos
    from rustseg_core.cli.sources import expand

    Image.new("RGB", (8, 8)).save(folder / "DJI_0001.JPG")
    assert expand([str(folder)]).left_out.raws == [folder / "DJI_0002.dng"]
    assert expand([str(folder / "DJI_0001.JPG")]).left_out.raws == []  # files given alone are not searched
    _check_local_photos([str(folder)])  # the JPEG is read; the lone RAW said before the run
    assert f"leaving out 1 camera RAW file(s) with no JPEG beside them ({folder / 'DJI_0002.dng'})" \
        in capsys.readouterr().err


def test_a_rerun_says_what_it_kept(tiny_model_dir, photo_folder, tmp_path, capsys):
    args = ["segment", str(photo_folder), "--out", str(tmp_path / "out"), "--model", str(tiny_model_dir), "-q"]
    assert main(args) == 0
    first = capsys.readouterr()
    assert "3 segmented" in first.out and "will skip" in first.err and "broken.jpg" in first.err
    assert main(args) == 0
    again = capsys.readouterr().out
    assert again.startswith("0 segmented (3 kept from an earlier run"), again


def test_a_live_photos_clip_is_left_out_of_a_folder_and_said(tmp_path, capsys):
    """An iPhone's Live Photo comes off the phone as IMG_0001.HEIC + IMG_0001.MOV: the photo is
    segmented, not the clip's frames as well; a clip given by name, or a video alone, is."""
    from rustseg_core.cli import _check_local_photos
    from rustseg_core.cli.sources import expand

    folder = tmp_path / "phone"
    folder.mkdir()
    for i, name in enumerate(("IMG_0001.jpg", "IMG_0002.JPG")):
        Image.new("RGB", (8, 8), (i * 100, 0, 0)).save(folder / name)
    for name in ("IMG_0001.MOV", "IMG_0002.mov", "walkaround.mp4"):
        (folder / name).write_bytes(b"a video")
    found = expand([str(folder)]).left_out
    assert [p.name for p in found.clips] == ["IMG_0001.MOV", "IMG_0002.mov"]
    assert [Path(s.uri).name for s in expand([str(folder)])] == ["IMG_0001.jpg", "IMG_0002.JPG", "walkaround.mp4"]
    assert [Path(s.uri).name for s in expand([str(folder / "IMG_0001.MOV")])] == ["IMG_0001.MOV"]
    _check_local_photos([str(folder)])
    assert (f"leaving out 2 Live Photo clip(s), a video beside a photo of its name ({folder / 'IMG_0001.MOV'}, "
            f"{folder / 'IMG_0002.mov'}): the photo is segmented") in capsys.readouterr().err


def test_each_photo_is_listed_once_under_a_name_of_its_own(tmp_path, capsys):
    """Overlapping inputs list a file once; a byte-for-byte copy (``IMG_0001 (1).jpg``) is left
    out and said, the plain name kept; photos of one stem get outputs of their own."""
    from rustseg_core.cli import _check_local_photos
    from rustseg_core.cli.sources import expand

    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    Image.new("RGB", (8, 8), (200, 40, 20)).save(root / "IMG_0001.jpg")
    (root / "IMG_0001 (1).jpg").write_bytes((root / "IMG_0001.jpg").read_bytes())
    Image.new("RGB", (8, 8), (20, 40, 200)).save(root / "a.png")
    Image.new("RGB", (8, 8), (20, 200, 40)).save(root / "a.webp")
    Image.new("RGB", (9, 8)).save(root / "sub" / "b.jpg")
    Image.new("RGB", (8, 9)).save(root / "sub__b.jpg")  # the stem the subfolder's b.jpg is given
    found = expand([str(root), str(root / "sub"), str(root / "a.png")])
    assert [(Path(s.uri).relative_to(root).as_posix(), s.stem) for s in found] == [
        ("IMG_0001.jpg", "IMG_0001"), ("a.png", "a_png"), ("a.webp", "a_webp"),
        ("sub/b.jpg", "sub__b_jpg"), ("sub__b.jpg", "sub__b_jpg_2")]
    assert found.copies == {str(root / "IMG_0001 (1).jpg"): str(root / "IMG_0001.jpg")}
    _check_local_photos([str(root)])
    assert (f"leaving out 1 exact copy(ies) of another photo ({root / 'IMG_0001 (1).jpg'} = IMG_0001.jpg): "
            "each photo is segmented once") in capsys.readouterr().err


@pytest.mark.parametrize("inside", ["results", "."])
def test_results_written_inside_the_photo_folder_are_not_taken_for_photos(tiny_model_dir, photo_folder,
                                                                          capsys, inside):
    """``segment photos --out photos/results`` (or ``--out photos``) run again segments the same
    photos, not its own masks and overlays as well, and says what it left out."""
    out = photo_folder / inside
    args = ["segment", str(photo_folder), "--out", str(out), "--model", str(tiny_model_dir), "-q"]
    assert main(args) == 0
    assert "3 segmented" in capsys.readouterr().out
    assert any(out.glob("rust0_overlay.jpg"))
    Image.open(photo_folder / "sub" / "plain.png").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(
        photo_folder / "sub" / "plain_mask.png")
    assert main(args) == 0
    again = capsys.readouterr()
    # plain_mask.png, a photo's own name in a folder segment never wrote, is read as a photo.
    assert again.out.startswith("1 segmented (3 kept from an earlier run"), again.out
    assert f"leaving out the masks, overlays and heatmaps segment wrote in 1 folder(s) ({out})" in again.err
    import csv

    with open(out / "results.csv") as f:
        files = [Path(r["file"]).name for r in csv.DictReader(f)]
    assert sorted(files) == ["broken.jpg", "plain.png", "plain_mask.png", "rust0.jpg", "rust1.jpg"]


# -- what a new user meets ----------------------------------------------------------------------

def _run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """``python -m rustseg_core ARGS`` as a user runs it (stdout and stderr not a terminal)."""
    return subprocess.run([sys.executable, "-m", "rustseg_core", *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, timeout=300)


def test_missing_model_is_one_clear_line_and_exit_2(tmp_path, capsys, photo_folder):
    rc = main(["segment", str(photo_folder / "rust0.jpg"), "--out", str(tmp_path / "o"),
               "--model", str(tmp_path / "missing")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "no RustSEG model in" in err and "Traceback" not in err


def test_missing_input_fails_before_tensorflow_and_says_it_once(tmp_path):
    code = ("import sys; from rustseg_core.cli import main; "
            f"rc = main(['segment', {str(tmp_path / 'nope.jpg')!r}, '--out', {str(tmp_path / 'o')!r}]); "
            "assert 'tensorflow' not in sys.modules, 'TensorFlow was loaded'; sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("nope.jpg") == 1 and out.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_help_version_and_bare_command():
    version = _run_cli("--version")
    assert version.returncode == 0 and re.fullmatch(r"rustseg \d+\.\d+\.\d+\n", version.stdout)
    bare = _run_cli()
    assert bare.returncode == 2 and "Traceback" not in bare.stderr and "error:" not in bare.stderr
    assert "segment" in bare.stdout and "rustseg COMMAND --help" in bare.stdout
    parser = build_parser()
    helps = [parser.format_help()] + [
        sub.format_help() for action in parser._subparsers._group_actions
        for sub in action.choices.values()]
    for text in helps:
        assert "``" not in text and ":func:" not in text  # no reST in --help
        assert "(default: None)" not in text and "(default: False)" not in text
    segment_help = _run_cli("segment", "--help").stdout
    assert "(default: the model's own" in segment_help and "(default: 30)" in segment_help
    train_help = _run_cli("train", "--help").stdout
    for default in ("(default: 30;", "(default: 32;", "(default: 0.002;", "(default: 1)", "(default: cpu)"):
        assert default in train_help


@pytest.mark.slow  # a TensorFlow process of its own (default suite under 5 minutes)
def test_redirected_output_has_no_terminal_codes_or_tensorflow_noise(tiny_model_dir, photo_folder, tmp_path):
    out = _run_cli("segment", str(photo_folder), "--out", str(tmp_path / "o"), "--model", str(tiny_model_dir))
    assert out.returncode == 0, out.stderr
    both = out.stdout + out.stderr
    assert "\x1b[" not in both and "\r" not in both and "\b" not in both
    assert "oneDNN" not in both and "absl" not in both and "cpu_feature_guard" not in both
    assert re.search(r"^\[4/4\] .*: ", out.stdout, re.M)  # one plain progress line per file
    # A broken file is reported once, in words for the command line (not "send it again").
    assert out.stderr.count("broken.jpg") == 1 and "sending" not in both


def test_csv_uses_the_api_field_names(tiny_model_dir, photo_folder, tmp_path):
    from rustseg_core.pipeline.segmenter import Segmenter

    out = tmp_path / "o"
    assert main(["segment", str(photo_folder), "--out", str(out), "--model", str(tiny_model_dir), "-q"]) == 0
    header = next(csv.reader(open(out / "results.csv")))
    summary = Segmenter.load(tiny_model_dir).segment(photo_folder / "rust0.jpg").summary()
    shared = [h for h in header if h in summary]
    assert {"probability", "decision", "area_fraction", "width", "height", "mode"} <= set(shared)
    assert "area_percent" not in header
    row = next(r for r in csv.DictReader(open(out / "results.csv")) if r["file"].endswith("rust0.jpg"))
    assert float(row["area_fraction"]) == pytest.approx(summary["area_fraction"], abs=1e-6)
    assert row["decision"] == summary["decision"] in ("corrosion", "not_corrosion")


def test_segment_uses_the_models_own_mode_and_refuses_one_it_lacks(tiny_unet_dir, tiny_model_dir,
                                                                   photo_folder, tmp_path, capsys):
    out = tmp_path / "u"
    assert main(["segment", str(photo_folder / "rust0.jpg"), "--out", str(out),
                 "--model", str(tiny_unet_dir), "-q"]) == 0
    assert next(csv.DictReader(open(out / "results.csv")))["mode"] == "learned"
    rc = main(["segment", str(photo_folder / "rust0.jpg"), "--out", str(tmp_path / "c"),
               "--model", str(tiny_model_dir), "--mode", "learned", "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and "no per-pixel output" in err and "Traceback" not in err


def test_data_in_another_layout_is_one_line_before_tensorflow_pointing_to_import(tmp_path):
    """Photos sorted into rust/ and clean/ (the commonest layout of public sets) or a folder
    without masks/: train, evaluate and tune say what is missing and which command converts
    it, before TensorFlow loads and before any part is scored (not a traceback minutes in)."""
    for cls in ("rust", "clean"):
        (tmp_path / "set" / cls).mkdir(parents=True)
        Image.new("RGB", (16, 16)).save(tmp_path / "set" / cls / "a.jpg")
    runs = {
        "train": ("train", str(tmp_path / "set"), "--out", str(tmp_path / "m")),
        "evaluate": ("evaluate", "--only", "classification,pixel", "--classification",
                     str(tmp_path / "set"), "--pixel", str(tmp_path / "set")),
        "tune": ("tune", "--masks", str(tmp_path / "set")),
    }
    said = {}
    for name, args in runs.items():
        out = _without_tensorflow(*args)
        assert out.returncode == 2, (name, out.stderr)
        assert out.stderr.count("\n") == 1 and "rustseg import" in out.stderr, (name, out.stderr)
        said[name] = out.stderr
    assert "has no not_corrosion/ folder (it holds clean/, rust/)" in said["train"]
    assert "has no not_corrosion/ folder" in said["evaluate"]
    assert "needs images/ and masks/" in said["tune"]
    assert not (tmp_path / "m").exists()


def test_tune_refuses_a_decision_without_clean_photos(tiny_unet_dir, tmp_path):
    """The decision threshold is chosen between clean and rust photos: with none clean it
    had no balanced accuracy to compare (a user's folder of rust photos alone)."""
    from tests.synthetic import write_labelled_folder, write_mask_folder

    write_mask_folder(tmp_path / "masks", n=3, size=32)
    write_labelled_folder(tmp_path / "val", n_per_class=2, size=32)
    for p in (tmp_path / "val" / "not_corrosion").iterdir():
        p.unlink()
    out = _without_tensorflow("tune", "--learned", "--masks", str(tmp_path / "masks"), "--images",
                              str(tmp_path / "val"), "--model", str(tiny_unet_dir))
    assert out.returncode == 2 and "not_corrosion holds no photo" in out.stderr, out.stderr
