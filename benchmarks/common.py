"""Helpers shared by the benchmark scripts: statistics, memory, CPU contention, machine
information, test photos and markdown tables. Nothing here imports TensorFlow, so the
parent process of an isolated benchmark stays small."""
from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_IMAGES = REPO.parent / "shared" / "data" / "unlabelled" / "ship_hull"
DEFAULT_MODEL = REPO / "models" / "default"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
PACKAGES = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "pillow", "pydensecrf2",
            "scipy", "scikit-learn")


def model_label(model: str) -> str:
    """How a report names the model it ran: "default model" for models/default, else the
    folder's name ("classifier model"), or the preset of a random:<preset> model."""
    if model.startswith("random:"):
        return f"random {model.split(':', 1)[1]} model"
    path = Path(model).resolve()
    return "default model" if path == DEFAULT_MODEL else f"{path.name} model"


# --------------------------------------------------------------------------- statistics

def summarise(samples: Sequence[float]) -> dict:
    """Median and spread of timing samples (seconds): p10/p90, quartiles, min/max, n."""
    a = np.asarray(samples, np.float64)
    if a.size == 0:
        return {"n": 0}
    p10, q1, med, q3, p90 = np.percentile(a, [10, 25, 50, 75, 90])
    return {"n": int(a.size), "median": float(med), "p10": float(p10), "p90": float(p90),
            "q1": float(q1), "q3": float(q3), "min": float(a.min()), "max": float(a.max()),
            "mean": float(a.mean())}


def fmt_ms(stat: dict | None, spread: bool = True) -> str:
    """'123 [110–140]': median and p10–p90 in milliseconds ('–' when not measured)."""
    if not stat or not stat.get("n"):
        return "–"
    med = _ms(stat["median"])
    if not spread or stat["n"] < 2:
        return med
    return f"{med} [{_ms(stat['p10'])}–{_ms(stat['p90'])}]"


def _ms(seconds: float) -> str:
    ms = seconds * 1000.0
    return f"{ms:.0f}" if abs(ms) >= 100 else f"{ms:.1f}" if abs(ms) >= 1 else f"{ms:.2f}"


def fmt_ratio(ours: dict | None, ref: dict | None) -> str:
    """'0.052 (19× faster)': ours/reference of the medians, and the speed-up it means."""
    if not ours or not ref or not ours.get("n") or not ref.get("n") or ref["median"] <= 0:
        return "–"
    r = ours["median"] / ref["median"]
    if r <= 0:
        return "–"
    if r <= 1:
        return f"{_sig(r)} ({_sig(1 / r)}× faster)"
    return f"{_sig(r)} (slower)"


def _sig(x: float) -> str:
    """Two or three significant digits without scientific notation."""
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    digits = max(2, 1 - int(np.floor(np.log10(x))) + 1)
    return f"{x:.{digits}f}"


# --------------------------------------------------------------------------- memory

def _status_kib(key: str) -> int | None:
    """A 'VmXXX:' line of /proc/self/status in KiB (None off Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def current_rss_mb() -> float | None:
    kib = _status_kib("VmRSS")
    return None if kib is None else kib / 1024.0


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM, else ru_maxrss) in MiB."""
    kib = _status_kib("VmHWM")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if sys.platform == "darwin":  # bytes there, KiB on Linux
            kib //= 1024
    return kib / 1024.0


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0) so a section's own peak can be read.

    Returns False when not possible; the peak then covers the whole process so far.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------- CPU contention

def _proc_stat() -> tuple[int, int, int] | None:
    """(busy, steal, total) jiffies over all CPUs from /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    v = [int(x) for x in first[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    steal = v[7] if len(v) > 7 else 0
    total = sum(v[:8])
    return total - idle - steal, steal, total


def _own_cpu_seconds() -> float:
    t = os.times()  # children: isolated workers we waited for
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class CpuMonitor:
    """How much CPU other processes used while we measured (the noise in our timings).

    ``with CpuMonitor() as m: ...`` then ``m.result`` has the wall time, our CPU seconds,
    and ``others_cores``: the average number of cores busy with other processes.
    """

    result: dict = field(default_factory=dict)

    def __enter__(self) -> "CpuMonitor":
        self._t = time.perf_counter()
        self._own = _own_cpu_seconds()
        self._stat = _proc_stat()
        self._load = _loadavg()
        return self

    def __exit__(self, *exc) -> None:
        wall = time.perf_counter() - self._t
        own = _own_cpu_seconds() - self._own
        r = {"wall_s": wall, "own_cpu_s": own, "loadavg_before": self._load,
             "loadavg_after": _loadavg(), "cores": usable_cores()}
        end = _proc_stat()
        if self._stat and end and wall > 0:
            hz = os.sysconf("SC_CLK_TCK")
            busy = (end[0] - self._stat[0]) / hz
            r["others_cores"] = max(0.0, (busy - own) / wall)
            r["steal_cores"] = (end[1] - self._stat[1]) / hz / wall
        self.result = r


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def contention_note(cpu: dict) -> str | None:
    """A warning line when other processes used a noticeable share of the CPU."""
    others = cpu.get("others_cores")
    if others is None:
        return None
    cores = cpu.get("cores", 1)
    if others < 0.1 * cores and cpu.get("steal_cores", 0) < 0.1:
        return None
    return (f"other processes kept on average {others:.2f} of {cores} cores busy during this "
            f"run (steal {cpu.get('steal_cores', 0):.2f}): timings are noisy and pessimistic")


def record_cpu(results: dict, cpu: dict) -> None:
    """``results["cpu"]``, and the contention warning in ``results["notes"]`` when there is one."""
    results["cpu"] = cpu
    note = contention_note(cpu)
    if note:
        results.setdefault("notes", []).append(note)


# --------------------------------------------------------------------------- machine

def machine_info() -> dict:
    """CPU, memory, OS, Python, package versions and the git commit of this checkout."""
    info = {"cpu": _cpu_model(), "cores": usable_cores(), "logical_cpus": os.cpu_count(),
            "memory_gib": _mem_gib(), "os": platform.platform(), "python": platform.python_version(),
            "packages": {}, "git": _git_commit(), "loadavg": _loadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    for name in PACKAGES:
        try:
            info["packages"][name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_gib() -> float | None:
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        return round(kib / 1024**2, 1)
    except (OSError, ValueError, IndexError):
        return None


def _git_commit() -> str | None:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "rustseg_core"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (sha + ("+dirty-core" if dirty else "")) or None
    except (OSError, subprocess.SubprocessError):
        return None


def machine_markdown(info: dict) -> str:
    """One paragraph describing the machine and versions, for the README."""
    pk = ", ".join(f"{k} {v}" for k, v in info.get("packages", {}).items())
    return (f"Machine: {info.get('cpu')}, {info.get('cores')} usable cores, "
            f"{info.get('memory_gib')} GiB RAM; {info.get('os')}; Python {info.get('python')}; "
            f"{pk}; commit {info.get('git')}; {info.get('date')}.")


# --------------------------------------------------------------------------- photos

def find_images(folder: Path, limit: int | None = None) -> list[Path]:
    """Image files of ``folder`` in name order; with ``limit``, that many spread evenly over
    the list (so a folder sorted by camera or site is sampled across, deterministically)."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not limit or limit >= len(files):
        return files
    idx = np.unique(np.linspace(0, len(files) - 1, limit).round().astype(int))
    return [files[i] for i in idx]


def synthetic_photo(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Grey metal with a few rust-coloured blobs: stands in for a photo when none exist."""
    y, x = np.mgrid[:height, :width].astype(np.float32)
    img = rng.uniform(90, 170) + 15 * np.sin(x / max(width, 1) * 6) + rng.normal(0, 8, (height, width))
    img = np.repeat(img[..., None], 3, axis=2)
    for _ in range(int(rng.integers(2, 5))):
        cy, cx = rng.uniform(0.2, 0.8) * height, rng.uniform(0.2, 0.8) * width
        ry, rx = rng.uniform(0.05, 0.2) * height, rng.uniform(0.05, 0.2) * width
        blob = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1
        img[blob] = np.array([rng.uniform(140, 200), rng.uniform(55, 90), rng.uniform(15, 40)])
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def synthetic_images(folder: Path, n: int, size: tuple[int, int] = (1024, 768),
                     seed: int = 0) -> list[Path]:
    """Write ``n`` synthetic JPEG photos of ``size`` (width, height) into ``folder``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        p = folder / f"synthetic_{i:03d}.jpg"
        Image.fromarray(synthetic_photo(rng, *size)).save(p, quality=90)
        paths.append(p)
    return paths


def photos_or_synthetic(folder: Path, limit: int, tmp: Path,
                        max_synthetic: int = 12) -> tuple[list[Path], str | None]:
    """Real photos from ``folder``, or synthetic ones (with a note saying so) if it has none."""
    if folder.is_dir():
        files = find_images(folder, limit)
        if files:
            return files, None
    n = max(1, min(limit, max_synthetic))
    note = (f"NOTE: no photos in {folder}; using {n} SYNTHETIC 1024x768 JPEGs instead "
            "(timings are indicative only; pass --images DIR with real photos)")
    return synthetic_images(tmp / "synthetic", n), note


def make_megapixel_photo(src: Path, megapixels: float, out_dir: Path, quality: int = 90,
                         grain: float = 6.0, seed: int = 0, keep_profile: bool = True) -> Path:
    """Resize a photo (keeping its aspect) to about ``megapixels`` MP and save it as JPEG.

    Upscaled pixels are smooth and would compress to a fraction of a real phone photo
    (whose size drives decode time), so sensor-like Gaussian grain of ``grain`` levels is
    added: a 12 MP result is then a few MB, like a phone's. The photo's colour profile is
    kept unless ``keep_profile`` is false (an iPhone's Display P3 costs a transform to sRGB
    when decoded).
    """
    from PIL import Image, ImageOps

    with Image.open(src) as im:
        icc = im.info.get("icc_profile") if keep_profile else None
        im = ImageOps.exif_transpose(im).convert("RGB")
        w, h = im.size
        s = (megapixels * 1e6 / (w * h)) ** 0.5
        size = (max(1, round(w * s)), max(1, round(h * s)))
        arr = np.asarray(im.resize(size, Image.BICUBIC), np.float32)
    if grain > 0:
        arr += np.random.default_rng(seed).standard_normal(arr.shape, dtype=np.float32) * grain
    out = out_dir / f"{src.stem}_{megapixels:g}MP{'' if keep_profile else '_untagged'}.jpg"
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(out, quality=quality, icc_profile=icc)
    return out


# --------------------------------------------------------------------------- output

def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]],
                   right: Sequence[bool] | None = None) -> str:
    """A GitHub markdown table; columns after the first are right-aligned by default."""
    rows = [[str(c) for c in r] for r in rows]
    right = right or [i > 0 for i in range(len(headers))]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if r else c.ljust(w)
                                 for c, w, r in zip(cells, widths, right)) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if r else (":" + "-" * (w + 1))
                         for w, r in zip(widths, right)) + "|"
    return "\n".join([line(headers), sep] + [line(r) for r in rows])


def save_json(obj: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=False))
    return path


def command_line(module: str) -> str:
    """How this benchmark was invoked, for the record next to its numbers."""
    import shlex

    return f"python3 -m {module} " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def log(msg: str) -> None:
    """Progress on stderr, so stdout stays a clean markdown report."""
    print(msg, file=sys.stderr, flush=True)


def finish(results: dict, module: str, render, quick: bool, json_path: str | None) -> int:
    """Shared end of a benchmark script: note the command, print the report, save JSON."""
    results["command"] = command_line(module)
    if quick:
        results["notes"].append("--quick smoke run: too few samples for a reliable table")
    print(render(results))
    if json_path:
        log(f"saved {save_json(results, json_path)}")
    return 0
