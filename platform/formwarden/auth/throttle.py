"""Sign-in throttling, per account (the username as typed, whether or not it exists) and client
IP, and per client IP, with state in Redis so that every web process sees the same counts.

Within a window, the first few failures are free; each further one makes the next attempt
wait (1 s, 2 s, 4 s … up to a cap); at the lock count the account (from that address) or the
address is locked for a while and the count starts over. An account is locked per source: a
stranger's wrong passwords never keep its owner out from another address (an administrator
can unlock it, and every lock raises an alert). Failures from every source together only make
attempts wait, never lock. Only attempts whose password was checked count: a refused attempt
changes nothing, so hammering a locked account neither extends nor logs anything per request.
Keys hold a digest of the username or IP, never the name itself, and expire on their own.

Callers: the sign-in view only. Raises `Unavailable` when Redis cannot be reached, and the
caller must then refuse the sign-in (fail closed).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import redis

from formwarden.config import LoginLimits

PREFIX = "formwarden:login:"


class Unavailable(Exception):
    """Redis cannot be reached, so attempts cannot be counted: refuse the sign-in."""


@dataclass(frozen=True)
class Refusal:
    retry_after: int  # whole seconds until the next attempt may be made
    locked: bool  # a lock (minutes), not just a growing delay


def connect(url: str) -> redis.Redis:
    """A client with short timeouts: a hung Redis must not hang sign-in."""
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:32]


def _key(scope: str, value: str, source: str | None = None) -> str:
    return f"{PREFIX}{scope}:{_digest(value)}:" + (f"{_digest(source)}:" if source is not None else "")


def _subjects(limits: LoginLimits, username: str, ip: str) -> list[tuple[str, str, int, int]]:
    """(scope, key prefix, free failures, failures that lock; 0 = never) for the account from this
    address, the account from anywhere, and the address; an IP lock count of 0 turns the per-IP
    limit off (behind a proxy every client shares one IP)."""
    out = [("account", _key("account", username, ip or "-"), limits.account_free, limits.account_lock),
           ("account_any", _key("any", username), limits.account_any_free, 0)]
    if ip and limits.ip_lock > 0:
        out.append(("ip", _key("ip", ip), limits.ip_free, limits.ip_lock))
    return out


def check(conn: redis.Redis, limits: LoginLimits, username: str, ip: str) -> Refusal | None:
    """A Refusal while the account or the IP must wait or is locked, else None."""
    subjects = _subjects(limits, username, ip)
    try:
        pipe = conn.pipeline(transaction=False)
        for _, key, _, _ in subjects:
            pipe.pttl(key + "lock")
            pipe.pttl(key + "wait")
        ttls = pipe.execute()
    except redis.RedisError as exc:
        raise Unavailable(str(exc)) from exc
    locks, waits = [t for t in ttls[0::2] if t > 0], [t for t in ttls[1::2] if t > 0]
    if not locks and not waits:
        return None
    return Refusal(retry_after=max(1, math.ceil(max(locks + waits) / 1000)), locked=bool(locks))


def record_failure(conn: redis.Redis, limits: LoginLimits, username: str, ip: str) -> list[str]:
    """Count a failed sign-in; set the delay or the lock it earns. Returns the scopes ("account",
    "ip") that this failure locked, each reported once even when processes race."""
    newly_locked = []
    window_ms = limits.window_minutes * 60_000
    try:
        for scope, key, free, lock_at in _subjects(limits, username, ip):
            pipe = conn.pipeline(transaction=True)
            pipe.incr(key + "fails")
            pipe.pttl(key + "fails")
            count, ttl = pipe.execute()
            if ttl < 0:  # a fixed window from the first failure (also heals a key left without one)
                conn.pexpire(key + "fails", window_ms)
            if lock_at and count >= lock_at:
                if conn.set(key + "lock", 1, px=limits.lock_minutes * 60_000, nx=True):
                    newly_locked.append(scope)
                conn.delete(key + "fails", key + "wait")
            elif count > free:
                delay = min(limits.delay_seconds * 2 ** (count - free - 1), limits.delay_max_seconds)
                conn.set(key + "wait", 1, px=int(delay * 1000))
    except redis.RedisError as exc:
        raise Unavailable(str(exc)) from exc
    return newly_locked


def clear_account(conn: redis.Redis, username: str, ip: str) -> None:
    """After a successful sign-in: the account's failures from this address are forgotten (not
    the address's own, or one valid account would reset a guesser's IP count)."""
    key = _key("account", username, ip or "-")
    try:
        conn.delete(key + "fails", key + "wait")
    except redis.RedisError as exc:
        raise Unavailable(str(exc)) from exc


def locked_sources(conn: redis.Redis, username: str) -> int:
    """From how many addresses the account is locked now."""
    try:
        return sum(1 for _ in conn.scan_iter(match=f"{PREFIX}account:{_digest(username)}:*:lock", count=500))
    except redis.RedisError as exc:
        raise Unavailable(str(exc)) from exc


def unlock_account(conn: redis.Redis, username: str) -> int:
    """An administrator's unlock: every lock, wait and count of the account, from every address.
    Returns how many locks were lifted."""
    try:
        keys = [*conn.scan_iter(match=f"{PREFIX}account:{_digest(username)}:*", count=500),
                *conn.scan_iter(match=f"{_key('any', username)}*", count=500)]
        locks = sum(1 for k in keys if k.endswith(b":lock"))
        if keys:
            conn.delete(*keys)
        return locks
    except redis.RedisError as exc:
        raise Unavailable(str(exc)) from exc


def forget_all(conn: redis.Redis) -> int:
    """Drop every counter, delay and lock (tests; an operator after an incident)."""
    keys = list(conn.scan_iter(match=PREFIX + "*", count=500))
    return conn.delete(*keys) if keys else 0
