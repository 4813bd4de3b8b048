"""Instance keys: 32 random bytes per purpose, from the environment (base64, for several hosts
sharing one instance) or from <instance>/keys/<name>.key (written by `formwarden init`)."""
from __future__ import annotations

import base64
import os
from pathlib import Path

from formwarden.config import instance_path, write_secret

KEY_BYTES = 32
_cache: dict[tuple[str, str], bytes] = {}


class MissingKey(RuntimeError):
    pass


def env_name(name: str) -> str:
    return f"FORMWARDEN_KEY_{name.upper()}"


def key_path(instance: Path, name: str) -> Path:
    return instance / "keys" / f"{name}.key"


def create_key(instance: Path, name: str) -> Path:
    """Write a new random key file for `name`; raises FileExistsError if there is one."""
    path = key_path(instance, name)
    write_secret(path, base64.b64encode(os.urandom(KEY_BYTES)).decode())
    return path


def make_current(instance: Path, pointer: str, kid: str) -> None:
    """Point keys/<pointer> (e.g. field.current) at key id `kid`, atomically."""
    tmp = instance / "keys" / f"{pointer}.tmp"
    tmp.write_text(kid)
    os.replace(tmp, instance / "keys" / pointer)


def load_key(name: str) -> bytes:
    """The key `name`; raises MissingKey with what to do when there is none."""
    instance = instance_path()
    cache_key = (str(instance), name)
    if cache_key in _cache:
        return _cache[cache_key]
    raw = os.environ.get(env_name(name))
    source = env_name(name)
    if not raw:
        path = key_path(instance, name)
        if not path.exists():
            raise MissingKey(f"no {name} key: set {env_name(name)} or run `formwarden init` ({path})")
        raw, source = path.read_text().strip(), str(path)
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError:
        raise MissingKey(f"the {name} key in {source} is not base64") from None
    if len(key) < KEY_BYTES:
        raise MissingKey(f"the {name} key in {source} is shorter than {KEY_BYTES} bytes")
    _cache[cache_key] = key
    return key
