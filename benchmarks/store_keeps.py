"""Store benchmark: keeps per second through two gunicorn servers sharing PostgreSQL against
one server on the embedded SQLite store, in one run; and the stores' own saves per second.

    python3 -m benchmarks.store_keeps                     # shipped model, 4 clients × 12 keeps
    python3 -m benchmarks.store_keeps --model /tmp/tiny --clients 4 --keeps 20

Starts a throwaway PostgreSQL cluster (benchmarks/postgres.py; Debian's ``postgresql``),
then, with the same clients, photos and per-server settings (``--workers``, ``--threads``):
(1) two servers, one database; (2) one server, one store folder. Each client keeps
``--keeps`` photos (``POST /api/v1/segment``, keep=true) round-robin over the servers.
A keep runs the model, so (1)/(2) measure the whole request; (3) then times the stores
alone: ``--threads`` threads calling ``save()`` with the same photo and outputs, on a new
folder store and a new database. Every keep is checked afterwards (``check()``).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.common import synthetic_photo
from benchmarks.load_test import default_model
from benchmarks.loopback import GunicornServer
from benchmarks.postgres import PostgresServer, find_bindir
from benchmarks.upload_client import segment


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def photos(n: int, side: int) -> list[bytes]:
    """``n`` synthetic JPEG photos, ``side`` px wide (4:3)."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        buf = io.BytesIO()
        Image.fromarray(synthetic_photo(rng, side, side * 3 // 4)).save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def keeps_per_second(urls: list[str], pics: list[bytes], clients: int, keeps: int) -> tuple[float, int]:
    """(keeps/s, failures): ``clients`` threads each keeping ``keeps`` photos, round-robin
    over ``urls``, after one warm-up keep per server."""
    for url in urls:
        segment(url, pics[0], keep=True)
    failures = 0
    lock = threading.Lock()

    def client(c: int) -> None:
        nonlocal failures
        for k in range(keeps):
            answer = segment(urls[(c + k) % len(urls)], pics[(c * keeps + k) % len(pics)], keep=True)
            if answer.kept_id is None:
                with lock:
                    failures += 1

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return clients * keeps / (time.perf_counter() - t0), failures


def saves_per_second(store, threads: int, n: int, original: bytes) -> float:
    """The store alone: ``threads`` threads saving ``n`` records in all (one photo, outputs
    of realistic size), after one warm-up save (which creates the schema)."""
    from rustseg_core.vocabulary import OUTPUT_FILES

    outputs = {name: original for name in OUTPUT_FILES}  # JPEG-sized outputs
    summary = {"probability": 0.9, "decision": "corrosion", "mode": "standard", "area_fraction": 0.2,
               "model_version": "bench", "width": 10, "height": 10}
    store.save(original, summary, outputs, image_format="JPEG")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda _: store.save(original, summary, outputs, image_format="JPEG"), range(n)))
    return n / (time.perf_counter() - t0)


def _checked(store, expected: int, what: str) -> None:
    found = store.check()
    if not found.ok or found.rows < expected:
        raise SystemExit(f"{what}: store check failed ({found})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, help="model folder (default: models/default)")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--keeps", type=int, default=12, help="per client")
    ap.add_argument("--workers", type=int, default=1, help="gunicorn workers per server")
    ap.add_argument("--threads", type=int, default=2, help="threads per worker; also store-only threads")
    ap.add_argument("--side", type=int, default=640, help="photo width in px")
    ap.add_argument("--saves", type=int, default=200, help="store-only saves per backend")
    args = ap.parse_args(argv)
    from rustseg_core.store import Store, open_store

    model = args.model or default_model()
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL is not installed (apt-get install postgresql)")
    pics = photos(8, args.side)
    pg = PostgresServer(bindir).start()
    tmp = Path(tempfile.mkdtemp(prefix="rustseg-store-bench-"))
    settings = {"workers": args.workers, "threads": args.threads}
    env = {"RUSTSEG_SECRET_KEY": "bench-" + "k" * 32, "RUSTSEG_MAX_REQUESTS": "0"}
    try:
        url = pg.create_database()
        log(f"model {model}; {args.clients} clients × {args.keeps} keeps of {len(pics[0]) // 1024} KB "
            f"{args.side}px JPEGs; per server {args.workers} worker(s) × {args.threads} threads")
        two = [GunicornServer(model=model, log_path=tmp / f"pg{i}.log",
                              env={**env, "RUSTSEG_DATABASE_URL": url}, **settings).launch()
               for i in range(2)]
        try:
            for s in two:
                s.wait_ready(args.workers)
            pg_rate, pg_fail = keeps_per_second([s.url for s in two], pics, args.clients, args.keeps)
        finally:
            for s in two:
                s.stop()
        _checked(open_store(url), args.clients * args.keeps - pg_fail, "PostgreSQL")
        with GunicornServer(model=model, log_path=tmp / "sqlite.log", store_dir=tmp / "store",
                            env=env, **settings) as one:
            lite_rate, lite_fail = keeps_per_second([one.url], pics, args.clients, args.keeps)
        _checked(Store(tmp / "store"), args.clients * args.keeps - lite_fail, "SQLite")
        store_lite = saves_per_second(Store(tmp / "bench-store"), args.threads, args.saves, pics[0])
        store_pg = saves_per_second(open_store(pg.create_database()), args.threads, args.saves, pics[0])
    finally:
        pg.stop()
    print(f"keeps/s, two servers on PostgreSQL: {pg_rate:.2f} ({pg_fail} failed)")
    print(f"keeps/s, one server on SQLite:      {lite_rate:.2f} ({lite_fail} failed)")
    print(f"ratio PostgreSQL×2 / SQLite×1:      {pg_rate / lite_rate:.2f}")
    print(f"store only, save()/s with {args.threads} threads, {len(pics[0]) // 1024} KB photo + 4 outputs: "
          f"SQLite+folder {store_lite:.1f}, PostgreSQL {store_pg:.1f}")
    return 1 if pg_fail or lite_fail else 0


if __name__ == "__main__":
    sys.exit(main())
