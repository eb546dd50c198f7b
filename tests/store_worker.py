"""A separate process that writes to a store, for the concurrency and crash tests.

``python -m tests.store_worker ROOT --threads 3 --saves 8 --seed 1 [--crash-at POINT]``

Prints ``ready`` once imported, waits for ``ROOT.go`` if ``--wait-go``, then prints the id
of every save as soon as ``Store.save`` has returned (an acknowledged record) and ``done``.
``--crash-at`` ends the process abruptly (``os._exit``, no cleanup, like SIGKILL) at one
point of the first save: ``file:K`` half-way through writing its K-th file, ``rename`` just
after its folder is moved into ``items/``, ``commit`` after the row is inserted but before
the transaction commits. ``--saves 0`` saves until killed.
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import threading
import time
from contextlib import closing, contextmanager
from pathlib import Path

import numpy as np

from rustseg_core.store import local as store_mod
from rustseg_core.store import Store
from rustseg_core.vocabulary import OUTPUT_FILES
from tests.synthetic import format_of
from tests.synthetic import encode, rust_image

CRASH_CODE = 70


def photo(seed: int) -> bytes:
    img, _ = rust_image(np.random.default_rng(seed), 48, rust=True)
    return encode(img, "JPEG")


def summary(seed: int) -> dict:
    return {"probability": 0.9, "decision": "corrosion", "is_corrosion": True, "threshold": 0.5,
            "mode": "standard", "area_fraction": 0.25, "width": 48, "height": 48,
            "model_version": "worker", "seed": seed, "timings_ms": {"total": 1.0}}


def outputs(seed: int) -> dict[str, bytes]:
    return {name: f"<{name} {seed}>".encode() * 50 for name in OUTPUT_FILES}


def _install_crash(point: str) -> None:
    """Make the first save die at ``point`` (see the module docstring)."""
    if point.startswith("file:"):
        target, calls = int(point.split(":")[1]), itertools.count(1)
        real_write = store_mod._write_synced

        def write(path, data):
            if next(calls) == target:
                with open(path, "xb") as f:  # half a file on disk, then gone
                    f.write(data[: len(data) // 2])
                    f.flush()
                os._exit(CRASH_CODE)
            real_write(path, data)

        store_mod._write_synced = write
    elif point == "rename":
        real_replace = os.replace

        def replace(src, dst):
            real_replace(src, dst)
            os._exit(CRASH_CODE)

        store_mod.os.replace = replace
    elif point == "commit":
        @contextmanager
        def transaction(self):
            with closing(self._connect()) as con:
                con.execute("BEGIN IMMEDIATE")
                yield con
                os._exit(CRASH_CODE)  # the INSERT ran; COMMIT never does

        Store._transaction = transaction
    else:
        raise SystemExit(f"unknown crash point {point!r}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--saves", type=int, default=1, help="per thread; 0 = until killed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--crash-at")
    ap.add_argument("--wait-go", action="store_true")
    args = ap.parse_args(argv)
    if args.crash_at:
        _install_crash(args.crash_at)
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    say("ready")
    go = args.root.with_name(args.root.name + ".go")
    while args.wait_go and not go.exists():
        time.sleep(0.01)

    def work(t: int) -> None:
        s = Store(args.root)  # one per thread, like separate requests
        for i in itertools.count() if args.saves == 0 else range(args.saves):
            seed = args.seed * 100_000 + t * 1000 + i
            try:
                rec = s.save(photo(seed), summary(seed), outputs(seed), image_format=format_of(photo(seed)))
            except Exception as e:  # reported to the test, which fails on it
                say(f"error {type(e).__name__}: {e}")
            else:
                say(rec.id)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
