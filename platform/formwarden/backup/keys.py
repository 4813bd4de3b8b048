"""Backup master keys: each has an id (b1, b2 …) and wraps the random data key of every archive
made while it is current. They live with the instance keys (instance/keys/backup-<id>.key or
FORMWARDEN_KEY_BACKUP-<ID> in the environment), never on a backup target."""
from __future__ import annotations

import os
import re
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from formwarden.backup.archive import ArchiveError, Header
from formwarden.config import instance_path
from formwarden.crypto.keys import MissingKey, create_key, env_name, key_path, load_key, make_current

_ID = re.compile(r"^b[0-9]{1,6}$")
_WRAP_AAD = b"formwarden-backup-key-v1:"


def current_key_id(instance: Path | None = None) -> str:
    kid = os.environ.get("FORMWARDEN_BACKUP_KEY_ID")
    if kid:
        return kid
    path = (instance or instance_path()) / "keys" / "backup.current"
    return path.read_text().strip() if path.exists() else "b1"


def master_key(kid: str) -> bytes:
    if not _ID.match(kid):
        raise ArchiveError(f"the archive names an invalid master key id {kid!r}", "key_invalid")
    try:
        return load_key(f"backup-{kid}")
    except MissingKey:
        raise ArchiveError(f"backup master key {kid} is missing (import a recovery kit that holds it)",
                           "key_missing") from None


def ensure_key(instance: Path) -> str:
    """Create the current master key if this instance has none yet; returns its id."""
    kid = current_key_id(instance)
    if not os.environ.get(env_name(f"backup-{kid}")) and not key_path(instance, f"backup-{kid}").exists():
        create_key(instance, f"backup-{kid}")
    return kid


def rotate(instance: Path) -> str:
    """Create the next master key and make it current; returns its id (old keys stay)."""
    if os.environ.get("FORMWARDEN_BACKUP_KEY_ID"):
        raise RuntimeError("the backup key id comes from FORMWARDEN_BACKUP_KEY_ID: set a new key and id on every host")
    number = int(current_key_id(instance)[1:]) + 1
    while key_path(instance, f"backup-b{number}").exists():
        number += 1
    kid = f"b{number}"
    create_key(instance, f"backup-{kid}")
    make_current(instance, "backup.current", kid)
    return kid


def wrap(data_key: bytes, archive_id: str, kid: str) -> dict:
    nonce = os.urandom(12)
    ct = AESGCM(master_key(kid)).encrypt(nonce, data_key, _WRAP_AAD + archive_id.encode() + b":" + kid.encode())
    return {"kid": kid, "nonce": nonce.hex(), "ct": ct.hex()}


def unwrap(header: Header) -> bytes:
    slot = header.wrapped
    kid = slot.get("kid", "")
    try:
        return AESGCM(master_key(kid)).decrypt(bytes.fromhex(slot["nonce"]), bytes.fromhex(slot["ct"]),
                                               _WRAP_AAD + header.archive_id.encode() + b":" + kid.encode())
    except (InvalidTag, KeyError, ValueError):
        raise ArchiveError(f"the archive's data key does not open with master key {kid} (wrong key, or the key "
                           "block was altered)", "wrong_key") from None


def rewrap(header: Header, kid: str) -> Header:
    """The same archive under master key `kid`: only the key block changes."""
    data_key = unwrap(header)
    return Header(archive_id=header.archive_id, key_id=kid, wrapped=wrap(data_key, header.archive_id, kid),
                  created_at=header.created_at)
