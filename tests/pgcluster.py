"""A throwaway PostgreSQL cluster for tests and benchmarks: Debian's ``initdb`` + ``pg_ctl``.

The cluster lives in a temp dir, listens on 127.0.0.1 on a free port (and a socket in the same
dir), trusts local connections and is stopped (``pg_ctl stop -m immediate``) and deleted at the
end. ``initdb`` refuses to run as root, so as root the server runs as the ``postgres`` user
Debian's package creates (or ``nobody``). ``scripts/setup.sh --test`` installs the binaries.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.ports import free_port

SETUP_HINT = "run scripts/setup.sh --test as root, or apt-get install -y postgresql"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not installed here."""


def find_bindir() -> Path:
    """Where ``initdb``/``pg_ctl`` live: Debian's versioned dir (newest first), else PATH."""
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True):
        if (Path(cand) / "initdb").is_file() and (Path(cand) / "pg_ctl").is_file():
            return Path(cand)
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    raise PostgresUnavailable(
        f"PostgreSQL server binaries (initdb, pg_ctl) not found; {SETUP_HINT}"
    )


def _version_key(path: str) -> int:
    part = Path(path).parent.name
    return int(part) if part.isdigit() else 0


def _run_as() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresUnavailable("running as root and neither a 'postgres' nor a 'nobody' user exists")


@dataclass
class PgCluster:
    """A running cluster; ``url`` is a SQLAlchemy URL, ``dsn`` a libpq one."""

    root: Path
    bindir: Path
    port: int
    user: str = "streamer"
    dbname: str = "streamer"

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.dbname}"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{self.dbname}"

    def dsn_for(self, dbname: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def url_for(self, dbname: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """A fresh database in this cluster (one per test keeps tests apart); its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(self.dsn_for("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # name is chosen by the test
        return self.url_for(name)

    def _pg(self, *args: str, timeout: float = 120) -> None:
        owner = _run_as()
        proc = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            user=owner.pw_uid if owner else None,
            group=owner.pw_gid if owner else None,
            cwd=self.root,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{args[0]} failed (rc={proc.returncode}): {proc.stderr[-2000:]}")

    def start(self) -> None:
        data = self.root / "data"
        self._pg("initdb", "-D", str(data), "-U", self.user, "--auth=trust", "-E", "UTF8",
                 "--no-sync", "--locale=C")  # fmt: skip
        opts = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._pg("pg_ctl", "-D", str(data), "-o", opts, "-l", str(self.root / "server.log"),
                 "-w", "-t", "60", "start")  # fmt: skip
        import psycopg

        with psycopg.connect(self.dsn_for("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.dbname}"')

    def stop(self) -> None:
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            # removing the dir afterwards is what matters; the server dies with its files
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._pg("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop", timeout=60)

    def log_tail(self, chars: int = 3000) -> str:
        log = self.root / "server.log"
        return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def start_cluster() -> PgCluster:
    """initdb + pg_ctl start on a free port; raise PostgresUnavailable without the binaries."""
    bindir = find_bindir()
    # in the system temp dir: as root, the server's own user must be able to reach it
    root = Path(tempfile.mkdtemp(prefix="streamer-pg-"))
    owner = _run_as()
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    last: Exception | None = None
    for _ in range(3):  # a free port can be taken between the probe and the bind
        cluster = PgCluster(root=root, bindir=bindir, port=free_port())
        try:
            cluster.start()
            return cluster
        except RuntimeError as exc:
            last = exc
            cluster.stop()
            shutil.rmtree(root / "data", ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    raise RuntimeError(f"PostgreSQL did not start: {last}")


def stop_cluster(cluster: PgCluster) -> None:
    cluster.stop()
    shutil.rmtree(cluster.root, ignore_errors=True)
