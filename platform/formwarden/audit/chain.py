"""The tamper-evident chain over audit events.

Each event's `hash` is SHA-256 over the previous event's hash and a canonical encoding of the
event (JSON, sorted keys, UTF-8, integers only, time as ISO-8601 UTC with microseconds). Anyone
can recompute the chain. Each event also carries `mac`, an HMAC of its hash under the instance's
audit key, so nobody without the key can forge or re-chain events; and the last verified head
is kept as a signed checkpoint (in the database and under instance/), so a cut-off tail shows.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

FORMAT = "fw-chain-1"
GENESIS = "0" * 64
FIELDS = ("seq", "at", "actor_kind", "actor_id", "actor_name", "action", "form_key", "record_id", "diff",
          "reason", "request_id", "ip", "user_agent")


def canonical_time(value) -> str:
    """The one spelling of an event time: 2026-11-30T04:50:00.123456Z (UTC)."""
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " ":  # SQLite's stored form: the fast path
            return f"{value[:10]}T{value[11:]}Z"
        value = dt.datetime.fromisoformat(value.replace("Z", ""))
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


_STORED_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")


def stored_time_ok(value) -> bool:
    """Whether an event time is stored in the one form the writer uses: SQLite text
    `2026-11-30 04:50:00.123456` (UTC), or a naive UTC timestamp on PostgreSQL. Another spelling
    of the same instant would hash the same yet sort elsewhere in text comparisons (searches,
    alert windows), so verify refuses it."""
    if isinstance(value, str):
        return _STORED_TIME.fullmatch(value) is not None
    return isinstance(value, dt.datetime) and value.tzinfo is None


_SORTED = tuple(sorted(FIELDS + ("format",)))
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def canonical(event: dict) -> bytes:
    """Canonical encoding of the hashed fields of `event`: a JSON object with sorted keys."""
    body = {}
    for name in _SORTED:  # built in sorted order, so no sorting pass is needed
        if name == "at":
            body[name] = canonical_time(event["at"])
        elif name == "format":
            body[name] = FORMAT
        else:
            body[name] = event[name]
    return _encode(body).encode("utf-8")


def event_hash(prev_hash: str, event: dict) -> str:
    h = hashlib.sha256(prev_hash.encode("ascii"))
    h.update(b"\n")
    h.update(canonical(event))
    return h.hexdigest()


def event_mac(key: bytes, event_hash_hex: str) -> str:
    return hmac.new(key, b"event:" + event_hash_hex.encode("ascii"), hashlib.sha256).hexdigest()


def checkpoint_mac(key: bytes, seq: int, head_hash: str) -> str:
    return hmac.new(key, f"checkpoint:{seq}:{head_hash}".encode("ascii"), hashlib.sha256).hexdigest()


@dataclass
class Finding:
    seq: int | None
    problem: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.problem}" if self.seq is not None else self.problem


@dataclass
class Report:
    checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    finding: Finding | None = None

    @property
    def ok(self) -> bool:
        return self.finding is None


def verify_rows(rows, key: bytes | None, checkpoints=(), start: tuple[int, str] = (0, GENESIS)) -> Report:
    """Walk events in seq order (dict rows with FIELDS, prev_hash, hash, mac) and stop at the
    first problem. `checkpoints` are (seq, hash, mac) heads signed earlier. `start` is the
    (seq, hash) the rows follow: a verified head, when only the newer events are walked."""
    report = Report()
    expected = start[0] + 1
    prev = start[1]
    wanted = {}
    for seq, head, mac in checkpoints:
        if key is not None and not hmac.compare_digest(mac, checkpoint_mac(key, seq, head)):
            report.finding = Finding(seq, "a checkpoint's signature is wrong (checkpoint forged or altered)")
            return report
        wanted[seq] = head
    for row in rows:
        seq = row["seq"]
        if seq != expected:
            what = (f"events {expected}..{seq - 1} are missing (deleted)" if seq > expected
                    else f"sequence number {seq} out of order (expected {expected}; reordered or inserted)")
            report.finding = Finding(expected, what)
            return report
        if row["prev_hash"] != prev:
            report.finding = Finding(seq, "does not link to the event before it (an event was inserted, deleted "
                                          "or reordered here)")
            return report
        if not stored_time_ok(row["at"]):  # before hashing: a time in another type (a REAL on SQLite) is a finding
            report.finding = Finding(seq, "its time is not stored in the canonical form (the event was moved in "
                                          "time for searches and alert windows)")
            return report
        computed = event_hash(prev, row)
        if computed != row["hash"]:
            report.finding = Finding(seq, "content does not match its hash (the event was modified)")
            return report
        if key is not None and not hmac.compare_digest(row["mac"] or "", event_mac(key, computed)):
            report.finding = Finding(seq, "signature does not match (the event was forged or re-chained without "
                                          "the audit key)")
            return report
        if seq in wanted and wanted.pop(seq) != computed:
            report.finding = Finding(seq, "differs from the signed checkpoint (history was rewritten)")
            return report
        prev = computed
        expected += 1
        report.checked += 1
    report.head_seq, report.head_hash = expected - 1, prev
    wanted = {s: h for s, h in wanted.items() if s > start[0]}
    if wanted:
        last = max(wanted)
        report.finding = Finding(report.head_seq + 1, f"the chain ends at {report.head_seq} but a signed checkpoint "
                                                       f"records event {last} (the tail was cut off)")
    return report
