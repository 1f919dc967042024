"""Helpers every test folder shares (on sys.path through setup.cfg's pytest `pythonpath`)."""

from __future__ import annotations

import atexit
import importlib
import multiprocessing
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.serialization import Encoding
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from sqlalchemy import Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.exc import DBAPIError
from werkzeug.test import Client

from drivers.card.virtual.ca import TestCA
from drivers.card.virtual.card import VirtualMyNumberCard
from drivers.card.virtual.cardfile import load_card, save_card
from drivers.card.virtual.pcscd import card_present, wait_for
from drivers.card.virtual.vpcd import VpcdLink, reader_name
from mkp_core import client as mkp_client
from mkp_core.client import ApiClient, BearerToken
from server.db.engine import make_engine, normalize_url
from server.db.migrate import upgrade
from server.files import secret_key
from server.launcher import ServerProcess, answering, free_port, run_command, server_env
from server.terminals.ca import TerminalCA

BIN = Path(sys.executable).parent
READER0 = reader_name(0)
READER1 = reader_name(1)


def cli(
    name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 90, input: str | None = None
) -> subprocess.CompletedProcess:
    """Run one of this virtualenv's console scripts the way a user does; stdout and stderr as text."""
    exe = BIN / name
    return subprocess.run(
        [str(exe) if exe.exists() else name, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        input=input,
    )


#: What a test's own processes import anyway: the forkserver imports it once (below).
PRELOADED = (
    "pytest",
    "server.app",
    "server.cli",
    "gunicorn.app.base",
    "gunicorn.workers.gthread",
    "agent.counter.service",
    "agent.downloads",
    "drivers.card.virtual.direct",
)


def preloaded_processes() -> multiprocessing.context.ForkServerContext:
    """Processes for tests that race or kill real processes, and the servers of
    :func:`platform_process`, each forked from one server process that imported :data:`PRELOADED`
    once. A fresh interpreter a process (``spawn``) spent about a second importing the server or
    the agent before its first line; forking the test worker itself
    would copy its threads and open database connections. The server starts at first use and
    serves the worker's later tests too (its imports and environment are the ones it started with)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOADED))
    return context


def _run_in_child(target: Callable[[list[str]], int], argv: list[str], env: dict[str, str], out: str) -> None:
    os.environ.clear()
    os.environ.update(env)
    with open(f"{out}.out", "w") as stdout, open(f"{out}.err", "w") as stderr:
        os.dup2(stdout.fileno(), 1)
        os.dup2(stderr.fileno(), 2)
    try:
        code = target(argv)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    sys.exit(code)


def run_forked(
    target: Callable[[list[str]], int], argv: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess:
    """``target(argv)`` as a process of its own (see :func:`preloaded_processes`) with ``env`` as its
    environment; what a ``subprocess.run`` with ``capture_output`` and ``text`` would return: a
    process killed by a signal has a negative return code, a traceback is in ``stderr``."""
    with tempfile.TemporaryDirectory(prefix="forked-") as tmp:
        out = os.path.join(tmp, "std")
        process = preloaded_processes().Process(target=_run_in_child, args=(target, argv, env, out))
        process.start()
        process.join(timeout)
        if process.exitcode is None:
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(argv, timeout)
        stdout, stderr = Path(f"{out}.out").read_text(), Path(f"{out}.err").read_text()
    return subprocess.CompletedProcess(argv, process.exitcode, stdout, stderr)


def server_main(argv: list[str]) -> int:
    """`mkp-server ARGV` (for :func:`run_forked`): its exit code, as the console script's."""
    from server.cli import main

    try:
        main.main(argv, prog_name="mkp-server")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    return 0


def _serve_in_child(argv: list[str], env: dict[str, str], log: str) -> None:
    """`mkp-server ARGV` with ``env`` as its environment and its output to ``log``, until it exits."""
    os.environ.clear()
    os.environ.update(env)
    with open(log, "wb") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
    sys.exit(server_main(argv))


class ForkedProcess:
    """A :func:`preloaded_processes` process answering as ``subprocess.Popen`` does for a server
    (``pid``, ``poll``, ``terminate``, ``kill``, ``wait``): exit codes, negative for a signal."""

    def __init__(self, process: multiprocessing.process.BaseProcess) -> None:
        self.process = process

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.exitcode

    def terminate(self) -> None:
        self.process.terminate()

    def kill(self) -> None:
        self.process.kill()

    def wait(self, timeout: float | None = None) -> int:
        self.process.join(timeout)
        if self.process.exitcode is None:
            raise subprocess.TimeoutExpired(["mkp-server", "run"], timeout or 0)
        return self.process.exitcode


def start_preloaded_server(
    database_url: str,
    tmp: Path,
    workers: int = 1,
    threads: int = 4,
    extra_env: dict[str, str] | None = None,
    port: int | None = None,
) -> ServerProcess:
    """``server.launcher.start_server`` (`mkp-server init`, then `mkp-server run`: gunicorn on a
    free port, or ``port``), both forked from :func:`preloaded_processes`: a fresh interpreter
    spent about a second of CPU importing the server for each command, three times a platform."""
    env = server_env(database_url, tmp, extra_env)
    done = run_forked(server_main, ["init"], env)
    if done.returncode != 0:
        raise RuntimeError(f"mkp-server init failed: {done.stderr.strip() or done.stdout.strip()}")
    port = port or free_port()
    log_path = tmp / f"server-{port}.log"
    process = preloaded_processes().Process(
        target=_serve_in_child, args=(run_command(port, workers, threads), env, str(log_path))
    )
    process.start()
    return answering(ServerProcess(f"http://127.0.0.1:{port}", ForkedProcess(process), log_path, env))


def server_command_forked(*args: str, env: dict[str, str]) -> str:
    """An `mkp-server` subcommand forked as :func:`start_preloaded_server`'s: its stdout, or
    RuntimeError with its error line (as ``server.launcher.run_server_command``)."""
    done = run_forked(server_main, list(args), env)
    if done.returncode != 0:
        raise RuntimeError(f"mkp-server {args[0]} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def invoke(command: Any, *args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    """Run a click command in this process as a user would run it: ``result.exit_code``, ``.stdout``, ``.stderr``.

    Exceptions a command lets escape are re-raised, so a traceback is a test failure, not an exit code.
    """
    return CliRunner().invoke(command, list(args), env=env, input=input, catch_exceptions=False)


def run_in_process(
    command: Any, *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess:
    """:func:`invoke`, answered in the shape of :func:`cli` (``returncode``, ``stdout``, ``stderr``)."""
    result = invoke(command, *args, env=env, input=input)
    return subprocess.CompletedProcess(
        [getattr(command, "name", "cli"), *args], result.exit_code, result.stdout, result.stderr
    )


class WsgiTransport(BaseAdapter):
    """A requests transport that hands each request to a WSGI app in this process.

    The app is the real server (``create_app``); only the socket is left out. The request goes
    through werkzeug's test client with its exact target (``RAW_URI``), headers and body bytes, so
    bearer tokens and RFC 9421 signatures are checked as they would be over the network. Like the
    HTTP server it stands in for (gunicorn), it adds the ``Date`` header an origin server must send.
    requests-wsgi-adapter did this once but is unmaintained since 2019; this is its small core.
    """

    def __init__(self, app: Any) -> None:
        super().__init__()
        self.client = Client(app)

    def send(self, request: requests.PreparedRequest, stream: bool = False, **_: Any) -> requests.Response:
        scheme, _, rest = str(request.url).partition("://")
        host, _, _ = rest.partition("/")
        body = request.body or b""
        answer = self.client.open(
            path=request.path_url,
            base_url=f"{scheme}://{host}",
            method=str(request.method),
            headers=list(request.headers.items()),
            data=body.encode() if isinstance(body, str) else body,
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.reason = answer.status.partition(" ")[2]
        response.headers = CaseInsensitiveDict(answer.headers)
        response.headers.setdefault("Date", formatdate(usegmt=True))
        response._content = answer.get_data()
        response._content_consumed = True
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        response.url = str(request.url)
        response.request = request
        response.connection = self
        return response

    def close(self) -> None:
        pass


@contextmanager
def served_in_process(app: Any) -> Iterator[str]:
    """A base URL whose requests, from any session mkp makes, reach ``app`` in this process."""
    url = f"http://mkp-{uuid.uuid4().hex[:8]}.test"
    mkp_client.mount_transport(url, WsgiTransport(app))
    try:
        yield url
    finally:
        mkp_client.unmount_transport(url)


# --- fuzzing -----------------------------------------------------------------------------------


def fuzz_settings(default_examples: int) -> Any:
    """Hypothesis settings for the schemathesis fuzz tests: the same examples on every run, so CI
    repeats itself; MKP_FUZZ_RANDOM=1 (with MKP_FUZZ_EXAMPLES=500) explores new ones."""
    from hypothesis import HealthCheck, settings

    return settings(
        max_examples=int(os.environ.get("MKP_FUZZ_EXAMPLES", str(default_examples))),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=os.environ.get("MKP_FUZZ_RANDOM") != "1",
    )


# --- virtual cards in vpcd's two slots ----------------------------------------------------------


@dataclass
class Slots:
    """Insert virtual cards into vpcd; everything inserted is removed at teardown."""

    links: list[VpcdLink] = field(default_factory=list)

    def insert_card(self, card, *, slot: int = 0, pull_on=None, wait: bool = True) -> VpcdLink:
        link = VpcdLink(card, slot=slot, pull_on=pull_on).insert()
        self.links.append(link)
        if not wait or _seen_within(slot, 2):
            return link
        # Seen in full runs once or twice in 3,000 insertions, in the card tests whose card is in
        # and out within a second (the malformed-PIN ones), never with those tests alone or in a
        # loop of 150 quick insertions: pcscd keeps the slot empty however long one waits (5 s
        # and more; it polls every 0.4 s), and a card inserted again is seen at once. A person
        # takes the card out and puts it back in; so does this helper, once, and says what the
        # sockets looked like if that does not help either.
        self.remove(link)
        link = VpcdLink(card, slot=slot, pull_on=pull_on).insert()
        self.links.append(link)
        if not _seen_within(slot, 8):
            raise TimeoutError(
                f"pcscd did not see the card in slot {slot}, inserted twice:\n{_vpcd_sockets()}"
            )
        return link

    def insert(self, card_file: Path, *, slot: int = 0, pull_on=None) -> VirtualMyNumberCard:
        """Insert a card file, writing PIN tries back to it like `mkp-vcard insert`."""
        card = VirtualMyNumberCard(load_card(card_file), on_change=lambda d: save_card(d, card_file))
        self.insert_card(card, slot=slot, pull_on=pull_on)
        return card

    def remove(self, link: VpcdLink | None = None) -> None:
        for lk in [link] if link else list(self.links):
            lk.remove()
            self.links.remove(lk)
            slot = 0 if lk.port == 35963 else 1
            wait_for(lambda s=slot: not card_present(reader_name(s)), 5, "pcscd to see the card removed")
            if lk.pulled:
                # A card pulled mid-command is marked absent by the failed command, before pcscd's
                # reader poll (every 0.4 s) has seen the slot empty; a new card inserted within
                # that window would look to pcscd like the old one never left.
                time.sleep(0.6)


def _seen_within(slot: int, seconds: float) -> bool:
    """Whether pcscd shows a card in ``slot`` within ``seconds``."""
    try:
        wait_for(lambda: card_present(reader_name(slot)), seconds, f"pcscd to see the card in slot {slot}")
    except TimeoutError:
        return False
    return True


def _vpcd_sockets() -> str:
    """The TCP connections on vpcd's ports, with their owners (for a failure message)."""
    ports = " or ".join(f"sport = :{p} or dport = :{p}" for p in (35963, 35964))
    try:
        return subprocess.run(["ss", "-tanp", f"( {ports} )"], capture_output=True, text=True).stdout
    except OSError as e:  # no iproute2
        return f"(ss: {e})"


# --- a platform to enroll terminals on: the server, 横須賀市, a museum, a test JPKI CA and its CRL ----

PLACE = "yokosuka-museum"

#: The console scripts tests run, by name: in-process through click, or as real processes.
COMMANDS = {
    "mkp-admin": ("mkp_admin.cli", "main"),
    "mkp-provision": ("provisioning.cli", "main"),
    "mkp-agent": ("agent.cli", "main"),
    "mkp-server": ("server.cli", "main"),
}


@dataclass
class Platform:
    """A ledger server with 横須賀市, a museum and a current CRL of a test JPKI CA, and the commands
    people run against it. In-process (the app behind :class:`WsgiTransport`, commands through
    click) unless ``stop_server`` belongs to a real process: then commands are real processes too."""

    url: str
    token: str
    database_url: str
    tmp: Path
    ca: TestCA
    in_process: bool
    stop_server: Callable[[], None]
    log_path: Path | None = None  # the server's log, when it is a process
    server_process: Any = None  # the ServerProcess, when it is one (see :meth:`kill_server`)
    restart_server: Callable[[], None] | None = None
    app: Any = None  # the server's app, when it is in this process (a browser serves it on a port)

    @property
    def api(self) -> ApiClient:
        return ApiClient(self.url, BearerToken(self.token))

    @property
    def admin_env(self) -> dict[str, str]:
        return {
            "MKP_SERVER": self.url,
            "MKP_TOKEN": self.token,
            "MKP_ADMIN_CONFIG": str(self.tmp / "none.toml"),
        }

    def stop(self) -> None:
        """The server goes away (unplugged network, stopped process): nothing answers at ``url``."""
        self.stop_server()

    def kill_server(self) -> None:
        """SIGKILL to the server's master and workers, as a power cut would: no request finishes."""
        process = self.server_process.process
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        for pid in [process.pid, *map(int, children)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait()

    def new_code(self, name: str = "counter 1", **extra: object) -> dict:
        return self.api.post("/v1/terminals/enrollments", {"place": PLACE, "name": name, **extra})

    def run(
        self, script: str, *args: str, env: dict[str, str] | None = None, input: str | None = None
    ) -> subprocess.CompletedProcess:
        """A console script with ``args`` (``input`` on its stdin): in this process or as its own,
        like the server."""
        if not self.in_process:
            return cli(script, *args, env=env, input=input)
        module, name = COMMANDS[script]
        return run_in_process(getattr(importlib.import_module(module), name), *args, env=env, input=input)

    def admin(self, *args: str) -> subprocess.CompletedProcess:
        return self.run("mkp-admin", *args, env=self.admin_env)

    def provision(
        self, home: Path, *args: str, code: str | None = None, server: str | None = None, printer: bool = True
    ) -> subprocess.CompletedProcess:
        """mkp-provision against this server with a file printer; extra ``args`` go last."""
        argv = ["--home", str(home), "--server", server or self.url]
        if code:
            argv += ["--code", code]
        if printer:
            argv += ["--printer", "epson-tm-t88vi", "--printer-at", f"file:{home.parent / 'receipt.bin'}"]
        return self.run("mkp-provision", *argv, *args)

    def agent(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        return self.run("mkp-agent", *args, input=input)

    def upload_crl(self) -> dict:
        """Sign a CRL of what the test CA revoked so far and upload it, as the operator does daily."""
        return self.api.post("/v1/crls", {"crl": self.ca.issue_crl().public_bytes(Encoding.PEM).decode()})

    def furnish(self) -> Platform:
        """横須賀市, its museum and the CA's first CRL."""
        self.api.post("/v1/municipalities", {"code": "142018"})
        self.api.post(
            "/v1/places",
            {"place_id": PLACE, "name": "横須賀美術館", "kind": "museum", "municipality": "142018"},
        )
        self.upload_crl()
        return self


def server_settings(tmp: Path, ca: TestCA) -> dict[str, str]:
    """What a test server is configured with (as ServerConfig fields): the test CA as JPKI anchor."""
    return {
        "jpki_anchor_files": str(ca.cert_path),
        "terminal_ca_dir": str(tmp / "terminal-ca"),
        "secrets_dir": str(tmp / "secrets"),
    }


@contextmanager
def platform_process(
    database_url: str, tmp: Path, *, workers: int = 1, settings: dict[str, str] | None = None
) -> Iterator[Platform]:
    """`mkp-server init` and `mkp-server run` (gunicorn, ``workers``) on a free port, furnished as
    every test platform is; commands against it run as processes. ``settings``: more ServerConfig fields."""
    ca = fresh_test_ca(tmp / "jpki-ca")
    env = {f"MKP_{k.upper()}": v for k, v in {**server_settings(tmp, ca), **(settings or {})}.items()}
    server = start_preloaded_server(database_url, tmp, workers=workers, threads=4, extra_env=env)
    try:
        token = server_command_forked("create-operator", "central", env=server.env)
        platform = Platform(
            server.url, token, database_url, tmp, ca, False, server.stop, log_path=server.log_path
        )
        port = int(server.url.rsplit(":", 1)[1])

        def restart() -> None:
            """The server back at its address, on the same database (after a stop or a kill)."""
            nonlocal server
            server = start_preloaded_server(
                database_url, tmp, workers=workers, threads=4, extra_env=env, port=port
            )
            platform.server_process = server
            platform.stop_server = server.stop

        platform.server_process, platform.restart_server = server, restart
        yield platform.furnish()
    finally:
        server.stop()


# --- databases -----------------------------------------------------------------------------------

_SCHEMA_STATEMENTS: dict[str, list[tuple[str, Any]]] = {}
_NOT_SCHEMA = ("SELECT", "PRAGMA", "SHOW", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
# ... but these change the schema (migration 0013 retypes a SQLite column in the schema's text).
_SCHEMA_PRAGMAS = ("PRAGMA WRITABLE_SCHEMA", "PRAGMA SCHEMA_VERSION =")


def migrate(engine: Engine) -> None:
    """Give a fresh test database the schema `mkp-server init` makes.

    Alembic runs for the first database of each dialect in a test process, and the statements it
    sent are kept; later databases get the same statements replayed, a tenth of the time (a
    hundred and more databases are made per run). tests/server/test_migrations.py runs alembic
    itself and checks the result against the tables in code.
    """
    url = engine.url.render_as_string(hide_password=False)
    if url in _MIGRATED or inspect(engine).has_table("alembic_version"):
        return  # migrated already (the fixtures' databases are: see sqlite_database, SchemaPool)
    dialect = engine.dialect.name
    if dialect in _SCHEMA_STATEMENTS:
        statements = _SCHEMA_STATEMENTS[dialect]
        with engine.begin() as conn:
            if dialect == "postgresql" and not any(parameters for _, parameters in statements):
                # one round trip: psycopg sends a script without parameters as one simple query
                conn.connection.cursor().execute(";\n".join(statement for statement, _ in statements))
                return
            for statement, parameters in statements:
                conn.exec_driver_sql(statement, parameters)
        return
    sent: list[tuple[str, Any]] = []

    def record(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        upper = statement.lstrip().upper()
        if not upper.startswith(_NOT_SCHEMA) or upper.startswith(_SCHEMA_PRAGMAS):
            sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        upgrade(engine)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    _SCHEMA_STATEMENTS[dialect] = sent


#: The URLs of the databases this process handed out migrated (sqlite_database's, SchemaPool's):
#: migrate() does not ask them for their tables (a connection and a query a fixture, and a
#: third of the engine fixture's time, on databases the fixtures know the answer for).
_MIGRATED: set[str] = set()
_SQLITE_TEMPLATE: list[Path] = []
_CA_TEMPLATE: list[Path] = []
_SERVER_FILES: list[Path] = []


@dataclass(frozen=True, eq=False)
class Seed:
    """Rows a kind of test starts with (the server's operators, the points town), written once
    per test process and dialect into a database of their own and copied into each such test's
    database: ``write`` puts them into a fresh migrated database and returns what the test is
    handed (the operators' tokens). The rows are copied as they are, ids and sequences included,
    so a test sees what ``write`` would have left it; only the tokens and timestamps are shared."""

    name: str
    write: Callable[[Engine], Any]


#: The seed of a test item's database (set at collection by the plugin that owns the seed), and
#: what its ``write`` returned (set by the database fixture that copied the rows in).
SEED = pytest.StashKey[Seed]()
SEEDED = pytest.StashKey[tuple[Seed, Any]]()
#: (dialect, seed name): what the seed's ``write`` returned when its rows were written.
_SEED_VALUES: dict[tuple[str, str], Any] = {}
_SQLITE_SEEDED: dict[str, Path] = {}


def fresh_test_ca(directory: Path) -> TestCA:
    """A JPKI-shaped test CA of its own in ``directory`` (nothing revoked, no CRL issued yet): a
    copy of one this process made, as an RSA-2048 key takes a twentieth of a second to make and
    a platform is made for each test. Tests that need another key (a foreign CA) call TestCA.init."""
    if not _CA_TEMPLATE:
        template = Path(tempfile.mkdtemp(prefix="mkp-ca-")) / "ca"
        atexit.register(shutil.rmtree, template.parent, True)
        TestCA.init(template)
        _CA_TEMPLATE.append(template)
    shutil.copytree(_CA_TEMPLATE[0], directory)
    return TestCA.load(directory)


def server_files(directory: Path) -> None:
    """The files a test app makes on first use, put in ``directory`` (``secrets/``: its web
    signing and card-challenge keys; ``terminal-ca/``: its terminal CA): copies of one set this
    process made. Each is written with an fsync (the CA after making its key pair): a few
    milliseconds a test, made again for every test's app. A name the server no longer uses is
    only copied; a file it needs and this set lacks it makes itself, as before."""
    if not _SERVER_FILES:
        template = Path(tempfile.mkdtemp(prefix="mkp-server-files-"))
        atexit.register(shutil.rmtree, template, True)
        for key in ("web.key", "challenge.key"):
            secret_key(template / "secrets" / key)
        TerminalCA.open(template / "terminal-ca")
        _SERVER_FILES.append(template)
    for folder in ("secrets", "terminal-ca"):
        shutil.copytree(_SERVER_FILES[0] / folder, directory / folder)


def sqlite_database(directory: Path, seed: Seed | None = None) -> str:
    """A SQLite database in ``directory`` with the schema and no rows (or ``seed``'s): a copy of one
    this process migrated (and seeded) once (a file copy takes a millisecond; migrating takes a
    tenth of a second, the points town's rows a thirtieth)."""
    if not _SQLITE_TEMPLATE:
        template = Path(tempfile.mkdtemp(prefix="mkp-template-")) / "template.sqlite3"
        atexit.register(shutil.rmtree, template.parent, True)
        engine = make_engine(f"sqlite:///{template}")
        migrate(engine)
        engine.dispose()  # the last connection checkpoints the WAL into the file
        _SQLITE_TEMPLATE.append(template)
    template = _SQLITE_TEMPLATE[0] if seed is None else _sqlite_seeded(seed)
    path = directory / "mkp.sqlite3"
    shutil.copyfile(template, path)
    path.chmod(0o600)
    url = f"sqlite:///{path}"
    _MIGRATED.add(url)
    return url


def _sqlite_seeded(seed: Seed) -> Path:
    if seed.name not in _SQLITE_SEEDED:
        folder = Path(tempfile.mkdtemp(prefix=f"mkp-seed-{seed.name}-"))
        atexit.register(shutil.rmtree, folder, True)
        url = sqlite_database(folder)
        engine = make_engine(url)
        _SEED_VALUES["sqlite", seed.name] = seed.write(engine)
        engine.dispose()  # the WAL checkpointed into the file, as for the empty template
        _SQLITE_SEEDED[seed.name] = folder / "mkp.sqlite3"
    return _SQLITE_SEEDED[seed.name]


def copy_seed(engine: Engine, seed: Seed, pool: Callable[[], SchemaPool]) -> Any:
    """Copy ``seed``'s rows into the database of ``engine``, migrated and empty (a SQLite file of
    any fixture's, or a schema in the database of ``pool``, the test process's PostgreSQL
    schemas), and return what the seed's ``write`` returned. For fixtures whose database may come
    from a folder's own ``database_url`` (the copy costs a few milliseconds more than the file
    copy :func:`sqlite_database` makes)."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        template = _sqlite_seeded(seed)
        with closing(sqlite3.connect(str(engine.url.database), isolation_level=None)) as db:
            db.execute("ATTACH DATABASE ? AS seed", (str(template),))
            tables = db.execute(
                "SELECT name FROM seed.sqlite_master WHERE type = 'table'"
                " AND name <> 'alembic_version' AND (name NOT LIKE 'sqlite%' OR name = 'sqlite_sequence')"
            ).fetchall()
            db.execute("BEGIN IMMEDIATE")  # foreign keys are off in a connection of sqlite3's own
            for (table,) in tables:
                db.execute(f'INSERT INTO main."{table}" SELECT * FROM seed."{table}"')
            db.execute("COMMIT")
            db.execute("DETACH DATABASE seed")
    else:
        restore = pool()._restore(seed)
        with engine.begin() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
            conn.connection.cursor().execute(restore.replace("{schema}", schema))
    return seed_value(seed, dialect)


def seed_value(seed: Seed, dialect: str) -> Any:
    """What ``seed``'s ``write`` returned for the databases of ``dialect`` this process copies."""
    return _SEED_VALUES[dialect, seed.name]


def postgres_url(url: str, database: str | None = None, schema: str | None = None) -> str:
    """``url`` for psycopg 3, in ``database`` and with ``schema`` first on its search path. A URL
    may name its server in its query (a unix socket's folder: ``?host=/tmp/...``), so parts are
    set on the parsed URL, never by pasting strings."""
    parsed = make_url(normalize_url(url))
    if database is not None:
        parsed = parsed.set(database=database)
    if schema is not None:
        parsed = parsed.update_query_dict({"options": f"-csearch_path={schema}"})
    return parsed.render_as_string(hide_password=False)


#: Restart the sequences of schema ``{schema}`` that have handed out a value (their
#: ``last_value`` is no longer null), in the server. ``ALTER SEQUENCE ... RESTART`` gives the
#: sequence a new file: on every one of the schema's sequences it was two thirds of PostgreSQL's
#: work to empty a schema, while a test uses a few of them.
_RESTART_USED_SEQUENCES = """DO $$
DECLARE used text;
BEGIN
    FOR used IN SELECT sequencename FROM pg_sequences
                WHERE schemaname = '{schema}' AND last_value IS NOT NULL LOOP
        EXECUTE format('ALTER SEQUENCE %I.%I RESTART', '{schema}', used);
    END LOOP;
END $$"""


class SchemaPool:
    """Migrated PostgreSQL schemas for one test process, handed out one test at a time.

    Making a schema (its DDL) and dropping it cost half a second a test; emptying one costs a few
    milliseconds: every table's rows deleted, with triggers off (``session_replication_role =
    replica``: the append-only triggers, and the foreign keys, whose order would otherwise
    matter), and the sequences the test used restarted, in one round trip. A schema that cannot
    be emptied in time (a test left a transaction open on it) is not reused; the session's
    database goes at the end.
    """

    def __init__(self, base: str) -> None:
        self.base = base
        self.admin = create_engine(base, isolation_level="AUTOCOMMIT")
        self.free: list[str] = []
        self._empty_sql: str | None = None
        self._restores: dict[str, str] = {}

    def take(self, seed: Seed | None = None) -> tuple[str, str]:
        """A schema with no rows (or ``seed``'s), and the URL whose connections use it."""
        schema = self.free.pop() if self.free else self._new_schema()
        if seed is not None:
            restore = self._restore(seed)
            with self.admin.connect() as conn:
                conn.connection.cursor().execute(restore.replace("{schema}", schema))
        return schema, self._migrated(schema)

    def url(self, schema: str) -> str:
        return postgres_url(self.base, schema=schema)

    def _migrated(self, schema: str) -> str:
        url = self.url(schema)
        _MIGRATED.add(normalize_url(url))
        return url

    def give_back(self, schema: str) -> None:
        """Empty ``schema`` for the next test (or leave it, if a test still holds its rows)."""
        try:
            with self.admin.connect() as conn:
                conn.connection.cursor().execute(self._empty(schema))
        except DBAPIError:
            return
        self.free.append(schema)

    def close(self) -> None:
        self.admin.dispose()

    def _restore(self, seed: Seed) -> str:
        """The script that copies ``seed``'s rows into a schema (``{schema}``) of this pool: the rows
        are written once into a schema kept for it, and copied from there in one round trip with
        triggers off (as :meth:`_empty` deletes them), sequences set to where they ended."""
        if seed.name not in self._restores:
            snapshot = self._new_schema()
            engine = make_engine(self.url(snapshot))
            _SEED_VALUES["postgresql", seed.name] = seed.write(engine)
            engine.dispose()
            with self.admin.connect() as conn:
                tables = conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename <> 'alembic_version'"
                    ),
                    {"s": snapshot},
                ).scalars()
                copies = [
                    f'INSERT INTO "{{schema}}"."{t}" OVERRIDING SYSTEM VALUE SELECT * FROM "{snapshot}"."{t}"'
                    for t in tables
                    if conn.execute(text(f'SELECT EXISTS (SELECT FROM "{snapshot}"."{t}")')).scalar()
                ]
                sequences = conn.execute(
                    text(
                        "SELECT sequencename, last_value FROM pg_sequences"
                        " WHERE schemaname = :s AND last_value IS NOT NULL"
                    ),
                    {"s": snapshot},
                ).all()
                setvals = [f'SELECT setval(\'"{{schema}}"."{q}"\', {int(v)})' for q, v in sequences]
            self._restores[seed.name] = ";\n".join(
                [
                    "SET session_replication_role = replica",
                    *copies,
                    *setvals,
                    "RESET session_replication_role",
                ]
            )
        return self._restores[seed.name]

    def _new_schema(self) -> str:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = make_engine(self.url(schema))
        migrate(engine)
        engine.dispose()
        return schema

    def _empty(self, schema: str) -> str:
        if self._empty_sql is None:
            with self.admin.connect() as conn:
                tables = conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename <> 'alembic_version'"
                    ),
                    {"s": schema},
                ).scalars()
                deletes = [f'DELETE FROM "{{schema}}"."{t}"' for t in tables]
            self._empty_sql = ";\n".join(
                [
                    "SET lock_timeout = '2s'",
                    "SET session_replication_role = replica",
                    *deletes,
                    _RESTART_USED_SEQUENCES,
                    "RESET session_replication_role",
                    "RESET lock_timeout",
                ]
            )
        return self._empty_sql.replace("{schema}", schema)


def tables_snapshot(engine: Engine) -> dict[str, list]:
    """Every row of every table, in a stable order: what 'nothing changed' is compared by."""
    from server.db.engine import read

    names = sorted(inspect(engine).get_table_names())
    out: dict[str, list] = {}
    with read(engine) as conn:
        for name in names:
            rows = conn.execute(text(f'SELECT * FROM "{name}"')).all()
            out[name] = sorted(tuple(str(v) for v in r) for r in rows)
    return out
