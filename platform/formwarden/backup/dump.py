"""Write the live database into a new archive: one consistent snapshot, streamed table by table
(memory holds one batch and one chunk, whatever the size of the data)."""
from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from formwarden import __version__, db
from formwarden.backup import keys as master_keys
from formwarden.backup.archive import FORMAT, ArchiveWriter, Header
from formwarden.backup.tables import BATCHES, PARTS, columns, portable, stream_rows, table
from formwarden.config import instance_path
from formwarden.models import AuditCheckpoint, AuditEvent, Form, Record, utcnow

_KID = re.compile(r'"kid":\s*"(k[0-9]+)"')
Progress = Callable[[str, int, int, int], None]  # phase, rows done, rows total, bytes written


@contextmanager
def snapshot_transaction():
    """One read snapshot for the whole dump: rows written meanwhile are in the next archive."""
    db.ensure_connection()
    database = db.database.obj
    if db.is_postgres():
        with database.atomic():
            database.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
    else:
        with database.atomic("DEFERRED"):
            database.execute_sql("SELECT 1 FROM audit_event LIMIT 1")  # the WAL snapshot starts here
            yield


def archive_name(archive_id: str, when: dt.datetime) -> str:
    return f"formwarden-{when.strftime('%Y%m%dT%H%M%SZ')}-{archive_id[:8]}.fwb"


def write_archive(path: Path, *, on_progress: Progress | None = None, batch: int = 5000) -> dict:
    """Write an encrypted archive of everything to `path` (created, never overwritten); returns
    the manifest. The file only gets its trailer, which makes it readable, at the very end."""
    instance = instance_path()
    kid = master_keys.ensure_key(instance)
    archive_id = secrets.token_hex(16)
    created = utcnow()
    data_key = os.urandom(32)
    header = Header(archive_id=archive_id, key_id=kid, wrapped=master_keys.wrap(data_key, archive_id, kid),
                    created_at=created.strftime("%Y-%m-%dT%H:%M:%SZ"))
    progress = on_progress or (lambda *a: None)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, snapshot_transaction():
        counts = {table(m): m.select().count() for m in PARTS}
        total = sum(counts.values())
        writer = ArchiveWriter(out, header, data_key)
        done = 0
        field_kids: set[str] = set()
        per_form: dict[int, list[int]] = {}
        for model in PARTS:
            name = table(model)
            progress(f"table:{name}", done, total, writer.bytes_written)
            cols = columns(model)
            writer.begin_part(name, cols)
            for page in stream_rows(model, BATCHES.get(model, batch)):
                if model is Record:
                    _note_records(page, cols, per_form, field_kids)
                elif model is AuditEvent:
                    diff_at = cols.index("diff")
                    for row in page:
                        if '"kid"' in (row[diff_at] or ""):
                            field_kids.update(_KID.findall(row[diff_at]))
                writer.write_rows(page)
                done += len(page)
                progress(f"table:{name}", done, total, writer.bytes_written)
            writer.end_part()
        manifest = _manifest(archive_id, created, kid, writer.parts, per_form, field_kids)
        writer.finish(manifest)
        out.flush()
        os.fsync(out.fileno())
    progress("written", done, total, writer.bytes_written)
    return manifest


def _note_records(page, cols, per_form, field_kids) -> None:
    form_at, deleted_at, data_at = cols.index("form_id"), cols.index("deleted_at"), cols.index("data")
    for row in page:
        counts = per_form.setdefault(row[form_at], [0, 0])
        counts[1 if row[deleted_at] else 0] += 1
        for value in (row[data_at] or {}).values():
            if isinstance(value, dict) and value.get("$enc"):
                field_kids.add(str(value.get("kid")))


def _manifest(archive_id, created, kid, parts, per_form, field_kids) -> dict:
    head = db.fetchone("SELECT seq, hash, at FROM audit_event ORDER BY seq DESC LIMIT 1")
    first = db.fetchone("SELECT at FROM audit_event ORDER BY seq LIMIT 1")
    checkpoint = AuditCheckpoint.select().order_by(AuditCheckpoint.seq.desc()).first()
    forms = {f.id: f.key for f in Form.select(Form.id, Form.key)}
    return {
        "format": FORMAT,
        "archive_id": archive_id,
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "platform_version": __version__,
        "database": "postgresql" if db.is_postgres() else "sqlite",
        "migrations": db.applied_migrations(),
        "master_key_id": kid,
        "keys_needed": sorted({"audit", "blind"} | {f"field-{k}" for k in field_kids}),
        "parts": parts,
        "counts": {p["name"]: p["rows"] for p in parts},
        "forms": {forms.get(fid, str(fid)): {"records": c[0], "deleted": c[1]} for fid, c in sorted(per_form.items())},
        "audit": {
            "head_seq": head[0] if head else 0,
            "head_hash": head[1] if head else "",
            "first_at": portable(first[0], "time") if first else None,
            "last_at": portable(head[2], "time") if head else None,
            "checkpoint_seq": checkpoint.seq if checkpoint else 0,
            "checkpoint_hash": checkpoint.head_hash if checkpoint else "",
        },
    }
