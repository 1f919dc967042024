"""A throwaway PostgreSQL server for one test session (a pytest plugin: tests/conftest.py loads it).

README's one test command runs every server test on PostgreSQL too: when MKP_TEST_POSTGRES_URL
names no server, the session starts one of its own from Debian's binaries (install.sh installs
them), listening on a unix socket in a temp folder and on no TCP port, so it never meets the
machine's own server. It is made once per session, not once per xdist worker (initdb takes two
seconds): the controller makes the folder, the first process that needs the server initdbs and
starts it under a file lock, the others find it running, and the controller, the last one out,
stops it and removes the folder. Nothing is started for a run that selects no PostgreSQL test.

initdb and postgres refuse to run as root: as root, they run as the ``postgres`` system user
(Debian's package makes it), in a folder that user owns.

Why not pytest-postgresql's ``postgresql_proc``: it waits for the server on a TCP port, runs
initdb and pg_ctl as the user running the tests (here root, which they refuse), and makes one
server per xdist worker.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

POSTGRES_ENV = "MKP_TEST_POSTGRES_URL"
SUPERUSER = "postgres"  # initdb's superuser, and the system user that runs the server as root
_WORKER_KEY = "mkp_throwaway_postgres"  # the folder's path, in each xdist worker's workerinput
_SERVER = pytest.StashKey["ThrowawayPostgres"]()
# A test server: a commit need not reach the disk (the folder goes at the end anyway).
_SETTINGS = ("fsync = off", "synchronous_commit = off", "full_page_writes = off")


class PostgresUnavailable(Exception):
    """No server can be started here (no binaries, no user to run them): the reason, for a skip."""


def server_binaries() -> Path:
    """The newest of Debian's PostgreSQL server binary folders, else the one initdb is found in."""
    found = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    if found:
        return max(found, key=lambda bindir: [int(n) for n in re.findall(r"\d+", bindir.parent.name)])
    initdb = shutil.which("initdb")
    if initdb is None:
        raise PostgresUnavailable(
            f"no PostgreSQL server binaries (initdb): run ./install.sh, or set {POSTGRES_ENV}"
        )
    return Path(initdb).parent


class ThrowawayPostgres:
    """The session's server in ``folder``: its data directory, its socket and its log."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"

    @property
    def url(self) -> str:
        """The superuser's URL: over the socket in the folder (trust: only its owner can reach it)."""
        return f"postgresql://{SUPERUSER}@/postgres?host={self.folder}"

    def ensure_running(self) -> str:
        """Start the server unless another process of the session has; its URL."""
        with FileLock(self.folder / "start.lock"):
            if not (self.data / "postmaster.pid").exists():
                self._start()
        return self.url

    def remove(self) -> None:
        """Stop the server (if it was started) and remove its folder."""
        if (self.data / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "stop", "--wait", "--silent", "--mode=fast", f"--pgdata={self.data}")
            except PostgresUnavailable as e:  # it died on its own: its pid file stayed behind
                warnings.warn(f"throwaway PostgreSQL: {e}", stacklevel=1)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _start(self) -> None:
        user = _unprivileged_user()
        if user is not None:
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        shutil.rmtree(self.data, ignore_errors=True)  # what a failed start left
        self._run(
            "initdb",
            f"--pgdata={self.data}",
            f"--username={SUPERUSER}",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
            "--no-instructions",
        )
        settings = [*_SETTINGS, "listen_addresses = ''", f"unix_socket_directories = '{self.folder}'"]
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(["", "# mkp tests: a throwaway server", *settings, ""]))
        self._run(
            "pg_ctl",
            "start",
            "--wait",
            "--silent",
            f"--pgdata={self.data}",
            f"--log={self.folder / 'postgres.log'}",
            new_session=True,  # stopped by the controller's remove(), not by a worker's Ctrl-C
        )

    def _run(self, program: str, *args: str, new_session: bool = False) -> None:
        user = _unprivileged_user()
        done = subprocess.run(
            [str(server_binaries() / program), *args],
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=120,
            start_new_session=new_session,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
        )
        if done.returncode != 0:
            log = self.folder / "postgres.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresUnavailable(
                f"{program} {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()} {tail}".strip()
            )


def _unprivileged_user() -> pwd.struct_passwd | None:
    """Who runs initdb and postgres: nobody else (None) unless the tests run as root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SUPERUSER)
    except KeyError:
        raise PostgresUnavailable(
            f"initdb refuses root and there is no {SUPERUSER!r} user to run it: run ./install.sh"
        ) from None


def pytest_configure(config: pytest.Config) -> None:
    """The controller (or a run without xdist) makes the folder; a worker learns where it is."""
    if os.environ.get(POSTGRES_ENV):
        return
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:  # an xdist worker: the controller made the folder
        if _WORKER_KEY in workerinput:
            config.stash[_SERVER] = ThrowawayPostgres(Path(workerinput[_WORKER_KEY]))
        return
    config.stash[_SERVER] = ThrowawayPostgres(Path(tempfile.mkdtemp(prefix="mkp-pg-")))


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist's
def pytest_configure_node(node: Any) -> None:
    """Tell each worker where the session's server lives (its workerinput)."""
    server = node.config.stash.get(_SERVER, None)
    if server is not None:
        node.workerinput[_WORKER_KEY] = str(server.folder)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The controller, the last one out, stops the server and removes its folder."""
    server = config.stash.get(_SERVER, None)
    if server is not None and getattr(config, "workerinput", None) is None:
        server.remove()


@pytest.fixture(scope="session")
def postgres_admin_url(pytestconfig: pytest.Config) -> str:
    """A PostgreSQL superuser's URL: MKP_TEST_POSTGRES_URL's, else the session's throwaway server's."""
    url = os.environ.get(POSTGRES_ENV)
    if url:
        return url
    server = pytestconfig.stash.get(_SERVER, None)
    if server is None:
        pytest.skip(f"{POSTGRES_ENV} is not set and this process has no throwaway server")
    try:
        return server.ensure_running()
    except PostgresUnavailable as e:
        pytest.skip(str(e))
