"""`audit verify`: walk the whole chain, check every hash and signature against the signed
checkpoints, and on success sign the new head as the next checkpoint."""
from __future__ import annotations

import hmac
import json
import os
from pathlib import Path

from formwarden import db
from formwarden.audit import chain
from formwarden.config import instance_path
from formwarden.crypto.keys import load_key
from formwarden.models import AuditCheckpoint

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
    if report.ok and report.head_seq > start[0]:
        save_checkpoint(instance, report.head_seq, report.head_hash)
    return report


def verify_chain(*, batch: int = 10000, write_checkpoint: bool = True) -> chain.Report:
    """Check the whole trail. Returns the report; writes a new signed checkpoint when it holds."""
    db.ensure_connection()
    instance = instance_path()
    report = chain.verify_rows(event_rows(batch), load_key("audit"), checkpoints(instance))
    if report.ok and write_checkpoint and report.head_seq:
        save_checkpoint(instance, report.head_seq, report.head_hash)
    return report
