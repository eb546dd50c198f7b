"""Speed as the user feels it: requests to a real gunicorn server on loopback, timed by the
client, for a thumbnail and a 12 MP phone photo, beside what the server says its pipeline
took (``timings_ms.total``); and the peak memory of the worker that served them.

* ``POST /api/v1/segment`` (the default mode, mask only — what an API client gets);
* ``POST /analyse`` — the result page a browser gets (form with its CSRF token, the whole
  HTML read, images inline);

Each is sent ``--reps`` times after one warm-up, one at a time (one worker, two threads), so
the numbers are per-request latency, not throughput. The worker's peak resident memory
(VmHWM of /proc) is read after them: the model plus the largest photo's working set. Then
one request in standard mode (the paper's) on the 12 MP photo, and the peak again: the CRF's
working set, and, where the model's export lacks Grad-CAM++'s inputs, TensorFlow and the
Keras model, loaded by that request (which pays for it in time).

Usage (from the repository root):
``python3 -m benchmarks.client_latency [--reps 10] [--model DIR] [--photo FILE] [--json OUT]``.
"""
from __future__ import annotations

import argparse
import http.cookiejar
import re
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (DEFAULT_IMAGES, DEFAULT_MODEL, CpuMonitor, record_cpu, finish,
                               find_images, log, machine_info, machine_markdown, make_megapixel_photo,
                               markdown_table, summarise, synthetic_images)
from benchmarks.loopback import GunicornServer
from benchmarks.upload_client import multipart, segment

MODULE = "benchmarks.client_latency"
SIZES_MP = (0.1, 12.0)
TARGETS_S = {("api", 12.0): 0.30, ("page", 12.0): 0.50}
TOKEN_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


class PageClient:
    """A browser's round trip: the home page (cookie + CSRF token), then the form post."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with self.opener.open(base + "/", timeout=30) as resp:
            self.token = TOKEN_RE.search(resp.read().decode()).group(1)

    def analyse(self, photo: bytes, name: str) -> tuple[int, float, int]:
        body, ctype = multipart({"csrf_token": self.token}, {"photo": (name, photo, "image/jpeg")})
        req = urllib.request.Request(self.base + "/analyse", data=body, method="POST",
                                     headers={"Content-Type": ctype})
        t0 = time.perf_counter()
        with self.opener.open(req, timeout=180) as resp:
            html = resp.read()
            status = resp.status
        return status, time.perf_counter() - t0, len(html)


def _stats(samples: list[float]) -> dict:
    """``summarise`` plus the 95th percentile the targets are stated for."""
    import numpy as np

    return {**summarise(samples), "p95": float(np.percentile(samples, 95))}


def measure(server: GunicornServer, photo: Path, reps: int) -> dict:
    data = photo.read_bytes()
    api, api_server, page, page_bytes = [], [], [], 0
    segment(server.url, data, photo.name, mode=None)  # warm-up (first request of this size)
    for _ in range(reps):
        a = segment(server.url, data, photo.name, mode=None)
        if a.status != 200:
            raise RuntimeError(f"API answered {a.status}: {a.body or a.error}")
        api.append(a.seconds)
        api_server.append(a.body["timings_ms"]["total"] / 1000.0)
    client = PageClient(server.url)
    client.analyse(data, photo.name)
    for _ in range(reps):
        status, seconds, page_bytes = client.analyse(data, photo.name)
        if status != 200:
            raise RuntimeError(f"/analyse answered {status}")
        page.append(seconds)
    return {"api": _stats(api), "api_server_total": _stats(api_server), "page": _stats(page),
            "page_html_kb": page_bytes / 1024, "jpeg_kb": len(data) / 1024}


def run(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="rustseg-latency-"))
    if args.photo:
        src = Path(args.photo)
    else:
        found = find_images(DEFAULT_IMAGES, 1)
        src = found[0] if found else synthetic_images(tmp / "synthetic", 1)[0]
    photos = {mp: make_megapixel_photo(src, mp, tmp) for mp in SIZES_MP}
    results = {"machine": machine_info(), "model": str(args.model), "source_photo": src.name,
               "reps": args.reps, "runtime": args.runtime, "sizes": {}, "notes": []}
    server = GunicornServer(args.model, tmp / "gunicorn.log", workers=1, threads=2,
                            env={"RUSTSEG_RUNTIME": args.runtime})
    with server, CpuMonitor() as mon:
        pid = server.worker_pids()[0]
        for mp, path in photos.items():
            log(f"{mp:g} MP ({path.stat().st_size / 1024:.0f} KB): {args.reps} API requests and "
                f"{args.reps} result pages")
            results["sizes"][f"{mp:g}"] = measure(server, path, args.reps)
        results["worker_peak_rss_mib"] = _peak_rss_mib(pid)
        largest = photos[max(photos)]
        first = segment(server.url, largest.read_bytes(), largest.name, mode="standard")
        if first.status != 200:
            raise RuntimeError(f"API answered {first.status} in standard mode: {first.body or first.error}")
        results["first_standard_request_s"] = first.seconds
        results["worker_peak_rss_mib_after_standard"] = _peak_rss_mib(pid)
    record_cpu(results, mon.result)
    return results


def render(r: dict) -> str:
    rows = []
    for mp, s in r["sizes"].items():
        for key, label in (("api", "API `POST /api/v1/segment`"), ("page", "result page `POST /analyse`")):
            st = s[key]
            target = TARGETS_S.get((key, float(mp)))
            rows.append([f"{mp} MP", label, f"{st['median'] * 1000:.0f}", f"{st['p95'] * 1000:.0f}",
                         f"{s['api_server_total']['median'] * 1000:.0f}" if key == "api" else "",
                         f"≤ {target * 1000:.0f}" if target else ""])
    table = markdown_table(["photo", "request", "client median ms", "client p95 ms",
                            "server timings_ms.total median", "target ms"], rows)
    rss = r.get("worker_peak_rss_mib")
    lines = [f"## Client-side latency ({r['reps']} requests each, one at a time, model {r['model']}, "
             f"learned mode on RUSTSEG_RUNTIME={r.get('runtime', 'auto')})",
             "", table, "",
             f"Worker peak resident memory (VmHWM) after all of them: "
             f"**{rss:.0f} MiB**" + (" (target ≤ 1024 MiB)" if rss else ""),
             *([f"After one standard-mode request on the 12 MP photo (the first of that mode: "
                f"{r['first_standard_request_s']:.1f} s): **{after:.0f} MiB**"]
               if (after := r.get("worker_peak_rss_mib_after_standard")) else []),
             f"Result page HTML for 12 MP: {r['sizes']['12']['page_html_kb']:.0f} KB; JPEG sizes: "
             + ", ".join(f"{mp} MP {s['jpeg_kb']:.0f} KB" for mp, s in r["sizes"].items()),
             "", machine_markdown(r["machine"]), *[f"- {n}" for n in r["notes"]]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=10, help="requests of each kind and size")
    p.add_argument("--model", default=str(DEFAULT_MODEL))
    p.add_argument("--photo", help="the photo resized to each size (default: a ship-hull photo)")
    p.add_argument("--runtime", default="auto", choices=("auto", "tensorflow", "onnx"),
                   help="the server's RUSTSEG_RUNTIME (default auto: ONNX Runtime when exported)")
    p.add_argument("--json", help="also save the numbers here")
    args = p.parse_args(argv)
    return finish(run(args), MODULE, render, args.reps < 5, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
