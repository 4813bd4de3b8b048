"""Backup master key rotation (re-wrap every stored archive's data key under the new key) and
the audit trail of key events."""
from __future__ import annotations

import logging
from pathlib import Path

from formwarden import db
from formwarden.access.actor import Actor
from formwarden.audit import record_event
from formwarden.backup import keys as master_keys
from formwarden.backup.archive import read_header, rewrite_header
from formwarden.backup.service import require, spool_dir
from formwarden.backup.targets import all_targets, sha256_file
from formwarden.models import BackupCopy

log = logging.getLogger(__name__)


def rewrap_file(path: Path, kid: str) -> bool:
    """Re-wrap one archive file's data key under `kid` in place; False if it already was."""
    with open(path, "rb") as fh:
        header = read_header(fh)
    if header.key_id == kid:
        return False
    rewrite_header(path, master_keys.rewrap(header, kid))
    return True


def rotate_master_key(actor: Actor, instance: Path) -> tuple[str, int]:
    """Make a new master key current, then re-wrap every verified copy on every target and
    record its new size and SHA-256 (read back). Returns (new key id, copies re-wrapped)."""
    require(actor)
    old = master_keys.current_key_id(instance)
    kid = master_keys.rotate(instance)
    done = 0
    for target in all_targets():
        for copy in BackupCopy.select().where(BackupCopy.target == target.name, BackupCopy.status == "verified"):
            local = target.local_path(copy.archive_name)
            temporary = local is None
            path: Path = local if local is not None else spool_dir() / f"rewrap-{copy.archive_name}"
            try:
                if temporary:
                    target.fetch(copy.archive_name, path)
                if not path.exists() or not rewrap_file(path, kid):
                    continue
                if temporary:
                    target.put(path, copy.archive_name)
                size, digest = sha256_file(path)
                if target.stat(copy.archive_name) != (size, digest):
                    raise RuntimeError(f"{copy.archive_name} on {target.name} did not read back after re-wrapping")
                BackupCopy.update(size=size, sha256=digest).where(BackupCopy.id == copy.id).execute()
                done += 1
            finally:
                if temporary:
                    path.unlink(missing_ok=True)
    with db.write_transaction():
        record_event(actor, "backup_key_rotate", diff={"master_key": [old, kid], "rewrapped": [None, done]})
    log.info("backup master key %s current; %d copies re-wrapped", kid, done)
    return kid, done


def note_kit(actor: Actor, action: str, where: str) -> None:
    with db.write_transaction():
        record_event(actor, action, diff={"file": [None, where]})
