"""Settings from the environment and the instance folder. Read only when called (no import-time I/O)."""
from __future__ import annotations

import base64
import functools
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ZONE = "Asia/Shanghai"


def instance_zone() -> str:
    """The instance's time zone (FORMWARDEN_TIME_ZONE): what "today" means for numbers and
    schedules, and the zone of readers who chose none."""
    return os.environ.get("FORMWARDEN_TIME_ZONE") or DEFAULT_ZONE


def public_url() -> str:
    """The address people open Formwarden at (FORMWARDEN_PUBLIC_URL, e.g. https://crm.example.cn/),
    for links in files made away from a request (Excel exports); "" when not set (the address of
    the request that asked is used)."""
    return os.environ.get("FORMWARDEN_PUBLIC_URL", "")


@dataclass(frozen=True)
class Settings:
    instance: Path
    database_url: str
    redis_url: str | None
    secret_key: str
    secure_cookies: bool
    max_body_bytes: int
    plugin_dirs: tuple[Path, ...]
    plugins_allowed: tuple[str, ...] | None
    trusted_proxies: tuple[str, ...] = ()  # addresses/networks whose X-Forwarded-For is believed

    @property
    def templates(self) -> Path:
        return REPO_ROOT / "templates"

    @property
    def static(self) -> Path:
        return REPO_ROOT / "static"

    @property
    def exports_dir(self) -> Path:
        return self.instance / "exports"

    @property
    def imports_dir(self) -> Path:
        """Uploaded files waiting for their import job (removed when the job ends)."""
        return self.instance / "imports"


class ConfigError(RuntimeError):
    pass


@dataclass(frozen=True)
class LoginLimits:
    """Sign-in throttling (auth/throttle.py); FORMWARDEN_LOGIN_<NAME> overrides each."""

    account_free: int = 5  # failures per account and source (client IP) and window before attempts must wait
    account_lock: int = 10  # failures per account and source and window that lock the account from that source
    account_any_free: int = 50  # failures per account from every source before attempts must wait (never a lock)
    ip_free: int = 20  # the same per client IP (an office shares one address) …
    ip_lock: int = 100  # … 0 turns the per-IP limit off (behind a proxy that hides client IPs)
    delay_seconds: int = 1  # the first wait; it doubles with each further failure …
    delay_max_seconds: int = 60  # … up to this
    lock_minutes: int = 15
    window_minutes: int = 15  # failures are counted in a window that starts with the first one


def login_limits(env=None) -> LoginLimits:
    """LoginLimits with FORMWARDEN_LOGIN_<NAME> overrides, read when called (each sign-in)."""
    env = os.environ if env is None else env
    values = {}
    for name in LoginLimits.__dataclass_fields__:
        raw = env.get(f"FORMWARDEN_LOGIN_{name.upper()}")
        if raw is not None:
            try:
                values[name] = int(raw)
            except ValueError:
                raise ConfigError(f"FORMWARDEN_LOGIN_{name.upper()} must be a whole number, not {raw!r}") from None
            if values[name] < 0:
                raise ConfigError(f"FORMWARDEN_LOGIN_{name.upper()} must not be negative")
    return LoginLimits(**values)


def instance_path(env=None) -> Path:
    env = os.environ if env is None else env
    raw = env.get("FORMWARDEN_INSTANCE", "instance")
    return _resolved(raw, "" if os.path.isabs(raw) else os.getcwd())


@functools.lru_cache(maxsize=64)
def _resolved(raw: str, cwd: str) -> Path:
    """Resolving walks the path with a system call per part; keys and events ask on every write."""
    return (Path(cwd) / raw).resolve()


def default_database_url(instance: Path) -> str:
    return f"sqlite:///{instance / 'formwarden.db'}"


def load_settings(env=None, *, require_instance: bool = True) -> Settings:
    env = os.environ if env is None else env
    instance = instance_path(env)
    key_file = instance / "secret_key"
    secret = env.get("SECRET_KEY") or (key_file.read_text().strip() if key_file.exists() else "")
    if require_instance and not secret:
        raise ConfigError(f"no SECRET_KEY and no {key_file}: run `formwarden init` first")
    proxies = tuple(p.strip() for p in env.get("FORMWARDEN_TRUSTED_PROXIES", "").split(",") if p.strip())
    for p in proxies:
        try:
            ipaddress.ip_network(p, strict=False)
        except ValueError:
            raise ConfigError(f"FORMWARDEN_TRUSTED_PROXIES: {p!r} is not an IP address or network") from None
    allowed = env.get("FORMWARDEN_PLUGINS")
    return Settings(
        instance=instance,
        database_url=env.get("DATABASE_URL") or default_database_url(instance),
        redis_url=env.get("REDIS_URL") or None,
        secret_key=secret,
        secure_cookies=env.get("FORMWARDEN_SECURE_COOKIES", "0") in ("1", "true", "yes"),
        max_body_bytes=int(env.get("FORMWARDEN_MAX_BODY", str(256 * 1024))),
        plugin_dirs=(REPO_ROOT / "plugins",),
        plugins_allowed=tuple(p.strip() for p in allowed.split(",") if p.strip()) if allowed else None,
        trusted_proxies=proxies,
    )


INSTANCE_KEYS = ("audit", "field-k1", "blind", "backup-b1", "drafts")  # read by formwarden.crypto.keys


def init_instance(instance: Path) -> bool:
    """Create the instance folder and its secrets (missing ones only); returns False if it existed."""
    created = not (instance / "secret_key").exists()
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    for sub in ("keys", "exports", "imports", "backups", "spool"):  # customer data and secrets: the owner only
        (instance / sub).mkdir(mode=0o700, exist_ok=True)
        (instance / sub).chmod(0o700)
    if created:
        write_secret(instance / "secret_key", secrets.token_urlsafe(48))
    for name in INSTANCE_KEYS:
        path = instance / "keys" / f"{name}.key"
        if not path.exists():
            write_secret(path, base64.b64encode(secrets.token_bytes(32)).decode())
    return created


def write_secret(path: Path, text: str) -> None:
    """Create a secret file readable by its owner only; refuses to overwrite one."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
