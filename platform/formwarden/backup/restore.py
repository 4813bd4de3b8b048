"""Read an archive back: preview it, check it completely in a scratch database, and swap it in.

Nothing live is touched until the whole archive has decrypted, every part matches its SHA-256
and count, and the audit chain in the scratch copy verifies up to the head the manifest names.
The swap is one write transaction on the live database: every process sees the old data or
the restored data, never a mix. Sessions end; the restore itself is the first new audit event."""
from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.audit import chain
from formwarden.audit.field_index import rebuild as rebuild_field_index
from formwarden.audit.verify import event_rows
from formwarden.backup import keys as master_keys
from formwarden.backup.archive import ArchiveError, ArchiveReader, check_created, read_header
from formwarden.backup.swap import swap
from formwarden.backup.tables import PARTS, insert_sql, kinds_for, stored, table
from formwarden.config import instance_path, load_settings
from formwarden.crypto.keys import MissingKey, load_key
from formwarden.models import AuditCheckpoint

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]  # phase, rows done, rows total
_EXTRA = ("audit_event_field", "audit_field_cursor")  # derived: rebuilt in the scratch copy, then swapped in


@dataclass
class Opened:
    path: Path
    header: object
    reader: ArchiveReader
    manifest: dict = field(default_factory=dict)


@contextmanager
def open_archive(path: Path) -> Iterator[Opened]:
    """Open `path`, unwrap its data key and read its manifest; ArchiveError says what failed."""
    if not path.is_file():
        raise ArchiveError(f"no archive at {path}", "missing")
    with open(path, "rb") as fh:
        header = read_header(fh)
        reader = ArchiveReader(fh, master_keys.unwrap(header), header)
        opened = Opened(path, header, reader)
        opened.manifest = reader.manifest()
        if opened.manifest.get("archive_id") != header.archive_id:
            raise ArchiveError("the manifest belongs to another archive", "manifest_mismatch")
        check_created(header, opened.manifest)
        yield opened


def missing_keys(manifest: dict) -> list[str]:
    out = []
    for name in manifest.get("keys_needed", []):
        try:
            load_key(name)
        except MissingKey:
            out.append(name)
    return out


def preview(path: Path) -> dict:
    """What the archive holds, from its manifest (decrypts only the last chunks)."""
    with open_archive(path) as opened:
        manifest = opened.manifest
    manifest["missing_keys"] = missing_keys(manifest)
    manifest["size"] = path.stat().st_size
    return manifest


def check_compatible(manifest: dict) -> None:
    known = set(db.pending_migrations()) | set(db.applied_migrations())
    unknown = [m for m in manifest.get("migrations", []) if m not in known]
    if unknown:
        raise ArchiveError(f"the archive comes from a newer version (schema {unknown[-1]}); upgrade Formwarden first",
                           "unsupported_schema")
    missing = missing_keys(manifest)
    if missing:
        raise ArchiveError("keys this archive needs are missing: " + ", ".join(missing)
                           + " (import the recovery kit with `formwarden keys import`)", "keys_missing")


# --- the scratch database -------------------------------------------------------------------

SCRATCH_MAX_AGE = 12 * 3600  # seconds: older scratch copies belong to a run that died (jobs time out at 6 h)


def _scratch_folder() -> Path:
    folder = instance_path() / "restore"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def remove_stale_scratch() -> None:
    """Scratch copies hold a decrypted copy of the data (password hashes included): remove those
    a killed or crashed run left. A SQLite copy names its process; a PostgreSQL scratch schema is
    held by a session advisory lock of the connection that made it, so a schema whose lock can be
    taken belongs to a process that is gone (on any machine)."""
    now = time.time()
    for path in _scratch_folder().glob("scratch-*"):
        parts = path.name.split("-")
        pid = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0
        alive = pid > 0 and Path(f"/proc/{pid}").exists()
        if not alive or now - path.stat().st_mtime > SCRATCH_MAX_AGE:
            shutil.rmtree(path, ignore_errors=True)
    if db.is_postgres():
        for (schema,) in db.fetchall("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ?",
                                     ("fw\\_scratch\\_%",)):
            if db.fetchone("SELECT pg_try_advisory_lock(hashtext(?))", (schema,))[0]:
                try:
                    db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                finally:
                    db.fetchone("SELECT pg_advisory_unlock(hashtext(?))", (schema,))


@contextmanager
def scratch_database(kind: str = "") -> Iterator[str]:
    """A new, empty, migrated database for checking an archive; removed afterwards (and, if
    the process dies first, by the next run). `kind`: "sqlite" (a temporary file), or "" for
    the live backend (a schema of the live PostgreSQL database, so the swap is one
    INSERT … SELECT per table)."""
    folder = _scratch_folder()
    remove_stale_scratch()
    if kind == "sqlite" or not db.is_postgres():
        tmp = Path(tempfile.mkdtemp(prefix=f"scratch-{os.getpid()}-", dir=folder))
        url = f"sqlite:///{tmp / 'scratch.db'}"
        try:
            with db.using(url):
                db.upgrade()
            yield url
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    schema = f"fw_scratch_{int(time.time())}_{secrets.token_hex(6)}"
    db.fetchone("SELECT pg_advisory_lock(hashtext(?))", (schema,))  # held while this session lives
    db.execute(f'CREATE SCHEMA "{schema}"')
    live_url = load_settings().database_url
    sep = "&" if "?" in live_url else "?"
    url = f"{live_url}{sep}options={quote(f'-c search_path={schema}')}"
    try:
        with db.using(url):
            db.upgrade()
        yield url
    finally:
        db.ensure_connection()
        db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        db.fetchone("SELECT pg_advisory_unlock(hashtext(?))", (schema,))


def load(opened: Opened, on_progress: Progress | None = None, batch: int = 2000) -> dict:
    """Insert every part of the archive into this thread's (scratch) database; returns the
    manifest once the whole archive has authenticated and matched it."""
    progress = on_progress or (lambda *a: None)
    total = sum(opened.manifest.get("counts", {}).values())
    by_name = {table(m): m for m in PARTS}
    done = 0
    model = None
    sql = ""
    kinds: list[str] = []
    manifest = None
    pg = db.is_postgres()
    with db.database.atomic():
        for event, value in opened.reader.read():
            if event == "part":
                meta = value  # type: ignore[assignment]
                model = by_name.get(meta["name"])  # type: ignore[index]
                if model is None:
                    raise ArchiveError(f"unknown part {meta['name']!r}", "unsupported_schema")  # type: ignore[index]
                cols = meta["columns"]  # type: ignore[index]
                known = {f.column_name for f in model._meta.sorted_fields}
                if set(cols) - known:
                    raise ArchiveError(f"part {meta['name']} has columns this version does not know", "unsupported_schema")  # type: ignore[index]
                sql, kinds = insert_sql(model, cols), kinds_for(model, cols)
                progress(f"table:{meta['name']}", done, total)  # type: ignore[index]
            elif event == "rows":
                rows = value  # type: ignore[assignment]
                convert = [(i, k) for i, k in enumerate(kinds) if k == "json" or (k == "time" and pg)]
                for start in range(0, len(rows), batch):  # type: ignore[arg-type]
                    chunk = rows[start:start + batch]  # type: ignore[index]
                    if convert:
                        for row in chunk:
                            for i, k in convert:
                                row[i] = stored(row[i], k)
                    db.executemany(sql, chunk)
                done += len(rows)  # type: ignore[arg-type]
                progress(f"table:{model and table(model)}", done, total)
            elif event == "manifest":
                manifest = value
    assert isinstance(manifest, dict)
    return manifest


def verify_loaded(manifest: dict, on_progress: Progress | None = None) -> chain.Report:
    """Counts per table and the audit chain (hashes, signatures, checkpoints) in this thread's
    database must match the manifest; ArchiveError otherwise."""
    for model in PARTS:
        want = manifest["counts"].get(table(model), 0)
        got = model.select().count()
        if got != want:
            raise ArchiveError(f"table {table(model)} holds {got} rows, the manifest says {want}", "count_mismatch")
    if on_progress:
        on_progress("audit_chain", 0, manifest["audit"]["head_seq"])
    checkpoints = [(c.seq, c.head_hash, c.mac) for c in AuditCheckpoint.select().order_by(AuditCheckpoint.seq)]
    report = chain.verify_rows(event_rows(), load_key("audit"), checkpoints)
    if not report.ok:
        raise ArchiveError(f"the audit chain in the archive does not verify: {report.finding}", "chain_broken")
    audit = manifest["audit"]
    if (report.head_seq, report.head_hash if report.head_seq else "") != (audit["head_seq"], audit["head_hash"]):
        raise ArchiveError("the audit chain head differs from the manifest's", "chain_broken")
    return report


def check_in_scratch(opened: Opened, url: str, on_progress: Progress | None = None) -> dict:
    """Load and verify the archive in the scratch database at `url`; returns a summary with the
    measured time. The field index is rebuilt there too, so the swap copies a finished index."""
    started = time.monotonic()
    with db.using(url):
        if not db.is_postgres():  # a scratch copy: nothing to keep if the machine stops
            db.execute("PRAGMA synchronous = OFF")
        manifest = load(opened, on_progress)
        report = verify_loaded(manifest, on_progress)
        if on_progress:
            on_progress("field_index", 0, 0)
        rebuild_field_index()
    return {"archive_id": manifest["archive_id"], "rows": sum(manifest["counts"].values()),
            "events_verified": report.checked, "head_seq": report.head_seq, "seconds": time.monotonic() - started}


def verify_archive(path: Path, on_progress: Progress | None = None) -> dict:
    """Check an archive completely (decrypt, hashes, counts, audit chain) in a throw-away SQLite
    database; the live database is never touched. Raises ArchiveError on any problem."""
    with open_archive(path) as opened:
        check_compatible(opened.manifest)
        with scratch_database("sqlite") as url:
            return check_in_scratch(opened, url, on_progress)


# --- the swap -------------------------------------------------------------------------------

def restore(path: Path, actor: Actor, *, on_progress: Progress | None = None, reason: str = "") -> dict:
    """Restore the whole archive at `path` over the live data, after checking all of it."""
    with open_archive(path) as opened:
        check_compatible(opened.manifest)
        with scratch_database() as url:
            summary = check_in_scratch(opened, url, on_progress)
            if on_progress:
                on_progress("swap", 0, 0)
            summary.update(swap(url, opened.manifest, actor, path.name, reason))
    return summary
