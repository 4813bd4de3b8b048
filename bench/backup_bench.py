#!/usr/bin/env python3
"""W5 (backup) and W6 (restore + verify) of shared/WORKLOAD.md, next to the I/O floor.

    .venv/bin/python bench/backup_bench.py [--records N] [--events N] [--restore-url URL]

Set-up (not measured): an instance with N customers (each with a sealed ID number) and N events
chained as the application chains them. W5 runs the real backup job in a process of its own
(wall time, MB/s of archive written, the process's peak RSS). The floor is SQLite's online
backup of the same database file plus zlib and AES-256-GCM in 1 MiB chunks with `cryptography`.
W6 restores that archive with the real `formwarden backup restore` into a second, empty instance
holding the same keys (SQLite, or the database at --restore-url: an archive made on SQLite then
restores into PostgreSQL), which checks the whole archive and the audit chain first.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

from datagen import generate_customers, generate_events

BIN = Path(sys.executable).parent


def _run(env, *args, **kw):
    return subprocess.run([str(BIN / "formwarden"), *args], env=env, check=True, capture_output=True, text=True, **kw)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--restore-url", default="", help="restore into this database (e.g. PostgreSQL)")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fw-w5-"))
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
    env = dict(base, FORMWARDEN_INSTANCE=str(tmp / "source"), FORMWARDEN_BACKUP_DIR=str(tmp / "archives"))
    try:
        return _bench(a, tmp, base, env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _bench(a, tmp: Path, base: dict, env: dict) -> int:
    _run(env, "init")
    _run(env, "load-forms")
    _run(env, "demo", "--password", "bench-pass-123", "--records", "0")
    os.environ.update(env)
    from formwarden import db
    from formwarden.config import load_settings
    from formwarden.crypto.keys import load_key
    from formwarden.forms import versions
    from formwarden.models import User, utcnow

    db.open_database(load_settings().database_url)
    db.ensure_connection()
    db.execute("DELETE FROM audit_event")
    users = {int(u.username[5:]): u.id for u in User.select().where(User.username.startswith("sales"))}
    t0 = time.perf_counter()
    form, _ = versions.current("customer")
    generate_customers(a.records, form.id, form.current_version, list(users.values()), random.Random(5))
    generate_events(a.events, users, load_key("audit"), random.Random(3), utcnow() - dt.timedelta(days=365))
    db.database.close()
    setup = time.perf_counter() - t0
    db_file = tmp / "source" / "formwarden.db"
    db_mb = sum(p.stat().st_size for p in db_file.parent.glob("formwarden.db*")) / 1e6

    # W5: the backup job in a process of its own
    code = ("import sys; from formwarden import db; from formwarden.config import load_settings;"
            "from formwarden.plugins import load_plugins; s = load_settings(); db.open_database(s.database_url);"
            "load_plugins(s.plugin_dirs); from formwarden.backup import service;"
            "run = service.new_run('backup', 'bench', None); service.run_backup(run);"
            "import resource; print(run.status, run.archive_name, run.size,"
            " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)")
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    w5 = time.perf_counter() - t0
    if done.returncode:
        print(done.stderr[-3000:])
        return 1
    status, name, size, w5_peak = done.stdout.split()
    archive = tmp / "archives" / name
    size_mb = int(size) / 1e6

    # The floor: sqlite3 online backup + zlib + AES-GCM in 1 MiB chunks
    t0 = time.perf_counter()
    copy = tmp / "floor.db"
    src, dst = sqlite3.connect(db_file), sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.close()
    floor_mb = _compress_encrypt(copy, tmp / "floor.bin")
    floor = time.perf_counter() - t0

    # W6: restore into an empty instance with the same keys
    target = dict(base, FORMWARDEN_INSTANCE=str(tmp / "target"))
    if a.restore_url:
        target["DATABASE_URL"] = a.restore_url
    (tmp / "target").mkdir(mode=0o700)
    shutil.copytree(tmp / "source" / "keys", tmp / "target" / "keys")
    _run(target, "init")
    cli = ("import resource, runpy, sys; sys.argv = ['formwarden', 'backup', 'restore', sys.argv[1], '--yes']\n"
           "try:\n    runpy.run_module('formwarden.cli', run_name='__main__')\nexcept SystemExit as e:\n"
           "    assert not e.code, e.code\nprint('peak', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)")
    t0 = time.perf_counter()
    restored = subprocess.run([sys.executable, "-c", cli, str(archive)], env=target, check=True, capture_output=True,
                              text=True, timeout=3600)
    w6 = time.perf_counter() - t0
    w6_peak = restored.stdout.strip().split()[-1]
    verify = subprocess.run([str(BIN / "formwarden"), "audit", "verify", "--no-checkpoint"], env=target,
                            capture_output=True, text=True)

    where = "PostgreSQL" if a.restore_url else "SQLite"
    print(f"Backup bench: {a.records:,} records + {a.events:,} audit events on SQLite ({db_mb:,.0f} MB database; "
          f"set-up {setup:.0f}s, not measured)")
    print("| run | wall s | archive MB | MB/s written | peak RSS MB | vs floor |")
    print("|---|---|---|---|---|---|")
    print(f"| W5 backup job ({status}) | {w5:.1f} | {size_mb:.1f} | {size_mb / w5:.1f} | {w5_peak} | "
          f"{floor / w5:.0%} of the floor's throughput |")
    print(f"| floor: sqlite3 backup + zlib + AES-GCM | {floor:.1f} | {floor_mb:.1f} | {floor_mb / floor:.1f} | | 100% |")
    print(f"| W6 restore + verify into {where} | {w6:.1f} | | | {w6_peak} | |")
    print(restored.stdout.strip().splitlines()[-2])
    print("audit verify after the restore:", (verify.stdout or verify.stderr).strip())
    return 0


def _compress_encrypt(src: Path, out: Path) -> float:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(os.urandom(32))
    z = zlib.compressobj(1)
    index = 0
    with open(src, "rb") as fh, open(out, "wb") as dst:
        while block := fh.read(1 << 20):
            data = z.compress(block)
            if data:
                dst.write(aead.encrypt(index.to_bytes(12, "big"), data, None))
                index += 1
        dst.write(aead.encrypt(index.to_bytes(12, "big"), z.flush(), b"final"))
    return out.stat().st_size / 1e6


if __name__ == "__main__":
    sys.exit(main())
