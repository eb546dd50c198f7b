"""Corrected masks in the store: validation, versions, atomicity, check/sweep, migration of
a version-1 store, and the images/ + masks/ export with its manifest."""
from __future__ import annotations

import csv
import io
import os
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from rustseg_core.learn.masks import mask_pairs_in
from rustseg_core.store import migrate
from rustseg_core.store import MaskInputError, Store
from rustseg_core.store.mask_file import mask_png, read_mask_png
from rustseg_core.vocabulary import MASK_MANIFEST, OUTPUT_FILES
from tests.synthetic import encode, format_of, rust_image

W, H = 40, 30


def _keep(store: Store, seed: int = 0, decision: str = "corrosion"):
    img, _ = rust_image(np.random.default_rng(seed), 48, rust=True)
    photo = encode(img[:H, :W], "JPEG")
    summary = {"probability": 0.9, "decision": decision, "is_corrosion": decision == "corrosion",
               "threshold": 0.5, "mode": "standard", "area_fraction": 0.2, "width": W, "height": H,
               "model_version": "test-v1", "timings_ms": {"total": 1.0}}
    outputs = {name: f"<{name}>".encode() for name in OUTPUT_FILES}
    outputs["mask.png"] = mask_png(np.ones((H, W), bool))
    return store.save(photo, summary, outputs, image_format=format_of(photo))


def _mask(box=(5, 5, 15, 20)) -> np.ndarray:
    m = np.zeros((H, W), bool)
    y0, x0, y1, x1 = box
    m[y0:y1, x0:x1] = True
    return m


def _png(arr: np.ndarray, mode: str | None = None) -> bytes:
    img = Image.fromarray(arr)
    if mode:
        img = img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


# ---------------------------------------------------------------- what counts as a mask
@pytest.mark.parametrize("mode", ["L", "1", "RGB", "RGBA", "P"])
def test_grey_masks_in_any_mode_are_read_as_nonzero(mode):
    grey = np.where(_mask(), 255, 0).astype(np.uint8)
    got = read_mask_png(_png(grey, mode), (W, H))
    assert np.array_equal(got, _mask())


def test_any_nonzero_value_is_mask():
    values = np.where(_mask(), 1, 0).astype(np.uint8)
    assert np.array_equal(read_mask_png(_png(values), (W, H)), _mask())


@pytest.mark.parametrize("data, status, words", [
    (b"", 400, "empty"),
    (b"GIF89a not a png", 415, "PNG"),
    (encode(np.zeros((H, W, 3), np.uint8), "JPEG"), 415, "PNG"),
    (_png(np.zeros((H + 1, W), np.uint8)), 422, f"{W} x {H}"),
    (_png(np.dstack([np.full((H, W), 200, np.uint8), np.zeros((H, W), np.uint8),
                     np.zeros((H, W), np.uint8)])), 422, "colour"),
])
def test_bad_masks_are_refused_with_a_status(data, status, words):
    with pytest.raises(MaskInputError) as e:
        read_mask_png(data, (W, H))
    assert e.value.status == status and words in str(e.value)


# ---------------------------------------------------------------- versions
def test_corrections_are_versioned_and_the_model_mask_stays(tmp_path):
    s = Store(tmp_path / "store")
    rec = _keep(s)
    model_mask = s.file_path(rec, "mask.png").read_bytes()
    assert s.latest_correction(rec.id) is None
    assert s.current_mask(rec) == (None, model_mask)
    first = s.save_correction(rec.id, _png(np.where(_mask(), 255, 0).astype(np.uint8)))
    second = s.save_correction(rec.id, _png(np.where(_mask((0, 0, 3, 3)), 255, 0).astype(np.uint8)))
    assert (first.version, second.version) == (1, 2)
    assert [c.version for c in s.corrections(rec.id)] == [1, 2]
    assert s.current_mask(rec) == (second, s.correction_path(second).read_bytes())
    # The earlier version and the model's mask are untouched, and what is stored is 0/255 L.
    stored = Image.open(s.correction_path(first))
    assert stored.mode == "L" and stored.size == (W, H)
    assert np.array_equal(np.asarray(stored) == 255, _mask())
    assert set(np.unique(np.asarray(stored))) == {0, 255}
    assert s.file_path(rec, "mask.png").read_bytes() == model_mask
    assert first.area_fraction == pytest.approx(_mask().mean())
    assert s.check().ok and s.check().stray_corrections == ()


def test_unknown_id_and_bad_mask_store_nothing(tmp_path):
    s = Store(tmp_path / "store")
    rec = _keep(s)
    with pytest.raises(KeyError):
        s.save_correction("A" * 22, _png(np.zeros((H, W), np.uint8)))
    with pytest.raises(KeyError):
        s.save_correction("../../etc", _png(np.zeros((H, W), np.uint8)))
    with pytest.raises(MaskInputError):
        s.save_correction(rec.id, _png(np.zeros((H, W + 2), np.uint8)))
    assert s.corrections(rec.id) == []
    assert not (s.items_dir / rec.id / "corrections").exists() or \
        list((s.items_dir / rec.id / "corrections").iterdir()) == []


def test_no_rust_verdict_is_an_empty_mask_version(tmp_path):
    s = Store(tmp_path / "store")
    rec = _keep(s)
    s.save_correction(rec.id, _png(np.where(_mask(), 255, 0).astype(np.uint8)))
    s.set_verdict(rec.id, "no_rust")
    s.set_verdict(rec.id, "no_rust")  # saying it twice adds no version
    versions = s.corrections(rec.id)
    assert [(c.version, c.source) for c in versions] == [(1, "drawn"), (2, "no_rust")]
    empty = np.asarray(Image.open(s.correction_path(versions[-1])))
    assert empty.shape == (H, W) and not empty.any()
    s.set_verdict(rec.id, "wrong")
    assert len(s.corrections(rec.id)) == 2  # other verdicts leave the mask alone


def test_concurrent_corrections_get_distinct_versions(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    s = Store(tmp_path / "store")
    rec = _keep(s)
    png = _png(np.where(_mask(), 255, 0).astype(np.uint8))
    with ThreadPoolExecutor(4) as pool:
        done = list(pool.map(lambda _: Store(s.root).save_correction(rec.id, png), range(8)))
    assert sorted(c.version for c in done) == list(range(1, 9))
    assert s.check().ok


CRASH_AFTER_LINK = textwrap.dedent("""
    import os, sys
    from rustseg_core.store import local
    real = local._fsync_dir
    def dying(path):
        if path.name == "corrections" and len(list(path.iterdir())) == 2:
            os._exit(3)  # the new version is linked; its row is not inserted
        real(path)
    local._fsync_dir = dying
    s = local.Store(sys.argv[1])
    s.save_correction(sys.argv[2], open(sys.argv[3], "rb").read())
""")


def test_a_save_killed_between_link_and_row_leaves_no_version(tmp_path):
    s = Store(tmp_path / "store")
    rec = _keep(s)
    first = s.save_correction(rec.id, _png(np.where(_mask(), 255, 0).astype(np.uint8)))
    png = tmp_path / "new.png"
    png.write_bytes(_png(np.zeros((H, W), np.uint8)))
    proc = subprocess.run([sys.executable, "-c", CRASH_AFTER_LINK, str(s.root), rec.id, str(png)],
                          capture_output=True, text=True, cwd=os.getcwd())
    assert proc.returncode == 3, proc.stderr
    assert [c.version for c in s.corrections(rec.id)] == [1]  # no row for the cut-short save
    assert s.current_mask(rec) == (first, s.correction_path(first).read_bytes())
    check = s.check()
    assert check.ok and check.stray_corrections == (f"{rec.id}/corrections/v0002.png",)
    # The next save takes version 2 cleanly; an old stray would be swept.
    assert s.save_correction(rec.id, png.read_bytes()).version == 2
    assert s.check().stray_corrections == ()


def test_check_and_sweep_cover_correction_files(tmp_path):
    s = Store(tmp_path / "store")
    rec = _keep(s)
    c = s.save_correction(rec.id, _png(np.where(_mask(), 255, 0).astype(np.uint8)))
    stray = s.items_dir / rec.id / "corrections" / "v0009.png"
    stray.write_bytes(b"half")
    assert s.check().stray_corrections == (f"{rec.id}/corrections/v0009.png",)
    assert s.sweep() == 0  # young: could be a save in progress
    os.utime(stray, (1_000_000_000, 1_000_000_000))
    assert s.sweep() == 1 and not stray.exists()
    s.correction_path(c).write_bytes(b"truncated")
    assert s.check().incomplete == (rec.id,)


def test_a_version_1_store_gains_corrections(tmp_path):
    s = Store(tmp_path / "store")
    rec = _keep(s)
    with sqlite3.connect(s.db_path) as con:  # as a store made before corrections existed
        con.execute("DROP TABLE corrections")
        con.execute("DROP TABLE files")  # nor what came after: it predates Alembic too
        con.execute("DROP TABLE alembic_version")
    fresh = Store(s.root)
    assert fresh.corrections(rec.id) == [] and fresh.check().ok  # reads work before migration
    assert fresh.save_correction(rec.id, _png(np.zeros((H, W), np.uint8))).version == 1
    assert fresh.schema_revision() == migrate.head_revision()


# ---------------------------------------------------------------- export
def test_export_writes_pairs_of_the_latest_correction_and_a_manifest(tmp_path):
    s = Store(tmp_path / "store")
    corrected, untouched, clean = _keep(s, 0), _keep(s, 1), _keep(s, 2, "not_corrosion")
    s.save_correction(corrected.id, _png(np.where(_mask(), 255, 0).astype(np.uint8)))
    latest = _mask((1, 1, 9, 9))
    s.save_correction(corrected.id, _png(np.where(latest, 255, 0).astype(np.uint8)))
    s.set_verdict(clean.id, "no_rust")
    out = tmp_path / "export"
    done = s.export(out)
    assert done.mask_pairs == 2 and done.manifest_path == out / MASK_MANIFEST
    pairs = {img.stem: (img, m) for img, m in mask_pairs_in(out)}
    assert set(pairs) == {corrected.id, clean.id}  # nothing for the photo nobody corrected
    assert untouched.id not in pairs
    img, m = pairs[corrected.id]
    assert img.read_bytes() == s.file_path(corrected, "original").read_bytes()
    assert np.array_equal(np.asarray(Image.open(m)) == 255, latest)
    assert not np.asarray(Image.open(pairs[clean.id][1])).any()
    with open(out / MASK_MANIFEST, newline="") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    assert rows[corrected.id]["correction_version"] == "2"
    assert rows[corrected.id]["model_version"] == "test-v1"
    assert rows[corrected.id]["corrected_at"] == s.latest_correction(corrected.id).created_at
    assert rows[clean.id]["verdict"] == "no_rust" and rows[clean.id]["correction_source"] == "no_rust"
    assert (out / "corrosion").is_dir() and (out / "labels.csv").is_file()  # image level as before


def test_export_without_corrections_writes_no_mask_folders(tmp_path):
    s = Store(tmp_path / "store")
    _keep(s)
    done = s.export(tmp_path / "export")
    assert done.mask_pairs == 0 and done.manifest_path is None
    assert not (tmp_path / "export" / "images").exists()


def test_training_provenance_counts_store_records(tmp_path):
    from rustseg_core.learn.store_data import store_provenance, write_training_manifest

    s = Store(tmp_path / "store")
    recs = [_keep(s, i) for i in range(3)]
    for r in recs[:2]:
        s.save_correction(r.id, _png(np.where(_mask(), 255, 0).astype(np.uint8)))
    out = tmp_path / "export"
    s.export(out)
    names = [str(img) for img, _ in mask_pairs_in(out)]
    other = [str(tmp_path / "pixel" / "images" / "x.jpg")]
    prov = store_provenance([out], names[:1] + other, names[1:])
    assert prov == {"store_records": 2, "store_records_train": 1, "store_records_val": 1}
    path = write_training_manifest(tmp_path, [out], names[:1] + other, names[1:])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    stem = [os.path.splitext(os.path.basename(n))[0] for n in names]
    assert [(r["split"], r["store_record"]) for r in rows] == [
        ("train", stem[0]), ("train", ""), ("val", stem[1])]
