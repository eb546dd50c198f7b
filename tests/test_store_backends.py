"""The store's guarantees on both backends (folder + SQLite, PostgreSQL), its schema
migrations (an existing pre-Alembic store keeps everything), ``rustseg store`` and the copy
tool. PostgreSQL is a real server (the session's ``postgres_server``)."""
from __future__ import annotations

import filecmp
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete, func, select

from rustseg_core.cli import main as cli_main
from rustseg_core.store import Store, migrate, open_store
from rustseg_core.store.database import DatabaseStore
from rustseg_core.store.mask_file import mask_png
from rustseg_core.store.schema import files
from rustseg_core.vocabulary import OUTPUT_FILES
from tests.app_support import errors_from_threads
from tests.legacy_store import make_legacy_store
from tests.store_worker import outputs, photo, summary
from tests.synthetic import format_of

ROOT = Path(__file__).resolve().parent.parent


def _keep(store, seed: int = 0):
    return store.save(photo(seed), summary(seed), outputs(seed), image_format=format_of(photo(seed)))


def _mask(seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return mask_png(rng.random((48, 48)) > 0.7)


@pytest.fixture(params=["folder", "postgres"])
def any_store(request, tmp_path):
    if request.param == "folder":
        return Store(tmp_path / "store")
    return open_store(request.getfixturevalue("pg_url"))


# ---------------------------------------------------------------- guarantees, both backends
def test_nothing_exists_before_the_first_keep(any_store):
    assert not any_store.exists()
    assert any_store.get("A" * 22) is None and any_store.records() == []
    assert any_store.check().rows == 0 and any_store.sweep() == 0


def test_a_keep_reads_back_byte_for_byte(any_store):
    rec = _keep(any_store, 3)
    assert any_store.get(rec.id) == rec and any_store.records() == [rec]
    assert any_store.read_file(rec, "original") == photo(3)
    for name, data in outputs(3).items():
        assert any_store.read_file(rec, name) == data
    with pytest.raises(KeyError):
        any_store.read_file(rec, "../store.sqlite3")
    assert any_store.current_mask(rec) == (None, outputs(3)["mask.png"])
    check = any_store.check()
    assert check.ok and check.rows == 1 and check.orphans == check.stray_corrections == ()


def test_a_given_record_id_is_kept_once(any_store):
    from rustseg_core.store import RecordExists, keyed_id

    rid = keyed_id("secret", "phone-upload-1")
    assert rid == keyed_id("secret", "phone-upload-1") != keyed_id("other", "phone-upload-1")
    first = any_store.save(photo(1), summary(1), outputs(1), image_format="JPEG", record_id=rid)
    assert first.id == rid
    with pytest.raises(RecordExists):
        any_store.save(photo(2), summary(2), outputs(2), image_format="JPEG", record_id=rid)
    with pytest.raises(RecordExists):  # not an id a store makes: refused, nothing written
        any_store.save(photo(2), summary(2), outputs(2), image_format="JPEG", record_id="../x")
    assert any_store.records() == [first] and any_store.read_file(first, "original") == photo(1)
    assert any_store.check().ok


def test_a_database_in_sql_ascii_works_like_utf8(postgres_server):
    """initdb in a bare C locale makes SQL_ASCII databases, on which psycopg returns bytes
    for text unless the client asks for UTF-8 (the store does)."""
    store = open_store(postgres_server.create_database(encoding="SQL_ASCII"))
    store.upgrade()
    rec = _keep(store, 4)
    assert store.get(rec.id) == rec and store.read_file(rec, "original") == photo(4)
    assert store.check().ok


def test_verdicts_and_corrections(any_store):
    rec = _keep(any_store)
    assert any_store.set_verdict(rec.id, "wrong").verdict == "wrong"
    first = any_store.save_correction(rec.id, _mask(1))
    second = any_store.save_correction(rec.id, _mask(2))
    assert (first.version, second.version) == (1, 2)
    assert any_store.read_correction(first) == _mask(1)  # canonical PNGs are stored as sent
    assert any_store.current_mask(rec) == (second, _mask(2))
    any_store.set_verdict(rec.id, "no_rust")  # an empty mask, as version 3
    any_store.set_verdict(rec.id, "no_rust")  # not again
    assert [c.source for c in any_store.corrections(rec.id)] == ["drawn", "drawn", "no_rust"]
    assert any_store.latest_corrections() == {rec.id: any_store.corrections(rec.id)[-1]}
    with pytest.raises(KeyError):
        any_store.set_verdict("B" * 22, "correct")
    with pytest.raises(ValueError):
        any_store.set_verdict(rec.id, "maybe")
    assert any_store.check().ok


def test_corrections_from_many_threads_get_distinct_versions(any_store):
    rec = _keep(any_store)
    assert errors_from_threads(lambda i: any_store.save_correction(rec.id, _mask(i)), 8) == []
    assert [c.version for c in any_store.corrections(rec.id)] == list(range(1, 9))
    assert any_store.check().ok


def test_export_is_the_same_from_either_backend(tmp_path, pg_url):
    folder = Store(tmp_path / "store")
    recs = [_keep(folder, i) for i in range(3)]
    folder.set_verdict(recs[0].id, "no_rust")
    folder.save_correction(recs[1].id, _mask(5))
    database = open_store(pg_url)
    database.upgrade()
    from rustseg_core.store.copy import copy_store

    assert copy_store(folder, database).records_copied == 3
    a, b = folder.export(tmp_path / "a"), database.export(tmp_path / "b")
    assert (a.counts, a.mask_pairs, a.from_user) == (b.counts, b.mask_pairs, b.from_user)
    assert a.mask_pairs == 2
    cmp = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    assert _same_tree(cmp), "exports differ"


def _same_tree(cmp: filecmp.dircmp) -> bool:
    (match, mismatch, errors) = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
    return (not cmp.left_only and not cmp.right_only and not mismatch and not errors
            and all(_same_tree(sub) for sub in cmp.subdirs.values()))


# ---------------------------------------------------------------- PostgreSQL transactions
def test_a_save_that_fails_midway_leaves_nothing(pg_url, monkeypatch):
    store = open_store(pg_url)
    real = DatabaseStore._insert_files

    def half(con, record_id, blobs):  # some files written, then the connection "dies"
        real(con, record_id, dict(list(blobs.items())[:2]))
        raise ConnectionError("server went away")

    monkeypatch.setattr(DatabaseStore, "_insert_files", staticmethod(half))
    with pytest.raises(ConnectionError):
        _keep(store)
    monkeypatch.undo()
    assert store.records() == []
    with store.engine.connect() as con:
        assert con.execute(select(func.count()).select_from(files)).scalar() == 0
    assert store.check() == store.check().__class__(0, (), (), ())


def test_check_finds_damage_in_the_database(pg_url):
    store = open_store(pg_url)
    rec, other = _keep(store, 1), _keep(store, 2)
    c = store.save_correction(other.id, _mask())
    with store.engine.begin() as con:  # what no save does: remove files behind the rows' back
        con.execute(delete(files).where(files.c.record_id == rec.id, files.c.name == OUTPUT_FILES[-1]))
        con.execute(delete(files).where(files.c.name == f"corrections/{c.mask_file}"))
        con.execute(files.insert().values(record_id=other.id, name="corrections/v0009.png", data=b"x"))
    found = store.check()
    assert found.incomplete == tuple(sorted([rec.id, other.id]))
    assert found.stray_corrections == (f"{other.id}/corrections/v0009.png",)
    assert cli_main(["store", "check", "--store", pg_url]) == 1


def test_a_url_that_is_not_postgresql_is_refused():
    with pytest.raises(ValueError, match="postgresql"):
        open_store("mysql://db/rustseg")


# ---------------------------------------------------------------- schema and migrations
def test_a_store_made_before_alembic_upgrades_without_loss(tmp_path):
    root = tmp_path / "store"
    rid = "L" * 22
    make_legacy_store(root, rid, photo(7), summary(7), _mask(7))
    with sqlite3.connect(root / "store.sqlite3") as con:
        legacy_cols = {t: con.execute(f"PRAGMA table_info({t})").fetchall()
                       for t in ("records", "corrections")}
    store = Store(root)
    assert store.schema_revision() is None
    before = store.get(rid)
    assert before.verdict == "wrong" and store.check().ok
    assert cli_main(["store", "upgrade", "--store", str(root)]) == 0
    assert store.schema_revision() == migrate.head_revision()
    assert store.get(rid) == before
    assert store.read_file(before, "original") == photo(7)
    assert [c.version for c in store.corrections(rid)] == [1]
    assert store.read_correction(store.corrections(rid)[0]) == _mask(7)
    with sqlite3.connect(root / "store.sqlite3") as con:
        for table, cols in legacy_cols.items():
            assert con.execute(f"PRAGMA table_info({table})").fetchall() == cols  # untouched
    assert store.save_correction(rid, _mask(8)).version == 2
    new = _keep(store, 9)
    assert store.check().ok and {r.id for r in store.records()} == {rid, new.id}


def test_a_new_store_has_the_old_schema(tmp_path):
    """Alembic's first revision is the hand-written schema: same columns, types, keys and
    defaults (a new store also declares the id NOT NULL, which SQLite did not enforce)."""
    new = Store(tmp_path / "new")
    _keep(new)
    legacy = tmp_path / "legacy.sqlite3"
    with sqlite3.connect(legacy) as con:
        from tests.legacy_store import LEGACY_SCHEMA

        con.executescript(LEGACY_SCHEMA)
    con.close()

    def shape(path) -> dict:
        with sqlite3.connect(path) as con:
            out = {t: [(n, ty, nn or pk == 1, dflt, pk) for _, n, ty, nn, dflt, pk in
                       con.execute(f"PRAGMA table_info({t})")] for t in ("records", "corrections")}
            out["indexes"] = sorted(r[0] for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
            out["fk"] = con.execute("PRAGMA foreign_key_list(corrections)").fetchall()
        con.close()
        return out

    assert shape(new.db_path) == shape(legacy)


def test_concurrent_upgrades_of_one_database(pg_url):
    code = "import sys; from rustseg_core.store import migrate; print(migrate.upgrade(sys.argv[1]))"
    procs = [subprocess.Popen([sys.executable, "-c", code, pg_url], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [e for _, e in outs]
    assert {o.strip() for o, _ in outs} == {migrate.head_revision()}


# ---------------------------------------------------------------- rustseg store
def test_cli_store_copy_is_idempotent_and_exact(tmp_path, pg_url, capsys):
    folder = Store(tmp_path / "store")
    recs = [_keep(folder, i) for i in range(3)]
    folder.set_verdict(recs[0].id, "correct")
    folder.save_correction(recs[1].id, _mask(1))
    assert cli_main(["store", "copy", "--from", str(folder.root), "--to", pg_url]) == 0
    assert "copied 3 records and 1 corrections" in capsys.readouterr().out
    db = open_store(pg_url)
    assert db.records() == folder.records()  # ids, times, verdicts, summaries
    for rec in recs:
        for name in ("original", *OUTPUT_FILES):
            assert db.read_file(rec, name) == folder.read_file(rec, name)
    assert db.corrections(recs[1].id) == folder.corrections(recs[1].id)
    # A rerun copies only what is missing: here, one new correction and one new record.
    folder.save_correction(recs[1].id, _mask(2))
    _keep(folder, 5)
    assert cli_main(["store", "copy", "--from", str(folder.root), "--to", pg_url]) == 0
    assert "copied 1 records and 1 corrections" in capsys.readouterr().out
    assert db.records() == folder.records()
    assert db.read_correction(db.corrections(recs[1].id)[1]) == _mask(2)
    assert db.check().ok
    assert cli_main(["store", "copy", "--from", str(folder.root), "--to", str(tmp_path / "x")]) == 2


def test_cli_store_commands_follow_the_database_url(tmp_path, pg_url, monkeypatch, capsys):
    monkeypatch.setenv("RUSTSEG_DATABASE_URL", pg_url)
    assert cli_main(["store", "check"]) == 0
    assert "no store yet" in capsys.readouterr().out
    assert cli_main(["store", "upgrade"]) == 0
    assert f"revision {migrate.head_revision()}" in capsys.readouterr().out
    store = open_store(pg_url)
    _keep(store, 1)
    store.set_verdict(_keep(store, 2).id, "no_rust")
    assert cli_main(["store", "check"]) == 0
    assert "2 records; 0 incomplete" in capsys.readouterr().out
    assert cli_main(["store", "export", str(tmp_path / "out")]) == 0
    assert cli_main(["dataset", "export", str(tmp_path / "out2")]) == 0
    assert "1 corrected masks" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out" / "not_corrosion").iterdir()) != []
