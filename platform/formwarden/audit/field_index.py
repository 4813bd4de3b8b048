"""Which fields each record event changed, kept in `audit_event_field` for the audit search by
field. Built by the worker in batches after the events are written (each event would otherwise
dirty one index page per field it touches, on the write path of every change); the search checks
the few newer events in their diffs, so its answer is exact at any moment. A derived index, not
part of the chain: rebuilt from the events at any time."""
from __future__ import annotations

import json

from formwarden import db
from formwarden.models import AuditFieldCursor

_NEW = "SELECT seq, at, record_id, action, diff FROM audit_event WHERE seq > ? ORDER BY seq LIMIT ?"
_ROW = "INSERT INTO audit_event_field (field, at, seq) VALUES (?, ?, ?)"


def indexed_upto() -> int:
    """The newest event the field index covers (0: none)."""
    row = db.fetchone("SELECT last_seq FROM audit_field_cursor ORDER BY id LIMIT 1")
    return row[0] if row else 0


def index_batch(limit: int = 5000) -> int:
    """Index the next `limit` events after the cursor in one transaction; returns how many."""
    with db.write_transaction():
        cursor = AuditFieldCursor.select().order_by(AuditFieldCursor.id).first() or AuditFieldCursor.create(last_seq=0)
        rows = db.fetchall(_NEW, (cursor.last_seq, limit))
        if not rows:
            return 0
        entries: list[tuple] = []
        for seq, at, record_id, action, diff in rows:
            if record_id is None or action == "reveal" or not diff or not diff.startswith("{"):
                continue
            entries.extend((name, at, seq) for name in json.loads(diff))
        if entries:
            db.executemany(_ROW, entries)
        AuditFieldCursor.update(last_seq=rows[-1][0]).where(AuditFieldCursor.id == cursor.id).execute()
    return len(rows)


def index_pending(limit: int = 5000, max_batches: int = 20) -> int:
    """Catch up batch by batch (the worker calls this with every anomaly scan)."""
    done = 0
    for _ in range(max_batches):
        n = index_batch(limit)
        done += n
        if n < limit:
            break
    return done


def _expected_sql() -> str:
    if db.is_postgres():
        return ("SELECT DISTINCT k, e.seq FROM audit_event e, jsonb_object_keys(CAST(e.diff AS jsonb)) AS k"
                " WHERE e.record_id IS NOT NULL AND e.action <> 'reveal' AND left(e.diff, 1) = '{'"
                " AND e.seq BETWEEN ? AND ?")
    return ("SELECT DISTINCT j.key, e.seq FROM audit_event e, json_each(e.diff) j"
            " WHERE e.record_id IS NOT NULL AND e.action <> 'reveal' AND json_valid(e.diff) AND e.seq BETWEEN ? AND ?")


def matches_events(begin: int, end: int) -> bool:
    """Does the index hold exactly the (field, event) pairs the events between `begin` and `end`
    (only those it has read) give? A row deleted or added behind its back makes a search by
    field miss or invent events."""
    end = min(end, indexed_upto())
    if end < begin:
        return True
    expected = {(str(k), int(seq)) for k, seq in db.fetchall(_expected_sql(), (begin, end))}
    held = {(str(f), int(seq)) for f, seq in db.fetchall(
        "SELECT field, seq FROM audit_event_field WHERE seq BETWEEN ? AND ?", (begin, end))}
    return expected == held


def counts_match() -> bool:
    """The whole index against the events it has read, by count (one pass in the database)."""
    upto = indexed_upto()
    expected = db.fetchone(f"SELECT COUNT(*) FROM ({_expected_sql()}) x", (1, upto))[0]  # noqa: S608 - constant SQL
    held = db.fetchone("SELECT COUNT(*) FROM audit_event_field WHERE seq <= ?", (upto,))[0]
    return expected == held


def rebuild() -> int:
    """Build the whole index from the events in one statement per database (after a restore,
    where it would otherwise be rebuilt batch by batch by the worker). Returns the head covered."""
    with db.write_transaction():
        db.execute("DELETE FROM audit_event_field")
        if db.is_postgres():
            db.execute("INSERT INTO audit_event_field (field, at, seq) SELECT DISTINCT k, e.at, e.seq"
                       " FROM audit_event e, jsonb_object_keys(CAST(e.diff AS jsonb)) AS k"
                       " WHERE e.record_id IS NOT NULL AND e.action <> 'reveal' AND left(e.diff, 1) = '{'"
                       " ON CONFLICT DO NOTHING")
        else:
            db.execute("INSERT OR IGNORE INTO audit_event_field (field, at, seq) SELECT j.key, e.at, e.seq"
                       " FROM audit_event e, json_each(e.diff) j"
                       " WHERE e.record_id IS NOT NULL AND e.action <> 'reveal' AND json_valid(e.diff)")
        head = db.fetchone("SELECT COALESCE(MAX(seq), 0) FROM audit_event")[0]
        AuditFieldCursor.delete().execute()
        AuditFieldCursor.create(last_seq=head)
    return head
