"""``rustseg compare``: two evaluate runs on the same photos, each figure of each run's
default mode side by side with a paired bootstrap interval of the difference."""
import json

import pytest

from rustseg_core.cli import main
from rustseg_core.learn.compare import compare_runs, missing_parts, photo_rows


def _report(probs, labels, ious, mode="learned", threshold=0.5, **extra):
    """A metrics.json as evaluate writes it: classification photos with their probability,
    close-ups with each one's gated and ungated scores of ``mode``."""
    per_image = {f"c{i}.jpg": {"probability": p, "scores": {mode: {"iou": iou}}}
                 for i, (p, iou) in enumerate(zip(probs, ious))}
    return {"model": "m", "default_mode": mode, "threshold": threshold,
            "classification": {"per_photo": {f"corrosion/{i}.jpg" if y else f"not_corrosion/{i}.jpg":
                                             {"label": y, "probability": p}
                                             for i, (p, y) in enumerate(zip(probs, labels))}},
            "pixel": {"gated": {"per_image": per_image}, "ungated": {"per_image": per_image}},
            **extra}


def test_a_model_better_on_nearly_every_photo_is_better_beyond_chance():
    labels = [1, 0] * 20
    a = _report([0.6 if y else 0.55 for y in labels], labels, [0.40 + 0.01 * (i % 5) for i in range(40)])
    b = _report([0.9 if y else 0.1 for y in labels], labels, [0.45 + 0.01 * (i % 5) for i in range(40)])
    r = compare_runs(a, b)
    cls = {d.measure: d for d in r["classification"]["differences"]}
    assert cls["accuracy"].a == 0.5 and cls["accuracy"].b == 1.0 and cls["accuracy"].verdict == "B"
    assert cls["clean photos called corrosion"].diff == -1.0 and cls["clean photos called corrosion"].verdict == "B"
    assert r["classification"]["calls_changed"] == {"photos": 20, "b_right": 20, "a_right": 0}
    iou = r["pixel"]["differences"][0]
    # Each model's own interval would overlap (0.40–0.44 against 0.45–0.49 photo by photo),
    # but B is 0.05 better on every photo: the paired interval is 0.05 itself.
    assert iou.diff == pytest.approx(0.05) and iou.ci95 == pytest.approx([0.05, 0.05]) and iou.verdict == "B"
    # The same runs the other way round: A is better.
    assert compare_runs(b, a)["pixel"]["differences"][0].verdict == "A"


def test_noise_either_way_is_within_chance_and_only_shared_photos_count():
    labels = [1, 0] * 10
    ious_a = [0.5 + (0.1 if i % 2 else -0.1) for i in range(20)]
    ious_b = [0.5 + (-0.1 if i % 2 else 0.1) for i in range(20)]
    a = _report([0.7 if y else 0.3 for y in labels], labels, ious_a)
    b = _report([0.7 if y else 0.3 for y in labels], labels, ious_b)
    del b["pixel"]["gated"]["per_image"]["c0.jpg"]
    r = compare_runs(a, b)
    assert (r["pixel"]["photos"], r["pixel"]["only_a"], r["pixel"]["only_b"]) == (19, 1, 0)
    assert r["pixel"]["differences"][0].verdict == "chance"
    assert r["classification"]["calls_changed"]["photos"] == 0


def test_what_cannot_be_compared_is_named():
    labels = [1, 0, 1, 0]
    a = _report([0.9, 0.1, 0.8, 0.2], labels, [0.5] * 4)
    old = _report([0.9, 0.1, 0.8, 0.2], labels, [0.5] * 4)
    del old["classification"]["per_photo"]  # a run made before per-photo figures were kept
    old["boxes"] = {"n_images": 3}
    why = missing_parts(a, old)
    assert "run B has no per-photo figures" in why["classification"]
    assert why["boxes"] == "only run B scored it"
    assert set(compare_runs(a, old)) == {"pixel"}


def test_photo_rows_say_what_was_called_and_whether_it_was_right():
    rows = photo_rows(_report([0.9, 0.6], [1, 0], [0.7, 0.0], threshold=0.5))
    cls = [r for r in rows if r["part"] == "classification"]
    assert [(r["label"], r["called"], r["correct"]) for r in cls] == [
        ("corrosion", "corrosion", True), ("not_corrosion", "corrosion", False)]
    assert [r["iou"] for r in rows if r["part"] == "pixel"] == [0.7, 0.0]


def test_the_command_prints_each_difference_and_refuses_what_is_not_a_run(tmp_path, capsys):
    labels = [1, 0] * 10
    for name, probs in (("a", [0.6 if y else 0.55 for y in labels]), ("b", [0.9 if y else 0.1 for y in labels])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(_report(probs, labels, [0.5] * 20)))
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    said = capsys.readouterr().out
    assert "accuracy: A 0.500, B 1.000, B − A +0.500" in said and "B better beyond chance" in said
    assert "calls that differ: 10 photo(s); B right on 10, A right on 0" in said
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "nothing")]) == 2
    assert "give the --out folder of a rustseg evaluate run" in capsys.readouterr().err
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "metrics.json").write_text(json.dumps({"model": "m"}))
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "c")]) == 2
    assert "not the metrics.json of a rustseg evaluate run" in capsys.readouterr().err


def test_output_cut_short_by_a_pipe_stops_quietly(tmp_path):
    """``rustseg compare A B | head -1``: the reader goes away, the command stops without a
    traceback, with the status a shell gives a command a pipe stopped."""
    import os
    import subprocess
    import sys

    labels = [1, 0] * 10
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "metrics.json").write_text(json.dumps(_report([0.7] * 20, labels, [0.5] * 20)))
    for buffered in ("1", ""):
        env = {**os.environ, "PYTHONUNBUFFERED": buffered}
        proc = subprocess.Popen([sys.executable, "-m", "rustseg_core", "compare", str(tmp_path / "a"),
                                 str(tmp_path / "a")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        proc.stdout.close()  # before it writes a line
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 141 and "Traceback" not in err and "Exception" not in err, err
