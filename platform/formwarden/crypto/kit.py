"""The recovery kit: every instance key (field, blind-index, audit, backup master keys, with
their ids and which ones are current) in one file sealed under a passphrase: scrypt (memory-
hard) derives the wrapping key, AES-256-GCM seals the keys. Without the instance folder, a kit
and an archive are all a restore needs; without the passphrase the kit is useless."""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from formwarden.config import write_secret
from formwarden.crypto.keys import KEY_BYTES, key_path

FORMAT = "fw-recovery-kit-1"
MIN_PASSPHRASE = 12
POINTERS = ("field.current", "backup.current")
EXPORTED_MARK = "recovery-kit-exported"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class KitError(RuntimeError):
    pass


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def instance_keys(instance: Path) -> dict[str, str]:
    """name → base64 key, from the key files and FORMWARDEN_KEY_* variables (which win)."""
    out = {}
    folder = instance / "keys"
    for path in sorted(folder.glob("*.key")) if folder.is_dir() else []:
        out[path.stem] = path.read_text().strip()
    for var, value in os.environ.items():
        if var.startswith("FORMWARDEN_KEY_") and value:
            out[var[len("FORMWARDEN_KEY_"):].lower()] = value
    return out


def check_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE or len(set(passphrase.replace(" ", ""))) < 6:
        raise KitError(f"the passphrase must have at least {MIN_PASSPHRASE} characters, at least 6 of them different")


def export_kit(instance: Path, passphrase: str, *, n: int = 2 ** 17) -> bytes:
    """The sealed kit. Call mark_exported() once it is safely written."""
    check_passphrase(passphrase)
    pointers = {p: (instance / "keys" / p).read_text().strip() for p in POINTERS if (instance / "keys" / p).exists()}
    body = json.dumps({"keys": instance_keys(instance), "current": pointers,
                       "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}).encode()
    salt, nonce = os.urandom(16), os.urandom(12)
    r, p = 8, 1
    ct = AESGCM(_derive(passphrase, salt, n, r, p)).encrypt(nonce, body, FORMAT.encode())
    return json.dumps({"format": FORMAT, "kdf": {"name": "scrypt", "n": n, "r": r, "p": p,
                                                 "salt": salt.hex()},
                       "nonce": nonce.hex(), "ct": base64.b64encode(ct).decode()}, indent=1).encode()


def mark_exported(instance: Path) -> None:
    """Remember that every current key is in a kit (the pages stop warning)."""
    mark = instance / "keys" / EXPORTED_MARK
    mark.write_text(json.dumps({"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                                "keys": sorted(instance_keys(instance))}))


def read_kit(blob: bytes, passphrase: str) -> dict:
    try:
        kit = json.loads(blob)
        if not isinstance(kit, dict) or kit.get("format") != FORMAT:
            raise KitError("not a Formwarden recovery kit")
        kdf = kit["kdf"]
        if (not isinstance(kdf, dict) or kdf.get("name") != "scrypt"
                or not all(type(kdf.get(k)) is int for k in ("n", "r", "p"))
                or kdf["n"] not in (2 ** 15, 2 ** 16, 2 ** 17, 2 ** 18) or not 1 <= kdf["r"] <= 16
                or not 1 <= kdf["p"] <= 4):
            raise KitError("the kit names an unsupported key derivation")
        key = _derive(passphrase, bytes.fromhex(kdf["salt"]), kdf["n"], kdf["r"], kdf["p"])
        body = AESGCM(key).decrypt(bytes.fromhex(kit["nonce"]), base64.b64decode(kit["ct"]), FORMAT.encode())
    except InvalidTag:
        raise KitError("wrong passphrase, or the kit was altered") from None
    except (ValueError, KeyError, TypeError, MemoryError, RecursionError):
        raise KitError("the file is not a readable recovery kit") from None
    data = json.loads(body)
    if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
        raise KitError("the file is not a readable recovery kit")
    return data


def import_kit(instance: Path, blob: bytes, passphrase: str) -> dict[str, str]:
    """Write the kit's keys that this instance lacks. A key that exists with another value is a
    conflict and stops the import before anything is written. Returns name → added | same."""
    kit = read_kit(blob, passphrase)
    outcome: dict[str, str] = {}
    for name, value in kit["keys"].items():
        if not _NAME.match(name) or len(base64.b64decode(value)) < KEY_BYTES:
            raise KitError(f"the kit holds a malformed key {name!r}")
        path = key_path(instance, name)
        if path.exists():
            if path.read_text().strip() != value:
                raise KitError(f"key {name} differs from this instance's: not importing (move {path} away first)")
            outcome[name] = "same"
        else:
            outcome[name] = "added"
    (instance / "keys").mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, state in outcome.items():
        if state == "added":
            write_secret(key_path(instance, name), kit["keys"][name])
    for pointer, value in kit.get("current", {}).items():
        if pointer in POINTERS and not (instance / "keys" / pointer).exists():
            (instance / "keys" / pointer).write_text(value)
    return outcome


def kit_status(instance: Path) -> dict:
    """When a kit was last exported here, and which current keys no kit holds yet (a key made
    after the last export, e.g. by a rotation): the admin pages warn until both are fine."""
    mark = instance / "keys" / EXPORTED_MARK
    data = json.loads(mark.read_text()) if mark.exists() else {}
    return {"exported_at": data.get("at"), "not_in_kit": sorted(set(instance_keys(instance)) - set(data.get("keys", [])))}
