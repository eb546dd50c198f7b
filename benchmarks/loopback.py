"""A RustSEG gunicorn server on 127.0.0.1, started and stopped by a benchmark or a test,
and what /proc says about its worker processes (memory, CPU).

Only loopback: the server binds 127.0.0.1, and :func:`require_loopback` refuses any other
address given to a client. Standard library only.
"""
from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
READY_RE = re.compile(r"Worker ready \(pid: (\d+)\)")
TIMEOUT_RE = re.compile(r"WORKER TIMEOUT \(pid:(\d+)\)")


def require_loopback(url: str) -> str:
    """``url`` unchanged if it points at this machine's loopback interface, else ValueError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(f"refusing {url!r}: only http://127.0.0.1 or http://localhost may be targeted")
    return url.rstrip("/")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- /proc --------------------------------------------------------------------------------------

def children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (gunicorn's workers of its master)."""
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return sorted(set(kids))


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process in MiB (None once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_cpu_seconds() -> float:
    """CPU seconds all processes of the machine were busy (not idle, iowait or stolen)."""
    v = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(v[:8]) - v[3] - v[4] - v[7]) / os.sysconf("SC_CLK_TCK")


# -- the server ---------------------------------------------------------------------------------

def get_json(url: str, timeout: float = 5.0) -> tuple[int, dict | None]:
    import json

    try:
        with urllib.request.urlopen(require_loopback(url), timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, None
    except (OSError, ValueError, http.client.HTTPException):  # refused, reset, or cut short
        return 0, None


@dataclass
class GunicornServer:
    """``gunicorn -c gunicorn.conf.py wsgi:app`` on a free 127.0.0.1 port, as a context manager.

    ``env`` adds ``RUSTSEG_*`` settings (workers, threads, timeout ...); other ``RUSTSEG_*``
    variables of the caller's environment are not passed on. The server's output goes to
    ``log_path``.
    """

    model: str | Path
    log_path: Path
    store_dir: str | Path = ""  # "" → no store
    workers: int = 2
    threads: int = 2
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> "GunicornServer":
        """Start the master (its workers boot in the background) and return at once."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUSTSEG_")}
        env.update({"RUSTSEG_BIND": f"127.0.0.1:{self.port}", "RUSTSEG_MODEL": str(self.model),
                    "RUSTSEG_STORE_DIR": str(self.store_dir), "RUSTSEG_WORKERS": str(self.workers),
                    "RUSTSEG_THREADS": str(self.threads), **self.env})
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                                          "wsgi:app"], cwd=REPO, env=env, stdout=log,
                                         stderr=subprocess.STDOUT)
        return self

    def start(self, boot_timeout: float = 300.0) -> "GunicornServer":
        self.launch()
        try:
            self.wait_ready(self.workers, boot_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_for_log(self, pattern: str, timeout: float = 300.0) -> re.Match:
        """Wait until the server's log matches ``pattern``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.log_text())
            if m:
                return m
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            time.sleep(0.2)
        raise TimeoutError(f"no {pattern!r} after {timeout:.0f} s:\n{self.log_text()[-3000:]}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def worker_pids(self) -> list[int]:
        return children(self.proc.pid) if self.proc and self.proc.poll() is None else []

    def ready_pids(self) -> list[int]:
        """Current workers that have loaded the model (said "Worker ready")."""
        ready = {int(p) for p in READY_RE.findall(self.log_text())}
        return [p for p in self.worker_pids() if p in ready]

    def wait_ready(self, n: int, timeout: float = 300.0) -> list[int]:
        """Wait until ``n`` workers are ready and /healthz answers 200; their pids."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            pids = self.ready_pids()
            if len(pids) >= n and get_json(self.url + "/healthz")[0] == 200:
                return pids
            time.sleep(0.2)
        raise TimeoutError(f"{n} workers not ready after {timeout:.0f} s:\n{self.log_text()[-3000:]}")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the master (it stops its workers), SIGKILL whatever is left after ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return
        workers = self.worker_pids()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        for pid in workers:  # only our own workers, by id
            if rss_mib(pid) is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def __enter__(self) -> "GunicornServer":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()
