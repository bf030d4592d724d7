"""A throwaway PostgreSQL server for the tests: ``initdb`` and ``pg_ctl`` in a temporary directory.

The server listens on a free loopback port only, with password authentication (so that the
tests see a real password in the URL), and is removed with its directory at the end. As root
(CI), PostgreSQL refuses to run, so the commands run as the ``postgres`` user via ``runuser``
and the directory is handed to that user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import attrs

__all__ = ["PostgresServer", "find_bindir", "running_server"]

USER = "mirror"
# Characters that must be percent-encoded in a URL: the redaction is tested with them.
PASSWORD = "p@ss:w/rd-9f3k"


def find_bindir() -> Path | None:
    """Return the directory of ``initdb`` and ``pg_ctl``, or None when PostgreSQL is missing."""
    candidates: list[str] = []
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout
        candidates.append(out.strip())
    # Debian's postgresql package puts the server binaries here, off the PATH.
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).resolve().parent))
    for candidate in candidates:
        path = Path(candidate)
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@attrs.frozen
class PostgresServer:
    """A running server: connect as ``USER`` / ``PASSWORD`` on 127.0.0.1:``port``."""

    bindir: Path
    port: int
    as_user: tuple[str, ...]

    def url(self, database: str) -> str:
        """Return the ``postgresql://`` URL of ``database`` on this server."""
        password = urllib.parse.quote(PASSWORD, safe="")
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        self._client("createdb", name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database created by `create_database`."""
        self._client("dropdb", "--if-exists", name)

    def _client(self, program: str, *args: str) -> None:
        env = {**os.environ, "PGPASSWORD": PASSWORD}
        command = [str(self.bindir / program), "-h", "127.0.0.1", "-p", str(self.port)]
        subprocess.run([*command, "-U", USER, *args], check=True, env=env, capture_output=True)


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stdout}{result.stderr}")


@contextlib.contextmanager
def running_server() -> Iterator[PostgresServer]:
    """Start a PostgreSQL server in a temporary directory; stop and remove it on exit.

    Raises:
        RuntimeError: If PostgreSQL is not installed or does not start.
    """
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (no initdb/pg_ctl found)")
    as_user: tuple[str, ...] = ()
    root = Path(tempfile.mkdtemp(prefix="asyncinvoices-pg-"))
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ("runuser", "-u", "postgres", "--")
    data, password_file = root / "data", root / "password"
    password_file.write_text(PASSWORD + "\n")
    if as_user:
        os.chown(password_file, pwd.getpwnam("postgres").pw_uid, -1)
    port = _free_port()
    server = PostgresServer(bindir=bindir, port=port, as_user=as_user)
    try:
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", USER, "-A", "scram-sha-256"]
        _run([*as_user, *initdb, "--pwfile", str(password_file), "-E", "UTF8", "--no-sync"])
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -F"
        pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-o", options]
        _run([*as_user, *pg_ctl, "-l", str(root / "log"), "-w", "-t", "60", "start"])
        try:
            yield server
        finally:
            _run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
    finally:
        shutil.rmtree(root, ignore_errors=True)
