"""A throw-away PostgreSQL server on loopback, for trying parallel grading and for the tests.

Uses the server programs of Debian's ``postgresql`` package
(``/usr/lib/postgresql/<version>/bin``). PostgreSQL refuses to run as root, so
as root the cluster belongs to the ``postgres`` user the package creates.
Connections are trusted, but only from 127.0.0.1: never use it for real grades.

    with PostgresServer() as server:
        print(server.url)  # postgresql://grader@127.0.0.1:<port>/gradebook
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server programs, or the server would not start."""


def server_bin() -> Path:
    """The newest installed PostgreSQL's bin folder."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise PostgresUnavailable("PostgreSQL is not installed (Debian: apt-get install -y postgresql)")
    return Path(found[-1]).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """Start a fresh cluster in a temporary folder; ``url`` is a SQLAlchemy URL of an empty database."""

    def __init__(self, database: str = "gradebook", user: str = "grader") -> None:
        self.database, self.user = database, user
        self.bin = server_bin()
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="course-postgres-"))
        self.owner = "postgres" if os.geteuid() == 0 else None
        self.url = f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.owner:
            command = ["runuser", "-u", self.owner, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.folder)
        if result.returncode != 0:
            log = (self.folder / "server.log").read_text(errors="replace") if (self.folder / "server.log").exists() else ""
            raise PostgresUnavailable(f"{' '.join(args[:2])} failed: {result.stderr.strip()} {log[-2000:]}")

    def start(self) -> "PostgresServer":
        if self.owner:
            try:
                account = pwd.getpwnam(self.owner)
            except KeyError:
                raise PostgresUnavailable("running as root but there is no 'postgres' user to run the server") from None
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        data = self.folder / "data"
        self._run("initdb", "-D", str(data), "-U", self.user, "-A", "trust", "--no-sync", "-E", "UTF8")
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"
        self._run("pg_ctl", "-D", str(data), "-l", str(self.folder / "server.log"), "-o", options, "-w", "-t", "60", "start")
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, self.database)
        return self

    def stop(self) -> None:
        try:
            if (self.folder / "data" / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "PostgresServer":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
