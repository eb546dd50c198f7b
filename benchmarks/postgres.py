"""A throwaway PostgreSQL server for the tests and the store benchmark: Debian's
``postgresql`` binaries, a cluster in a temporary folder, trust authentication on 127.0.0.1
and a unix socket in that folder.

PostgreSQL refuses to run as root, so when the tests run as root the cluster belongs to the
``postgres`` system user (made by the Debian package) and its commands run through
``runuser``. The tests (tests/conftest.py) are skipped when the binaries are missing, unless
``RUSTSEG_REQUIRE_POSTGRES=1`` (CI), which turns that into a failure.
"""
from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from benchmarks.loopback import free_port

REQUIRE_ENV = "RUSTSEG_REQUIRE_POSTGRES"


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<N>/bin`` with initdb, or the one on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer:
    """One cluster: ``start()``, ``create_database()`` → URL, ``stop()`` (removes it all)."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="rustseg-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    def _run(self, *cmd: str) -> subprocess.CompletedProcess:
        argv = [str(self.bindir / cmd[0]), *cmd[1:]]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> "PostgresServer":
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.user, "-E", "UTF8",
                  "--no-sync")
        # fsync stays on: the tests claim that what a commit acknowledged survives.
        opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                f"-c unix_socket_directories={self.root} -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", opts,
                  "-w", "-t", "60", "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, encoding: str = "UTF8") -> str:
        """A new empty database (in ``encoding``: ``SQL_ASCII`` is what initdb gives in a
        bare C locale); its URL."""
        import psycopg

        name = "t_" + secrets.token_hex(6)
        with psycopg.connect(self.url(), autocommit=True) as con:
            con.execute(f"CREATE DATABASE \"{name}\" ENCODING '{encoding}' TEMPLATE template0")
        return self.url(name)

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
