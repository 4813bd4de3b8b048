"""What every `formwarden` command shares: one-line failures and opening the instance."""
from __future__ import annotations

import sys
from functools import wraps

import click
import peewee
import redis

from formwarden import db
from formwarden.config import ConfigError, load_settings
from formwarden.errors import DomainError


def fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def command(group, *args, **kwargs):
    """A click command whose expected failures become one line on stderr and exit status 1."""
    def wrap(fn):
        @wraps(fn)
        def run(*a, **kw):
            try:
                return fn(*a, **kw)
            except DomainError as exc:
                detail = "; ".join(
                    f"{d.get('file', '')}{d.get('pointer', d.get('field', ''))}: {d.get('reason', d.get('message', ''))}"
                    for d in exc.details[:20])
                fail(f"{exc.message}{': ' + detail if detail else ''}")
            except (ConfigError, OSError, RuntimeError, ValueError) as exc:
                fail(str(exc))
            except (peewee.DatabaseError, redis.RedisError) as exc:
                fail(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}")
        return group.command(*args, **kwargs)(run)
    return wrap


def open_instance(require_instance: bool = True):
    settings = load_settings(require_instance=require_instance)
    db.open_database(settings.database_url)
    from formwarden.plugins import load_plugins

    report = load_plugins(settings.plugin_dirs, settings.plugins_allowed)
    for name, why in report.broken.items():
        click.echo(f"warning: plugin {name} not loaded: {why}", err=True)
    pending = db.pending_migrations()
    if pending:
        raise ConfigError(f"database schema is behind ({len(pending)} pending migration(s)): run `formwarden db upgrade`")
    return settings
