"""Encryption at rest for `restricted` fields: AES-256-GCM envelopes with a key id, and a keyed
blind index (HMAC) so exact-match search works without storing the clear value.

An envelope is {"$enc": 1, "kid": "k1", "ct": base64(nonce ‖ ciphertext ‖ tag), "bi": hex}; the
associated data binds it to its form and field, so a ciphertext moved to another field or form
does not decrypt.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from formwarden.config import instance_path
from formwarden.crypto.keys import create_key, load_key, make_current

NONCE = 12


def current_key_id() -> str:
    """The key id new values are sealed with: FORMWARDEN_FIELD_KEY_ID, else keys/field.current, else k1."""
    kid = os.environ.get("FORMWARDEN_FIELD_KEY_ID")
    if kid:
        return kid
    path = instance_path() / "keys" / "field.current"
    return path.read_text().strip() if path.exists() else "k1"


def rotate_key(instance) -> str:
    """Create the next field key (k1 → k2 …) and make it current; returns its id. Values are
    re-sealed by the reseal job; older keys stay, since audit diffs keep their ciphertext."""
    if os.environ.get("FORMWARDEN_FIELD_KEY_ID"):
        raise RuntimeError("the field key id comes from FORMWARDEN_FIELD_KEY_ID: rotate by setting a new "
                           "FORMWARDEN_KEY_FIELD_<ID> and FORMWARDEN_FIELD_KEY_ID on every host")
    current = current_key_id()
    number = int(current[1:]) + 1 if current[1:].isdigit() else 2
    kid = f"k{number}"
    create_key(instance, f"field-{kid}")
    make_current(instance, "field.current", kid)
    return kid


def _aad(form_key: str, field: str) -> bytes:
    return f"formwarden:{form_key}.{field}".encode()


def is_envelope(value) -> bool:
    return isinstance(value, dict) and value.get("$enc") == 1


def blind_index(form_key: str, field: str, value) -> str:
    """Deterministic keyed digest of a value, for exact-match search on an encrypted field."""
    text = value.strip() if isinstance(value, str) else json.dumps(value, sort_keys=True)
    msg = f"{form_key}.{field}:".encode() + text.encode("utf-8")
    return hmac.new(load_key("blind"), msg, hashlib.sha256).hexdigest()[:40]


def seal(form_key: str, field: str, value) -> dict:
    kid = current_key_id()
    nonce = os.urandom(NONCE)
    plain = json.dumps(value, ensure_ascii=False).encode("utf-8")
    ct = AESGCM(load_key(f"field-{kid}")).encrypt(nonce, plain, _aad(form_key, field))
    return {"$enc": 1, "kid": kid, "ct": base64.b64encode(nonce + ct).decode(),
            "bi": blind_index(form_key, field, value)}


def unseal(form_key: str, field: str, envelope: dict):
    """The clear value; raises cryptography's InvalidTag when tampered with or moved."""
    raw = base64.b64decode(envelope["ct"])
    plain = AESGCM(load_key(f"field-{envelope['kid']}")).decrypt(raw[:NONCE], raw[NONCE:], _aad(form_key, field))
    return json.loads(plain)


_FILE_MAGIC = b"FWU1"


def seal_bytes(plain: bytes, label: str) -> bytes:
    """Encrypt a file's content (an uploaded import waiting for its job) under the current field
    key; `label` (the file's name) is bound as associated data. Layout: magic, key id length,
    key id, nonce, ciphertext+tag."""
    kid = current_key_id().encode("ascii")
    nonce = os.urandom(NONCE)
    ct = AESGCM(load_key(f"field-{kid.decode()}")).encrypt(nonce, plain, f"formwarden:file:{label}".encode())
    return _FILE_MAGIC + bytes([len(kid)]) + kid + nonce + ct


def open_bytes(blob: bytes, label: str) -> bytes:
    """The content sealed by `seal_bytes`; raises ValueError when it is not such a file or was altered."""
    if not blob.startswith(_FILE_MAGIC) or len(blob) < len(_FILE_MAGIC) + 1:
        raise ValueError("not a sealed file")
    n = blob[len(_FILE_MAGIC)]
    start = len(_FILE_MAGIC) + 1
    kid = blob[start:start + n].decode("ascii")
    nonce = blob[start + n:start + n + NONCE]
    try:
        return AESGCM(load_key(f"field-{kid}")).decrypt(nonce, blob[start + n + NONCE:],
                                                          f"formwarden:file:{label}".encode())
    except InvalidTag:
        raise ValueError("the sealed file was altered") from None
