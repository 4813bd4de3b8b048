"""Typing that outlived its session: when a save arrives after the person's session ended, what
they typed is kept, encrypted with the instance's drafts key and bound to them and the form's
address, and handed back once — the next time they open that form — within DRAFT_HOURS."""
from __future__ import annotations

import datetime as dt
import json
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from formwarden.crypto.keys import load_key
from formwarden.models import FormDraft, utcnow

DRAFT_HOURS = 8
MAX_BYTES = 256 * 1024
SKIPPED = ("csrf_token",)


def _aad(user_id: int, path: str) -> bytes:
    return f"formwarden:draft:{user_id}:{path}".encode()


def keep(user_id: int, path: str, items: list[tuple[str, str]]) -> bool:
    """Keep the submitted form fields for `user_id` at `path` (replacing an older draft there);
    False when there is nothing to keep or it is too large."""
    fields = [(k, v) for k, v in items if k not in SKIPPED]
    plain = json.dumps(fields, ensure_ascii=False).encode()
    if not fields or len(plain) > MAX_BYTES:
        return False
    nonce = os.urandom(12)
    sealed = (nonce + AESGCM(load_key("drafts")).encrypt(nonce, plain, _aad(user_id, path))).hex()
    FormDraft.delete().where((FormDraft.created_at < utcnow() - dt.timedelta(hours=DRAFT_HOURS))
                             | ((FormDraft.user == user_id) & (FormDraft.path == path))).execute()
    FormDraft.create(user=user_id, path=path[:255], data=sealed)
    return True


def take(user_id: int, path: str) -> list[tuple[str, str]] | None:
    """The kept fields for this person and form, once (the draft is deleted), or None."""
    rows = list(FormDraft.select().where(FormDraft.user == user_id, FormDraft.path == path)
                .order_by(FormDraft.created_at.desc()))
    if not rows:
        return None
    FormDraft.delete().where(FormDraft.id.in_([r.id for r in rows])).execute()
    newest = rows[0]
    if newest.created_at < utcnow() - dt.timedelta(hours=DRAFT_HOURS):
        return None
    raw = bytes.fromhex(newest.data)
    plain = AESGCM(load_key("drafts")).decrypt(raw[:12], raw[12:], _aad(user_id, path))
    return [(str(k), str(v)) for k, v in json.loads(plain)]
