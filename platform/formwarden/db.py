"""Database handle, connection settings and migrations.

One process-wide `database` proxy; connections stay open per thread (closing a SQLite
connection after each request forces a WAL checkpoint every time, several times slower).
"""
from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import peewee
from playhouse.db_url import connect as connect_url
from playhouse.migrations import Runner

log = logging.getLogger(__name__)

class _DatabaseProxy(peewee.DatabaseProxy):
    """The process-wide database handle; one thread may point it at a second database for a
    while (`using`), e.g. to restore an archive into a staging database and verify it, without
    touching what every other thread uses."""

    _override = threading.local()
    _overrides = 0  # threads pointed elsewhere right now: 0 on the hot path, one attribute read

    @property
    def obj(self):
        if _DatabaseProxy._overrides:
            other = getattr(self._override, "db", None)
            if other is not None:
                return other
        return self.__dict__.get("_default")

    @obj.setter
    def obj(self, value):
        self.__dict__["_default"] = value


database = _DatabaseProxy()
_thread_lock_counts = threading.Lock()
MIGRATIONS_DIR = Path(__file__).with_name("migrations")

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "normal",
    "foreign_keys": 1,
    "busy_timeout": 10000,
    "cache_size": -32000,
}


def make_database(url: str) -> peewee.Database:
    """Create (not connect) the database for `url`, without binding anything to it."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        _owner_only(path)
        return peewee.SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, timeout=10)
    if url.startswith(("postgresql://", "postgres://")):
        return connect_url(url)
    raise ValueError(f"unsupported DATABASE_URL scheme: {url.split(':', 1)[0]}")


def open_database(url: str) -> peewee.Database:
    """Create (not connect) the database for `url` and bind the proxy to it."""
    db = make_database(url)
    database.initialize(db)
    return db


@contextmanager
def using(url: str):
    """Point this thread's handle at a second database for the block (models, hand-written
    statements, transactions and per-database caches follow); other threads keep theirs."""
    other = make_database(url)
    previous = getattr(_DatabaseProxy._override, "db", None)
    _DatabaseProxy._override.db = other
    with _thread_lock_counts:
        _DatabaseProxy._overrides += 1
    try:
        other.connect(reuse_if_open=True)
        yield other
    finally:
        _DatabaseProxy._override.db = previous
        with _thread_lock_counts:
            _DatabaseProxy._overrides -= 1
        if not other.is_closed():
            other.close()


def _owner_only(path: str) -> None:
    """The database file (and SQLite's WAL and shared-memory files, which take its mode) is
    readable by the owner only: it holds customer data."""
    if path == ":memory:" or not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        return
    if not os.path.exists(path):
        # Never open and close an existing database file here: closing any descriptor of it
        # drops every POSIX lock this process holds on it, SQLite's included.
        try:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass  # another process made it meanwhile
    for suffix in ("", "-wal", "-shm"):
        try:
            os.chmod(path + suffix, 0o600)
        except FileNotFoundError:
            pass


def is_postgres() -> bool:
    return isinstance(database.obj, peewee.PostgresqlDatabase)


PG_CHAIN_LOCK = 0x46570001  # advisory lock serialising audited writes (and chain appends) on PostgreSQL
_IDLE_CHECK = 5.0  # seconds a PostgreSQL connection may sit idle before it is checked again


def ensure_connection() -> None:
    """Open this thread's connection, replacing one that has died while idle (PostgreSQL after a
    restart or failover, SQLite on a failed disk) instead of failing every request on it."""
    if not database.is_closed():
        now = time.monotonic()
        if now - getattr(_local, "used", now) > _IDLE_CHECK:
            try:
                database.execute_sql("SELECT 1")
            except (peewee.OperationalError, peewee.InterfaceError):
                drop_connection()
        _local.used = now
    database.connect(reuse_if_open=True)


def drop_connection() -> None:
    """Forget this thread's connection (broken or not) so the next use opens a new one."""
    try:
        database.close()
    except Exception:  # noqa: BLE001 - the connection is being thrown away either way
        log.info("closing a broken database connection failed", exc_info=True)
        database.obj._state.reset()


def upgrade() -> list[str]:
    """Apply pending migrations in order; returns the names applied."""
    ensure_connection()
    runner = Runner(database.obj, directory=str(MIGRATIONS_DIR))
    applied = runner.up()
    for name in applied:
        log.info("applied migration %s", name)
    return applied


def pending_migrations() -> list[str]:
    runner = Runner(database.obj, directory=str(MIGRATIONS_DIR))
    return [m.name for m in runner.status() if not m.applied]


def applied_migrations() -> list[str]:
    runner = Runner(database.obj, directory=str(MIGRATIONS_DIR))
    return [m.name for m in runner.status() if m.applied]


_local = threading.local()
_thread_lock = threading.Lock()


@contextmanager
def _sqlite_writer_lock(db: peewee.SqliteDatabase):
    """Queue SQLite writers on a lock file instead of SQLite's busy handler.

    A writer that finds the database locked sleeps in SQLite's busy handler for 1, 2, 5, 10 …
    ms before it retries, so under concurrency most time is spent asleep. A blocking flock
    wakes the next writer as soon as the lock is free. Threads of one process queue on a
    thread lock first (flock does not exclude threads sharing a descriptor).
    """
    depth = getattr(_local, "depth", 0)
    if depth:
        _local.depth = depth + 1
        try:
            yield
        finally:
            _local.depth -= 1
        return
    with _thread_lock:
        fd = _lock_fd(db.database + ".writelock")
        fcntl.flock(fd, fcntl.LOCK_EX)
        _local.depth = 1
        try:
            yield
        finally:
            _local.depth = 0
            fcntl.flock(fd, fcntl.LOCK_UN)


_lock_fds: dict[tuple[int, str], int] = {}


def _lock_fd(path: str) -> int:
    """One descriptor per process and lock file (a forked child opens its own)."""
    key = (os.getpid(), path)
    fd = _lock_fds.get(key)
    if fd is None:
        fd = _lock_fds[key] = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    return fd


_after_event_commit: list = []  # callbacks run after a write transaction that appended events commits


def after_event_commit(callback) -> None:
    """Register `callback()` to run after each outermost write transaction that appended events
    (the audit module's high-water marks: kept outside the database, so only committed heads)."""
    if callback not in _after_event_commit:
        _after_event_commit.append(callback)


def events_appended() -> None:
    """The audit writer says: this transaction appended events."""
    _local.events_appended = True


@contextmanager
def write_transaction():
    """A transaction for changes that append audit events (see _write_transaction); when the
    outermost one commits after appending events, the after_event_commit callbacks run."""
    depth = getattr(_local, "write_depth", 0)
    _local.write_depth = depth + 1
    if depth == 0:
        _local.events_appended = False
    try:
        with _write_transaction():
            yield
    finally:
        _local.write_depth = depth
    if depth == 0 and _local.events_appended:
        _local.events_appended = False
        for callback in _after_event_commit:
            callback()


@contextmanager
def _write_transaction():
    """SQLite: writers queue on a lock file, then BEGIN IMMEDIATE takes the write lock up front,
    so two writers never both read the chain head and then collide. PostgreSQL: the audit
    module takes an advisory lock inside the transaction.
    """
    db = database.obj
    if isinstance(db, peewee.SqliteDatabase) and db.database != ":memory:":
        with _sqlite_writer_lock(db), db.atomic("IMMEDIATE"):
            yield
    else:
        with db.atomic():
            if isinstance(db, peewee.PostgresqlDatabase) and not getattr(_local, "pg_locked", False):
                # The chain lock first, before any row lock: a bulk change and a single update then
                # queue on one lock instead of each holding a row the other waits for (deadlock).
                db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (PG_CHAIN_LOCK,))
                _local.pg_locked = True
                try:
                    yield
                finally:
                    _local.pg_locked = False
            else:
                yield


# --- hand-written statements for the hot path -------------------------------------------
# Building SQL through peewee's query objects costs ~0.3 ms per query in Python, more than
# running it. The few statements on every request are written out once here, with bound
# parameters only (never values in the text), and adapted to the database's dialect.

_dialect_cache: dict[tuple[int, str], str] = {}


def _dialect(sql: str) -> str:
    db = database.obj
    key = (id(db), sql)
    text = _dialect_cache.get(key)
    if text is None:
        text = sql
        if isinstance(db, peewee.PostgresqlDatabase):
            text = text.replace("json(?)", "CAST(? AS jsonb)").replace("?", "%s")
        _dialect_cache[key] = text
    return text


def execute(sql: str, params=()):
    """Run a constant statement with bound parameters; returns the cursor."""
    return database.execute_sql(_dialect(sql), params)


def executemany(sql: str, rows) -> None:
    """Run a constant statement once per row of bound parameters."""
    database.cursor().executemany(_dialect(sql), rows)


def fetchone(sql: str, params=()):
    return execute(sql, params).fetchone()


def fetchall(sql: str, params=()):
    return execute(sql, params).fetchall()


def db_datetime(value):
    """A datetime as peewee stores it in SQLite (text) or as is for PostgreSQL."""
    if value is None or is_postgres():
        return value
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


_UNIX_EPOCH_JULIAN = 2440587.5


def py_datetime(value):
    """A stored time as a naive UTC datetime. SQLite holds whatever was written: text in any
    spelling, or a number (a julian day): each read as the instant it names, so a damaged row
    reads as data (audit verify reports it) instead of crashing every page that shows it."""
    if value is None or isinstance(value, dt.datetime):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return dt.datetime(1970, 1, 1) + dt.timedelta(days=float(value) - _UNIX_EPOCH_JULIAN)
        except (OverflowError, ValueError):
            return dt.datetime(1970, 1, 1)
    if isinstance(value, str):
        parsed = peewee.format_date_time(value, peewee.DateTimeField.formats)
        if isinstance(parsed, dt.datetime):
            return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed  # naive UTC, always
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "")).replace(tzinfo=None)
        except ValueError:
            return dt.datetime(1970, 1, 1)
    return value
