"""Load test: N concurrent clients × M uploads of real photos to a RustSEG server on loopback.

    python3 -m benchmarks.load_test                      # starts gunicorn itself, 8 × 50
    python3 -m benchmarks.load_test --clients 2 --uploads 5 --model /tmp/smoke
    python3 -m benchmarks.load_test --url http://127.0.0.1:8000 --server-pid 1234

Starts ``gunicorn -c gunicorn.conf.py wsgi:app`` on a free 127.0.0.1 port (or targets
``--url``, which must be 127.0.0.1/localhost), warms every worker up, then sends the uploads
to ``POST /api/v1/segment`` and prints: latency p50/p95/max, answers by status, throughput,
the workers' resident memory sampled from /proc over the run (to show it does not grow: the
peak of the run's second half against the peak of its first), and how busy the CPU was with other processes. With a server it started,
every ``--keep-every``-th upload is kept in a temporary store, which is checked at the end.

Bounded: exactly clients × uploads requests, and no new request after ``--max-seconds``.
Exit status 1 if any request failed or a worker's memory grew by more than
``--max-rss-growth``. Client side: standard library only.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks.loopback import (REPO, GunicornServer, busy_cpu_seconds, children, cpu_seconds,
                                 get_json, require_loopback, rss_mib)
from benchmarks.upload_client import Answer, segment

DEFAULT_IMAGES = REPO.parent / "shared" / "data" / "unlabelled" / "ship_hull"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def default_model() -> Path:
    """models/default when it holds a model, else the smoke model of this machine."""
    shipped = REPO / "models" / "default"
    return shipped if (shipped / "rustseg.json").is_file() else Path("/tmp/smoke")


def load_photos(folder: Path, limit: int = 64) -> tuple[list[tuple[str, bytes]], str]:
    """(name, bytes) of real photos, or synthetic ones with a note saying so."""
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[:limit] \
        if folder.is_dir() else []
    if files:
        size = sum(p.stat().st_size for p in files) / len(files) / 1024
        return [(p.name, p.read_bytes()) for p in files], \
            f"{len(files)} real photos from {folder} (mean {size:.0f} KB)"
    from benchmarks.common import synthetic_images  # NumPy + Pillow, only for the fallback

    tmp = Path(tempfile.mkdtemp(prefix="rustseg-load-"))
    paths = synthetic_images(tmp, 8)
    return [(p.name, p.read_bytes()) for p in paths], \
        f"NOTE: no photos in {folder}; 8 SYNTHETIC 1024x768 JPEGs instead (indicative only)"


class RssSampler:
    """Samples the resident memory of a server's workers every ``interval`` seconds."""

    def __init__(self, master_pid: int, interval: float = 1.0):
        self.master_pid, self.interval = master_pid, interval
        self.samples: dict[int, list[tuple[float, float]]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        now = time.monotonic()
        for pid in children(self.master_pid):
            rss = rss_mib(pid)
            if rss is not None:
                self.samples.setdefault(pid, []).append((now, rss))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> "RssSampler":
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


@dataclass
class Report:
    url: str
    clients: int
    uploads: int
    photos_note: str
    server_note: str
    answers: list[Answer] = field(default_factory=list)
    wall_s: float = 0.0
    stopped_early: bool = False
    rss: dict[int, dict] = field(default_factory=dict)
    replaced_workers: int = 0
    others_cores: float | None = None
    cores: int = 1
    store_note: str | None = None

    @property
    def errors(self) -> int:
        return sum(a.status != 200 for a in self.answers)

    def max_growth(self) -> float:
        return max((r["growth"] for r in self.rss.values()), default=0.0)

    def text(self) -> str:
        lat = sorted(a.seconds for a in self.answers if a.status == 200)
        statuses: dict[str, int] = {}
        for a in self.answers:
            key = str(a.status) if a.status else f"no answer ({(a.error or '').split(':')[0]})"
            statuses[key] = statuses.get(key, 0) + 1
        lines = [
            f"RustSEG load test: {self.clients} clients × {self.uploads} uploads to "
            f"POST {self.url}/api/v1/segment",
            f"server: {self.server_note}",
            f"photos: {self.photos_note}",
            f"requests: {len(self.answers)} of {self.clients * self.uploads} in {self.wall_s:.1f} s"
            + (" (stopped at --max-seconds)" if self.stopped_early else ""),
            f"throughput: {len(self.answers) / self.wall_s:.2f} uploads/s" if self.wall_s else "",
            f"latency (s): p50 {_pct(lat, 50):.2f}, p95 {_pct(lat, 95):.2f}, "
            f"max {max(lat, default=0):.2f}, mean {statistics.fmean(lat) if lat else 0:.2f}",
            "answers by status: " + ", ".join(f"{k} × {v}" for k, v in sorted(statuses.items())),
            f"errors: {self.errors}",
        ]
        if self.store_note:
            lines.append(f"store: {self.store_note}")
        if self.rss:
            lines.append("worker RSS (MiB), after warm-up → end of run [min–max sampled]; growth: "
                         "peak of the second half against the first's:")
            for pid, r in self.rss.items():
                lines.append(f"  pid {pid}: {r['start']:.0f} → {r['end']:.0f} [{r['min']:.0f}–{r['max']:.0f}], "
                             f"{r['n']} samples; growth {r['growth']:+.1%}")
            lines.append(f"workers replaced during the run: {self.replaced_workers}")
        if self.others_cores is not None:
            lines.append(f"CPU: other processes kept on average {self.others_cores:.2f} of "
                         f"{self.cores} cores busy during the run"
                         + (" — latencies are pessimistic" if self.others_cores > 0.1 * self.cores else ""))
        return "\n".join(x for x in lines if x)


def _pct(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    k = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]  # nearest-rank percentile


def run_clients(url: str, photos: list[tuple[str, bytes]], clients: int, uploads: int,
                deadline: float, keep_every: int = 0, mode: str | None = None,
                timeout: float = 180.0) -> tuple[list[Answer], bool]:
    """``clients`` threads, each sending ``uploads`` photos one after the other (round robin
    over ``photos``); no new request after ``deadline`` (monotonic). (answers, stopped early)."""
    answers: list[Answer] = []
    lock = threading.Lock()
    stopped = threading.Event()

    def client(c: int) -> None:
        for i in range(uploads):
            if time.monotonic() > deadline:
                stopped.set()
                return
            n = c * uploads + i
            name, data = photos[n % len(photos)]
            keep = bool(keep_every) and n % keep_every == 0
            answer = segment(url, data, filename=name, mode=mode, keep=keep, timeout=timeout)
            with lock:
                answers.append(answer)
                done = len(answers)
            if done % 25 == 0:
                log(f"  {done}/{clients * uploads} done")

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return answers, stopped.is_set()


def rss_growth(values: list[float]) -> float:
    """How much a worker's memory grew over a run: the peak of the samples' second half
    against the peak of their first. A leak keeps raising the level; a worker that had not yet
    served its largest photo when the run began only reaches its level later in the first
    half, which a first-sample baseline would count as growth."""
    half = max(1, len(values) // 2)
    first, second = max(values[:half]), max(values[half:] or values[-1:])
    return (second - first) / first


def measure(url: str, master_pid: int | None, photos: list[tuple[str, bytes]], args) -> Report:
    """Warm up, then run the clients while sampling the workers' memory and the CPU."""
    log(f"warming up with {args.warmup} rounds of {args.clients} concurrent uploads")
    for _ in range(args.warmup):
        run_clients(url, photos[::-1], args.clients, 1, time.monotonic() + args.max_seconds,
                    mode=args.mode, timeout=args.request_timeout)
    workers = children(master_pid) if master_pid else []
    cpu0 = {p: cpu_seconds(p) or 0.0 for p in workers}
    busy0, t0 = busy_cpu_seconds(), time.monotonic()
    own0 = time.process_time()
    log(f"running {args.clients} clients × {args.uploads} uploads")
    sampler = RssSampler(master_pid, args.sample_every) if master_pid else None
    if sampler:
        sampler.__enter__()
    try:
        answers, stopped = run_clients(url, photos, args.clients, args.uploads,
                                       t0 + args.max_seconds, args.keep_every, args.mode,
                                       args.request_timeout)
    finally:
        if sampler:
            sampler.__exit__(None, None, None)
    wall = time.monotonic() - t0
    report = Report(url=url, clients=args.clients, uploads=args.uploads, photos_note="",
                    server_note="", answers=answers, wall_s=wall, stopped_early=stopped)
    report.cores = len(os.sched_getaffinity(0))
    server_cpu = sum((cpu_seconds(p) or cpu0[p]) - cpu0[p] for p in workers)
    others = busy_cpu_seconds() - busy0 - server_cpu - (time.process_time() - own0)
    report.others_cores = max(0.0, others / wall) if master_pid else None
    if sampler:
        for pid, s in sampler.samples.items():
            if pid not in workers or len(s) < 2:
                continue
            values = [v for _, v in s]
            report.rss[pid] = {"start": values[0], "end": values[-1], "min": min(values),
                               "max": max(values), "n": len(values), "growth": rss_growth(values)}
        report.replaced_workers = len(set(sampler.samples) - set(workers))
    return report


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="target this running server (127.0.0.1/localhost only)")
    ap.add_argument("--server-pid", type=int, help="with --url: gunicorn master pid, for worker RSS")
    ap.add_argument("--model", type=Path, help="model folder (default: models/default, else /tmp/smoke)")
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--uploads", type=int, default=50, help="per client")
    ap.add_argument("--warmup", type=int, default=2, help="rounds of one upload per client first")
    ap.add_argument("--modes", default="default,standard,advanced",
                    help="comma list of mask modes, each measured in turn on the same server; "
                         "'default' sends no mode, as a user who leaves the choice alone (the "
                         "model's default: learned for the shipped U-Net)")
    ap.add_argument("--keep-every", type=int, default=10,
                    help="keep every Nth upload in a temporary store (0: none; own server only)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-seconds", type=float, default=1800.0, help="no new request after this")
    ap.add_argument("--request-timeout", type=float, default=300.0)
    ap.add_argument("--sample-every", type=float, default=1.0, help="seconds between RSS samples")
    ap.add_argument("--max-rss-growth", type=float, default=0.10,
                    help="fail if a worker's RSS grows more than this fraction over the run")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    if args.url:
        try:
            args.url = require_loopback(args.url)
        except ValueError as e:
            ap.error(str(e))
    if args.clients < 1 or args.uploads < 1:
        ap.error("--clients and --uploads must be at least 1")
    from rustseg_core.vocabulary import MODE_IDS

    args.mode_list = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in args.mode_list if m not in ("default", *MODE_IDS)]
    if bad or not args.mode_list:
        ap.error(f"--modes takes default and {', '.join(MODE_IDS)}, not {', '.join(bad) or 'nothing'}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    photos, photos_note = load_photos(args.images)
    with tempfile.TemporaryDirectory(prefix="rustseg-load-") as tmp:
        server = None
        if args.url:
            url, master = args.url, args.server_pid
            server_note = f"running server at {url}" + (f", master pid {master}" if master else "")
            store_dir = None
        else:
            model = args.model or default_model()
            store_dir = Path(tmp) / "store" if args.keep_every else None
            server = GunicornServer(model=model, log_path=Path(tmp) / "gunicorn.log",
                                    store_dir=store_dir or "", workers=args.workers,
                                    threads=args.threads, env={"RUSTSEG_ACCESS_LOG": "/dev/null"})
            log(f"starting gunicorn ({args.workers} workers × {args.threads} threads) with {model}")
            server.start()
            url, master = server.url, server.proc.pid
            server_note = (f"gunicorn started by this script on {url}, {args.workers} workers × "
                           f"{args.threads} threads, gunicorn.conf.py, model {model}")
        reports = {}
        try:
            health = get_json(url + "/healthz")[1] or {}
            server_note += f" (model version {health.get('model_version')})"
            for mode in args.mode_list:
                args.mode = None if mode == "default" else mode
                log(f"mode {mode}")
                report = measure(url, master, photos, args)
                report.photos_note, report.server_note = photos_note, server_note
                if store_dir is not None:
                    report.store_note = _store_note(store_dir, report.answers)
                reports[mode] = report
        finally:
            if server:
                server.stop()
    for mode, report in reports.items():
        modes = {a.body.get("mode") for a in report.answers if a.status == 200 and a.body}
        print(f"### mode: {mode} (answered in {', '.join(sorted(modes)) or '?'})\n")
        print(report.text() + "\n")
    if args.json:
        out = {}
        for mode, report in reports.items():
            data = {k: v for k, v in asdict(report).items() if k != "answers"}
            data["latencies_s"] = [a.seconds for a in report.answers]
            data["statuses"] = [a.status for a in report.answers]
            out[mode] = data
        args.json.write_text(json.dumps(out, indent=2))
    ok = all(r.errors == 0 and r.max_growth() <= args.max_rss_growth and not r.stopped_early
             for r in reports.values())
    return 0 if ok else 1


def _store_note(store_dir: Path, answers: list[Answer]) -> str:
    """Every upload acknowledged as kept is in the store with all its files."""
    from rustseg_core.store import Store

    kept = [a.kept_id for a in answers if a.kept_id]
    store = Store(store_dir)
    check = store.check()
    missing = [k for k in kept if store.get(k) is None]
    return (f"{len(kept)} uploads kept; {len(kept) - len(missing)} found whole, "
            f"{len(missing)} missing; store check {'ok' if check.ok else 'FAILED'} "
            f"({check.rows} records, {len(check.incomplete)} partial)")


if __name__ == "__main__":
    sys.exit(main())
