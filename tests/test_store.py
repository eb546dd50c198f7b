"""The opt-in store (rustseg_core.store) and `rustseg dataset export`."""
from __future__ import annotations

import csv
import os
import sqlite3

import numpy as np
import pytest

from rustseg_core.store import local as store_mod
from rustseg_core.cli import main as cli_main
from rustseg_core.store import Store, is_valid_id
from rustseg_core.vocabulary import OUTPUT_FILES
from tests.app_support import errors_from_threads
from tests.synthetic import format_of
from tests.synthetic import encode, rust_image


def _photo(fmt: str = "JPEG", seed: int = 0) -> bytes:
    img, _ = rust_image(np.random.default_rng(seed), 48, rust=True)
    return encode(img, fmt)


def _summary(decision: str = "corrosion", probability: float = 0.9) -> dict:
    return {"probability": probability, "decision": decision,
            "is_corrosion": decision == "corrosion", "threshold": 0.5, "mode": "standard",
            "area_fraction": 0.25 if decision == "corrosion" else 0.0, "width": 48, "height": 48,
            "model_version": "test-v1", "timings_ms": {"total": 12.0}}


def _outputs() -> dict[str, bytes]:
    return {name: f"<{name}>".encode() for name in OUTPUT_FILES}



def test_store_is_created_lazily(tmp_path):
    s = Store(tmp_path / "store")
    assert s.get("A" * 22) is None
    assert s.records() == []
    assert s.sweep() == 0
    assert not (tmp_path / "store").exists()


def test_save_writes_files_named_by_id_and_a_row(tmp_path):
    s = Store(tmp_path / "store")
    original = _photo("PNG")
    rec = s.save(original, _summary(), _outputs(), image_format=format_of(original))
    assert is_valid_id(rec.id)
    folder = tmp_path / "store" / "items" / rec.id
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*OUTPUT_FILES, "original.png", "summary.json"])
    assert (folder / "original.png").read_bytes() == original  # as received, byte for byte
    assert (folder / "mask.png").read_bytes() == b"<mask.png>"
    assert rec.model_version == "test-v1" and rec.decision == "corrosion"
    assert rec.probability == pytest.approx(0.9) and rec.verdict is None
    assert rec.created_at.endswith("+00:00")
    assert s.get(rec.id) == rec
    assert list((tmp_path / "store" / "staging").iterdir()) == []
    with sqlite3.connect(s.db_path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_ids_are_random_and_unrelated_to_content(tmp_path):
    s = Store(tmp_path)
    a = s.save(_photo(), _summary(), _outputs(), image_format=format_of(_photo()))
    b = s.save(_photo(), _summary(), _outputs(), image_format=format_of(_photo()))
    assert a.id != b.id
    assert {r.id for r in s.records()} == {a.id, b.id}
    assert s.get(a.id.swapcase() if a.id.swapcase() != a.id else "C" * 22) is None


@pytest.mark.parametrize("fmt, ext", [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp")])
def test_original_keeps_its_real_format(tmp_path, fmt, ext):
    rec = Store(tmp_path).save(_photo(fmt), _summary(), _outputs(), image_format=format_of(_photo(fmt)))
    assert rec.original_file == "original" + ext


def test_save_refuses_non_images_and_wrong_outputs(tmp_path):
    s = Store(tmp_path / "store")
    with pytest.raises(ValueError):
        s.save(b"%PDF-1.4 not a photo", _summary(), _outputs(), image_format=format_of(b"%PDF-1.4 not a photo"))
    with pytest.raises(ValueError):
        s.save(_photo(), _summary(), {"mask.png": b"x"}, image_format=format_of(_photo()))
    assert not (tmp_path / "store").exists()


def test_crash_while_writing_files_leaves_no_row_and_no_folder(tmp_path, monkeypatch):
    s = Store(tmp_path)
    s.save(_photo(), _summary(), _outputs(), image_format=format_of(_photo()))
    real = store_mod._write_synced
    calls = {"n": 0}

    def failing(path, data):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        real(path, data)

    monkeypatch.setattr(store_mod, "_write_synced", failing)
    with pytest.raises(OSError):
        s.save(_photo(), _summary(), _outputs(), image_format=format_of(_photo()))
    assert len(s.records()) == 1
    assert len(list(s.items_dir.iterdir())) == 1
    assert list(s.staging_dir.iterdir()) == []


def test_failed_insert_removes_the_files(tmp_path, monkeypatch):
    s = Store(tmp_path)
    s.save(_photo(), _summary(), _outputs(), image_format=format_of(_photo()))

    def broken_transaction():
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(s, "_transaction", broken_transaction)
    with pytest.raises(sqlite3.OperationalError):
        s.save(_photo(), _summary(), _outputs(), image_format=format_of(_photo()))
    monkeypatch.undo()
    assert len(s.records()) == 1
    assert len(list(s.items_dir.iterdir())) == 1


def test_every_row_has_its_files(tmp_path):
    s = Store(tmp_path)
    for i in range(3):
        s.save(_photo(seed=i), _summary(), _outputs(), image_format=format_of(_photo(seed=i)))
    for rec in s.records():
        for name in ("original", *OUTPUT_FILES):
            assert s.file_path(rec, name).is_file()


def test_sweep_removes_only_old_leftovers(tmp_path):
    s = Store(tmp_path)
    rec = s.save(_photo(), _summary(), _outputs(), image_format=format_of(_photo()))
    (s.staging_dir / "half-written").mkdir()
    (s.items_dir / "orphan").mkdir()
    assert s.sweep(older_than_s=3600) == 0  # too young: may be a save in progress
    old = 1_000_000_000
    for d in (s.staging_dir / "half-written", s.items_dir / "orphan"):
        os.utime(d, (old, old))
    assert s.sweep(older_than_s=3600) == 2
    assert [p.name for p in s.items_dir.iterdir()] == [rec.id]


def test_concurrent_saves_from_threads(tmp_path):
    s = Store(tmp_path)
    s.save(_photo(), _summary(), _outputs(), image_format=format_of(_photo()))  # create the schema first, like a running app

    def work(i):
        Store(tmp_path).save(_photo(seed=i), _summary(), _outputs(), image_format=format_of(_photo(seed=i)))

    assert errors_from_threads(work, 8) == []
    assert len(s.records()) == 9


def test_verdicts(tmp_path):
    s = Store(tmp_path)
    rec = s.save(_photo(), _summary(), _outputs(), image_format=format_of(_photo()))
    assert s.set_verdict(rec.id, "wrong").verdict == "wrong"
    updated = s.set_verdict(rec.id, "correct")  # the latest answer wins
    assert updated.verdict == "correct" and updated.verdict_at
    with pytest.raises(ValueError):
        s.set_verdict(rec.id, "maybe")
    with pytest.raises(KeyError):
        s.set_verdict("B" * 22, "correct")
    with pytest.raises(KeyError):
        s.set_verdict("../../etc/passwd", "correct")


@pytest.mark.parametrize("decision, verdict, label, source", [
    ("corrosion", None, "corrosion", "model"),
    ("not_corrosion", None, "not_corrosion", "model"),
    ("corrosion", "correct", "corrosion", "user"),
    ("not_corrosion", "correct", "not_corrosion", "user"),
    ("corrosion", "wrong", "corrosion", "user"),      # rust there, mask wrong
    ("not_corrosion", "wrong", "corrosion", "user"),   # missed rust
    ("corrosion", "no_rust", "not_corrosion", "user"),
])
def test_label_rules(tmp_path, decision, verdict, label, source):
    s = Store(tmp_path)
    rec = s.save(_photo(), _summary(decision), _outputs(), image_format=format_of(_photo()))
    if verdict:
        rec = s.set_verdict(rec.id, verdict)
    assert rec.label() == (label, source)


def _filled_store(root) -> tuple[Store, dict[str, str]]:
    s = Store(root)
    ids = {}
    ids["model_rust"] = s.save(_photo(seed=1), _summary("corrosion"), _outputs(), image_format=format_of(_photo(seed=1))).id
    ids["model_clean"] = s.save(_photo("PNG", seed=2), _summary("not_corrosion", 0.1), _outputs(), image_format=format_of(_photo("PNG", seed=2))).id
    ids["user_no_rust"] = s.save(_photo(seed=3), _summary("corrosion"), _outputs(), image_format=format_of(_photo(seed=3))).id
    s.set_verdict(ids["user_no_rust"], "no_rust")
    ids["user_missed"] = s.save(_photo(seed=4), _summary("not_corrosion", 0.3), _outputs(), image_format=format_of(_photo(seed=4))).id
    s.set_verdict(ids["user_missed"], "wrong")
    return s, ids


def test_export_layout_and_csv(tmp_path):
    s, ids = _filled_store(tmp_path / "store")
    out = tmp_path / "export"
    done = s.export(out)
    assert done.counts == {"corrosion": 2, "not_corrosion": 2}
    assert (done.from_user, done.from_model, done.missing) == (2, 2, 0)
    assert sorted(p.name for p in (out / "corrosion").iterdir()) == sorted(
        [ids["model_rust"] + ".jpg", ids["user_missed"] + ".jpg"])
    assert sorted(p.name for p in (out / "not_corrosion").iterdir()) == sorted(
        [ids["model_clean"] + ".png", ids["user_no_rust"] + ".jpg"])
    assert (out / "not_corrosion" / (ids["model_clean"] + ".png")).read_bytes() == \
        s.file_path(s.get(ids["model_clean"]), "original").read_bytes()
    rows = {r["id"]: r for r in csv.DictReader(open(out / "labels.csv"))}
    assert rows[ids["model_rust"]]["label_source"] == "model"
    assert rows[ids["user_no_rust"]]["label_source"] == "user"
    assert rows[ids["user_no_rust"]]["verdict"] == "no_rust"
    assert rows[ids["user_no_rust"]]["model_decision"] == "corrosion"
    assert rows[ids["user_missed"]]["file"] == f"corrosion/{ids['user_missed']}.jpg"
    assert not list(out.glob(".*.tmp")) and not list(out.glob("*/.*.tmp"))


def test_export_is_readable_by_training_loader(tmp_path):
    from rustseg_core.learn.data import list_labelled

    s, _ = _filled_store(tmp_path / "store")
    s.export(tmp_path / "export")
    ds = list_labelled(tmp_path / "export")
    assert len(ds) == 4
    assert ds.counts() == {"corrosion": 2, "not_corrosion": 2}


def test_re_export_moves_a_photo_after_new_feedback(tmp_path):
    s, ids = _filled_store(tmp_path / "store")
    out = tmp_path / "export"
    s.export(out)
    s.set_verdict(ids["model_rust"], "no_rust")
    s.export(out)
    assert not (out / "corrosion" / (ids["model_rust"] + ".jpg")).exists()
    assert (out / "not_corrosion" / (ids["model_rust"] + ".jpg")).is_file()


def test_cli_dataset_export(tmp_path, capsys):
    _, ids = _filled_store(tmp_path / "store")
    out = tmp_path / "export"
    assert cli_main(["dataset", "export", str(out), "--store", str(tmp_path / "store"),
                     "--verified-only"]) == 0
    said = capsys.readouterr().out
    assert "1 corrosion and 1 not_corrosion" in said
    assert sorted(p.name for p in out.glob("*corrosion/*.*")) == sorted(
        [ids["user_missed"] + ".jpg", ids["user_no_rust"] + ".jpg"])
    # "No rust in this photo" is an empty mask: exported as an images/ + masks/ pair.
    assert "exported 1 corrected masks as images/ + masks/ pairs" in said
    assert [p.name for p in out.glob("masks/*")] == [ids["user_no_rust"] + ".png"]
    assert cli_main(["dataset", "export", str(tmp_path / "x"), "--store", str(tmp_path / "nothing")]) == 1
    assert not (tmp_path / "nothing").exists()
