"""`audit verify`: walk the whole chain, check every hash and signature against the signed
checkpoints, and on success sign the new head as the next checkpoint."""
from __future__ import annotations

import hmac
import json
import logging
import os
from pathlib import Path

from formwarden import db
from formwarden.audit import chain, field_index, highwater
from formwarden.config import instance_path
from formwarden.crypto.keys import load_key
from formwarden.models import AuditCheckpoint, Setting, utcnow

log = logging.getLogger(__name__)
_COLUMNS = chain.FIELDS + ("prev_hash", "hash", "mac")
_PAGE = f"SELECT {', '.join(_COLUMNS)} FROM audit_event WHERE seq > ? ORDER BY seq LIMIT ?"  # noqa: S608 - constant column names
CHECKPOINT_FILE = "audit_checkpoint.json"


def event_rows(batch: int = 10000, after: int = 0):
    """Every event after `after` in seq order, as dicts of the chained columns."""
    last = after
    while True:
        page = db.fetchall(_PAGE, (last, batch))
        if not page:
            return
        for values in page:
            yield dict(zip(_COLUMNS, values))
        last = page[-1][0]


def _file(instance: Path) -> Path:
    return instance / CHECKPOINT_FILE


def checkpoints(instance: Path) -> list[tuple[int, str, str]]:
    """Signed heads from the database and from the instance folder (a copy outside the database)."""
    found = [(c.seq, c.head_hash, c.mac) for c in AuditCheckpoint.select().order_by(AuditCheckpoint.seq)]
    path = _file(instance)
    if path.exists():
        data = json.loads(path.read_text())
        found.append((int(data["seq"]), data["hash"], data["mac"]))
    return found


def save_checkpoint(instance: Path, seq: int, head: str) -> None:
    key = load_key("audit")
    mac = chain.checkpoint_mac(key, seq, head)
    with db.write_transaction():
        AuditCheckpoint.create(seq=seq, head_hash=head, mac=mac)
    path = _file(instance)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"format": chain.FORMAT, "seq": seq, "hash": head, "mac": mac}))
    os.replace(tmp, path)


def _signed_heads(instance: Path, key: bytes) -> list[tuple[int, str]] | chain.Finding:
    out = []
    for seq, head, mac in checkpoints(instance):
        if not hmac.compare_digest(mac, chain.checkpoint_mac(key, seq, head)):
            return chain.Finding(seq, "a checkpoint's signature is wrong (checkpoint forged or altered)")
        out.append((seq, head))
    return out


_AT = "SELECT hash FROM audit_event WHERE seq = ?"


def extend_checkpoint(*, batch: int = 10000) -> chain.Report:
    """Verify the events written since the newest signed checkpoint and sign the new head.

    Cheap enough to run every few minutes and at shutdown, so cutting the newest events off
    (or rewriting them) is found without anyone running `audit verify`: the chain must still
    hold the checkpointed event unchanged and link every newer event to it."""
    db.ensure_connection()
    instance = instance_path()
    key = load_key("audit")
    heads = _signed_heads(instance, key)
    if isinstance(heads, chain.Finding):
        return chain.Report(finding=heads)
    start = max(heads) if heads else (0, chain.GENESIS)
    if start[0]:
        row = db.fetchone(_AT, (start[0],))
        if row is None or row[0] != start[1]:
            newest = db.fetchone("SELECT MAX(seq) FROM audit_event")[0] or 0
            what = (f"the chain ends at {newest} but a signed checkpoint records event {start[0]} (the tail was cut off)"
                    if newest < start[0] else "differs from the signed checkpoint (history was rewritten)")
            return chain.Report(head_seq=newest, finding=chain.Finding(start[0], what))
    report = chain.verify_rows(event_rows(batch, after=start[0]), key, start=start)
    _compare_marks(report, key)
    if report.ok:
        reread = reread_slice(key, heads, upto=report.head_seq)
        if reread is not None:
            report.finding = reread
    if report.ok and report.head_seq > start[0]:
        save_checkpoint(instance, report.head_seq, report.head_hash)
    return report


REREAD_KEY = "audit.reread_from"
RUNS_PER_DAY = 288  # one checkpoint every 5 minutes
REREAD_MIN = 2000


def reread_slice(key: bytes, heads: list[tuple[int, str]], upto: int) -> chain.Finding | None:
    """Re-read the next slice of older events (up to the signed head `upto`), so that the whole
    chain is read again at least daily and a rewritten old event raises the alert instead of
    hiding under a fresh checkpoint. The position is kept between runs; it wraps at the head."""
    if upto <= 0:
        return None
    row = Setting.get_or_none(Setting.key == REREAD_KEY)
    begin = int(row.value) if row is not None and str(row.value).isdigit() else 1
    if begin > upto:
        begin = 1
    size = max(REREAD_MIN, -(-upto // RUNS_PER_DAY))
    end = min(upto, begin + size - 1)
    prev = db.fetchone(_AT, (begin - 1,)) if begin > 1 else (chain.GENESIS,)
    finding = None
    if prev is None:
        finding = chain.Finding(begin - 1, f"events {begin - 1} and before are missing (deleted)")
    else:
        inside = [(s, h, chain.checkpoint_mac(key, s, h)) for s, h in heads if begin <= s <= end]
        report = chain.verify_rows(_slice_rows(begin, end), key, inside, start=(begin - 1, prev[0]))
        if report.ok and report.head_seq < end:
            finding = chain.Finding(report.head_seq + 1, f"events {report.head_seq + 1}..{end} are missing (deleted)")
        finding = finding or report.finding
    if finding is None and not field_index.matches_events(begin, end):
        _rebuild_field_index()
    with db.write_transaction():
        following = str(1 if end >= upto else end + 1)
        if not Setting.update(value=following, updated_at=utcnow()).where(Setting.key == REREAD_KEY).execute():
            Setting.create(key=REREAD_KEY, value=following)
    return finding


def _rebuild_field_index() -> None:
    """The field index is derived from the chain: when it no longer matches the events (rows
    removed or added behind its back), it is made again from them, so no search misses one."""
    log.warning("the audit field index did not match the events: rebuilt from the chain")
    field_index.rebuild()


def _slice_rows(begin: int, end: int, batch: int = 10000):
    for values in event_rows(batch, after=begin - 1):
        if values["seq"] > end:
            return
        yield values


def _compare_marks(report: chain.Report, key: bytes) -> None:
    """A chain that holds must still reach every high-water mark (highwater.py)."""
    if report.ok:
        found = highwater.problem(key)
        if found is not None:
            report.finding = chain.Finding(*found)


def verify_chain(*, batch: int = 10000, write_checkpoint: bool = True) -> chain.Report:
    """Check the whole trail. Returns the report; writes a new signed checkpoint when it holds."""
    db.ensure_connection()
    instance = instance_path()
    key = load_key("audit")
    report = chain.verify_rows(event_rows(batch), key, checkpoints(instance))
    _compare_marks(report, key)
    if report.ok and not field_index.counts_match():
        _rebuild_field_index()
    if report.ok and write_checkpoint and report.head_seq:
        save_checkpoint(instance, report.head_seq, report.head_hash)
    return report
