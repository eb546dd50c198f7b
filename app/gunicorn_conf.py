"""gunicorn settings for RustSEG, sized for a 2-core CPU box and safe with TensorFlow.

Used as ``-c gunicorn.conf.py`` in a checkout (which imports this module) or
``-c python:app.gunicorn_conf`` for an installed package.

Every value can be overridden with an environment variable (``RUSTSEG_BIND``,
``RUSTSEG_WORKERS`` ...) or on the command line (``gunicorn -c gunicorn.conf.py -w 1 wsgi:app``).
This file must not import TensorFlow or build the app: the master process forks the workers,
and a process that forks after TensorFlow has started its thread pools can hang. It uses the
app's own production check and the core's TensorFlow settings, neither of which imports it.
"""
import os
import secrets

from app.config import production_error_from_env
from rustseg_core import tf_runtime


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


cores = os.cpu_count() or 1

bind = os.environ.get("RUSTSEG_BIND", "0.0.0.0:8000")
# Two worker processes on two cores; a second thread each keeps pages, static files and
# /healthz responsive while the other thread runs a segmentation.
workers = _int("RUSTSEG_WORKERS", 2)
worker_class = "gthread"
threads = _int("RUSTSEG_THREADS", 2)
# Load the model in each worker after the fork, never in the master (fork-after-TF hangs).
preload_app = False
# A 12 MP photo in advanced mode plus the first-request warm-up can exceed gunicorn's 30 s
# default; a worker killed mid-request would lose the photo and the answer.
timeout = _int("RUSTSEG_TIMEOUT", 120)
graceful_timeout = _int("RUSTSEG_GRACEFUL_TIMEOUT", 60)
keepalive = 5
# Recycle workers now and then: TensorFlow's allocator never returns memory to the OS.
max_requests = _int("RUSTSEG_MAX_REQUESTS", 500)
max_requests_jitter = _int("RUSTSEG_MAX_REQUESTS_JITTER", 50)
# The heartbeat file on a RAM disk: Docker's overlay /tmp can stall it and get workers killed.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
accesslog = os.environ.get("RUSTSEG_ACCESS_LOG", "-")
errorlog = "-"
loglevel = os.environ.get("RUSTSEG_LOG_LEVEL", "info")
# Behind a reverse proxy that terminates TLS, trust its X-Forwarded-* headers.
forwarded_allow_ips = os.environ.get("RUSTSEG_FORWARDED_ALLOW_IPS", "127.0.0.1")

# Each worker's TensorFlow gets its share of the cores instead of every worker using all of
# them (oversubscription makes everyone slower). Set before the workers import TensorFlow.
tf_runtime.configure(threads=max(1, cores // max(1, workers)), interop_threads=1)

# Production (RUSTSEG_PRODUCTION, set in the Docker image) must be given a strong key: refuse
# to start here, in the master, with one clear line rather than every worker failing to boot.
try:
    _production_error = production_error_from_env()
except RuntimeError as _e:  # e.g. RUSTSEG_PRODUCTION=maybe
    _production_error = str(_e)
if _production_error:
    raise SystemExit(f"RustSEG: {_production_error}")
# Otherwise one secret shared by all workers of this server if none is configured, so a CSRF
# token made by one worker is valid in the other. Set RUSTSEG_SECRET_KEY for several servers.
os.environ.setdefault("RUSTSEG_SECRET_KEY", secrets.token_hex(32))


def post_worker_init(worker) -> None:
    """Say when a worker has loaded the app and the model and takes requests: TensorFlow's
    start-up takes seconds, and the load test and fault tests wait for this line. A worker
    whose model failed to load says that instead (it still answers /healthz with 503)."""
    services = getattr(worker.wsgi, "extensions", {}).get("rustseg")
    error = getattr(services, "model_error", None) if services is not None else "the app did not start"
    if error:
        worker.log.error("Worker up WITHOUT a model (pid: %s): %s", worker.pid, error)
    else:
        worker.log.info("Worker ready (pid: %s)", worker.pid)
