"""Label audits: corrections of noisy folder labels, applied where labels are read."""
import csv
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from rustseg_core.cli import main
from rustseg_core.learn.data import list_labelled
from rustseg_core.learn.label_audit import LabelAuditError, audited_labels, read_label_audit
from tests.synthetic import write_labelled_folder, write_mask_folder

ROOT = Path(__file__).resolve().parents[1]


def _write_audit(path, rows, header=("file", "label", "audited", "note")):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_an_audit_changes_only_the_photos_it_names_in_this_folder(tmp_path):
    write_labelled_folder(tmp_path / "val", n_per_class=3, size=32)
    audit = read_label_audit(_write_audit(tmp_path / "a.csv", [
        ("val/corrosion/corrosion_001.jpg", "corrosion", "not_corrosion", "new blue pipes"),
        ("val/not_corrosion/not_corrosion_002.jpg", "not_corrosion", "corrosion", "rusted valve"),
        ("test/corrosion/anything.jpg", "corrosion", "not_corrosion", "another split: left alone"),
    ]))
    ds = list_labelled(tmp_path / "val")
    labels, changed = audited_labels(tmp_path / "val", ds, audit)
    assert changed == 2
    by_name = dict(zip((p.name for p in ds.paths), labels))
    assert by_name["corrosion_001.jpg"] == 0 and by_name["not_corrosion_002.jpg"] == 1
    assert by_name["corrosion_000.jpg"] == 1 and by_name["not_corrosion_000.jpg"] == 0
    assert int(np.sum(labels != ds.labels)) == 2  # the folder's own labels are untouched


@pytest.mark.parametrize("rows, header, message", [
    ([("val/corrosion/x.jpg", "corrosion", "not_corrosion")], ("file", "label"), "missing: audited"),
    ([("val/corrosion/x.jpg", "corrosion", "rusty")], None, "'rusty' is not one of"),
    ([("val/corrosion/x.jpg", "corrosion", "corrosion")], None, "audited as its own label"),
    ([("val/corrosion/x.jpg", "corrosion", "not_corrosion")] * 2, None, "listed twice"),
])
def test_a_malformed_audit_is_refused_with_the_reason(tmp_path, rows, header, message):
    path = _write_audit(tmp_path / "a.csv", rows, header or ("file", "label", "audited"))
    with pytest.raises(LabelAuditError, match=message):
        read_label_audit(path)


def test_an_audit_with_no_entries_changes_nothing(tmp_path):
    write_labelled_folder(tmp_path / "val", n_per_class=1, size=32)
    audit = read_label_audit(_write_audit(tmp_path / "a.csv", []))
    ds = list_labelled(tmp_path / "val")
    labels, changed = audited_labels(tmp_path / "val", ds, audit)
    assert len(audit) == 0 and changed == 0 and labels.tolist() == ds.labels.tolist()


@pytest.mark.parametrize("row, message", [
    (("val/corrosion/gone.jpg", "corrosion", "not_corrosion"), "which is not in"),
    (("val/corrosion/corrosion_000.jpg", "not_corrosion", "corrosion"), "but it is in corrosion/"),
])
def test_an_audit_that_no_longer_fits_the_folder_is_refused(tmp_path, row, message):
    write_labelled_folder(tmp_path / "val", n_per_class=2, size=32)
    audit = read_label_audit(_write_audit(tmp_path / "a.csv", [row]))
    with pytest.raises(LabelAuditError, match=message):
        audited_labels(tmp_path / "val", list_labelled(tmp_path / "val"), audit)


def test_the_decision_threshold_follows_the_audited_labels(tmp_path):
    """Folder labels: a 'clean' photo at 0.75 pushes the best balanced threshold up to 0.8,
    where the close-up at 0.55 is called clean. It shows rust (the audit): then every photo
    is called right at 0.3-0.5, and near ties go to the highest, 0.5."""
    from rustseg_core.learn.tuning import tune_decision

    write_labelled_folder(tmp_path / "val", n_per_class=3, size=32, seed=1)
    write_mask_folder(tmp_path / "pixel", n=2, size=32, seed=2)
    probs = {"corrosion": [0.85, 0.9, 0.95], "not_corrosion": [0.1, 0.2, 0.75]}

    def prob(path):
        if path.parent.name in probs:
            return probs[path.parent.name][int(path.stem[-3:])]
        return 0.55  # the held-out close-up, rust

    seg = SimpleNamespace(decode=lambda p: SimpleNamespace(image=p), images_per_photo=1,
                          probabilities=lambda paths: np.array([prob(p) for p in paths]))
    held = {"m000.jpg"}
    as_given, _ = tune_decision(seg, tmp_path / "val", tmp_path / "pixel", held, log=lambda s: None)
    audit = read_label_audit(_write_audit(tmp_path / "a.csv", [
        ("val/not_corrosion/not_corrosion_002.jpg", "not_corrosion", "corrosion", "rust")]))
    said = []
    audited, found = tune_decision(seg, tmp_path / "val", tmp_path / "pixel", held, log=said.append,
                                   audit=audit)
    assert as_given == 0.8 and audited == 0.5
    assert found["balanced_accuracy_by_threshold"][0.5] == 1.0
    assert any("1 of 6 labels" in line for line in said)


def test_evaluate_scores_the_classification_against_the_audit_too(tiny_model_dir, tmp_path, capsys):
    write_labelled_folder(tmp_path / "val", n_per_class=4, size=64, seed=3)
    audit = _write_audit(tmp_path / "a.csv", [
        ("val/corrosion/corrosion_000.jpg", "corrosion", "not_corrosion", ""),
        ("val/not_corrosion/not_corrosion_003.jpg", "not_corrosion", "corrosion", "")])
    out = tmp_path / "report"
    assert main(["evaluate", "--only", "classification", "--classification", str(tmp_path / "val"),
                 "--model", str(tiny_model_dir), "--label-audit", str(audit), "--out", str(out)]) == 0
    c = json.loads((out / "metrics.json").read_text())["classification"]
    a = c["label_audit"]
    assert a["relabelled"] == 2 and a["n"] == c["n"] == 8 and a["file"] == str(audit)
    # The same predictions, two labels flipped: the confusion matrices differ by exactly those two.
    before, after = np.array(c["confusion_matrix"]["rows_true_cols_pred"]), \
        np.array(a["confusion_matrix"]["rows_true_cols_pred"])
    assert before.sum() == after.sum() == 8 and np.abs(before - after).sum() == 4
    assert before.sum(axis=0).tolist() == after.sum(axis=0).tolist()  # predictions unchanged
    assert "with the label audit" in capsys.readouterr().out


def test_a_bad_audit_is_a_usage_error_before_tensorflow_loads(tmp_path):
    import subprocess

    write_labelled_folder(tmp_path / "val", n_per_class=1, size=32)
    bad = _write_audit(tmp_path / "a.csv", [("val/corrosion/x.jpg", "corrosion", "rusty")])
    code = ("import sys; from rustseg_core.cli import main; rc = main(sys.argv[1:]); "
            "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'; sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code, "evaluate", "--only", "classification",
                        "--classification", str(tmp_path / "val"), "--label-audit", str(bad),
                        "--out", str(tmp_path / "o")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2, r.stderr
    assert "'rusty' is not one of" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = subprocess.run([sys.executable, "-c", code, "tune", "--learned", "--masks", str(tmp_path),
                        "--label-audit", str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "--label-audit needs --images" in r.stderr
    # Well formed, but naming a photo the folder does not have: refused before the model loads.
    stale = _write_audit(tmp_path / "b.csv", [("val/corrosion/gone.jpg", "corrosion", "not_corrosion")])
    r = subprocess.run([sys.executable, "-c", code, "evaluate", "--only", "classification",
                        "--classification", str(tmp_path / "val"), "--label-audit", str(stale),
                        "--out", str(tmp_path / "o")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "which is not in" in r.stderr, r.stderr


def test_the_shipped_validation_audit_reads_and_names_validation_photos_only():
    audit = read_label_audit(ROOT / "data_audit" / "classification-val.csv")
    assert len(audit) >= 20
    assert all(f.startswith("val/") for f in audit.entries)
    assert {a for _, a in audit.entries.values()} == {"corrosion", "not_corrosion"}


def test_training_learns_audited_photos_as_what_they_show(tmp_path):
    from rustseg_core.learn.masks import apply_label_audit, load_labelled_folder

    write_labelled_folder(tmp_path / "train", n_per_class=2, size=32)
    audit = read_label_audit(_write_audit(tmp_path / "a.csv", [
        ("train/corrosion/corrosion_000.jpg", "corrosion", "not_corrosion", "new pipe"),
        ("train/not_corrosion/not_corrosion_001.jpg", "not_corrosion", "corrosion", "rusted valve")]))
    ms = load_labelled_folder(tmp_path / "train", 24)
    fixed, changed = apply_label_audit(ms, tmp_path / "train", audit)
    assert changed == 2
    by_name = {Path(n).name: i for i, n in enumerate(fixed.names)}
    clean, rust = by_name["corrosion_000.jpg"], by_name["not_corrosion_001.jpg"]
    # Audited clean: an all-background mask that teaches; audited rust: known by its label alone.
    assert fixed.labels[clean] == 0 and fixed.has_mask[clean] == 1 and not fixed.masks[clean].any()
    assert fixed.labels[rust] == 1 and fixed.has_mask[rust] == 0
    assert fixed.labels.tolist().count(1) == ms.labels.tolist().count(1)


def test_a_trained_model_records_its_label_audit(tiny_unet_dir):
    info = json.loads((tiny_unet_dir / "rustseg.json").read_text())["info"]
    audit = info["trained_on"]["label_audit"]
    assert audit["labels_changed"] == {"train": 1, "validation": 1}
    assert audit["file"].endswith("audit.csv")


def test_label_audit_is_for_the_unet_only(tmp_path, capsys):
    write_labelled_folder(tmp_path / "d", n_per_class=1, size=32)
    audit = _write_audit(tmp_path / "a.csv", [("d/corrosion/corrosion_000.jpg", "corrosion", "not_corrosion")])
    assert main(["train", str(tmp_path / "d"), "--out", str(tmp_path / "m"), "--label-audit", str(audit)]) == 2
    assert "--label-audit works with --masks" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
