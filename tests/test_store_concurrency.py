"""The store under concurrent writers (threads and processes at once) and crashes mid-save.

The writers are separate Python processes (``tests/store_worker.py``), like gunicorn
workers; the crashes are real process exits with no cleanup. Single-process behaviour
(saving, a failing write, a failing insert, threads in one process) is in test_store.py.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rustseg_core.store import Store
from rustseg_core.vocabulary import OUTPUT_FILES
from tests.synthetic import format_of
from tests.store_worker import CRASH_CODE, outputs, photo, summary

ROOT = Path(__file__).resolve().parent.parent


def _worker(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.store_worker", str(root), *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_ready(proc: subprocess.Popen) -> None:
    line = proc.stdout.readline().strip()
    assert line == "ready", (line, proc.stderr.read() if proc.poll() is not None else "")


def _acknowledged(stdout: str) -> list[str]:
    lines = stdout.split()
    assert not any(line.startswith("error") for line in stdout.splitlines()), stdout
    return [line for line in lines if line not in ("ready", "done")]


def _assert_whole(store: Store, acknowledged: list[str]) -> None:
    """Every acknowledged record is there with all its files; nothing partial anywhere."""
    check = store.check()
    assert check.ok, f"partial records: {check.incomplete}"
    for rid in acknowledged:
        rec = store.get(rid)
        assert rec is not None, f"acknowledged record {rid} lost"
        folder = store.items_dir / rid
        assert (folder / rec.original_file).read_bytes() == photo(rec.summary["seed"])
        for name, data in outputs(rec.summary["seed"]).items():
            assert (folder / name).read_bytes() == data


def test_processes_and_threads_write_at_once(tmp_path):
    root = tmp_path / "store"  # does not exist yet: the writers race to create it too
    procs = [_worker(root, "--threads", "3", "--saves", "6", "--seed", str(p), "--wait-go")
             for p in range(3)]
    for p in procs:
        _wait_ready(p)
    here, errors = Store(root), []

    def local_writer(t: int) -> None:  # threads of this process too, reading as they write
        try:
            for i in range(4):
                seed = 900_000 + t * 100 + i
                rec = here.save(photo(seed), summary(seed), outputs(seed), image_format=format_of(photo(seed)))
                here.set_verdict(rec.id, "wrong")
                here.records()
                assert here.get(rec.id).verdict == "wrong"
        except Exception as e:  # reported below
            errors.append(e)

    writing = threading.Event()
    writing.set()

    def auditor() -> None:  # at every moment: no row without its whole files
        while writing.is_set():
            try:
                here.sweep()
                check = here.check()
                assert check.ok, check.incomplete
            except Exception as e:  # reported below
                errors.append(e)
                return
            time.sleep(0.01)

    threads = [threading.Thread(target=local_writer, args=(t,)) for t in range(3)]
    threads.append(threading.Thread(target=auditor))
    (tmp_path / "store.go").touch()  # everyone starts now
    for t in threads:
        t.start()
    outs = [p.communicate(timeout=120) for p in procs]
    for t in threads[:-1]:
        t.join()
    writing.clear()
    threads[-1].join()
    assert errors == []
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    acknowledged = [rid for out, _ in outs for rid in _acknowledged(out)]
    assert len(acknowledged) == 3 * 3 * 6
    records = here.records()
    assert len(records) == 3 * 3 * 6 + 3 * 4
    assert len({r.id for r in records}) == len(records)
    assert sum(r.verdict == "wrong" for r in records) == 3 * 4
    _assert_whole(here, acknowledged)
    check = here.check()
    assert (check.orphans, check.staging) == ((), ())
    with here._transaction() as con:  # SQLite agrees the file is sound
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.parametrize("point, leftover", [
    ("file:1", "staging"), ("file:4", "staging"), ("file:6", "staging"),  # while writing files
    ("rename", "orphan"),  # folder in items/, row not yet inserted
    ("commit", "orphan"),  # row inserted, transaction never committed
])
def test_a_crash_mid_save_leaves_no_partial_record(tmp_path, point, leftover):
    root = tmp_path / "store"
    store = Store(root)
    kept = store.save(photo(1), summary(1), outputs(1), image_format=format_of(photo(1))).id  # acknowledged before the crash
    proc = _worker(root, "--crash-at", point, "--seed", "7")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == CRASH_CODE, err
    assert _acknowledged(out) == []
    assert [r.id for r in store.records()] == [kept]  # no row for the crashed save
    _assert_whole(store, [kept])
    check = store.check()
    assert check.ok and len(check.orphans if leftover == "orphan" else check.staging) == 1
    # The crashed save is invisible (no page can show it) and the sweep clears it.
    stray = (check.orphans + check.staging)[0]
    assert store.get(stray) is None
    assert store.sweep(older_than_s=0) == 1
    after = store.check()
    assert after.ok and (after.rows, after.orphans, after.staging) == (1, (), ())
    # The store still takes new records after the crash (no lock left behind).
    assert store.get(store.save(photo(2), summary(2), outputs(2), image_format=format_of(photo(2))).id) is not None


@pytest.mark.slow  # kills writer processes: in the slow suite, as the README lists
def test_killed_writers_never_lose_acknowledged_records(tmp_path):
    """SIGKILL two busy writer processes at arbitrary moments, several times."""
    root = tmp_path / "store"
    store = Store(root)
    store.save(photo(0), summary(0), outputs(0), image_format=format_of(photo(0)))
    acknowledged: list[str] = []
    for round_ in range(4):
        procs = [_worker(root, "--threads", "2", "--saves", "0", "--seed", str(10 * round_ + p))
                 for p in range(2)]
        for p in procs:
            _wait_ready(p)
        time.sleep(0.3 + 0.15 * round_)  # a different moment of the save each round
        for p in procs:
            os.kill(p.pid, signal.SIGKILL)
        for p in procs:
            out, _ = p.communicate(timeout=30)
            assert p.returncode == -signal.SIGKILL
            acknowledged += _acknowledged(out)
    assert len(acknowledged) >= 4  # the writers did get records through
    _assert_whole(store, acknowledged)
    check = store.check()
    assert check.rows >= len(acknowledged) + 1
    store.sweep(older_than_s=0)
    after = store.check()
    assert after.ok and (after.orphans, after.staging) == ((), ())
    assert after.rows == check.rows  # the sweep never removes a record


def test_readers_never_see_a_half_created_store(tmp_path):
    """Other workers read (a result page, the sweep at start-up) while the first kept photo
    creates the store: they must see either no store or a ready one, never a bare file."""
    errors: list[Exception] = []
    for trial in range(10):
        root = tmp_path / f"store{trial}"
        done = threading.Event()

        def reader() -> None:
            s = Store(root)
            while not done.is_set():
                try:
                    s.records(), s.get("A" * 22), s.check(), s.sweep()
                except Exception as e:  # reported below
                    errors.append(e)
                    return

        readers = [threading.Thread(target=reader) for _ in range(3)]
        for t in readers:
            t.start()
        Store(root).save(photo(trial), summary(trial), outputs(trial), image_format=format_of(photo(trial)))
        done.set()
        for t in readers:
            t.join()
        assert [p.name for p in root.iterdir() if p.name.endswith(".tmp")] == []
    assert errors == []


def test_check_reports_damage(tmp_path):
    store = Store(tmp_path)
    a = store.save(photo(1), summary(1), outputs(1), image_format=format_of(photo(1)))
    b = store.save(photo(2), summary(2), outputs(2), image_format=format_of(photo(2)))
    assert store.check().ok
    (store.items_dir / a.id / "mask.png").unlink()
    (store.items_dir / b.id / "summary.json").write_text(json.dumps({"probability": 0.1}))
    assert store.check().incomplete == tuple(sorted([a.id, b.id]))
    assert not store.check().ok
    assert set(OUTPUT_FILES) - {"mask.png"} <= {p.name for p in (store.items_dir / a.id).iterdir()}
