"""Where archives go. A target type is a plugin: `formwarden_backup_target_types()` returns
{scheme: factory(name, url) -> Target}, called through the plugin manager's hook relay. The
`dir` type (a local or mounted directory) is built in and registered the same way.

Targets come from the environment, never from the database (they may carry credentials):
the instance's own `local` directory (FORMWARDEN_BACKUP_DIR, default instance/backups) is
always first; FORMWARDEN_BACKUP_TARGETS adds more, comma-separated `name=URL` entries such as
`disk=dir:///mnt/backup` or `offsite=s3://bucket/prefix?endpoint_url=https://…`.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from formwarden.config import instance_path
from formwarden.plugins import hookimpl
from formwarden.plugins.loader import plugin_manager

ARCHIVE_NAME = re.compile(r"^formwarden-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}\.fwb$")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


class TargetError(RuntimeError):
    pass


class Target(Protocol):
    name: str

    def describe(self) -> str:
        """Where it is, for people (no credentials)."""

    def put(self, local: Path, name: str) -> None:
        """Store `local` as `name`; a partly written copy must never be listed under `name`."""

    def stat(self, name: str) -> tuple[int, str]:
        """(size, SHA-256) of the stored copy, read back from the target."""

    def fetch(self, name: str, dest: Path) -> None:
        """Copy the stored archive to the local file `dest`."""

    def names(self) -> list[str]:
        """Archive names stored there."""

    def delete(self, name: str) -> None: ...

    def local_path(self, name: str) -> Path | None:
        """The archive as a local file, when the target is a directory (else None)."""


def sha256_file(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
            size += len(block)
    return size, h.hexdigest()


@dataclass
class DirTarget:
    """A directory on this machine or a mounted disk; copies land as hidden partial files and
    are renamed into place after an fsync."""

    name: str
    root: Path

    def describe(self) -> str:
        return str(self.root)

    def _path(self, name: str) -> Path:
        if not ARCHIVE_NAME.match(name):
            raise TargetError(f"not an archive name: {name!r}")
        return self.root / name

    def put(self, local: Path, name: str) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        final = self._path(name)
        partial = self.root / f".{name}.partial"
        try:
            if local.resolve() != final.resolve():
                with open(local, "rb") as src, open(partial, "wb") as out:
                    os.chmod(partial, 0o600)
                    shutil.copyfileobj(src, out, 1 << 20)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(partial, final)
            dir_fd = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        finally:
            partial.unlink(missing_ok=True)

    def stat(self, name: str) -> tuple[int, str]:
        path = self._path(name)
        if not path.exists():
            raise TargetError(f"{name} is not on {self.name}")
        return sha256_file(path)

    def fetch(self, name: str, dest: Path) -> None:
        shutil.copyfile(self._path(name), dest)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if ARCHIVE_NAME.match(p.name))

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def local_path(self, name: str) -> Path | None:
        return self._path(name)


def _dir_target(name: str, url: str) -> DirTarget:
    parts = urlsplit(url)
    if parts.netloc or not parts.path.startswith("/"):
        raise TargetError(f"backup target {name}: write an absolute directory as dir:///path (three slashes)")
    return DirTarget(name, Path(parts.path))


@hookimpl
def formwarden_backup_target_types():
    return {"dir": _dir_target}


def _types() -> dict:
    pm = plugin_manager()
    module = sys.modules[__name__]
    if not pm.is_registered(module):
        pm.register(module, name="formwarden-dir-target")
    found: dict = {}
    for types in pm.hook.formwarden_backup_target_types():
        found.update(types or {})
    return found


def local_dir() -> Path:
    raw = os.environ.get("FORMWARDEN_BACKUP_DIR")
    return Path(raw) if raw else instance_path() / "backups"


def configured(env=None) -> list[tuple[str, str]]:
    """(name, url) of every target, `local` first; TargetError on a malformed setting."""
    env = os.environ if env is None else env
    out = [("local", f"dir://{local_dir()}")]
    for n, entry in enumerate(e.strip() for e in env.get("FORMWARDEN_BACKUP_TARGETS", "").split(",") if e.strip()):
        name, _, url = entry.partition("=") if "=" in entry.split("://", 1)[0] else (f"target{n + 2}", "", entry)
        if not _NAME.match(name) or any(name == existing for existing, _ in out):
            raise TargetError(f"FORMWARDEN_BACKUP_TARGETS: bad or repeated target name {name!r}")
        if "://" not in url:
            raise TargetError(f"FORMWARDEN_BACKUP_TARGETS: {name} needs a URL such as dir:///mnt/backup")
        out.append((name, url))
    return out


def all_targets() -> list[Target]:
    types = _types()
    targets = []
    for name, url in configured():
        scheme = url.split("://", 1)[0]
        factory = types.get(scheme)
        if factory is None:
            raise TargetError(f"backup target {name}: no plugin provides {scheme}:// targets "
                              f"(known: {', '.join(sorted(types))})")
        targets.append(factory(name, url))
    return targets


def by_name(name: str) -> Target:
    for target in all_targets():
        if target.name == name:
            return target
    raise TargetError(f"no backup target named {name!r}")
