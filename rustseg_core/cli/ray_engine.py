"""``rustseg segment --engine ray``: the same per-file work as the in-process engine, spread
over a pool of Ray actors by Ray Data.

The driver expands the inputs and drops the files an earlier run completed (exactly as the
in-process engine does), then ``ray.data.from_items`` of the rest goes through
``map_batches`` over an actor pool: each :class:`SegmentActor` loads the model once and
segments whole files (a video's frames stay on one actor), reading them itself from a
shared filesystem or S3, so photo bytes do not travel through the object store. Actors
write the per-photo files and done records; the driver streams their rows back, shows
per-file progress, and writes results.csv/json in input order, so both engines give the
same files.

Without ``RAY_ADDRESS`` a local Ray is started for the run (and stopped after it); with it,
``ray.init`` joins that cluster, whose nodes must have rustseg installed and see the same
paths.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import resource
import socket
import time
from dataclasses import asdict
from pathlib import Path

from ..inspection.assess import InspectionConfig
from ..inspection.roi import Polygon
from ..pipeline.segmenter import Segmenter
from .batch import Progress, ReportBuilder, finish, settings_for, start
from .photo_work import FileOutcome, Settings, load_done, process
from .sources import Source

log = logging.getLogger(__name__)
# Ray memory the default pool leaves per actor. One actor with the shipped model peaks at about
# 0.5 GiB at 12 MP (benchmarks/batch_engines.py, ONNX Runtime); a model on TensorFlow (a
# folder without an export, or one that lacks Grad-CAM++'s outputs) needs about 0.9 GiB.
ACTOR_MEMORY_BYTES = 1 << 30
# Enough blocks that idle actors can take work from busy ones and the driver sees each file
# finish, not so many that Ray Data's per-block overhead dominates a large batch.
MAX_BLOCKS = 1000


class RayEngineError(Exception):
    """Ray could not be used as asked (e.g. no cluster at ``RAY_ADDRESS``)."""


def ray_available() -> bool:
    """Whether Ray (the ``ray`` extra) is installed; checked without importing it."""
    return importlib.util.find_spec("ray") is not None


def local_init_kwargs() -> dict:
    """``ray.init`` arguments for a new Ray on this machine: no dashboard, quiet, and the
    workers import this very rustseg_core (a checkout's, not another installed copy)."""
    package_root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    # address="local": a new Ray even if /tmp/ray names a cluster started earlier with
    # `ray start` (ray.init would join it, or wait minutes for it if it has died).
    return {"address": "local", "include_dashboard": False, "logging_level": logging.WARNING,
            "runtime_env": {"env_vars": {"PYTHONPATH": path}}}


class SegmentActor:
    """One Ray actor: a loaded segmenter that processes the files of each batch it gets."""

    def __init__(self, model_dir: str, settings: Settings, out_dir: str, cwd: str | None = None):
        import ray

        # Inputs given as relative paths are read from the folder the command was run in
        # (on another node: when a shared filesystem mounts it at the same path).
        if cwd and Path(cwd).is_dir():
            os.chdir(cwd)

        from .. import tf_runtime
        from . import load_segmenter

        # One TensorFlow thread per CPU Ray gave this actor, so actors do not fight over cores.
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
        tf_runtime.configure(threads=max(1, int(cpus)), quiet=True)
        self.segmenter = load_segmenter(model_dir)
        self.settings, self.out_dir = settings, Path(out_dir)

    def __call__(self, batch: dict) -> dict:
        outcomes = []
        for text in batch["source"]:
            outcome = process(self.segmenter, Source(**json.loads(text)), self.settings, self.out_dir)
            outcomes.append(json.dumps({**outcome.to_json(), "survey_seconds": outcome.survey_seconds}))
        # Peak resident memory of this actor so far (KiB on Linux), for --workers sizing.
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        n = len(outcomes)
        actor = f"{socket.gethostname()}:{os.getpid()}"  # process ids repeat across nodes
        return {"index": batch["index"], "outcome": outcomes, "actor": [actor] * n,
                "peak_rss_mb": [peak_kib / 1024] * n}


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast when nothing listens at a ``HOST:PORT`` address: ``ray.init`` itself keeps
    retrying for minutes. Other forms (``auto``, ``ray://...``) are left to Ray."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise RayEngineError(f"no Ray cluster answers at RAY_ADDRESS={address} ({e.strerror or e}); "
                             "start one with 'ray start --head', or unset RAY_ADDRESS to run "
                             "on this machine") from None


def default_workers(ray, files: int) -> int:
    """As many actors as Ray has CPUs, fewer if its memory cannot hold one model each, and
    never more than there are files."""
    free = ray.available_resources()
    cpus = int(free.get("CPU", 1))
    by_memory = int(free.get("memory", ACTOR_MEMORY_BYTES) // ACTOR_MEMORY_BYTES)
    return max(1, min(cpus, by_memory, files))


def segment_batch_ray(model_dir: str, segmenter: Segmenter, inputs: list[str | Path],
                      out_dir: str | Path, mode: str | None = None, every: int = 30,
                      progress: bool = True, roi: Polygon | None = None,
                      report: ReportBuilder | None = None,
                      inspection: InspectionConfig = InspectionConfig(), resume: bool = True,
                      workers: int | None = None, stats: dict | None = None) -> list[dict]:
    """Like :func:`rustseg_core.cli.batch.segment_batch`, on Ray actors loading ``model_dir``
    (``segmenter``, the same model loaded here, fixes the settings). ``stats``, if given,
    receives ``workers`` (the pool's size), the peak resident memory of each actor that
    segmented something (``actor_peak_rss_mb``, MiB by ``host:pid``), and the seconds from
    starting the pool to the first file back (``first_file_s``: actor start-up included)
    and to the last (``all_files_s``)."""
    import ray

    settings = settings_for(segmenter, mode, every, roi, report, inspection)
    out_dir, sources = start(inputs, out_dir)
    out_dir = out_dir.resolve()  # actors may run with another working directory
    bar = Progress(len(sources), progress)
    outcomes: list[FileOutcome | None] = [None] * len(sources)
    done = 0
    for i, source in enumerate(sources):
        if resume and (outcome := load_done(out_dir, source, settings)) is not None:
            outcomes[i] = outcome
            done += 1
            bar.update(done, source.uri, outcome)
    todo = [i for i, o in enumerate(outcomes) if o is None]
    started = False
    if todo:
        if not ray.is_initialized():
            # RAY_ADDRESS (read by ray.init) joins a cluster; without it this starts a local Ray.
            address = os.environ.get("RAY_ADDRESS")
            if address:
                _check_reachable(address)
            try:
                ray.init(**({} if address else local_init_kwargs()))
            except ConnectionError as e:
                raise RayEngineError(f"cannot reach the Ray cluster at RAY_ADDRESS={address}: {e}") from e
            started = True
        try:
            found = _run(ray, model_dir, settings, out_dir, sources, todo, outcomes, workers,
                         bar, done)
        finally:
            if started:
                ray.shutdown()
        if stats is not None:
            stats.update(found)
    return finish(outcomes, out_dir, report)


def _run(ray, model_dir: str, settings: Settings, out_dir: Path, sources: list[Source],
         todo: list[int], outcomes: list, workers: int | None, bar: Progress,
         done: int) -> dict:
    """Segment ``sources[todo]`` on the actor pool, filling ``outcomes``; the statistics
    :func:`segment_batch_ray` describes."""
    from ray.data import ActorPoolStrategy, DataContext

    # The driver prints one progress line per file as the in-process engine does (Keras'
    # bar on a terminal), so Ray Data's own per-operator bars would only repeat it; its
    # INFO lines (execution plans, log folders) only with -v.
    DataContext.get_current().enable_progress_bars = False
    if not log.isEnabledFor(logging.INFO):
        logging.getLogger("ray.data").setLevel(logging.ERROR)
    items = [{"index": i, "source": json.dumps(asdict(sources[i]))} for i in todo]
    pool = workers or default_workers(ray, len(todo))
    ds = ray.data.from_items(items, override_num_blocks=min(len(items), MAX_BLOCKS))
    ds = ds.map_batches(SegmentActor, batch_size=1, compute=ActorPoolStrategy(size=pool), num_cpus=1,
                        fn_constructor_kwargs={"model_dir": str(Path(model_dir).resolve()),
                                               "settings": settings, "out_dir": str(out_dir),
                                               "cwd": os.getcwd()})
    actors: dict[str, float] = {}
    t0, first = time.perf_counter(), None
    for row in ds.iter_rows():
        first = first or time.perf_counter() - t0
        record = json.loads(row["outcome"])
        outcome = FileOutcome.from_json(record)
        outcome.survey_seconds = record["survey_seconds"]
        i = int(row["index"])
        outcomes[i] = outcome
        actors[row["actor"]] = max(actors.get(row["actor"], 0.0), float(row["peak_rss_mb"]))
        done += 1
        bar.update(done, sources[i].uri, outcome)
    return {"workers": pool, "actor_peak_rss_mb": actors, "first_file_s": first,
            "all_files_s": time.perf_counter() - t0}
