"""Fixtures several test folders share: the databases, the card reader stack, a live server process.

Server tests take ``database_url``, which runs them once on SQLite and once on PostgreSQL: the
server MKP_TEST_POSTGRES_URL names, else a throwaway one the session starts (the
``throwaway_postgres`` plugin, loaded here). Folder-specific fixtures live in each folder's
conftest (tests/card: cards); the app and its operators, which the server's tests and mkp-admin's
share, in tests/server/server_app.py (a plugin, registered below).
Tests that start processes (pcscd, gunicorn, console scripts) are marked ``slow`` (``live_server``
marks its users); the ones that use the machine's one pcscd share an xdist group, so they run in
one worker, one at a time.
"""

from __future__ import annotations

import atexit
import gc
import os
import shutil
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import Iterator
from functools import cache, partial
from pathlib import Path

import pytest
from mkp_testing import (
    SEED,
    SEEDED,
    Platform,
    SchemaPool,
    Seed,
    Slots,
    copy_seed,
    fresh_test_ca,
    migrate,
    platform_process,
    postgres_url,
    seed_value,
    served_in_process,
    server_files,
    server_settings,
    sqlite_database,
)
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.pool import Pool
from werkzeug.routing import Map, Rule

from drivers.card.virtual.ca import TestCA
from drivers.card.virtual.pcscd import PcscDaemon, PcscdUnavailable, card_present, vpcd_slots, wait_for
from drivers.card.virtual.vpcd import reader_name
from mkp_core.client import unmount_transport
from server.app import create_app
from server.config import ServerConfig
from server.db.engine import make_engine, write
from server.platform.operators.service import create_operator

#: The throwaway PostgreSQL (postgres_admin_url: MKP_TEST_POSTGRES_URL's server, else the session's
#: own), the server app's fixtures (tests/server and tests/mkp_admin alike), the browser's, one
#: cache of compiled SQL for all of a process's engines and one of compiled templates for its apps.
pytest_plugins = ("throwaway_postgres", "server_app", "browser", "compiled_sql", "compiled_templates")

# pytest compiles each test module with its assertions rewritten. Where PYTHONDONTWRITEBYTECODE is
# set (these machines set it) it would redo that in every worker on every run, ~4 s a process:
# the compiled modules are kept in __pycache__ (ignored by git), as a plain Python run keeps them.
sys.dont_write_bytecode = False
PCSC_GROUP = "pcsc"

# Every command line speaks its locale's language (mkp_core.i18n): the tests read English, whatever
# locale the machine has, and the ones about Japanese ask for it (the processes tests start inherit this).
os.environ["LANG"] = "C.UTF-8"
for _variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
    os.environ.pop(_variable, None)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that needs pcscd (the ``pcscd`` fixture, or the ``pcsc`` marker) is slow and runs
    in the one pcsc xdist group: there is one pcscd and one vpcd per machine."""
    for item in items:
        if "live_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("pcsc") or "pcscd" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.pcsc)
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.xdist_group(PCSC_GROUP))
    _long_poles_first(items)


def _long_poles_first(items: list[pytest.Item]) -> None:
    """Modules with a slow test (servers, browsers, benches) run first, each module's tests still
    together and in their order: xdist hands out tests in collection order, and a bench collected
    last would otherwise start when the other worker has nothing left to do."""
    slow_modules = {item.nodeid.split("::")[0] for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in slow_modules)


# --- the garbage collector, tuned for a run of thousands of short tests ---------------------------


#: Allocations between young collections (Python's default is 700), and how many of each
#: generation's collections before the next older one is collected (defaults 10 and 10).
GC_THRESHOLDS = (10_000, 20, 10)


def pytest_collection_finish(session: pytest.Session) -> None:
    """A third of a server test's CPU went to the cycle collector: each test makes an app, an
    engine and their objects, and the collector ran every 700 allocations, scanning again and
    again what collection left (every test item, the imported modules). Those are frozen out of
    its sight (``gc.freeze``) and it runs less often: a test's objects still go, mostly in the
    young collections, at the end of the test or soon after. (Each xdist worker collects too.)"""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


# --- one compiled URL builder per route for the whole run -------------------------------------


def _remember_url_builders() -> None:
    """Each test makes its own app (``create_app``), and a third of that time went to werkzeug
    compiling the same hundred URL builders again (Python source made and compiled per route).
    A builder is a plain function of the rule's parts, given the rule as its first argument when
    called, so one compiled per (rule, parts) serves every app of the run. Rules with defaults
    bake converted values in: those compile as before. (A werkzeug without this private method
    is left alone: the tests only run slower.)"""
    compile_builder = getattr(Rule, "_compile_builder", None)
    if compile_builder is None:
        return
    builders: dict[tuple, object] = {}

    def remembered(self: Rule, append_unknown: bool = True):
        if self.defaults:
            return compile_builder(self, append_unknown)
        key = (self.rule, tuple(self._trace), append_unknown)
        if key not in builders:
            builders[key] = compile_builder(self, append_unknown)
        return builders[key]

    Rule._compile_builder = remembered  # type: ignore[method-assign]


_remember_url_builders()


def _remember_parsed_rules() -> None:
    """Parsing the same hundred rule strings again for every test's app was most of what was left
    of ``create_app``'s time (werkzeug's ``Rule._parse_rule``: regular expressions per part). The
    parse of a rule string depends only on it and the map's converters, so each is parsed once per
    run: later rules get the same parts, trace, converters and arguments. (Converters keep the map
    they were made for, but none of werkzeug's reads it.)"""
    parse = getattr(Rule, "_parse_rule", None)
    if parse is None:
        return
    parsed: dict[str, tuple] = {}

    def remembered(self: Rule, rule: str):
        if self.map.converters != Map.default_converters:  # an app's own converters: parse as before
            return parse(self, rule)
        if rule not in parsed:
            trace_from, converters_before, arguments_before = (
                len(self._trace),
                set(self._converters),
                set(self.arguments),
            )
            parts = list(parse(self, rule))
            new_converters = {k: v for k, v in self._converters.items() if k not in converters_before}
            parsed[rule] = (
                parts,
                self._trace[trace_from:],
                new_converters,
                self.arguments - arguments_before,
            )
            return parts
        parts, trace, converters, arguments = parsed[rule]
        self._trace.extend(trace)
        self._converters.update(converters)
        self.arguments.update(arguments)
        return parts

    Rule._parse_rule = remembered  # type: ignore[method-assign]


_remember_parsed_rules()


# --- the card reader stack: one pcscd with vpcd, shared by every test that inserts a card ------


@pytest.fixture
def vpcd_lock() -> Iterator[None]:
    """vpcd has two slots per machine: a test holds them while it inserts cards (other test runs,
    the demo and the benchmark take turns with it)."""
    try:
        with vpcd_slots():
            yield
    except TimeoutError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PcscDaemon]:
    """A running pcscd that has loaded the vpcd driver (started here only if none runs)."""
    try:
        daemon = PcscDaemon.ensure(tmp_path_factory.mktemp("pcscd") / "pcscd.log")
    except PcscdUnavailable as e:
        pytest.skip(str(e))
    yield daemon
    daemon.stop()


@pytest.fixture
def slots(pcscd: PcscDaemon, vpcd_lock: None) -> Iterator[Slots]:
    """vpcd's two slots, empty as pcscd sees them: a card another process left (the demo's, when it
    exits) is gone from pcscd only at its next reader poll."""
    for slot in (0, 1):
        wait_for(lambda s=slot: not card_present(reader_name(s)), 5, f"pcscd to see slot {slot} empty")
    s = Slots()
    yield s
    s.remove()


# --- databases -----------------------------------------------------------------------------------


def _sqlite_without_fsync(dbapi_conn: object, _record: object, _proxy: object) -> None:
    """A test's SQLite database is a copy in its tmp_path, gone after the test: its commits and
    checkpoints need not wait for the disk (``synchronous=OFF``; the server's ``NORMAL`` fsyncs at
    each checkpoint, and each engine's last connection checkpoints as it closes: twice a test, a
    wait of ~1 ms to tens of ms while other processes write to the disk). Only a crash of the
    machine could lose a commit; a killed process loses none, so the crash tests check the same.
    Set at each checkout from any engine's pool in this process, after the server's own settings
    (a pool's ``connect`` listeners for every engine run before an engine's own). Servers the tests
    start as processes keep ``NORMAL``."""
    if isinstance(dbapi_conn, sqlite3.Connection):
        dbapi_conn.execute("PRAGMA synchronous=OFF")


event.listen(Pool, "checkout", _sqlite_without_fsync)


@pytest.fixture(scope="session")
def postgres_database(postgres_admin_url: str) -> Iterator[str]:
    """A throwaway PostgreSQL database for this test process; each test gets a schema in it."""
    admin_url = postgres_url(postgres_admin_url)
    name = f"mkp_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        # A commit need not wait for the WAL to reach the disk: only a crash of PostgreSQL itself
        # could lose one, and this database is thrown away anyway (servers killed by the crash
        # tests lose nothing either way). This setting is the database's, not the machine's.
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    base = postgres_url(admin_url, database=name)
    yield base
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _postgres_schema_url(base: str) -> tuple[str, str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with create_engine(base, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    return schema, postgres_url(base, schema=schema)


@pytest.fixture(scope="session")
def postgres_schemas(postgres_database: str) -> Iterator[SchemaPool]:
    """Migrated schemas, emptied of rows between tests (see :class:`SchemaPool`)."""
    pool = SchemaPool(postgres_database)
    yield pool
    pool.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with the schema `mkp-server init` makes and no rows: a SQLite file, or a
    PostgreSQL schema of this worker's pool (emptied again when the test is done). A test whose
    fixtures start by writing a :class:`Seed`'s rows (its item's ``SEED``) gets them copied in."""
    seed = request.node.stash.get(SEED, None)
    if request.param == "sqlite":
        url = sqlite_database(tmp_path, seed)
        if seed is not None:
            request.node.stash[SEEDED] = (seed, seed_value(seed, "sqlite"))
        yield url
        return
    pool: SchemaPool = request.getfixturevalue("postgres_schemas")
    schema, url = pool.take(seed)
    if seed is not None:
        request.node.stash[SEEDED] = (seed, seed_value(seed, "postgresql"))
    yield url
    pool.give_back(schema)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it, not even the schema (the migrations' own tests)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    base = request.getfixturevalue("postgres_database")
    schema, url = _postgres_schema_url(base)
    yield url
    with create_engine(base, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


# --- the ledger server in this process, and as its own process ----------------------------------


def _write_platform(engine: Engine) -> tuple[str, Path]:
    """A central operator, and what :meth:`Platform.furnish` adds through the API, with a test CA
    of its own: the operator's token, and the CA's folder (its first CRL issued) for copies."""
    url = engine.url.render_as_string(hide_password=False)
    folder = Path(tempfile.mkdtemp(prefix="mkp-seed-platform-"))
    atexit.register(shutil.rmtree, folder, True)
    ca = fresh_test_ca(folder / "jpki-ca")
    with write(engine) as conn:
        token = create_operator(conn, "central")
    app = create_app(ServerConfig(database_url=url, testing=True, **server_settings(folder, ca)))
    try:
        with served_in_process(app) as served:
            Platform(served, token, url, folder, ca, True, lambda: None, app=app).furnish()
    finally:
        app.extensions["mkp.engine"].dispose()
    return token, folder / "jpki-ca"


@cache
def _seed_ca(folder: Path) -> TestCA:
    """The CA that signed a platform seed's CRL, read once per process: reading its RSA key checks
    the key (a twentieth of a second, 7 % of the fast set's CPU when each platform read its copy).
    A copy's files are the same, so each platform's CA is the copy's folder with this key."""
    return TestCA.load(folder)


#: The platform's rows (its operator, 横須賀市, the museum, the CA's first CRL): written once per
#: process and dialect, copied into each platform's database (120 ms of CPU a test before).
PLATFORM = Seed("platform", _write_platform)


@pytest.fixture
def platform(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[Platform]:
    """The server app with 横須賀市, a museum and a current CRL of a test JPKI CA; a central operator.
    The rows are :data:`PLATFORM`'s, copied; the CA is a copy of the one that signed their CRL."""
    engine = make_engine(database_url)
    migrate(engine)  # a folder's own database_url may hand an empty database
    try:
        token, ca_folder = copy_seed(engine, PLATFORM, lambda: request.getfixturevalue("postgres_schemas"))
    finally:
        engine.dispose()
    shutil.copytree(ca_folder, tmp_path / "jpki-ca")
    seed_ca = _seed_ca(ca_folder)
    ca = TestCA(tmp_path / "jpki-ca", seed_ca.certificate, seed_ca.key)
    server_files(tmp_path)  # its keys and terminal CA, copied
    app = create_app(ServerConfig(database_url=database_url, testing=True, **server_settings(tmp_path, ca)))
    try:
        with served_in_process(app) as url:
            stop = partial(unmount_transport, url)  # nothing answers at the URL any more
            yield Platform(url, token, database_url, tmp_path, ca, in_process=True, stop_server=stop, app=app)
    finally:
        app.extensions["mkp.engine"].dispose()


@pytest.fixture
def virtual_reader(pcscd: PcscDaemon, vpcd_lock: None) -> str:
    """The vpcd virtual reader's name, with pcscd running (the shared fixtures start it if needed)."""
    return reader_name(0)


# --- the ledger server as its own process ----------------------------------------------------------


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[Platform]:
    """The server as its own process (gunicorn), furnished with 横須賀市, a museum and a test CA's
    CRL; commands against it run as real processes. For the few tests where a process is the
    point (console scripts end to end, the agent's service loop, races across workers)."""
    with platform_process(database_url, tmp_path) as platform:
        yield platform
