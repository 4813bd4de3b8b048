"""Database handle, connection settings and migrations.

One process-wide `database` proxy; connections stay open per thread (closing a SQLite
connection after each request forces a WAL checkpoint every time, several times slower).
"""
from __future__ import annotations

import logging
from pathlib import Path

import peewee
from playhouse.db_url import connect as connect_url
from playhouse.migrations import Runner

log = logging.getLogger(__name__)

database = peewee.DatabaseProxy()
MIGRATIONS_DIR = Path(__file__).with_name("migrations")

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "normal",
    "foreign_keys": 1,
    "busy_timeout": 10000,
    "cache_size": -32000,
}


def open_database(url: str) -> peewee.Database:
    """Create (not connect) the database for `url` and bind the proxy to it."""
    if url.startswith("sqlite:///"):
        db = peewee.SqliteDatabase(url[len("sqlite:///"):], pragmas=SQLITE_PRAGMAS, timeout=10)
    elif url.startswith(("postgresql://", "postgres://")):
        db = connect_url(url)
    else:
        raise ValueError(f"unsupported DATABASE_URL scheme: {url.split(':', 1)[0]}")
    database.initialize(db)
    return db


def is_postgres() -> bool:
    return isinstance(database.obj, peewee.PostgresqlDatabase)


def ensure_connection() -> None:
    database.connect(reuse_if_open=True)


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


def write_transaction():
    """A transaction for changes that append audit events.

    SQLite: BEGIN IMMEDIATE takes the write lock up front, so two writers never both read
    the chain head and then collide. PostgreSQL: the audit module takes an advisory lock.
    """
    db = database.obj
    if isinstance(db, peewee.SqliteDatabase):
        return db.atomic("IMMEDIATE")
    return db.atomic()
