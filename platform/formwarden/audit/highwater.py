"""High-water marks of the audit chain, kept where a database writer cannot rewrite them
together with the events: in Redis and in the instance folder, each the newest committed head
(seq, hash) under the audit key's HMAC.

Every write transaction that appended events notes the committed head after its commit. A
checkpoint or `audit verify` then compares the chain with every mark: a mark beyond the chain's
head means the newest events were cut off (deleted, or moved into the set-aside table), and a
mark whose event hashes differently means they were rewritten. Only a restore that replaces
the trail moves the marks back (`reset`), signed with the audit key like everything else.
A mark that cannot be written (Redis down) is logged and skipped: it never fails a write.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from formwarden import db
from formwarden.config import instance_path
from formwarden.crypto.keys import MissingKey, load_key

log = logging.getLogger(__name__)
FILE = "audit_highwater.json"
REDIS_KEY = "formwarden:audit:highwater"
_HEAD = "SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1"
# Raise the Redis mark only upwards (several processes note heads concurrently).
_RAISE = """
local old = redis.call('HGET', KEYS[1], 'seq')
if (not old) or tonumber(old) < tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'hash', ARGV[2], 'mac', ARGV[3])
end
return 1
"""

_redis: Callable | None = None  # a factory of the Redis client; None: marks in the instance folder only


@dataclass(frozen=True)
class Mark:
    where: str  # "redis" or "file"
    seq: int
    hash: str
    mac: str


def configure(redis_factory: Callable | None) -> None:
    """Where the processes that serve requests or run jobs also keep a mark (the CLI does not:
    it must not start an embedded Redis that outlives it)."""
    global _redis
    _redis = redis_factory


def mark_mac(key: bytes, seq: int, head: str) -> str:
    return hmac.new(key, f"highwater:{seq}:{head}".encode("ascii"), hashlib.sha256).hexdigest()


def note_committed_head() -> None:
    """After a commit that appended events: raise every mark to the committed head."""
    try:
        row = db.fetchone(_HEAD)
        if row is None:
            return
        seq, head = int(row[0]), str(row[1])
        mac = mark_mac(load_key("audit"), seq, head)
    except MissingKey:
        return
    except Exception:  # noqa: BLE001 - a mark never fails the write it follows
        log.warning("could not read the audit head for its high-water mark", exc_info=True)
        return
    _raise_file(seq, head, mac)
    _raise_redis(seq, head, mac)


def _path() -> Path:
    return instance_path() / FILE


def _read_file() -> Mark | None:
    try:
        data = json.loads(_path().read_text())
        return Mark("file", int(data["seq"]), str(data["hash"]), str(data["mac"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, OSError):
        return Mark("file", 0, "", "unreadable")


def _write_file(seq: int, head: str, mac: str) -> None:
    path = _path()
    tmp = path.with_name(f"{FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps({"seq": seq, "hash": head, "mac": mac}))
    os.replace(tmp, path)


def _still_holds(mark: Mark | None) -> bool:
    """A mark moves up only while the chain still holds the event it names: after a cut (or a
    rewrite) it stays where it was, so the next check reports the gap instead of a newer head
    covering it."""
    if mark is None or mark.seq == 0:
        return True
    row = db.fetchone("SELECT hash FROM audit_event WHERE seq = ?", (mark.seq,))
    return row is not None and row[0] == mark.hash


def _raise_file(seq: int, head: str, mac: str) -> None:
    try:
        current = _read_file()
        if (current is None or current.seq < seq) and _still_holds(current):
            _write_file(seq, head, mac)
    except OSError:
        log.warning("could not write the audit high-water mark in the instance folder", exc_info=True)


def _redis_mark() -> Mark | None:
    data = _redis().hgetall(REDIS_KEY) if _redis is not None else {}
    if not data:
        return None
    value = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v for k, v in data.items()}
    try:
        return Mark("redis", int(value["seq"]), value["hash"], value["mac"])
    except (KeyError, ValueError):
        return Mark("redis", 0, "", "unreadable")


def _raise_redis(seq: int, head: str, mac: str) -> None:
    if _redis is None:
        return
    try:
        if _still_holds(_redis_mark()):
            _redis().eval(_RAISE, 1, REDIS_KEY, seq, head, mac)
    except Exception:  # noqa: BLE001 - Redis down: the file mark still holds
        log.warning("could not write the audit high-water mark to Redis", exc_info=True)


def marks() -> list[Mark]:
    out = []
    found = _read_file()
    if found is not None:
        out.append(found)
    if _redis is not None:
        try:
            mark = _redis_mark()
        except Exception:  # noqa: BLE001
            log.warning("could not read the audit high-water mark from Redis", exc_info=True)
            mark = None
        if mark is not None:
            out.append(mark)
    return out


def reset(seq: int, head: str) -> None:
    """A restore that replaced the trail: the marks move to its head (signed), never otherwise."""
    mac = mark_mac(load_key("audit"), seq, head)
    try:
        _write_file(seq, head, mac)
    except OSError:
        log.warning("could not reset the audit high-water mark in the instance folder", exc_info=True)
    if _redis is not None:
        try:
            _redis().hset(REDIS_KEY, mapping={"seq": seq, "hash": head, "mac": mac})
        except Exception:  # noqa: BLE001
            log.warning("could not reset the audit high-water mark in Redis", exc_info=True)


def problem(key: bytes) -> tuple[int, str] | None:
    """(seq, what) when the chain falls short of a mark (or of what the alert scan and the field
    index have read) or differs from it; None when it holds. The marks are read before the head,
    so an event committed meanwhile never looks like a cut."""
    found = marks()
    cursors = {table: db.fetchone(f"SELECT MAX(last_seq) FROM {table}")[0] or 0  # noqa: S608 - constant names
               for table in ("alert_cursor", "audit_field_cursor")}
    head_seq = db.fetchone("SELECT MAX(seq) FROM audit_event")[0] or 0
    for mark in found:
        if not hmac.compare_digest(mark.mac, mark_mac(key, mark.seq, mark.hash)):
            return mark.seq, f"the high-water mark in {mark.where} is not signed by the audit key (forged or damaged)"
        if mark.seq > head_seq:
            return head_seq + 1, (f"the chain ends at {head_seq} but events up to {mark.seq} were written "
                                  f"(the newest were cut off; mark in {mark.where})")
        if mark.seq:
            row = db.fetchone("SELECT hash FROM audit_event WHERE seq = ?", (mark.seq,))
            if row is None or row[0] != mark.hash:
                return mark.seq, f"differs from the high-water mark in {mark.where} (history was rewritten)"
    for table, ahead in cursors.items():
        if ahead > head_seq:
            return head_seq + 1, (f"the chain ends at {head_seq} but the {table.replace('_', ' ')} had read event "
                                  f"{ahead} (the newest were cut off)")
    return None
